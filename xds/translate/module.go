package translate

import (
	"encoding/json"
	"errors"

	"github.com/milvus-edge/milvus-edge/inproc"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// inProcess is the in-process filter of c (edge.filters: in_process), or nil.
func inProcess(c *config.Config, o Options) (*ir.InProcess, error) {
	if !c.Edge.InProcess() {
		return nil, nil
	}
	if o.ModulePath == "" {
		return nil, errors.New("edge.filters: in_process needs the module's path (Options.ModulePath)")
	}
	s, err := json.Marshal(inproc.Settings{
		FiltersAddress: c.Edge.FiltersAdvertiseAddress,
		BodyBytes:      int(c.Auth.MaxBodyBytes),
		TimeoutMillis:  c.Edge.FilterTimeout.D().Milliseconds(),
	})
	if err != nil {
		return nil, err
	}
	return &ir.InProcess{Module: o.ModulePath, Settings: string(s)}, nil
}
