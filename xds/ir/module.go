package ir

// InProcess is the in-process filter (edge.filters: in_process): Envoy loads
// the edge's Go dynamic module and runs it in ext_authz's place.
type InProcess struct {
	// Module is the module file's absolute path.
	Module string
	// Settings is the filter's config (inproc.Settings as JSON).
	Settings string
}
