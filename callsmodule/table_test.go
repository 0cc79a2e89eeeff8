package callsmodule

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// samples reads the table's text into series → value, and checks that
// every sample line belongs to the family its # TYPE line announced.
func samples(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	family := ""
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			family = strings.Fields(f)[0]
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || !strings.HasPrefix(line, family) {
			t.Fatalf("line %q outside family %q", line, family)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestTableCountsConcurrentCalls: Envoy's workers add at once; every call,
// byte, nq, row and duration is counted exactly once, in its own tuple.
func TestTableCountsConcurrentCalls(t *testing.T) {
	tb := NewTable()
	defer tb.Free()
	tuples := []Labels{
		{"Search", "grpc", "/milvus.proto.milvus.MilvusService/Search", "default", "books", "", "true"},
		{"Insert", "rest", "/v2/vectordb/entities/insert", "default", "books", "", "true"},
		{"Search", "grpc", "", "db1", `a"b\c` + "\nd", "policy", "false"},
	}
	const workers, calls = 8, 3000
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				k := i % len(tuples)
				// durations: 500 µs (le 1000), 1500 µs (le 2000), 200 s (past every bucket)
				dur := []uint64{500, 1500, 200_000_000}[k]
				tb.Add(tuples[k], 100, 10, uint64(k), uint64(2*k), dur)
				tb.AddUser([]string{"root", "alice"}[i%2])
			}
		}()
	}
	wg.Wait()
	s := samples(t, tb.Text())
	const each = workers * calls / 3
	lbl := func(l Labels, le string) string {
		esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
		var b strings.Builder
		for i, n := range []string{"api", "surface", "path", "db", "collection", "refused", "ok"} {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `%s="%s"`, n, esc.Replace(l[i]))
		}
		if le != "" {
			fmt.Fprintf(&b, `,le="%s"`, le)
		}
		return "{" + b.String() + "}"
	}
	for k, l := range tuples {
		want := map[string]float64{
			"envoy_milvus_edge_calls" + lbl(l, ""):                            each,
			"envoy_milvus_edge_call_request_bytes" + lbl(l, ""):               100 * each,
			"envoy_milvus_edge_call_response_bytes" + lbl(l, ""):              10 * each,
			"envoy_milvus_edge_call_duration_us_count" + lbl(l, ""):           each,
			"envoy_milvus_edge_call_duration_us_bucket" + lbl(l, "+Inf"):      each,
			"envoy_milvus_edge_call_duration_us_sum" + lbl(l, ""):             float64(each * []uint64{500, 1500, 200_000_000}[k]),
			"envoy_milvus_edge_call_duration_us_bucket" + lbl(l, "1000"):      map[bool]float64{true: each}[k == 0],
			"envoy_milvus_edge_call_duration_us_bucket" + lbl(l, "2000"):      map[bool]float64{true: each}[k <= 1],
			"envoy_milvus_edge_call_duration_us_bucket" + lbl(l, "131072000"): map[bool]float64{true: each}[k <= 1],
		}
		if k > 0 {
			want["envoy_milvus_edge_call_nq"+lbl(l, "")] = float64(k * each)
			want["envoy_milvus_edge_call_rows"+lbl(l, "")] = float64(2 * k * each)
		} else if _, ok := s["envoy_milvus_edge_call_nq"+lbl(l, "")]; ok {
			t.Errorf("tuple %d: a zero nq counter is written", k)
		}
		for series, v := range want {
			if got, ok := s[series]; !ok || got != v {
				t.Errorf("%s = %v (present %v), want %v", series, got, ok, v)
			}
		}
	}
	for _, u := range []string{"root", "alice"} {
		if got := s[`envoy_milvus_edge_call_users{user="`+u+`"}`]; got != workers*calls/2 {
			t.Errorf("user %s: %v calls, want %d", u, got, workers*calls/2)
		}
	}
	if n := strings.Count(tb.Text(), "envoy_milvus_edge_calls{"); n != len(tuples) {
		t.Errorf("%d calls series, want one per tuple (%d)", n, len(tuples))
	}
}
