package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/metadata"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// TestPasswordGuessingUnderLoad: 504 wrong passwords from 8 threads (one
// user guessed, and many names) while a logged-in client searches. The
// client's median latency stays within 2× of its quiet figure, the guesses
// are slowed (almost none reaches bcrypt), and every failure is in the
// decision log with the name tried and the client's address.
func TestPasswordGuessingUnderLoad(t *testing.T) {
	lite := testenv.MilvusLite(t)
	cost10 := func(pw string) string { // bcrypt's default cost, as real hashes
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	bundle := testenv.PolicyBundle(t, fmt.Sprintf(`milvus:
  settings: {root_bypass: true}
  users:
    root: {password_hash: %q, roles: []}
    alice: {password_hash: %q, roles: [admin]}
`, cost10("Milvus"), cost10("alice-Secret-1")))
	decisions := filepath.Join(t.TempDir(), "decisions.jsonl")
	p := testenv.NewPorts(t)
	testenv.Run(t, p.ConfigHead()+oneCluster(lite)+fmt.Sprintf("auth: {policy_dir: %s, decision_log: %s}\n", bundle, decisions), p)
	c := testenv.Client(t, p.Listener)
	ctx := testenv.Root(context.Background())
	const coll, dim = "guarded", 8
	createVectorCollection(ctx, t, c, coll, dim)
	for _, call := range []func() (*commonpb.Status, error){
		func() (*commonpb.Status, error) {
			return c.CreateIndex(ctx, &milvuspb.CreateIndexRequest{CollectionName: coll, FieldName: "vec",
				ExtraParams: []*commonpb.KeyValuePair{{Key: "index_type", Value: "FLAT"}, {Key: "metric_type", Value: "L2"}}})
		},
		func() (*commonpb.Status, error) {
			return c.LoadCollection(ctx, &milvuspb.LoadCollectionRequest{CollectionName: coll})
		},
	} {
		if st, err := call(); err != nil || st.GetCode() != 0 {
			t.Fatalf("setup: %v %v", st, err)
		}
	}
	search := func() time.Duration {
		start := time.Now()
		r, err := c.Search(ctx, searchRequestNQ(coll, dim, 1))
		if err != nil || r.GetStatus().GetCode() != 0 {
			t.Errorf("legitimate search failed: %v %v", r.GetStatus(), err)
		}
		return time.Since(start)
	}
	median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	for range 20 { // warm: connections, caches, the credential
		search()
	}
	var quiet []time.Duration
	for range 150 {
		quiet = append(quiet, search())
	}

	guesser := testenv.Client(t, p.Listener)
	const threads, each = 8, 63
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for i := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				user := "alice"
				if j%2 == 1 {
					user = fmt.Sprintf("user-%d-%d", i, j)
				}
				gctx := metadata.AppendToOutgoingContext(context.Background(), "authorization",
					base64.StdEncoding.EncodeToString([]byte(user+":guess-"+fmt.Sprint(i*1000+j))))
				if _, err := guesser.GetVersion(gctx, &milvuspb.GetVersionRequest{}); err == nil {
					t.Error("a wrong password was accepted")
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	var attacked []time.Duration
	for len(attacked) < 30 {
		attacked = append(attacked, search())
		select {
		case <-done:
			if len(attacked) < 30 {
				continue
			}
		default:
			continue
		}
		break
	}
	<-done
	took := time.Since(start)
	q, a := median(quiet), median(attacked)
	t.Logf("504 guesses in %v; search median quiet %v, under attack %v (%d samples)", took.Round(time.Millisecond), q, a, len(attacked))
	if a > 2*q+time.Millisecond {
		t.Errorf("search median under attack %v > 2× quiet %v", a, q)
	}

	// Every failure audited: the name tried, the address, checked or not.
	var checked, throttled int
	testenv.Eventually(t, 5*time.Second, "504 failed logins in the decision log", func() bool {
		checked, throttled = 0, 0
		b, _ := os.ReadFile(decisions)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r struct{ User, Client, Reason string }
			if json.Unmarshal([]byte(line), &r) != nil || !strings.HasPrefix(r.Reason, "authentication failed") {
				continue
			}
			if r.User == "" || r.Client != "127.0.0.1" {
				t.Fatalf("audit record without the name tried or the address: %s", line)
			}
			if strings.Contains(line, "guess-") {
				t.Fatalf("a guessed password in the decision log: %s", line)
			}
			if strings.Contains(r.Reason, "not checked") {
				throttled++
			} else {
				checked++
			}
		}
		return checked+throttled == threads*each
	})
	t.Logf("guesses checked with bcrypt: %d, refused by back-off: %d", checked, throttled)
	if checked > 20 {
		t.Errorf("%d guesses reached bcrypt; the per-user and per-address budgets should stop all but a few", checked)
	}
}
