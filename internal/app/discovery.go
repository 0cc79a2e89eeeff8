package app

import (
	"context"
	"log/slog"

	"github.com/milvus-edge/milvus-edge/discovery"
	"github.com/milvus-edge/milvus-edge/internal/config"
	xdsserver "github.com/milvus-edge/milvus-edge/xds/server"
)

// newDiscovery returns the discovery manager of cfg's clusters (it starts
// watching in Run). Its Overlay replaces discovered clusters' endpoints in
// every xDS build; each change of the endpoints in use rebuilds the snapshot
// and hands them to the edge's own backend pool (schema fills).
func newDiscovery(log *slog.Logger, cfg *config.Config, xds *xdsserver.Server, f *Filters) *discovery.Manager {
	var m *discovery.Manager
	m = discovery.New(log, func() {
		if _, _, err := xds.Refresh(context.Background()); err != nil {
			log.Error("discovery: pushing the discovered endpoints failed", "error", err)
		}
		f.Schemas.SetDiscovered(m.Endpoints)
	})
	m.Update(cfg)
	f.Schemas.SetDiscovered(m.Endpoints)
	return m
}
