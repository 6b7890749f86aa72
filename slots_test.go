package llmlimit

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestSlotsBoundInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &stubProvider{latency: time.Second}
		l := newTestLimiter(t, p, WithSuccessCooldown(0, 0))
		if ok := runCallers(t, l, 100); ok != 100 {
			t.Fatalf("%d of 100 callers succeeded", ok)
		}
		if got := p.maxInFlight(); got > defaultMaxConcurrency {
			t.Fatalf("max in flight %d > %d", got, defaultMaxConcurrency)
		}
		if got := l.Stats().ConcurrencyLimit; got != defaultMaxConcurrency {
			t.Fatalf("limit after 100 successes = %d, want %d", got, defaultMaxConcurrency)
		}
		// 100 calls of 1s: 3 at a time at first, a slot more a success
		// (no 429 has been seen) up to 6.
		if p.maxInFlight() != defaultMaxConcurrency {
			t.Fatalf("max in flight %d, want it to reach %d", p.maxInFlight(), defaultMaxConcurrency)
		}
		p.next = func(int) error { return rateLimited(0) }
		call(t, l)
		if got := l.Stats().ConcurrencyLimit; got != 1 {
			// 6 → 3 → 1 → 1 → 1 over the four attempts.
			t.Fatalf("limit after 429s = %d, want 1", got)
		}
	})
}

func TestConcurrencyHalvesOn429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &stubProvider{next: func(n int) error {
			if n == 1 {
				return rateLimited(0)
			}
			return nil
		}}
		l := newTestLimiter(t, p, WithConcurrency(6), WithMaxRetries(0))
		call(t, l)
		if got := l.Stats().ConcurrencyLimit; got != 3 {
			t.Fatalf("limit = %d, want 3", got)
		}
	})
}
