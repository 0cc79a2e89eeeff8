package inproc

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared"
)

// FilterName is the module's HTTP filter name (filter_name in Envoy's
// DynamicModuleFilter), registered by cmd/milvus-edge-module.
const FilterName = "milvus_edge"

// Settings is the filter's config, JSON in the DynamicModuleFilter's
// filter_config (a StringValue), rendered by xds/envoyres. It names only how
// to reach the edge: the module gets the edge's config, and everything that
// changes with it, over the filter server's sync stream (internal/app
// sync.go), so a reload never replaces Envoy's listener.
type Settings struct {
	// FiltersAddress is the edge's filter server (edge.filters_advertise_address).
	FiltersAddress string `json:"filters_address"`
	// BodyBytes is the body prefix a check reads (auth.max_body_bytes).
	BodyBytes int `json:"body_bytes"`
	// TimeoutMillis bounds one check (edge.filter_timeout).
	TimeoutMillis int64 `json:"timeout_ms"`
}

// ParseSettings reads a filter_config.
func ParseSettings(raw []byte) (Settings, error) {
	var s Settings
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("milvus_edge filter config: %w", err)
	}
	if s.FiltersAddress == "" || s.BodyBytes <= 0 || s.TimeoutMillis <= 0 {
		return s, fmt.Errorf("milvus_edge filter config: filters_address, body_bytes and timeout_ms are required, got %s", raw)
	}
	return s, nil
}

// ConfigFactory is the module's filter config factory. Connect returns the
// process's checker for the settings (built once per Envoy process, kept in
// sync with the edge).
type ConfigFactory struct {
	Connect func(Settings) (Checker, error)
}

// Create implements shared.HttpFilterConfigFactory. An error makes Envoy
// refuse the listener (a NACK the edge reports), so a module that cannot
// reach the edge fails at the config push, not at the first request.
func (c *ConfigFactory) Create(_ shared.HttpFilterConfigHandle, raw []byte) (shared.HttpFilterFactory, error) {
	s, err := ParseSettings(raw)
	if err != nil {
		return nil, err
	}
	chk, err := c.Connect(s)
	if err != nil {
		return nil, err
	}
	return &factory{check: chk, limits: Limits{BodyBytes: s.BodyBytes, Timeout: time.Duration(s.TimeoutMillis) * time.Millisecond}}, nil
}

// CreatePerRoute implements shared.HttpFilterConfigFactory; the filter has
// no per-route config.
func (c *ConfigFactory) CreatePerRoute([]byte) (any, error) { return nil, nil }

type factory struct {
	check  Checker
	limits Limits
}

func (f *factory) Create(h shared.HttpFilterHandle) shared.HttpFilter {
	return newFilter(h, f.check, f.limits)
}

func (f *factory) OnDestroy() {}
