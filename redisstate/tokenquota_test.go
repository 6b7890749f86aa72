package redisstate

import (
	"context"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// The token quota of these tests: 6,000 input tokens per 6 s window (a
// tokens-per-minute quota scaled ten times in time), for requests of about
// 1,000 tokens: six a window.
const (
	tokenQuota  = 6000
	tokenPrompt = 4000 // bytes: the emulator counts four a token
)

// longRequest is a request of about tokenPrompt/4 input tokens.
var longRequest = &llmlimit.Request{Prompt: strings.Repeat("Count these tokens. ", tokenPrompt/20)}

// TestReplicasShareOneTokenQuota runs four replicas, told the token quota
// of all of them together, against one emulated token quota with no
// request quota: sharing the quota through Redis they use nearly all of it
// with next to no 429s, where replicas that each keep their own log
// overrun it.
func TestReplicasShareOneTokenQuota(t *testing.T) {
	redisAddr(t)
	t.Parallel() // 24 s of real time, beside TestReplicasShareOneQuota's
	if testing.Short() {
		t.Skip("real-time run of 24 s")
	}
	run := func(t *testing.T, shared bool) (goodput, perOp float64) {
		emu := llmtest.NewEmulator(llmtest.Config{Gemini: llmtest.API{
			Key:    geminiKey,
			Tokens: llmtest.Quota{Limit: tokenQuota, Window: quotaWindow},
			Latency: func(r *rand.Rand) time.Duration {
				return quotaLatency + time.Duration(r.Int64N(int64(quotaLatency/4)+1))
			},
		}})
		srv := httptest.NewServer(emu)
		t.Cleanup(srv.Close)
		addr, key := "", ""
		if shared {
			addr = redisAddr(t)
			key = uniqueKey(t, newClient(t, addr))
		}
		// The 1% margin absorbs the jitter between a start and its
		// arrival at the server, as in TestReplicasShareOneQuota.
		told := llmlimit.WithQuota(llmlimit.Quota{Unit: llmlimit.UnitInputTokens, Limit: tokenQuota, Window: quotaWindow + quotaWindow/100})
		var rs []*replica
		for range replicas {
			rs = append(rs, newReplica(t, srv.URL+"/", addr, key, told, llmlimit.WithStateTimeout(time.Second)))
		}
		ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(quotaRun))
		defer cancel()
		var ops atomic.Int64
		var wg sync.WaitGroup
		for _, r := range rs {
			for range workers {
				wg.Go(func() {
					for ctx.Err() == nil {
						if _, err := r.lim.Generate(ctx, longRequest); err == nil {
							ops.Add(1)
						}
					}
				})
			}
		}
		wg.Wait()
		c := emu.Counters().Gemini
		capacity := tokenQuota * int(quotaRun/quotaWindow)
		goodput = float64(c.TokensAdmitted) / float64(capacity)
		if n := ops.Load(); n > 0 {
			perOp = float64(c.RateLimited) / float64(n)
		}
		for i, r := range rs {
			if st := r.lim.Stats(); shared && st.StateErrors > 0 {
				t.Errorf("replica %d: %d state errors with Redis up:\n%s", i, st.StateErrors, r.logs)
			}
		}
		t.Logf("shared %v: %d operations, %d tokens admitted of %d (%.1f%%), %d 429s = %.3f per operation",
			shared, ops.Load(), c.TokensAdmitted, capacity, 100*goodput, c.RateLimited, perOp)
		return goodput, perOp
	}
	var sharedGood, sharedPerOp, memPerOp float64
	t.Run("group", func(t *testing.T) {
		t.Run("shared", func(t *testing.T) {
			t.Parallel()
			sharedGood, sharedPerOp = run(t, true)
			if sharedGood < 0.95 || sharedPerOp > 0.02 {
				t.Errorf("shared: %.1f%% of the token quota used, %.3f 429s per operation; want >= 95%% and <= 0.02", 100*sharedGood, sharedPerOp)
			}
		})
		t.Run("memory", func(t *testing.T) {
			t.Parallel()
			_, memPerOp = run(t, false)
		})
	})
	if memPerOp <= 0.02 {
		t.Errorf("in-memory replicas: %.3f 429s per operation: the baseline should overrun the quota", memPerOp)
	}
}
