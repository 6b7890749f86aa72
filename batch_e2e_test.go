package llmlimit_test

import (
	"fmt"
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
// Gemini's two paths, inline and through an uploaded file (13 MB: two
// chunks), run side by side against the same synchronous answers.
func TestBatch10000(t *testing.T) {
	const n = 10_000
	for _, api := range batchAPIs {
		t.Run(api, func(t *testing.T) {
			inBubble(t, batchConfig(llmtest.BatchConfig{Latency: 2 * time.Hour, OutOfOrder: true}), func(t *testing.T, x e2e) {
				reqs := batchOf(n)
				cases := []batchCase{{"openai", "openai", false}}
				if api == "gemini" {
					cases = batchCases[:2]
				}
				start := time.Now()
				var handles []string
				var batchers []llmlimit.Batcher
				for _, c := range cases {
					b, h := c.submit(t, x, reqs)
					handles, batchers = append(handles, h), append(batchers, b)
				}
				polls, elapsed, finals := make([]int, len(cases)), make([]time.Duration, len(cases)), make([]llmlimit.BatchStatus, len(cases))
				for tick, open := 0, len(cases); open > 0; tick++ {
					for i, b := range batchers {
						if finals[i].State.Final() {
							continue
						}
						st, err := b.PollBatch(t.Context(), handles[i])
						if err != nil {
							t.Fatal(err)
						}
						polls[i]++
						if st.State.Final() {
							finals[i], elapsed[i] = st, time.Since(start)
							open--
						}
					}
					time.Sleep(pollDelay(tick))
				}
				results := make([][]llmlimit.BatchResult, len(cases))
				for i, b := range batchers {
					if last := finals[i]; last.State != llmlimit.BatchCompleted || last.Total != n || last.Done != n || last.Failed != 0 && last.Failed != -1 {
						t.Errorf("%s: final status %+v", cases[i].name, last)
					}
					res, err := b.CollectBatch(t.Context(), handles[i], idsOf(reqs))
					if err != nil || len(res) != n {
						t.Fatalf("%s: %d results, %v", cases[i].name, len(res), err)
					}
					results[i] = res
				}
				httpCalls := x.emu.BatchCounters()
				syncCost, batchCost := make([]float64, len(cases)), make([]float64, len(cases))
				for k, req := range reqs {
					want, err := x.provider(api).Generate(t.Context(), req.Request)
					if err != nil {
						t.Fatal(err)
					}
					for i, res := range results {
						r := res[k]
						if r.ID != req.ID || r.Err != nil || r.Response.Text != want.Text || r.Response.Usage != want.Usage ||
							r.Response.Model != want.Model || r.Response.Provider != want.Provider {
							t.Fatalf("%s: %s: %+v %v; want %+v", cases[i].name, req.ID, r.Response, r.Err, want)
						}
						sc, ok1 := llmlimit.CostOf(want.Model, want.Usage, false)
						bc, ok2 := llmlimit.CostOf(r.Response.Model, r.Response.Usage, true)
						if !ok1 || !ok2 {
							t.Fatalf("no price for %q", want.Model)
						}
						syncCost[i] += sc
						batchCost[i] += bc
					}
				}
				for i, c := range cases {
					if syncCost[i] <= 0 || batchCost[i]*2 != syncCost[i] {
						t.Errorf("%s: batch cost %v, sync cost %v: want exactly half", c.name, batchCost[i], syncCost[i])
					}
					// The job takes 2 h; polls are at most 5 min apart.
					if elapsed[i] < 2*time.Hour || elapsed[i] > 2*time.Hour+5*time.Minute {
						t.Errorf("%s: ended after %v of virtual time", c.name, elapsed[i])
					}
					t.Logf("%s: %d requests answered identically to sync; ended after %v virtual, %d polls; cost $%.4f batch vs $%.4f sync (%.0f%%)",
						c.name, n, elapsed[i], polls[i], batchCost[i], syncCost[i], 100*batchCost[i]/syncCost[i])
				}
				t.Logf("HTTP calls to the batch API, all jobs: gemini %d, openai %d", httpCalls.Gemini.Requests, httpCalls.OpenAI.Requests)
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
