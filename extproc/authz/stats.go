package authz

// DryRuns is how many denials auth.dry_run let through since the start.
func (s *Server) DryRuns() uint64 { return s.dryRuns.Load() }
