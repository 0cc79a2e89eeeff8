package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/internal/sharedlimit"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// callTimeout is the deadline of each ShouldRateLimit call, as short as the
// edge's will be: with Redis down the service answers only at the deadline.
const callTimeout = 200 * time.Millisecond

// rlDescriptor is a descriptor as the edge sends it: the limit id, its own
// limit per second and, when hits is not nil, its own cost.
func rlDescriptor(id string, perSecond uint32, hits *uint64) *rlcommon.RateLimitDescriptor {
	d := &rlcommon.RateLimitDescriptor{
		Entries: []*rlcommon.RateLimitDescriptor_Entry{{Key: sharedlimit.DescriptorKey, Value: id}},
		Limit:   &rlcommon.RateLimitDescriptor_RateLimitOverride{RequestsPerUnit: perSecond, Unit: typev3.RateLimitUnit_SECOND},
	}
	if hits != nil {
		d.HitsAddend = wrapperspb.UInt64(*hits)
	}
	return d
}

func rlRequest(ds ...*rlcommon.RateLimitDescriptor) *rlsv3.RateLimitRequest {
	return &rlsv3.RateLimitRequest{Domain: sharedlimit.Domain, Descriptors: ds}
}

func hits(n uint64) *uint64 { return &n }

type rlClient struct {
	t *testing.T
	c rlsv3.RateLimitServiceClient
}

func dialRateLimit(t *testing.T, addr string) rlClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return rlClient{t, rlsv3.NewRateLimitServiceClient(conn)}
}

// call makes one ShouldRateLimit call with the edge's short deadline.
func (c rlClient) call(req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	start := time.Now()
	resp, err := c.c.ShouldRateLimit(ctx, req)
	return resp, time.Since(start), err
}

// must makes the call and fails the test on an error.
func (c rlClient) must(req *rlsv3.RateLimitRequest) *rlsv3.RateLimitResponse {
	c.t.Helper()
	resp, _, err := c.call(req)
	if err != nil {
		c.t.Fatalf("ShouldRateLimit: %v", err)
	}
	return resp
}

// inOneSecond runs calls within one Unix second (the service's window for
// SECOND limits), with a fresh id each try; a try that crosses a second
// boundary is repeated (3 tries). It returns the second and the id used.
func inOneSecond(t *testing.T, name string, calls func(id string) []string) (int64, string) {
	t.Helper()
	var problems []string
	for try := range 3 {
		sec := time.Now().Unix()
		id := fmt.Sprintf("%s-%d-%d", name, sec, try)
		problems = calls(id)
		if time.Now().Unix() == sec {
			if len(problems) > 0 {
				t.Fatalf("%s:\n%s", name, strings.Join(problems, "\n"))
			}
			return sec, id
		}
	}
	t.Fatalf("%s: every try crossed a second boundary; last problems: %v", name, problems)
	return 0, ""
}

