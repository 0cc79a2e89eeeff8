package ratelimit

import (
	"math"
	"sync"
	"time"
)

// bucket is Milvus's limiter (pkg/util/ratelimitutil/limiter.go): a token
// bucket of burst = rate, refilled continuously, that lets a call through
// whenever its tokens are not negative and then takes the call's whole cost,
// so that one call larger than the burst passes and the calls after it wait
// for the debt to be repaid. A call is never refused for being large, only
// for coming too soon — what Milvus does, and what keeps a 32 MiB insert
// possible under a 1 MB/s limit.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second, > 0
	tokens float64
	last   time.Time
	used   time.Time // last call, for idle pruning
}

func newBucket(rate float64, now time.Time) *bucket {
	return &bucket{rate: rate, tokens: rate, last: now, used: now}
}

// allow takes n tokens if the bucket is not in debt.
func (b *bucket) allow(now time.Time, n float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	b.used = now
	if b.tokens < 0 {
		return false
	}
	b.tokens -= n
	return true
}

// cancel gives back n tokens a later level's refusal made unused.
func (b *bucket) cancel(n float64) {
	b.mu.Lock()
	b.tokens += n
	b.mu.Unlock()
}

// setRate changes the rate, keeping the tokens earned so far (Milvus SetLimit).
func (b *bucket) setRate(now time.Time, rate float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rate == rate {
		return
	}
	b.advance(now)
	b.rate = rate
	b.tokens = math.Min(b.tokens, rate)
}

func (b *bucket) advance(now time.Time) {
	if now.After(b.last) {
		b.tokens = math.Min(b.tokens+now.Sub(b.last).Seconds()*b.rate, b.rate)
		b.last = now
	}
}

func (b *bucket) idleSince() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
