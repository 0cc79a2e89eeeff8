package ratelimit

import (
	"testing"
	"time"
)

// The steps below are binary fractions of a second times whole rates, so
// every token count is exact in float64 and a boundary is hit exactly.

func TestBucketStartsFullAndPassesAtZero(t *testing.T) {
	t0 := newFakeClock().now()
	b := newBucket(4, t0)
	for i := range 5 { // 4, 3, 2, 1, 0: the fifth passes at 0 tokens
		if !b.allow(t0, 1) {
			t.Fatalf("call %d refused; a new bucket holds rate tokens and passes while tokens ≥ 0", i+1)
		}
	}
	if b.allow(t0, 1) {
		t.Fatal("sixth call admitted with the bucket at -1")
	}
}

func TestBucketDebt(t *testing.T) {
	t0 := newFakeClock().now()
	b := newBucket(4, t0) // 4 tokens/s, burst 4
	if !b.allow(t0, 100) {
		t.Fatal("a call 25 times the burst was refused; Milvus lets it through into debt")
	}
	// -96 tokens: repaid after exactly 96/4 = 24 s.
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{0, false},
		{time.Second, false},
		{23*time.Second + 750*time.Millisecond, false}, // -1
		{24 * time.Second, true},                       // 0 → passes, -1
		{24 * time.Second, false},
		{24*time.Second + 250*time.Millisecond, true}, // 0 again
	}
	for _, s := range steps {
		if got := b.allow(t0.Add(s.at), 1); got != s.want {
			t.Fatalf("at +%v: allow = %v, want %v (tokens %v)", s.at, got, s.want, b.tokens)
		}
	}
}

func TestBucketRefusalTakesNothing(t *testing.T) {
	t0 := newFakeClock().now()
	b := newBucket(2, t0)
	b.allow(t0, 3) // -1
	for range 100 {
		if b.allow(t0, 1000) {
			t.Fatal("admitted while in debt")
		}
	}
	// Refused calls cost nothing: half a second repays the one token.
	if !b.allow(t0.Add(500*time.Millisecond), 1) {
		t.Fatalf("refused calls were charged: tokens %v", b.tokens)
	}
}

func TestBucketRefillCapsAtBurst(t *testing.T) {
	t0 := newFakeClock().now()
	b := newBucket(4, t0)
	b.allow(t0, 4)
	now := t0.Add(time.Hour) // an hour idle still holds only 4 tokens
	n := 0
	for b.allow(now, 1) {
		n++
	}
	if n != 5 {
		t.Fatalf("after an hour idle, %d calls passed at once, want 5 (burst = rate)", n)
	}
}

func TestBucketCancel(t *testing.T) {
	t0 := newFakeClock().now()
	b := newBucket(1, t0)
	b.allow(t0, 2) // -1
	if b.allow(t0, 1) {
		t.Fatal("admitted in debt")
	}
	b.cancel(2) // +1
	if !b.allow(t0, 1) {
		t.Fatalf("cancel did not give the tokens back: %v", b.tokens)
	}
}

func TestBucketSetRate(t *testing.T) {
	t0 := newFakeClock().now()
	t.Run("raise keeps the tokens", func(t *testing.T) {
		b := newBucket(10, t0)
		b.allow(t0, 7) // 3 left
		b.setRate(t0, 20)
		n := 0
		for b.allow(t0, 1) {
			n++
		}
		if n != 4 {
			t.Fatalf("after raising the rate %d calls passed, want 4 (3 tokens kept, not refilled to 20)", n)
		}
		// -1 + 20 tokens/s × 1 s = 19: 20 more calls (10 at the old rate).
		n = 0
		for b.allow(t0.Add(time.Second), 1) {
			n++
		}
		if n != 20 {
			t.Fatalf("one second after raising the rate to 20, %d calls passed, want 20", n)
		}
	})
	t.Run("lower caps the tokens at the new burst", func(t *testing.T) {
		b := newBucket(10, t0)
		b.setRate(t0, 2)
		n := 0
		for b.allow(t0, 1) {
			n++
		}
		if n != 3 {
			t.Fatalf("after lowering the rate to 2, %d calls passed, want 3", n)
		}
	})
	t.Run("same rate is a no-op", func(t *testing.T) {
		b := newBucket(4, t0)
		b.allow(t0, 6) // -2
		b.setRate(t0.Add(time.Hour), 4)
		if b.tokens != -2 {
			t.Fatalf("setRate with the same rate moved the tokens to %v", b.tokens)
		}
	})
}

func TestBucketClockBackwards(t *testing.T) {
	t0 := newFakeClock().now()
	b := newBucket(4, t0)
	b.allow(t0, 8) // -4
	if b.allow(t0.Add(-time.Hour), 1) {
		t.Fatal("a call stamped before the last one refilled the bucket")
	}
	if !b.allow(t0.Add(time.Second), 1) {
		t.Fatalf("tokens %v, want 0 one second on", b.tokens)
	}
}
