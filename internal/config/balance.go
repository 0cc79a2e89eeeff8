package config

// Balance configures look-aside weights: the edge probes every endpoint of
// every cluster with a cheap Milvus call (CheckHealth) and moves its EDS
// weight by the latency and errors it sees, so that a slow endpoint gets
// less traffic before it fails (docs/balancing.md). Operators' drains and
// weight overrides (admin API, `milvus-edge ctl`) apply whether it is on
// or not. Every field is hot-reloaded.
type Balance struct {
	// Enabled moves weights by probe results. Default true.
	Enabled *bool `yaml:"enabled"`
	// ProbeInterval is how often each endpoint is probed. Default 1s.
	ProbeInterval Duration `yaml:"probe_interval"`
	// ProbeTimeout bounds one probe; a probe that takes longer is an error.
	// At most probe_interval. Default 800ms.
	ProbeTimeout Duration `yaml:"probe_timeout"`
	// EWMA is the weight of the newest probe's latency in the moving
	// average, in (0, 1]. Default 0.3.
	EWMA *float64 `yaml:"ewma"`
	// LatencySlack is added to every latency before comparing endpoints, so
	// that sub-millisecond noise does not move weights: the weight factor is
	// (best + slack) / (latency + slack). Default 10ms.
	LatencySlack *Duration `yaml:"latency_slack"`
	// Hysteresis is the relative change of the weight factor that is
	// ignored, in [0, 1). Default 0.2.
	Hysteresis *float64 `yaml:"hysteresis"`
	// ErrorThreshold is the consecutive failed probes that bring an
	// endpoint's weight to its floor (1). Default 3.
	ErrorThreshold int `yaml:"error_threshold"`
	// MinPushInterval is the shortest time between two probe-driven weight
	// pushes to Envoy (operators' changes go at once). Default 2s.
	MinPushInterval Duration `yaml:"min_push_interval"`
}

// On reports balance.enabled (default true).
func (b Balance) On() bool { return b.Enabled == nil || *b.Enabled }

func (b *Balance) setDefaults() {
	setDur(&b.ProbeInterval, Duration(1e9))
	setDur(&b.ProbeTimeout, Duration(800e6))
	if b.EWMA == nil {
		v := 0.3
		b.EWMA = &v
	}
	if b.LatencySlack == nil {
		d := Duration(10e6)
		b.LatencySlack = &d
	}
	if b.Hysteresis == nil {
		v := 0.2
		b.Hysteresis = &v
	}
	if b.ErrorThreshold == 0 {
		b.ErrorThreshold = 3
	}
	setDur(&b.MinPushInterval, Duration(2e9))
}

func validateBalance(bad badFunc, b Balance) {
	if b.ProbeInterval.D() < 100e6 {
		bad("balance.probe_interval", "must be at least 100ms, got %s", b.ProbeInterval.D())
	}
	if t := b.ProbeTimeout.D(); t <= 0 || t > b.ProbeInterval.D() {
		bad("balance.probe_timeout", "must be positive and at most probe_interval (%s), got %s", b.ProbeInterval.D(), t)
	}
	if v := *b.EWMA; !(v > 0 && v <= 1) {
		bad("balance.ewma", "must be in (0, 1], got %v", v)
	}
	if b.LatencySlack.D() < 0 {
		bad("balance.latency_slack", "must not be negative, got %s", b.LatencySlack.D())
	}
	if v := *b.Hysteresis; !(v >= 0 && v < 1) {
		bad("balance.hysteresis", "must be in [0, 1), got %v", v)
	}
	if b.ErrorThreshold < 1 {
		bad("balance.error_threshold", "must be at least 1, got %d", b.ErrorThreshold)
	}
	if b.MinPushInterval.D() < 0 {
		bad("balance.min_push_interval", "must not be negative, got %s", b.MinPushInterval.D())
	}
}
