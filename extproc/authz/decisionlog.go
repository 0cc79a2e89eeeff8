package authz

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DecisionRecord is one line of the decision log. It never holds a secret:
// the identity is the user name and how it was proven.
type DecisionRecord struct {
	DecisionID string    `json:"decision_id"`
	Time       time.Time `json:"time"`
	User       string    `json:"user"`
	AuthMethod string    `json:"auth_method"`
	Surface    string    `json:"surface"`
	API        string    `json:"api"`
	Privilege  string    `json:"privilege,omitempty"`
	DB         string    `json:"db"`
	ObjectType string    `json:"object_type,omitempty"`
	Object     string    `json:"object,omitempty"`
	Allow      bool      `json:"allow"`
	DryRun     bool      `json:"dry_run,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	// Client is the caller's address (failed logins).
	Client string `json:"client,omitempty"`
	// Limited is the rate limit's answer to a call the policy allowed.
	Limited    string `json:"limited,omitempty"`
	PolicyVer  string `json:"policy_version,omitempty"`
	EvalMicros int64  `json:"eval_us"`
	// TraceID is the call's W3C trace id when Envoy traced it (sampled).
	TraceID string `json:"trace_id,omitempty"`
}

// DecisionLog writes one JSON line per decision. Writes happen on its own
// goroutine and a record is queued without waiting, so a slow disk (or a
// flood of failed logins) never holds a request: when the queue of 4,096
// is full the record is dropped and counted (Dropped). Logging after Close
// drops too, so handlers still running while the edge stops are safe.
type DecisionLog struct {
	ch      chan DecisionRecord
	done    chan struct{}
	mu      sync.RWMutex
	closed  bool
	dropped atomic.Uint64
}

// NewDecisionLog starts a writer to w; Close flushes and stops it.
func NewDecisionLog(w io.Writer) *DecisionLog {
	l := &DecisionLog{ch: make(chan DecisionRecord, 4096), done: make(chan struct{})}
	go l.run(w)
	return l
}

func (l *DecisionLog) run(w io.Writer) {
	defer close(l.done)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for r := range l.ch {
		_ = enc.Encode(r)
		if len(l.ch) == 0 {
			_ = bw.Flush()
		}
	}
	_ = bw.Flush()
}

// Log queues a record without waiting; a nil log ignores it.
func (l *DecisionLog) Log(r DecisionRecord) {
	if l == nil {
		return
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.dropped.Add(1)
		return
	}
	select {
	case l.ch <- r:
	default:
		l.dropped.Add(1)
	}
}

// Dropped is how many records were dropped (queue full, or after Close).
func (l *DecisionLog) Dropped() uint64 {
	if l == nil {
		return 0
	}
	return l.dropped.Load()
}

// Close flushes pending records and stops the writer.
func (l *DecisionLog) Close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.ch)
	}
	l.mu.Unlock()
	<-l.done
}

// newDecisionID returns 16 random bytes in hex, as OPA decision ids are opaque.
func newDecisionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on Linux
	return hex.EncodeToString(b[:])
}
