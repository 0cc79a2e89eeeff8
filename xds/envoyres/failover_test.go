package envoyres

import (
	"slices"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

func failoverGateway(retries ir.Retries, fo ir.Failover) *ir.Gateway {
	ep := []ir.Endpoint{{Address: ir.Address{Host: "10.0.0.1", Port: 19530, IsIP: true}, Weight: 1}}
	return &ir.Gateway{
		Clusters: []ir.Cluster{{Name: "p", Endpoints: ep, REST: true}, {Name: "f", Endpoints: ep, REST: true}},
		Routes: []ir.Route{
			{Name: "docs", Database: "*", Collection: "docs", Targets: []ir.Target{{Cluster: "p", Weight: 1}}, Failover: fo},
			{Name: "default", Database: "*", Collection: "*", Targets: []ir.Target{{Cluster: "p", Weight: 1}}},
		},
		SkipProcessing: []string{"/s/GetVersion", "/s/CreateRole"},
		ReadPaths:      []string{"/s/GetVersion"},
		Retries:        retries,
	}
}

// TestReadTwins: each rule's routes get read twins, first, only when reads
// are routed differently; reads target the aggregate, writes the primary.
func TestReadTwins(t *testing.T) {
	on := ir.Retries{Reads: 1, PerTryTimeout: 5 * time.Second}
	for _, tc := range []struct {
		name    string
		retries ir.Retries
		fo      ir.Failover
		want    []string // route name → cluster
	}{
		{"retries off, no fallback: no twins", ir.Retries{}, ir.Failover{}, []string{
			"docs/checked→p", "docs→p", "default/checked→p", "default→p"}},
		{"retries on", on, ir.Failover{}, []string{
			"docs/checked/read→p", "docs/checked→p", "docs/read→p", "docs→p",
			"default/checked/read→p", "default/checked→p", "default/read→p", "default→p"}},
		{"fallback, retries off", ir.Retries{}, ir.Failover{Fallback: "f"}, []string{
			"docs/checked/read→p~f", "docs/checked→p", "docs/read→p~f", "docs→p",
			"default/checked→p", "default→p"}},
		{"fallback for writes too", ir.Retries{}, ir.Failover{Fallback: "f", Writes: true}, []string{
			"docs/checked→p~f", "docs→p~f", "default/checked→p", "default→p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := failoverGateway(tc.retries, tc.fo)
			if err := g.Validate(); err != nil {
				t.Fatal(err)
			}
			rc := buildRouteConfig(g)
			var got []string
			for _, r := range rc.GetVirtualHosts()[0].GetRoutes() {
				if r.GetName() == "milvus-edge-reject" || r.GetMatch().GetPath() != "" {
					continue
				}
				got = append(got, r.GetName()+"→"+r.GetRoute().GetCluster())
				a := r.GetRoute()
				read := len(r.GetName()) > 5 && r.GetName()[len(r.GetName())-5:] == "/read"
				wantOn := writeRetryOn
				if read && tc.retries.Reads > 0 {
					wantOn = readRetryOn
				}
				if a.GetRetryPolicy().GetRetryOn() != wantOn {
					t.Errorf("%s retries on %q, want %q", r.GetName(), a.GetRetryPolicy().GetRetryOn(), wantOn)
				}
				if (a.GetHedgePolicy() != nil) != (read && tc.retries.PerTryTimeout > 0) {
					t.Errorf("%s hedge policy %v", r.GetName(), a.GetHedgePolicy())
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("routes\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestSkipProcessingClass: a read without names gets the read policy by
// path; other calls without names the write policy.
func TestSkipProcessingClass(t *testing.T) {
	g := failoverGateway(ir.Retries{Reads: 1}, ir.Failover{})
	g.Routes[1].Fallback = "f"
	for _, r := range buildRouteConfig(g).GetVirtualHosts()[0].GetRoutes() {
		switch r.GetMatch().GetPath() {
		case "/s/GetVersion":
			if r.GetRoute().GetCluster() != "p~f" || r.GetRoute().GetRetryPolicy().GetRetryOn() != readRetryOn {
				t.Errorf("GetVersion: %v", r.GetRoute())
			}
		case "/s/CreateRole":
			if r.GetRoute().GetCluster() != "p" || r.GetRoute().GetRetryPolicy().GetRetryOn() != writeRetryOn {
				t.Errorf("CreateRole: %v", r.GetRoute())
			}
		}
	}
	res := Build(g)
	var agg int
	for _, c := range res.Clusters {
		if c.GetName() == "p~f" {
			agg++
		}
	}
	if agg != 1 {
		t.Errorf("%d aggregate clusters p~f, want 1", agg)
	}
	for _, cla := range res.Endpoints {
		if got := cla.GetPolicy().GetOverprovisioningFactor().GetValue(); (cla.GetClusterName() == "p") != (got == failoverOverprovisioning) {
			t.Errorf("%s overprovisioning %d", cla.GetClusterName(), got)
		}
	}
}
