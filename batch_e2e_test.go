package llmlimit_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// batchCase is one way of running a batch: a provider, and for Gemini
// whether the requests go inline or through an uploaded file.
type batchCase struct {
	name, api string
	file      bool
}

var batchCases = []batchCase{{"gemini-inline", "gemini", false}, {"gemini-file", "gemini", true}, {"openai", "openai", false}}

// batcher returns the case's provider, set up for its path.
func (c batchCase) batcher(x e2e) llmlimit.Batcher {
	p := x.provider(c.api)
	if c.file {
		llmlimit.SetBatchLimits(p, 0, 1)
	}
	return p.(llmlimit.Batcher)
}

// submit submits reqs on the case's path, checking that it took it.
func (c batchCase) submit(t *testing.T, x e2e, reqs []llmlimit.BatchRequest) (llmlimit.Batcher, string) {
	t.Helper()
	b := c.batcher(x)
	before := c.counters(x).Uploads
	h, err := b.SubmitBatch(t.Context(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	uploads := c.counters(x).Uploads - before
	if want := 0; c.file || c.api == "openai" {
		want = len(jobNames(t, h))
		if uploads != want {
			t.Fatalf("%d files uploaded, want %d", uploads, want)
		}
	} else if uploads != want {
		t.Fatalf("%d files uploaded for inlined requests", uploads)
	}
	return b, h
}

func (c batchCase) counters(x e2e) llmtest.APIBatchCounters {
	if c.api == "gemini" {
		return x.emu.BatchCounters().Gemini
	}
	return x.emu.BatchCounters().OpenAI
}

// batchConfig sets b on both APIs.
func batchConfig(b llmtest.BatchConfig) llmtest.Config {
	var cfg llmtest.Config
	cfg.Gemini.Batch, cfg.OpenAI.Batch = b, b
	return cfg
}

// TestBatch10000 runs 10,000 requests through each batch API in virtual
// time, at TagSpace's polling cadence, and checks every answer against a
// synchronous call of the same request, and the cost against its price.
func TestBatch10000(t *testing.T) {
	const n = 10_000
	for _, c := range batchCases {
		t.Run(c.name, func(t *testing.T) {
			inBubble(t, batchConfig(llmtest.BatchConfig{Latency: 2 * time.Hour, OutOfOrder: true}), func(t *testing.T, x e2e) {
				reqs := batchOf(n)
				start := time.Now()
				b, h := c.submit(t, x, reqs)
				seen := pollUntilFinal(t, t.Context(), b, h)
				res, err := b.CollectBatch(t.Context(), h, idsOf(reqs))
				if err != nil {
					t.Fatal(err)
				}
				elapsed := time.Since(start)
				httpCalls := c.counters(x).Requests
				last := seen[len(seen)-1]
				if last.State != llmlimit.BatchCompleted || last.Total != n || last.Done != n || last.Failed != 0 && last.Failed != -1 {
					t.Errorf("final status %+v", last)
				}
				if len(res) != n {
					t.Fatalf("%d results", len(res))
				}
				var syncCost, batchCost float64
				for i, r := range res {
					want, err := x.provider(c.api).Generate(t.Context(), reqs[i].Request)
					if err != nil {
						t.Fatal(err)
					}
					if r.ID != reqs[i].ID || r.Err != nil || r.Response.Text != want.Text || r.Response.Usage != want.Usage ||
						r.Response.Model != want.Model || r.Response.Provider != want.Provider {
						t.Fatalf("%s: %+v %v; want %+v", reqs[i].ID, r.Response, r.Err, want)
					}
					sc, ok1 := llmlimit.CostOf(want.Model, want.Usage, false)
					bc, ok2 := llmlimit.CostOf(r.Response.Model, r.Response.Usage, true)
					if !ok1 || !ok2 {
						t.Fatalf("no price for %q", want.Model)
					}
					syncCost += sc
					batchCost += bc
				}
				if syncCost <= 0 || batchCost*2 != syncCost {
					t.Errorf("batch cost %v, sync cost %v: want exactly half", batchCost, syncCost)
				}
				if elapsed < 2*time.Hour || elapsed > 2*time.Hour+5*time.Minute {
					t.Errorf("collected after %v of virtual time; the job takes 2h and polls are 5 min apart at most", elapsed)
				}
				t.Logf("%d requests: %v virtual, %d polls, %d HTTP calls to the batch API; cost $%.4f batch vs $%.4f sync (%.0f%%)",
					n, elapsed, len(seen), httpCalls, batchCost, syncCost, 100*batchCost/syncCost)
			})
		})
	}
}

// TestBatchProgress checks that a poll is one request per job and that
// counts grow with virtual time where the API reports them.
func TestBatchProgress(t *testing.T) {
	for _, c := range batchCases {
		t.Run(c.name, func(t *testing.T) {
			inBubble(t, batchConfig(llmtest.BatchConfig{Latency: time.Hour}), func(t *testing.T, x e2e) {
				b, h := c.submit(t, x, batchOf(100))
				before := c.counters(x).Requests
				st, err := b.PollBatch(t.Context(), h)
				if err != nil {
					t.Fatal(err)
				}
				if got := c.counters(x).Requests - before; got != 1 {
					t.Errorf("a poll sent %d requests, want 1", got)
				}
				if st.State != llmlimit.BatchPending || st.Done != 0 || st.Total != 100 || st.Progress() != 0 {
					t.Errorf("at once: %+v", st)
				}
				time.Sleep(15 * time.Minute)
				st, _ = b.PollBatch(t.Context(), h)
				want := llmlimit.BatchStatus{State: llmlimit.BatchRunning, Total: 100, Done: 25, Failed: 0}
				if c.api == "gemini" {
					want.Done, want.Failed = -1, -1
				}
				if st != want {
					t.Errorf("after 15 min: %+v, want %+v", st, want)
				}
				time.Sleep(45 * time.Minute)
				st, _ = b.PollBatch(t.Context(), h)
				if st.State != llmlimit.BatchCompleted || st.Done != 100 || st.Progress() != 1 {
					t.Errorf("after an hour: %+v", st)
				}
			})
		})
	}
}

// TestBatchPartialFailure fails a share of a job's requests: each is a
// classified failure of its own, the rest are answered.
func TestBatchPartialFailure(t *testing.T) {
	for _, c := range batchCases {
		t.Run(c.name, func(t *testing.T) {
			inBubble(t, batchConfig(llmtest.BatchConfig{Latency: time.Hour, FailRate: 0.25}), func(t *testing.T, x e2e) {
				reqs := batchOf(400)
				b, h := c.submit(t, x, reqs)
				seen := pollUntilFinal(t, t.Context(), b, h)
				res, err := b.CollectBatch(t.Context(), h, idsOf(reqs))
				if err != nil {
					t.Fatal(err)
				}
				failed := 0
				for i, r := range res {
					if r.Err == nil {
						if want, _ := llmtest.Answer(reqs[i].Request.Prompt); r.Response.Text != want {
							t.Errorf("%s: %q, want %q", r.ID, r.Response.Text, want)
						}
						continue
					}
					failed++
					pe, ok := r.Err.(*llmlimit.ProviderError)
					if !ok || pe.StatusCode != 500 || pe.Kind != llmlimit.KindTransient || pe.Provider != c.api || resultKind(r) != "transient" {
						t.Errorf("%s: %#v", r.ID, r.Err)
					}
					assertNoKey(t, fmt.Sprintf("%+v", r.Err))
				}
				ec := c.counters(x)
				if failed == 0 || failed != ec.Failed || ec.Succeeded != 400-failed {
					t.Errorf("%d failed; the emulator failed %d and answered %d", failed, ec.Failed, ec.Succeeded)
				}
				last := seen[len(seen)-1]
				wantFailed := failed
				if c.file {
					wantFailed = -1 // in a file Gemini doesn't count failures
				}
				if last.State != llmlimit.BatchCompleted || last.Failed != wantFailed || last.Done != 400 {
					t.Errorf("final status %+v, want %d failed", last, wantFailed)
				}
				t.Logf("%d of 400 failed", failed)
			})
		})
	}
}

// TestBatchExpired runs jobs slower than their window: OpenAI returns
// what was answered and marks the rest, Gemini returns nothing.
func TestBatchExpired(t *testing.T) {
	for _, c := range batchCases {
		t.Run(c.name, func(t *testing.T) {
			// 30 h for OpenAI's 24-hour window, 60 h for Gemini's 48: 80%.
			latency := 30 * time.Hour
			if c.api == "gemini" {
				latency = 60 * time.Hour
			}
			inBubble(t, batchConfig(llmtest.BatchConfig{Latency: latency}), func(t *testing.T, x e2e) {
				reqs := batchOf(400)
				start := time.Now()
				b, h := c.submit(t, x, reqs)
				seen := pollUntilFinal(t, t.Context(), b, h)
				if last := seen[len(seen)-1]; last.State != llmlimit.BatchExpired {
					t.Fatalf("final status %+v", last)
				}
				if d := time.Since(start); d < latency*4/5 || d > latency*4/5+5*time.Minute {
					t.Errorf("expired after %v", d)
				}
				res, err := b.CollectBatch(t.Context(), h, idsOf(reqs))
				if err != nil {
					t.Fatal(err)
				}
				count := map[string]int{}
				for _, r := range res {
					count[resultKind(r)]++
				}
				want := map[string]int{"ok": 320, "not-run": 80}
				if c.api == "gemini" {
					want = map[string]int{"not-run": 400}
				}
				if fmt.Sprint(count) != fmt.Sprint(want) {
					t.Errorf("results %v, want %v", count, want)
				}
			})
		})
	}
}

// TestBatchOutOfOrder has results written in an order of their own;
// every one still reaches its request.
func TestBatchOutOfOrder(t *testing.T) {
	for _, c := range batchCases {
		t.Run(c.name, func(t *testing.T) {
			inBubble(t, batchConfig(llmtest.BatchConfig{Latency: time.Hour, OutOfOrder: true}), func(t *testing.T, x e2e) {
				reqs := batchOf(300)
				b, h := c.submit(t, x, reqs)
				pollUntilFinal(t, t.Context(), b, h)
				// Reversed ids, so that position can't stand in for identity.
				ids := idsOf(reqs)
				for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
					ids[i], ids[j] = ids[j], ids[i]
				}
				res, err := b.CollectBatch(t.Context(), h, ids)
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range res {
					req := reqs[len(reqs)-1-i]
					want, _ := llmtest.Answer(req.Request.Prompt)
					if r.ID != req.ID || r.Err != nil || r.Response.Text != want {
						t.Fatalf("%d: %s %v %+v; want %s %q", i, r.ID, r.Err, r.Response, req.ID, want)
					}
				}
				if order := resultOrder(t, x, c, h); isInputOrder(order, reqs) {
					t.Errorf("the emulator wrote results in input order: %v...", order[:5])
				}
			})
		})
	}
}

// TestBatchStrayResults adds results under ids no request has: they are
// ignored, and a caller asking for some ids gets just those.
func TestBatchStrayResults(t *testing.T) {
	for _, c := range batchCases {
		t.Run(c.name, func(t *testing.T) {
			inBubble(t, batchConfig(llmtest.BatchConfig{StrayLines: 5}), func(t *testing.T, x e2e) {
				reqs := batchOf(50)
				b, h := c.submit(t, x, reqs)
				pollUntilFinal(t, t.Context(), b, h)
				if order := resultOrder(t, x, c, h); len(order) != 55 {
					t.Fatalf("the emulator wrote %d results, want 50 and 5 strays", len(order))
				}
				res, err := b.CollectBatch(t.Context(), h, idsOf(reqs))
				if err != nil || len(res) != 50 {
					t.Fatalf("%d results, %v", len(res), err)
				}
				for i, r := range res {
					if want, _ := llmtest.Answer(reqs[i].Request.Prompt); r.Err != nil || r.Response.Text != want {
						t.Errorf("%s: %v %+v", r.ID, r.Err, r.Response)
					}
				}
				some, err := b.CollectBatch(t.Context(), h, []string{"req-7", "no-such-request", "req-3"})
				if err != nil || len(some) != 3 || some[0].ID != "req-7" || some[0].Err != nil || some[2].Err != nil ||
					resultKind(some[1]) != "not-run" {
					t.Errorf("subset: %+v, %v", some, err)
				}
			})
		})
	}
}

// TestBatchCancel cancels a job halfway: OpenAI keeps what was answered,
// Gemini nothing; a second cancel of the ended job is no error.
func TestBatchCancel(t *testing.T) {
	for _, c := range batchCases {
		t.Run(c.name, func(t *testing.T) {
			inBubble(t, batchConfig(llmtest.BatchConfig{Latency: time.Hour, CancelLatency: 10 * time.Minute}), func(t *testing.T, x e2e) {
				reqs := batchOf(100)
				b, h := c.submit(t, x, reqs)
				time.Sleep(30 * time.Minute)
				if err := b.CancelBatch(t.Context(), h); err != nil {
					t.Fatal(err)
				}
				st, err := b.PollBatch(t.Context(), h)
				want := llmlimit.BatchCancelling
				if c.api == "gemini" {
					want = llmlimit.BatchCancelled // at once
				}
				if err != nil || st.State != want {
					t.Errorf("after cancel: %+v %v, want %v", st, err, want)
				}
				if _, err := b.CollectBatch(t.Context(), h, idsOf(reqs)); c.api == "openai" && !errors.Is(err, llmlimit.ErrBatchRunning) {
					t.Errorf("collect while cancelling: %v", err)
				}
				time.Sleep(10 * time.Minute)
				if st, _ := b.PollBatch(t.Context(), h); st.State != llmlimit.BatchCancelled {
					t.Errorf("10 min later: %+v", st)
				}
				res, err := b.CollectBatch(t.Context(), h, idsOf(reqs))
				if err != nil {
					t.Fatal(err)
				}
				count := map[string]int{}
				for _, r := range res {
					count[resultKind(r)]++
				}
				wantCount := map[string]int{"ok": 50, "not-run": 50}
				if c.api == "gemini" {
					wantCount = map[string]int{"not-run": 100}
				}
				if fmt.Sprint(count) != fmt.Sprint(wantCount) {
					t.Errorf("results %v, want %v", count, wantCount)
				}
				if err := b.CancelBatch(t.Context(), h); err != nil {
					t.Errorf("cancelling an ended job: %v", err)
				}
				if n := c.counters(x).Cancels; n != 1 {
					t.Errorf("%d cancels reached the API, want 1", n)
				}
			})
		})
	}
}

// TestBatchResume persists a handle and picks it up with a new client
// and provider, as a new process would: mid-run and at the end.
func TestBatchResume(t *testing.T) {
	for _, c := range batchCases {
		t.Run(c.name, func(t *testing.T) {
			inBubble(t, batchConfig(llmtest.BatchConfig{Latency: time.Hour, OutOfOrder: true}), func(t *testing.T, x e2e) {
				reqs := batchOf(200)
				_, h := c.submit(t, x, reqs)
				stored := strings.Clone(h) // what the first process persisted, with its ids
				ids := idsOf(reqs)
				time.Sleep(20 * time.Minute)

				fresh := func() llmlimit.Batcher {
					if c.api == "gemini" {
						gc, err := x.emu.GeminiClient(t.Context(), e2eGeminiKey)
						if err != nil {
							t.Fatal(err)
						}
						return llmlimit.NewGemini(gc, "")
					}
					return llmlimit.NewOpenAI(x.emu.OpenAIClient(e2eOpenAIKey), "")
				}
				b2 := fresh()
				if st, err := b2.PollBatch(t.Context(), stored); err != nil || st.State != llmlimit.BatchRunning || st.Total != 200 {
					t.Fatalf("resumed poll: %+v %v", st, err)
				}
				pollUntilFinal(t, t.Context(), b2, stored)
				res, err := fresh().CollectBatch(t.Context(), stored, ids)
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range res {
					if want, _ := llmtest.Answer(reqs[i].Request.Prompt); r.Err != nil || r.Response.Text != want {
						t.Errorf("%s: %v %+v", r.ID, r.Err, r.Response)
					}
				}
			})
		})
	}
}
