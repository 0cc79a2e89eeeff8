package config

import "time"

// DefaultDrainTimeout is envoy.drain_timeout's default: long enough for the
// Search and Query calls a Milvus client has in flight (tens to hundreds of
// milliseconds, seconds for the heaviest), as long as Envoy's own default
// HTTP/2 drain (5 s between its two GOAWAYs), and with edge.filter_timeout
// (2 s), the handlers' 2 s and the exits well inside Kubernetes' default
// 30 s termination grace, so a stop ends before SIGKILL comes.
const DefaultDrainTimeout = Duration(5 * time.Second)

// maxDrainTimeout catches a unit typo (5000 for 5s) before it holds a stop.
const maxDrainTimeout = 5 * time.Minute

// setStopDefaults fills the stop's fields.
func (c *Config) setStopDefaults() {
	setDur(&c.Envoy.DrainTimeout, DefaultDrainTimeout)
}

// validateStop checks the stop's fields.
func validateStop(bad badFunc, e Envoy) {
	if d := e.DrainTimeout.D(); d < 0 || d > maxDrainTimeout {
		bad("envoy.drain_timeout", "must be positive and at most %s (unset: 5s), got %s", maxDrainTimeout, d)
	}
}
