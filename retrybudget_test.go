package llmlimit

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
)

func TestRetryBudgetBoundsAmplification(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var down atomic.Bool
		down.Store(true)
		p := &stubProvider{next: func(int) error {
			if down.Load() {
				return serverError()
			}
			return nil
		}}
		l := newTestLimiter(t, p)
		const ops = 200
		for i := 0; i < ops; i++ {
			call(t, l)
		}
		sent := p.calls.Load()
		// Without the budget: 4 attempts per operation, 800 requests.
		if ratio := float64(sent) / ops; ratio > 1.2 {
			t.Fatalf("outage: %d requests for %d operations (%.2fx), want <= 1.2x", sent, ops, ratio)
		}
		if st := l.Stats(); st.Throttled < ops-10 {
			t.Fatalf("throttled %d, want nearly every operation", st.Throttled)
		}
		// Recovery refills the budget: after enough successes a transient
		// failure is retried again.
		down.Store(false)
		for i := 0; i < 70; i++ {
			call(t, l)
		}
		before := p.calls.Load()
		p.next = func(n int) error {
			if n == int(before)+1 {
				return serverError()
			}
			return nil
		}
		if err := call(t, l); err != nil || p.calls.Load() != before+2 {
			t.Fatalf("after recovery: err %v, %d attempts; want the failure retried", err, p.calls.Load()-before)
		}
	})
}

func TestRetryBudget(t *testing.T) {
	b := newRetryBudget()
	var allowed int
	for b.allow() {
		b.fail()
		allowed++
	}
	if allowed != 5 {
		t.Fatalf("%d failures before throttling, want 5", allowed)
	}
	for i := 0; i < 10; i++ {
		b.succeed()
	}
	if !b.allow() {
		t.Fatalf("tokens %v: 10 successes after 5 failures should re-allow retries", b.tokens)
	}
}
