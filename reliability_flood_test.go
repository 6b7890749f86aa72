package llmlimit_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// startLog records when each attempt reaches the provider and how many run
// at once.
type startLog struct {
	llmlimit.Provider

	mu          sync.Mutex
	starts      []time.Time
	inFlight    int
	maxInFlight int
}

func (s *startLog) Generate(ctx context.Context, req *llmlimit.Request) (*llmlimit.Response, error) {
	s.mu.Lock()
	s.starts = append(s.starts, time.Now())
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	return s.Provider.Generate(ctx, req)
}

func heapAndStack() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// TestReliabilityFlood parks 10,000 callers of one Limiter at a gate a 429
// closed for 60 s, measures what a waiting caller costs, and checks that
// when the gate opens they are let through a few at a time, never more than
// the slot limit at once, spread over time, and that every one returns.
func TestReliabilityFlood(t *testing.T) {
	const callers = 10_000
	synctest.Test(t, func(t *testing.T) {
		f := llmtest.NewFake("fake")
		f.SetLatency(100 * time.Millisecond)
		f.Push(llmtest.Fail(llmtest.RateLimited("fake", 60*time.Second)))
		p := &startLog{Provider: f}
		l, err := llmlimit.New(p, llmlimit.WithSuccessCooldown(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		req := &llmlimit.Request{Prompt: "flood"}

		// The first call meets the 429, after the fake's latency, and closes
		// the gate for 60 s.
		var wg sync.WaitGroup
		var ok atomic.Int64
		wg.Go(func() {
			if _, err := l.Generate(t.Context(), req); err == nil {
				ok.Add(1)
			}
		})
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		closed := time.Now()
		opens := closed.Add(60 * time.Second)
		if l.Stats().RateLimited != 1 {
			t.Fatalf("the gate did not close: %+v", l.Stats())
		}

		before := heapAndStack()
		for range callers {
			wg.Go(func() {
				if _, err := l.Generate(t.Context(), req); err == nil {
					ok.Add(1)
				}
			})
		}
		synctest.Wait() // every caller is parked at the gate
		perWaiter := float64(int64(heapAndStack())-int64(before)) / callers
		if time.Now() != closed {
			t.Fatalf("time moved while callers arrived")
		}
		p.mu.Lock()
		early := len(p.starts)
		p.mu.Unlock()
		if early != 1 {
			t.Fatalf("%d attempts started while the gate was closed", early-1)
		}
		// A waiting caller is a parked goroutine and a timer: a few KiB, not
		// a buffer per caller.
		if perWaiter > 16<<10 {
			t.Errorf("%.0f bytes per waiting caller, want at most 16 KiB", perWaiter)
		}

		wg.Wait()
		if ok.Load() != callers+1 {
			t.Fatalf("%d of %d calls succeeded", ok.Load(), callers+1)
		}
		limit := llmlimit.DefaultConcurrency
		var first100, distinct int
		var last time.Time
		for _, s := range p.starts[1:] {
			if s.Before(opens) {
				t.Fatalf("an attempt started at %v, before the gate opened at %v", s.Sub(closed), opens.Sub(closed))
			}
			if s.Before(opens.Add(100 * time.Millisecond)) {
				first100++
			}
			if !s.Equal(last) {
				distinct++
				last = s
			}
		}
		if first100 > limit {
			t.Errorf("%d attempts started in the first 100 ms after the gate opened, want at most the slot limit %d", first100, limit)
		}
		// Staggered: starts spread over many instants, never more than the
		// largest slot limit at once.
		if p.maxInFlight > llmlimit.DefaultMaxConcurrency || distinct < callers/llmlimit.DefaultMaxConcurrency {
			t.Errorf("max in flight %d, %d distinct start instants for %d callers", p.maxInFlight, distinct, callers)
		}
		st := l.Stats()
		if st.Calls != int64(len(p.starts)) || st.Successes != callers+1 {
			t.Errorf("stats %+v for %d starts", st, len(p.starts))
		}
		t.Logf("flood: %d callers, %.0f bytes per waiter, %d starts in the first 100 ms, max in flight %d, all returned after %v virtual",
			callers, perWaiter, first100, p.maxInFlight, time.Since(closed))
	})
}
