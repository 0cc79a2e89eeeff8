// Package snapshot turns Envoy resources into a go-control-plane snapshot whose
// version is a hash of its content, so an unchanged config never causes a push.
// Every snapshot is gated on the proto validation rules, on Consistent() and on
// every routed cluster existing, before anyone may set it.
package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/xds/envoyres"
)

type validator interface{ ValidateAll() error }

// New builds a validated, consistent snapshot with a content-hash version.
func New(r *envoyres.Resources) (*cachev3.Snapshot, error) {
	byType := map[resourcev3.Type][]types.Resource{
		resourcev3.ListenerType: toResources(r.Listeners),
		resourcev3.RouteType:    toResources(r.Routes),
		resourcev3.ClusterType:  toResources(r.Clusters),
		resourcev3.EndpointType: toResources(r.Endpoints),
		resourcev3.SecretType:   toResources(r.Secrets),
	}
	// Each type is validated and hashed on its own goroutine (the route table
	// and the endpoints dominate at scale); the hashes join in a fixed order,
	// which keeps the version stable.
	order := []resourcev3.Type{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.SecretType}
	sums := make([][]byte, len(order))
	typeErrs := make([]error, len(order))
	var wg sync.WaitGroup
	for i, t := range order {
		wg.Go(func() { sums[i], typeErrs[i] = hashType(t, byType[t]) })
	}
	wg.Wait()
	h := sha256.New()
	for i, t := range order {
		h.Write([]byte(t))
		h.Write(sums[i])
	}
	if err := errors.Join(append(typeErrs, routedClustersExist(r))...); err != nil {
		return nil, err
	}
	version := hex.EncodeToString(h.Sum(nil))[:16]
	snap, err := cachev3.NewSnapshot(version, byType)
	if err != nil {
		return nil, fmt.Errorf("building snapshot: %w", err)
	}
	if err := snap.Consistent(); err != nil {
		return nil, fmt.Errorf("inconsistent snapshot: %w", err)
	}
	return snap, nil
}

// hashType validates the resources of one type and hashes their
// deterministic encoding.
func hashType(t resourcev3.Type, rs []types.Resource) ([]byte, error) {
	var errs []error
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	var buf []byte
	for _, res := range rs {
		if v, ok := res.(validator); ok {
			if err := v.ValidateAll(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", t, err))
			}
		}
		var err error
		if buf, err = opts.MarshalAppend(buf[:0], res); err != nil {
			return nil, fmt.Errorf("hashing %s: %w", t, err)
		}
		h.Write(buf)
	}
	return h.Sum(nil), errors.Join(errs...)
}

func routedClustersExist(r *envoyres.Resources) error {
	have := map[string]bool{}
	for _, c := range r.Clusters {
		have[c.GetName()] = true
	}
	var errs []error
	for _, rc := range r.Routes {
		for _, vh := range rc.GetVirtualHosts() {
			for _, rt := range vh.GetRoutes() {
				for _, name := range routeClusters(rt.GetRoute()) {
					if !have[name] {
						errs = append(errs, fmt.Errorf("route %q names missing cluster %q", rt.GetName(), name))
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

func routeClusters(a *routev3.RouteAction) []string {
	if c := a.GetCluster(); c != "" {
		return []string{c}
	}
	var out []string
	for _, w := range a.GetWeightedClusters().GetClusters() {
		out = append(out, w.GetName())
	}
	return out
}

func toResources[T types.Resource](in []T) []types.Resource {
	out := make([]types.Resource, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}