// TestSharedLimitService pins what the edge's shared limit relies on in the
// real envoyproxy/ratelimit service (bin/ratelimit) with a real Redis: the
// descriptor's own limit and cost, fixed one-second windows, one counter
// per descriptor value, and the answers while Redis is down and after it
// is back on the same port.
func TestSharedLimitService(t *testing.T) {
	redis := testenv.Redis(t)
	svc := testenv.RateLimitService(t, redis.Addr())
	c := dialRateLimit(t, svc.Addr())

	t.Run("limit and cost from the descriptor", func(t *testing.T) {
		// 1,000,000 per second, 300,000 a call: three calls pass, the
		// fourth in the same second is over.
		sec, id := inOneSecond(t, "cost", func(id string) []string {
			var problems []string
			for i, want := range []struct {
				code      rlsv3.RateLimitResponse_Code
				remaining uint32
			}{{rlsv3.RateLimitResponse_OK, 700_000}, {rlsv3.RateLimitResponse_OK, 400_000}, {rlsv3.RateLimitResponse_OK, 100_000}, {rlsv3.RateLimitResponse_OVER_LIMIT, 0}} {
				resp := c.must(rlRequest(rlDescriptor(id, 1_000_000, hits(300_000))))
				st := resp.GetStatuses()[0]
				if resp.GetOverallCode() != want.code || st.GetCode() != want.code || st.GetLimitRemaining() != want.remaining {
					problems = append(problems, fmt.Sprintf("call %d: overall %s, status %s remaining %d; want %s remaining %d",
						i+1, resp.GetOverallCode(), st.GetCode(), st.GetLimitRemaining(), want.code, want.remaining))
				}
				if l := st.GetCurrentLimit(); l.GetRequestsPerUnit() != 1_000_000 || l.GetUnit() != rlsv3.RateLimitResponse_RateLimit_SECOND {
					problems = append(problems, fmt.Sprintf("call %d: current limit %v, want the descriptor's 1000000/SECOND", i+1, l))
				}
			}
			return problems
		})
		// The next second is a new window: the same id passes again.
		time.Sleep(time.Until(time.Unix(sec+1, 0)))
		resp := c.must(rlRequest(rlDescriptor(id, 1_000_000, hits(300_000))))
		if st := resp.GetStatuses()[0]; resp.GetOverallCode() != rlsv3.RateLimitResponse_OK || st.GetLimitRemaining() != 700_000 {
			t.Errorf("%s in the next second: %s remaining %d, want OK remaining 700000 (a new window)", id, resp.GetOverallCode(), st.GetLimitRemaining())
		}
	})

	t.Run("ids count separately", func(t *testing.T) {
		inOneSecond(t, "ids", func(id string) []string {
			var problems []string
			a, b := id+"-a", id+"-b"
			c.must(rlRequest(rlDescriptor(a, 10, hits(10))))
			if resp := c.must(rlRequest(rlDescriptor(a, 10, hits(1)))); resp.GetOverallCode() != rlsv3.RateLimitResponse_OVER_LIMIT {
				problems = append(problems, fmt.Sprintf("a after 11 of 10: %s, want OVER_LIMIT", resp.GetOverallCode()))
			}
			if resp := c.must(rlRequest(rlDescriptor(b, 10, hits(10)))); resp.GetOverallCode() != rlsv3.RateLimitResponse_OK {
				problems = append(problems, fmt.Sprintf("b (its own counter) 10 of 10: %s, want OK", resp.GetOverallCode()))
			}
			// One id, two limits: one counter (the limit is not part of it).
			c.must(rlRequest(rlDescriptor(id+"-d", 10, hits(8))))
			if got := c.must(rlRequest(rlDescriptor(id+"-d", 1000, hits(8)))).GetStatuses()[0].GetLimitRemaining(); got != 984 {
				problems = append(problems, fmt.Sprintf("d with limit 10 then 1000, 8 each: remaining %d, want 984 (one counter)", got))
			}
			// Both in one request: the request is over when one descriptor is.
			resp := c.must(rlRequest(rlDescriptor(a, 10, hits(0)), rlDescriptor(id+"-c", 10, hits(1))))
			if got := []rlsv3.RateLimitResponse_Code{resp.GetOverallCode(), resp.GetStatuses()[0].GetCode(), resp.GetStatuses()[1].GetCode()}; got[0] != rlsv3.RateLimitResponse_OVER_LIMIT ||
				got[1] != rlsv3.RateLimitResponse_OVER_LIMIT || got[2] != rlsv3.RateLimitResponse_OK {
				problems = append(problems, fmt.Sprintf("a and c in one request: overall, a, c = %v; want OVER_LIMIT, OVER_LIMIT, OK", got))
			}
			return problems
		})
	})

	t.Run("request and descriptor hits_addend", func(t *testing.T) {
		inOneSecond(t, "addend", func(id string) []string {
			var problems []string
			// A descriptor's own hits_addend wins over the request's (7);
			// one without uses the request's; 0 checks without counting.
			req := rlRequest(rlDescriptor(id+"-own", 100, hits(30)), rlDescriptor(id+"-req", 100, nil), rlDescriptor(id+"-zero", 100, hits(0)))
			req.HitsAddend = 7
			resp := c.must(req)
			for i, want := range []uint32{70, 93, 100} {
				if got := resp.GetStatuses()[i].GetLimitRemaining(); got != want {
					problems = append(problems, fmt.Sprintf("descriptor %d: remaining %d, want %d", i, got, want))
				}
			}
			// No hits_addend anywhere counts 1.
			if got := c.must(rlRequest(rlDescriptor(id+"-one", 100, nil))).GetStatuses()[0].GetLimitRemaining(); got != 99 {
				problems = append(problems, fmt.Sprintf("no hits_addend: remaining %d, want 99", got))
			}
			// A refused call still spends: 90 of 100, then 20 (over), then 10 is over too.
			c.must(rlRequest(rlDescriptor(id+"-spend", 100, hits(90))))
			c.must(rlRequest(rlDescriptor(id+"-spend", 100, hits(20))))
			if got := c.must(rlRequest(rlDescriptor(id+"-spend", 100, hits(10)))).GetOverallCode(); got != rlsv3.RateLimitResponse_OVER_LIMIT {
				problems = append(problems, fmt.Sprintf("after a refused call of 20 on 90 of 100, a call of 10: %s, want OVER_LIMIT (refused hits count)", got))
			}
			return problems
		})
	})

	t.Run("what is not counted", func(t *testing.T) {
		// Without a limit of its own, a descriptor matches nothing in the
		// config and is never counted; nor is anything in another domain.
		for i := range 3 {
			noLimit := rlRequest(&rlcommon.RateLimitDescriptor{Entries: []*rlcommon.RateLimitDescriptor_Entry{{Key: sharedlimit.DescriptorKey, Value: "no-limit"}}})
			noLimit.HitsAddend = 1_000_000
			if resp := c.must(noLimit); resp.GetOverallCode() != rlsv3.RateLimitResponse_OK || resp.GetStatuses()[0].GetCurrentLimit() != nil {
				t.Errorf("call %d without a limit: %v, want OK with no current limit", i, resp)
			}
			other := rlRequest(rlDescriptor("other-domain", 1, hits(5)))
			other.Domain = "not-" + sharedlimit.Domain
			if resp := c.must(other); resp.GetOverallCode() != rlsv3.RateLimitResponse_OK || resp.GetStatuses()[0].GetCurrentLimit() != nil {
				t.Errorf("call %d to an unknown domain: %v, want OK with no current limit", i, resp)
			}
		}
	})

	t.Run("redis down and back", func(t *testing.T) {
		req := rlRequest(rlDescriptor("down", 1_000_000, hits(1)))
		c.must(req)
		if err := redis.Stop(); err != nil {
			t.Fatal(err)
		}
		// More calls than the service's Redis pool has connections (10):
		// the broken pooled connections fail at once, then calls wait for
		// Redis until the caller's deadline.
		byCode := map[codes.Code][]time.Duration{}
		for range 14 {
			resp, took, err := c.call(req)
			if err == nil {
				t.Fatalf("with Redis stopped: %v after %s, want an error", resp.GetOverallCode(), took)
			}
			code := status.Code(err)
			if code != codes.Unknown && code != codes.DeadlineExceeded {
				t.Errorf("with Redis stopped: %v, want Unknown (a broken connection) or DeadlineExceeded (waiting for Redis)", err)
			}
			if took > callTimeout+100*time.Millisecond {
				t.Errorf("with Redis stopped: %v after %s, over the deadline %s", err, took, callTimeout)
			}
			if len(byCode[code]) == 0 {
				t.Logf("with Redis stopped, first %s: %v", code, err)
			}
			byCode[code] = append(byCode[code], took.Round(100*time.Microsecond))
		}
		t.Logf("with Redis stopped, 14 calls with a %s deadline: %v", callTimeout, byCode)
		if len(byCode[codes.DeadlineExceeded]) == 0 {
			t.Errorf("no call waited for Redis until its deadline: %v", byCode)
		}

		if err := redis.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		var calls int
		took := testenv.Eventually(t, 10*time.Second, "ShouldRateLimit OK after Redis restarted on "+redis.Addr(), func() bool {
			calls++
			resp, _, err := c.call(req)
			return err == nil && resp.GetOverallCode() == rlsv3.RateLimitResponse_OK
		})
		t.Logf("OK again %s after Redis restarted (%d calls)", took.Round(time.Millisecond), calls)
	})
}
