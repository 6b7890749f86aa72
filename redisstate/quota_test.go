package redisstate

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit"
)

// The Gemini quota of these tests: 60 RPM scaled ten times in time, 6
// requests per 6 s window, served with about 100 ms of latency.
const (
	quotaRequests = 6
	quotaWindow   = 6 * time.Second
	quotaLatency  = 100 * time.Millisecond
	quotaRun      = 4 * quotaWindow // whole windows, so the capacity is exact
	replicas      = 4
	workers       = 3 // per replica: the default concurrency
)

// quotaRate is what every replica is told of the quota. The 1% margin on
// the window absorbs the jitter between a start (on Redis's clock) and the
// request's arrival at the server, whose windows are fixed: without it two
// starts exactly one window apart can land in one server window when the
// first travelled slower than the second.
var quotaRate = llmlimit.Quota{Unit: llmlimit.UnitRequests, Limit: quotaRequests, Window: quotaWindow + quotaWindow/100}

type quotaResult struct {
	ops, rateLimited, admitted int
	goodput, perOp             float64
}

// runReplicas runs replicas against one quota for quotaRun: with a shared
// Redis state, or each with its own memory.
func runReplicas(t *testing.T, shared bool) quotaResult {
	emu, url := emulator(t, quotaRequests, quotaWindow, quotaLatency)
	start := time.Now()
	addr, key := "", ""
	if shared {
		addr = redisAddr(t)
		key = uniqueKey(t, newClient(t, addr))
	}
	var rs []*replica
	for range replicas {
		rs = append(rs, newReplica(t, url, addr, key, llmlimit.WithQuota(quotaRate), llmlimit.WithStateTimeout(time.Second)))
	}
	ctx, cancel := context.WithDeadline(t.Context(), start.Add(quotaRun))
	defer cancel()
	var ops atomic.Int64
	var wg sync.WaitGroup
	for _, r := range rs {
		for range workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					if _, err := r.lim.Generate(ctx, request); err == nil {
						ops.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	c := emu.Counters().Gemini
	res := quotaResult{ops: int(ops.Load()), rateLimited: c.RateLimited, admitted: c.Successes}
	capacity := quotaRequests * int(quotaRun/quotaWindow)
	res.goodput = float64(res.ops) / float64(capacity)
	if res.ops > 0 {
		res.perOp = float64(res.rateLimited) / float64(res.ops)
	}
	for i, r := range rs {
		st := r.lim.Stats()
		t.Logf("replica %d: calls %d, successes %d, 429s %d, state errors %d, cooldowns %+v",
			i, st.Calls, st.Successes, st.RateLimited, st.StateErrors, st.Cooldowns)
		if st.StateErrors > 0 {
			t.Errorf("replica %d: %d state errors with Redis up:\n%s", i, st.StateErrors, r.logs)
		}
	}
	t.Logf("%d replicas x %d workers, quota %d per %v over %v (capacity %d): "+
		"%d operations, goodput %.1f%% of quota, %d 429s = %.3f per operation, server admitted %d",
		replicas, workers, quotaRequests, quotaWindow, quotaRun, capacity,
		res.ops, 100*res.goodput, res.rateLimited, res.perOp, res.admitted)
	return res
}

// TestReplicasShareOneQuota is the demonstration: replicas sharing
// one Redis use the quota fully with next to no 429s, where replicas that
// each keep their own state overrun it on the same run.
func TestReplicasShareOneQuota(t *testing.T) {
	redisAddr(t)
	t.Parallel() // 24 s of real time, beside TestReplicasShareOneTokenQuota's
	if testing.Short() {
		t.Skip("real-time run of 24 s")
	}
	var shared, memory quotaResult
	t.Run("group", func(t *testing.T) {
		t.Run("shared", func(t *testing.T) {
			t.Parallel()
			shared = runReplicas(t, true)
			if shared.goodput < 0.95 || shared.perOp > 0.02 {
				t.Errorf("shared Redis state: goodput %.1f%%, %.3f 429s per operation; want >= 95%% and <= 0.02",
					100*shared.goodput, shared.perOp)
			}
		})
		t.Run("memory", func(t *testing.T) {
			t.Parallel()
			memory = runReplicas(t, false)
		})
	})
	t.Logf("shared Redis: goodput %.1f%%, %.3f 429s/op; in-memory: goodput %.1f%%, %.3f 429s/op",
		100*shared.goodput, shared.perOp, 100*memory.goodput, memory.perOp)
	if memory.rateLimited <= shared.rateLimited || memory.perOp <= 0.02 {
		t.Errorf("in-memory replicas: %d 429s (%.3f/op), shared %d: the baseline should overrun the quota",
			memory.rateLimited, memory.perOp, shared.rateLimited)
	}
}
