package llmlimit_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// batchQuota is the synchronous quota of the batch-mode tests: 60 requests
// a minute on both APIs, so a sync run of 10,000 items (2,000 calls) takes
// over half an hour.
func batchQuota(b llmtest.BatchConfig) llmtest.Config {
	cfg := batchConfig(b)
	cfg.Gemini.RequestsPerWindow, cfg.OpenAI.RequestsPerWindow = 60, 60
	cfg.Gemini.Window, cfg.OpenAI.Window = time.Minute, time.Minute
	return cfg
}

// batchSpace is a run's TagSpace on x's api alone, behind a Limiter,
// with a fresh store under dir unless store is given.
func batchSpace(t *testing.T, x e2e, api string, store *llmlimit.Store, opts ...llmlimit.Option) *llmlimit.TagSpace {
	t.Helper()
	if store == nil {
		var err error
		if store, err = llmlimit.OpenStore(filepath.Join(t.TempDir(), "results.db")); err != nil {
			t.Fatal(err)
		}
	}
	opts = append([]llmlimit.Option{llmlimit.WithStore(store), llmlimit.WithEmulator(true)}, opts...)
	ts, err := llmlimit.NewTagSpace(limited(t, x.provider(api)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// syncCalls is how many synchronous requests the emulator has seen.
func syncCalls(x e2e) int { return x.emu.Counters().Gemini.Requests + x.emu.Counters().OpenAI.Requests }

// syncServed is how many synchronous requests the emulator has answered.
func syncServed(x e2e) int {
	return x.emu.Counters().Gemini.Successes + x.emu.Counters().OpenAI.Successes
}

func batchJobs(x e2e) int {
	return x.emu.BatchCounters().Gemini.Jobs + x.emu.BatchCounters().OpenAI.Jobs
}

// sameResults asserts two runs' results are the same, item by item.
func sameResults(t *testing.T, got, want *llmlimit.Report) {
	t.Helper()
	if len(got.Results) != len(want.Results) {
		t.Fatalf("%d results, want %d", len(got.Results), len(want.Results))
	}
	for i, g := range got.Results {
		w := want.Results[i]
		if g.ID != w.ID || !slices.Equal(g.Tags, w.Tags) || g.Provider != w.Provider || g.Cached != w.Cached || (g.Err == nil) != (w.Err == nil) {
			t.Fatalf("result %d: %+v, sync %+v", i, g, w)
		}
	}
}

// TestTagSpaceBatch10000 tags a 10,000-item space in batch mode on each
// provider and in sync mode on the same emulator: the same results, item
// by item, at half the cost, and no request against the sync quota.
func TestTagSpaceBatch10000(t *testing.T) {
	const n = 10_000
	for _, api := range batchAPIs {
		t.Run(api, func(t *testing.T) {
			inBubble(t, batchQuota(llmtest.BatchConfig{Latency: 30 * time.Minute, OutOfOrder: true, StrayLines: 3}), func(t *testing.T, x e2e) {
				s := e2eSpace(n)
				syncRep, err := batchSpace(t, x, api, nil).Run(t.Context(), s)
				if err != nil {
					t.Fatal(err)
				}
				syncReqs := syncCalls(x)
				if checkTags(t, s, syncRep) != n || syncRep.Mode != "sync" {
					t.Fatalf("sync run: %d tagged, mode %s", syncRep.Tagged, syncRep.Mode)
				}

				var states []llmlimit.BatchState
				ts := batchSpace(t, x, api, nil, llmlimit.WithMode(llmlimit.ModeBatch), llmlimit.WithProgress(func(p llmlimit.Progress) {
					if p.Batch.Total > 0 && (len(states) == 0 || states[len(states)-1] != p.Batch.State) {
						states = append(states, p.Batch.State)
					}
				}))
				rep, err := ts.Run(t.Context(), s)
				if err != nil {
					t.Fatal(err)
				}
				if got := syncCalls(x) - syncReqs; got != 0 {
					t.Errorf("batch run sent %d sync requests", got)
				}
				if checkTags(t, s, rep) != n || rep.Tagged != n || rep.BatchItems != n || rep.BatchJobs != 1 || rep.Mode != "batch" {
					t.Fatalf("batch run: %d tagged, %d from %d jobs, mode %s", rep.Tagged, rep.BatchItems, rep.BatchJobs, rep.Mode)
				}
				sameResults(t, rep, syncRep)
				if rep.Operations != n/5 || rep.Providers[api].BatchRequests != n/5 || rep.Providers[api].Calls != 0 {
					t.Errorf("operations %d, provider %+v", rep.Operations, rep.Providers[api])
				}
				if math.Abs(2*rep.CostUSD-syncRep.CostUSD) > 1e-9*syncRep.CostUSD || rep.CostUSD != rep.BatchCostUSD ||
					math.Abs(rep.BatchAtSyncPriceUSD-syncRep.CostUSD) > 1e-9*syncRep.CostUSD {
					t.Errorf("batch cost $%v (at sync price $%v), sync cost $%v: want half", rep.CostUSD, rep.BatchAtSyncPriceUSD, syncRep.CostUSD)
				}
				if want := []llmlimit.BatchState{llmlimit.BatchPending, llmlimit.BatchRunning, llmlimit.BatchCompleted}; !slices.Equal(states, want) {
					t.Errorf("progress saw states %v, want %v", states, want)
				}
				if rep.BatchWaitSeconds < 30*60 || rep.BatchWaitSeconds > 35*60 {
					t.Errorf("waited %vs for a 30-minute job", rep.BatchWaitSeconds)
				}
				t.Logf("%s, %d items: sync %d requests against the sync quota, makespan %.0fs, cost $%.4f; batch %d sync requests, %d batch requests, makespan %.0fs (waited %.0fs), cost $%.4f (%.1f%%)",
					api, n, syncReqs, syncRep.ElapsedSeconds, syncRep.CostUSD, syncCalls(x)-syncReqs, rep.Providers[api].BatchRequests,
					rep.ElapsedSeconds, rep.BatchWaitSeconds, rep.CostUSD, 100*rep.CostUSD/syncRep.CostUSD)
			})
		})
	}
}

// TestTagSpaceBatchResume stops a run once its job is submitted and starts
// a new TagSpace on the same store: it collects the job instead of
// submitting again.
func TestTagSpaceBatchResume(t *testing.T) {
	const n = 500
	for _, api := range batchAPIs {
		t.Run(api, func(t *testing.T) {
			inBubble(t, batchQuota(llmtest.BatchConfig{Latency: time.Hour}), func(t *testing.T, x e2e) {
				s := e2eSpace(n)
				store, err := llmlimit.OpenStore(filepath.Join(t.TempDir(), "results.db"))
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				first := batchSpace(t, x, api, store, llmlimit.WithMode(llmlimit.ModeBatch), llmlimit.WithProgress(func(p llmlimit.Progress) {
					if p.Batch.Total > 0 {
						cancel() // the process dies once the job is submitted
					}
				}))
				rep, err := first.Run(ctx, s)
				if !errors.Is(err, context.Canceled) || rep.NotAttempted != n || batchJobs(x) != 1 {
					t.Fatalf("first run: %v, %d not attempted, %d jobs", err, rep.NotAttempted, batchJobs(x))
				}
				time.Sleep(10 * time.Minute)
				second := batchSpace(t, x, api, store, llmlimit.WithMode(llmlimit.ModeAuto))
				rep, err = second.Run(t.Context(), s)
				if err != nil {
					t.Fatal(err)
				}
				if jobs := batchJobs(x); jobs != 1 {
					t.Errorf("%d jobs submitted in all, want 1", jobs)
				}
				if checkTags(t, s, rep) != n || rep.BatchItems != n || rep.Mode != "batch" || syncCalls(x) != 0 {
					t.Errorf("second run: %d tagged, %d from the job, mode %s (%s), %d sync calls",
						rep.Tagged, rep.BatchItems, rep.Mode, rep.ModeReason, syncCalls(x))
				}
				if w := rep.BatchWaitSeconds; w < 50*60 || w > 55*60 {
					t.Errorf("second run waited %vs for the job's last 50 minutes", w)
				}
				t.Logf("resumed: %s; waited %.0fs", rep.ModeReason, rep.BatchWaitSeconds)
				// The job's record is gone: a third run is served from the store.
				rep, err = batchSpace(t, x, api, store, llmlimit.WithMode(llmlimit.ModeBatch)).Run(t.Context(), s)
				if err != nil || rep.Cached != n || rep.BatchJobs != 0 || batchJobs(x) != 1 {
					t.Errorf("third run: %v, %d cached, %d jobs", err, rep.Cached, rep.BatchJobs)
				}
			})
		})
	}
}

// TestTagSpaceBatchCancelJobs stops a run with WithCancelJobs: its job is
// cancelled, and a rerun submits a new one.
func TestTagSpaceBatchCancelJobs(t *testing.T) {
	inBubble(t, batchQuota(llmtest.BatchConfig{Latency: time.Hour}), func(t *testing.T, x e2e) {
		s := e2eSpace(50)
		store, err := llmlimit.OpenStore(filepath.Join(t.TempDir(), "results.db"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		ts := batchSpace(t, x, "openai", store, llmlimit.WithMode(llmlimit.ModeBatch), llmlimit.WithCancelJobs(true),
			llmlimit.WithProgress(func(p llmlimit.Progress) {
				if p.Batch.Total > 0 {
					cancel()
				}
			}))
		if _, err := ts.Run(ctx, s); !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		if c := x.emu.BatchCounters().OpenAI; c.Cancels != 1 {
			t.Errorf("%d jobs cancelled, want 1", c.Cancels)
		}
		rep, err := batchSpace(t, x, "openai", store, llmlimit.WithMode(llmlimit.ModeBatch)).Run(t.Context(), s)
		if err != nil || rep.BatchItems != 50 || batchJobs(x) != 2 {
			t.Errorf("rerun: %v, %d from jobs, %d jobs", err, rep.BatchItems, batchJobs(x))
		}
	})
}

// TestTagSpaceBatchFallsBackToSync runs jobs that leave work undone: what
// they don't answer is tagged synchronously in the same run, through the
// Limiter, with the same results.
func TestTagSpaceBatchFallsBackToSync(t *testing.T) {
	const n = 400
	cases := []struct {
		name string
		b    llmtest.BatchConfig
		// batch is how many items the job should tag, -1 for "some but
		// not all".
		batch map[string]int
	}{
		{"partial", llmtest.BatchConfig{Latency: time.Hour, FailRate: 0.25}, map[string]int{"gemini": -1, "openai": -1}},
		// 80% of the requests ran before the window ended; OpenAI
		// returns them, Gemini none.
		{"expired", llmtest.BatchConfig{Latency: 30 * time.Hour, Window: 24 * time.Hour}, map[string]int{"gemini": 0, "openai": n * 4 / 5}},
		// OpenAI's validation refuses a file of more lines than the
		// account may send: the job fails without running; Gemini has no
		// such bound.
		{"failed", llmtest.BatchConfig{Latency: time.Hour, MaxLines: 10}, map[string]int{"gemini": n, "openai": 0}},
		{"out-of-order-and-stray", llmtest.BatchConfig{Latency: time.Hour, OutOfOrder: true, StrayLines: 7}, map[string]int{"gemini": n, "openai": n}},
	}
	for _, c := range cases {
		for _, api := range batchAPIs {
			t.Run(c.name+"/"+api, func(t *testing.T) {
				inBubble(t, batchQuota(c.b), func(t *testing.T, x e2e) {
					s := e2eSpace(n)
					rep, err := batchSpace(t, x, api, nil, llmlimit.WithMode(llmlimit.ModeBatch)).Run(t.Context(), s)
					if err != nil {
						t.Fatal(err)
					}
					if checkTags(t, s, rep) != n {
						t.Fatalf("%d of %d tagged, %d failed: %v", rep.Tagged, n, rep.Failed, firstErr(rep))
					}
					want := c.batch[api]
					if want >= 0 && rep.BatchItems != want || want < 0 && (rep.BatchItems == 0 || rep.BatchItems == n) {
						t.Errorf("%d items from the job, want %d", rep.BatchItems, want)
					}
					// Each request the job left is five items, sent again in
					// batches of five.
					if served := syncServed(x); served != (n-rep.BatchItems)/5 || rep.Providers[api].Calls != int64(syncCalls(x)) {
						t.Errorf("%d sync calls served, %d sent (report %d) for %d items", served, syncCalls(x), rep.Providers[api].Calls, n-rep.BatchItems)
					}
					t.Logf("%d items from the job, %d sync calls for the rest (%d sent)", rep.BatchItems, syncServed(x), syncCalls(x))
				})
			})
		}
	}
}

func firstErr(rep *llmlimit.Report) error {
	for _, r := range rep.Results {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// TestTagSpaceBatchDeadline gives a run less time than its job takes: the
// run stops at its deadline, items not attempted, the job left running.
func TestTagSpaceBatchDeadline(t *testing.T) {
	inBubble(t, batchQuota(llmtest.BatchConfig{Latency: 2 * time.Hour}), func(t *testing.T, x e2e) {
		s := e2eSpace(100)
		start := time.Now()
		rep, err := batchSpace(t, x, "gemini", nil, llmlimit.WithMode(llmlimit.ModeBatch), llmlimit.WithDeadline(time.Hour)).Run(t.Context(), s)
		if !errors.Is(err, context.DeadlineExceeded) || rep.NotAttempted != 100 || syncCalls(x) != 0 {
			t.Fatalf("%v, %d not attempted, %d sync calls", err, rep.NotAttempted, syncCalls(x))
		}
		if d := time.Since(start); d != time.Hour {
			t.Errorf("ran %v", d)
		}
	})
}

// TestTagSpaceAutoMode checks what auto mode picks and says.
func TestTagSpaceAutoMode(t *testing.T) {
	cases := []struct {
		items     int
		opts      []llmlimit.Option
		mode, why string
	}{
		{50, nil, "sync", "auto: 10 calls, within the batch threshold, and no deadline"},
		{50, []llmlimit.Option{llmlimit.WithBatchThreshold(5)}, "batch", "auto: 10 calls, above the batch threshold of 5"},
		{50, []llmlimit.Option{llmlimit.WithDeadline(time.Hour)}, "sync", "auto: 10 calls, within the batch threshold; the sync quotas are not known"},
		{500, []llmlimit.Option{llmlimit.WithDeadline(2 * time.Minute), llmlimit.WithRequestsPerMinute(30)}, "batch",
			"auto: 100 calls, more than the 60 the sync quotas serve in the 2m0s to the deadline"},
		{250, []llmlimit.Option{llmlimit.WithDeadline(2 * time.Minute), llmlimit.WithRequestsPerMinute(30)}, "sync",
			"auto: 50 calls, which the sync quotas serve (60) in the 2m0s to the deadline"},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			inBubble(t, batchConfig(llmtest.BatchConfig{Latency: time.Minute}), func(t *testing.T, x e2e) {
				opts := append([]llmlimit.Option{llmlimit.WithMode(llmlimit.ModeAuto), llmlimit.WithEmulator(true)}, c.opts...)
				ts, err := llmlimit.NewTagSpace(limited(t, x.gemini, opts...), opts...)
				if err != nil {
					t.Fatal(err)
				}
				rep, err := ts.Run(t.Context(), e2eSpace(c.items))
				if err != nil || rep.Tagged != c.items {
					t.Fatalf("%v, %d tagged", err, rep.Tagged)
				}
				if rep.Mode != c.mode || rep.ModeReason != c.why {
					t.Errorf("mode %s (%s), want %s (%s)", rep.Mode, rep.ModeReason, c.mode, c.why)
				}
			})
		})
	}
}

// TestTagSpaceBatchNeedsBatcher refuses batch mode on a provider without a
// batch API, and auto mode there picks sync.
func TestTagSpaceBatchNeedsBatcher(t *testing.T) {
	fake := llmtest.NewFake("fake")
	if _, err := llmlimit.NewTagSpace(fake, llmlimit.WithMode(llmlimit.ModeBatch)); err == nil {
		t.Error("batch mode accepted without a Batcher")
	}
	ts, err := llmlimit.NewTagSpace(fake, llmlimit.WithMode(llmlimit.ModeAuto), llmlimit.WithBatchThreshold(1))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ts.Run(t.Context(), e2eSpace(20))
	if err != nil || rep.Mode != "sync" || rep.ModeReason != "auto: no provider has a batch API" {
		t.Errorf("%v: mode %s (%s)", err, rep.Mode, rep.ModeReason)
	}
}

// TestTagSpaceBatchSwapCheck runs batch mode on the checked protocol: the
// job's answers are read with the checked validator, as sync replies are.
func TestTagSpaceBatchSwapCheck(t *testing.T) {
	inBubble(t, batchQuota(llmtest.BatchConfig{Latency: time.Hour}), func(t *testing.T, x e2e) {
		s := e2eSpace(100)
		rep, err := batchSpace(t, x, "openai", nil, llmlimit.WithMode(llmlimit.ModeBatch), llmlimit.WithSwapCheck(true)).Run(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		if checkTags(t, s, rep) != 100 || rep.BatchItems != 100 || syncCalls(x) != 0 {
			t.Errorf("%d tagged, %d from the job, %d sync calls", rep.Tagged, rep.BatchItems, syncCalls(x))
		}
	})
}

// TestTagSpaceBatchLostJob resumes from a store whose job the provider no
// longer knows (another emulator: another account, or past retention):
// the run submits a new job for its items.
func TestTagSpaceBatchLostJob(t *testing.T) {
	inBubble(t, batchQuota(llmtest.BatchConfig{Latency: time.Hour}), func(t *testing.T, x e2e) {
		s := e2eSpace(50)
		store, err := llmlimit.OpenStore(filepath.Join(t.TempDir(), "results.db"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		first := batchSpace(t, x, "openai", store, llmlimit.WithMode(llmlimit.ModeBatch), llmlimit.WithProgress(func(p llmlimit.Progress) {
			if p.Batch.Total > 0 {
				cancel()
			}
		}))
		if _, err := first.Run(ctx, s); !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		other := llmtest.NewEmulator(keyed(batchQuota(llmtest.BatchConfig{Latency: time.Hour})))
		y := e2e{emu: other, openai: llmlimit.NewOpenAI(other.OpenAIClient(e2eOpenAIKey), "")}
		rep, err := batchSpace(t, y, "openai", store, llmlimit.WithMode(llmlimit.ModeBatch)).Run(t.Context(), s)
		if err != nil || rep.BatchItems != 50 || batchJobs(y) != 1 || syncCalls(y) != 0 {
			t.Errorf("%v: %d from jobs, %d jobs, %d sync calls", err, rep.BatchItems, batchJobs(y), syncCalls(y))
		}
	})
}

// TestTagSpaceBatchPollBackoff checks the polling cadence: 30 s, growing
// by half to 5 minutes, as the HTTP requests of a one-hour job show.
func TestTagSpaceBatchPollBackoff(t *testing.T) {
	inBubble(t, batchQuota(llmtest.BatchConfig{Latency: time.Hour}), func(t *testing.T, x e2e) {
		var at []time.Duration
		start := time.Now()
		// Every poll reports the job's state; the items the job tags
		// report at the time of the last one.
		ts := batchSpace(t, x, "openai", nil, llmlimit.WithMode(llmlimit.ModeBatch), llmlimit.WithProgress(func(p llmlimit.Progress) {
			if p.Batch.Total > 0 {
				at = append(at, time.Since(start))
			}
		}))
		if _, err := ts.Run(t.Context(), e2eSpace(50)); err != nil {
			t.Fatal(err)
		}
		// Polls at 0, 30s, 75s, 142.5s, ... until the job has ended.
		var want []time.Duration
		for i, d := 0, time.Duration(0); d <= time.Hour+5*time.Minute; i++ {
			want = append(want, d)
			if d >= time.Hour {
				break
			}
			d += pollDelay(i)
		}
		var polls []time.Duration
		for _, d := range at {
			if len(polls) == 0 || polls[len(polls)-1] != d {
				polls = append(polls, d)
			}
		}
		if !slices.Equal(polls, want) {
			t.Errorf("polls at %v, want %v", polls, want)
		}
	})
}

// TestTagSpaceBatchThroughFallback runs batch mode on the pipeline the
// command builds, a Fallback of a Gemini and an OpenAI Limiter: the job
// goes to Gemini, the first with a batch API; what it leaves (all of it:
// Gemini returns nothing of an expired job) is served synchronously
// through the Fallback, Gemini's quota spent and OpenAI serving the rest.
func TestTagSpaceBatchThroughFallback(t *testing.T) {
	cfg := batchQuota(llmtest.BatchConfig{Latency: 30 * time.Hour, Window: 24 * time.Hour})
	cfg.Gemini.RequestsPerWindow = 20
	inBubble(t, cfg, func(t *testing.T, x e2e) {
		s := e2eSpace(400)
		fb, err := llmlimit.Fallback(limited(t, x.gemini, llmlimit.WithMaxWait(3*time.Second)), limited(t, x.openai))
		if err != nil {
			t.Fatal(err)
		}
		ts, err := llmlimit.NewTagSpace(fb, llmlimit.WithMode(llmlimit.ModeBatch), llmlimit.WithEmulator(true))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := ts.Run(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		jobs := x.emu.BatchCounters()
		if checkTags(t, s, rep) != 400 || rep.BatchItems != 0 || jobs.Gemini.Jobs != 1 || jobs.OpenAI.Jobs != 0 {
			t.Fatalf("%d tagged, %d from the job; jobs %+v", rep.Tagged, rep.BatchItems, jobs)
		}
		g, o := rep.Providers["gemini"], rep.Providers["openai"]
		if g.Successes == 0 || o.Successes == 0 || g.Successes+o.Successes != 80 || rep.Operations != 80 {
			t.Errorf("sync: gemini %+v, openai %+v, %d operations", g, o, rep.Operations)
		}
		t.Logf("expired job served sync: gemini %d, openai %d calls served", g.Successes, o.Successes)
	})
}
