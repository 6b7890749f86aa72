package llmlimit

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestStress sends 1,000 concurrent callers through one Limiter whose
// provider fails at random, and checks that every call returns and that the
// counts add up.
func TestStress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		rng := rand.New(rand.NewPCG(1, 2))
		p := &stubProvider{latency: 200 * time.Millisecond, next: func(int) error {
			mu.Lock()
			x := rng.Float64()
			mu.Unlock()
			switch {
			case x < 0.15:
				return rateLimited(time.Duration(x*10) * time.Second)
			case x < 0.25:
				return serverError()
			}
			return nil
		}}
		l, err := New(p, WithMaxWait(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		const callers = 1000
		var ok, failed atomic.Int64
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		var wg sync.WaitGroup
		for i := 0; i < callers; i++ {
			wg.Go(func() {
				if _, err := l.Generate(ctx, &Request{}); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		st := l.Stats()
		if ok.Load()+failed.Load() != callers {
			t.Fatalf("%d returned, want %d", ok.Load()+failed.Load(), callers)
		}
		if st.Successes != ok.Load() {
			t.Errorf("stats successes %d, callers saw %d", st.Successes, ok.Load())
		}
		if st.Calls != p.calls.Load() || st.Calls != st.Successes+st.RateLimited+st.Errors() {
			t.Errorf("calls %d (provider saw %d) != successes %d + 429s %d + errors %d",
				st.Calls, p.calls.Load(), st.Successes, st.RateLimited, st.Errors())
		}
		// Every call sends a first attempt unless it was rejected before sending.
		if first := st.Calls - st.Retries; first > callers || first < callers-st.Rejected {
			t.Errorf("first attempts %d, want between %d and %d", first, callers-st.Rejected, callers)
		}
		if p.maxInFlight() > defaultMaxConcurrency {
			t.Errorf("max in flight %d", p.maxInFlight())
		}
		if st.Canceled != 0 {
			t.Errorf("canceled %d, want 0", st.Canceled)
		}
		t.Logf("%d ok, %d failed, stats %+v", ok.Load(), failed.Load(), st)
	})
}
