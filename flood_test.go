package llmlimit_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit"
)

// countingState counts the admissions a Limiter asks for: each one is a
// check of the gate and the quota (a Lua script, with redisstate).
type countingState struct {
	llmlimit.MemoryState
	admits atomic.Int64
}

func (s *countingState) Admit(ctx context.Context, a llmlimit.Admission) (llmlimit.Hold, error) {
	s.admits.Add(1)
	return s.MemoryState.Admit(ctx, a)
}

// instant replies at once.
type instant struct{}

func (instant) Name() string { return "instant" }
func (instant) Generate(context.Context, *llmlimit.Request) (*llmlimit.Response, error) {
	return &llmlimit.Response{Text: "ok"}, nil
}

// flood sends n callers at once through a Limiter paced to perWindow
// starts a window, so that the quota closes n/perWindow times while they
// wait, and returns the admissions asked for per attempt started.
func flood(t testing.TB, n, perWindow int, window time.Duration) float64 {
	s := &countingState{}
	l, err := llmlimit.New(instant{}, llmlimit.WithState(s), llmlimit.WithSuccessCooldown(0, 0),
		llmlimit.WithQuota(llmlimit.Quota{Unit: llmlimit.UnitRequests, Limit: perWindow, Window: window}))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := l.Generate(context.Background(), &llmlimit.Request{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	return float64(s.admits.Load()) / float64(l.Stats().Calls)
}

// TestFloodChecksDoNotGrowWithWaiters parks 1,000 to 4,000 callers behind a
// quota of 100 starts a second. However many wait, each start costs one
// admission plus the head's one check per closure of the quota.
func TestFloodChecksDoNotGrowWithWaiters(t *testing.T) {
	for _, n := range []int{1000, 2000, 4000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				perAttempt := flood(t, n, 100, time.Second)
				t.Logf("%d callers: %.3f checks per attempt", n, perAttempt)
				if want := 1 + 1/100.0 + 1e-9; perAttempt > want {
					t.Errorf("%d callers: %.3f checks per attempt, want at most %.3f", n, perAttempt, want)
				}
			})
		})
	}
}

// BenchmarkFlood parks 20,000 callers behind a quota of 2,000 starts a
// second (a quota's shortest window), so it closes 10 times while they
// wait, and reports the CPU time each closure costs and the checks per
// attempt. It runs on the wall clock, 10 s an iteration (synctest has no
// benchmark form): CPU time is what it measures.
func BenchmarkFlood(b *testing.B) {
	const n, perWindow, window = 20_000, 2000, time.Second
	for b.Loop() {
		cpu0 := cpuTime()
		perAttempt := flood(b, n, perWindow, window)
		closures := n / perWindow
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(closures), "cpu-µs/closure")
		b.ReportMetric(perAttempt, "checks/attempt")
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(fmt.Sprint("getrusage: ", err))
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
