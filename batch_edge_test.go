package llmlimit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// TestOpenAIBatchSplit submits more requests than an input file may hold
// (the limit lowered to 100 lines on both sides): they go as several
// batches under one handle. Without the split the emulator fails the job
// at validation, as OpenAI does.
func TestOpenAIBatchSplit(t *testing.T) {
	cfg := batchConfig(llmtest.BatchConfig{Latency: time.Hour, MaxLines: 100, OutOfOrder: true})
	inBubble(t, cfg, func(t *testing.T, x e2e) {
		reqs := batchOf(250)
		llmlimit.SetBatchLimits(x.openai, 100, 0)
		h, err := x.openai.SubmitBatch(t.Context(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(jobNames(t, h)); n != 3 || x.emu.BatchCounters().OpenAI.Jobs != 3 {
			t.Fatalf("handle %q names %d batches, want 3", h, n)
		}
		seen := pollUntilFinal(t, t.Context(), x.openai, h)
		if last := seen[len(seen)-1]; last.State != llmlimit.BatchCompleted || last.Total != 250 || last.Done != 250 {
			t.Errorf("final status %+v", last)
		}
		res, err := x.openai.CollectBatch(t.Context(), h, idsOf(reqs))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if want, _ := llmtest.Answer(reqs[i].Request.Prompt); r.Err != nil || r.Response.Text != want {
				t.Errorf("%s: %v %+v", r.ID, r.Err, r.Response)
			}
		}

		llmlimit.SetBatchLimits(x.openai, 0, 0)
		h, err = x.openai.SubmitBatch(t.Context(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		seen = pollUntilFinal(t, t.Context(), x.openai, h)
		if last := seen[len(seen)-1]; last.State != llmlimit.BatchFailed {
			t.Fatalf("one file of 250 lines: %+v, want failed", last)
		}
		res, err = x.openai.CollectBatch(t.Context(), h, idsOf(reqs)[:1])
		if err != nil || resultKind(res[0]) != "not-run" || !strings.Contains(res[0].Err.Error(), "too_many_requests") {
			t.Errorf("result of a failed job: %+v %v", res, err)
		}
	})
}

// TestOpenAIBatchSplitBytes splits by size as well as by lines.
func TestOpenAIBatchSplitBytes(t *testing.T) {
	inBubble(t, llmtest.Config{}, func(t *testing.T, x e2e) {
		reqs := batchOf(100)
		llmlimit.SetBatchLimits(x.openai, 0, 20_000)
		h, err := x.openai.SubmitBatch(t.Context(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		// About 1.5 kB a line: 13 lines a file.
		if n := len(jobNames(t, h)); n < 7 || n > 10 {
			t.Errorf("%d batches for 100 lines of 20 kB files", n)
		}
		pollUntilFinal(t, t.Context(), x.openai, h)
		res, err := x.openai.CollectBatch(t.Context(), h, idsOf(reqs))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Errorf("%s: %v", r.ID, r.Err)
			}
		}
		llmlimit.SetBatchLimits(x.openai, 0, 100)
		if _, err := x.openai.SubmitBatch(t.Context(), reqs); err == nil || !strings.Contains(err.Error(), "exceeds the input file limit") {
			t.Errorf("a line larger than a file: %v", err)
		}
	})
}

// TestBatchModels sends requests for two models: one job each, results
// from the model asked for.
func TestBatchModels(t *testing.T) {
	for _, api := range batchAPIs {
		t.Run(api, func(t *testing.T) {
			inBubble(t, llmtest.Config{}, func(t *testing.T, x e2e) {
				reqs := batchOf(10)
				other := "gpt-4o"
				if api == "gemini" {
					other = "gemini-2.5-pro"
				}
				for i := range reqs {
					if i%2 == 1 {
						r := *reqs[i].Request
						r.Model = other
						reqs[i].Request = &r
					}
				}
				b := x.batcher(api)
				h, err := b.SubmitBatch(t.Context(), reqs)
				if err != nil {
					t.Fatal(err)
				}
				if n := len(jobNames(t, h)); n != 2 {
					t.Fatalf("%d jobs for two models", n)
				}
				pollUntilFinal(t, t.Context(), b, h)
				res, err := b.CollectBatch(t.Context(), h, idsOf(reqs))
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range res {
					want, _ := x.provider(api).Generate(t.Context(), reqs[i].Request)
					if r.Err != nil || r.Response.Model != want.Model || r.Response.Text != want.Text {
						t.Errorf("%s: %v %+v, want %+v", r.ID, r.Err, r.Response, want)
					}
				}
			})
		})
	}
}

// TestBatchUnhappy covers the calls' own failures: bad input, bad
// handles, a wrong key, a job the API doesn't know, a done context, and
// collecting too early.
func TestBatchUnhappy(t *testing.T) {
	for _, api := range batchAPIs {
		t.Run(api, func(t *testing.T) {
			inBubble(t, batchConfig(llmtest.BatchConfig{Latency: time.Hour}), func(t *testing.T, x e2e) {
				b := x.batcher(api)
				ctx := t.Context()
				req := batchOf(1)[0].Request
				for _, tc := range []struct {
					name string
					reqs []llmlimit.BatchRequest
					want string
				}{
					{"empty", nil, "empty batch"},
					{"empty id", []llmlimit.BatchRequest{{ID: "", Request: req}}, "empty id"},
					{"nil request", []llmlimit.BatchRequest{{ID: "a"}}, "is nil"},
					{"duplicate", []llmlimit.BatchRequest{{ID: "a", Request: req}, {ID: "a", Request: req}}, "duplicate"},
				} {
					if _, err := b.SubmitBatch(ctx, tc.reqs); err == nil || !strings.Contains(err.Error(), tc.want) {
						t.Errorf("%s: %v", tc.name, err)
					}
				}
				otherAPI := map[string]string{"gemini": "openai", "openai": "gemini"}[api]
				for _, h := range []string{"", "garbage", otherAPI + ":v1:x=1", api + ":v2:x=1", api + ":v1:x=0", api + ":v1:=3", api + ":v1:x=1,y",
					api + ":v1:" + strings.Repeat("x=1,", 1000) + "x=1"} {
					if _, err := b.PollBatch(ctx, h); err == nil || !strings.Contains(err.Error(), "bad batch handle") {
						t.Errorf("poll %q: %v", h, err)
					}
				}
				if _, err := b.PollBatch(ctx, api+":v1:"+map[string]string{"gemini": "batches/nope", "openai": "batch_nope"}[api]+"=1"); KindAndStatus(err) != "permanent 404" {
					t.Errorf("unknown job: %v", err)
				}
				reqs := batchOf(3)
				h, err := b.SubmitBatch(ctx, reqs)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := b.CollectBatch(ctx, h, idsOf(reqs)); !errors.Is(err, llmlimit.ErrBatchRunning) {
					t.Errorf("collect while running: %v", err)
				}
				done, cancel := context.WithCancel(ctx)
				cancel()
				if _, err := b.PollBatch(done, h); err != context.Canceled {
					t.Errorf("done context: %v", err)
				}
				if _, err := b.SubmitBatch(done, reqs); err != context.Canceled {
					t.Errorf("done context: %v", err)
				}
			})
		})
	}
}

// KindAndStatus describes a *ProviderError briefly.
func KindAndStatus(err error) string {
	var pe *llmlimit.ProviderError
	if !errors.As(err, &pe) {
		return fmt.Sprintf("not a ProviderError: %v", err)
	}
	return fmt.Sprintf("%s %d", pe.Kind, pe.StatusCode)
}

// TestBatchWrongKey checks that a refused key is classified and never
// shown, on every call.
func TestBatchWrongKey(t *testing.T) {
	const wrong = "sk-wrong-key-must-not-leak-0123456789"
	for _, c := range batchCases {
		t.Run(c.name, func(t *testing.T) {
			inBubble(t, llmtest.Config{}, func(t *testing.T, x e2e) {
				_, h := c.submit(t, x, batchOf(3))
				var bad llmlimit.Batcher
				if c.api == "gemini" {
					gc, err := x.emu.GeminiClient(t.Context(), wrong)
					if err != nil {
						t.Fatal(err)
					}
					bad = llmlimit.NewGemini(gc, "")
					if c.file {
						llmlimit.SetBatchLimits(bad.(llmlimit.Provider), 0, 1)
					}
				} else {
					bad = llmlimit.NewOpenAI(x.emu.OpenAIClient(wrong), "")
				}
				want := map[string]string{"gemini": "permanent 400", "openai": "permanent 401"}[c.api]
				_, err1 := bad.SubmitBatch(t.Context(), batchOf(3))
				_, err2 := bad.PollBatch(t.Context(), h)
				_, err3 := bad.CollectBatch(t.Context(), h, []string{"req-0"})
				err4 := bad.CancelBatch(t.Context(), h)
				for i, err := range []error{err1, err2, err3, err4} {
					if KindAndStatus(err) != want {
						t.Errorf("call %d: %v, want %s", i+1, err, want)
					}
					for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
						if strings.Contains(s, wrong) {
							t.Errorf("call %d leaks the key: %s", i+1, s)
						}
					}
				}
			})
		})
	}
}

// TestBatchLoopback runs a batch over a real socket, through the SDKs'
// ordinary HTTP stack: the upload URL Gemini hands out must lead back to
// the server. Real time; the job answers at once.
func TestBatchLoopback(t *testing.T) {
	overLoopback(t, llmtest.Config{}, func(t *testing.T, x e2e) {
		for _, c := range batchCases {
			t.Run(c.name, func(t *testing.T) {
				b := c.batcher(x)
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // generous: a shared machine
				defer cancel()
				reqs := batchOf(40)
				h, err := b.SubmitBatch(ctx, reqs)
				if err != nil {
					t.Fatal(err)
				}
				if st, err := b.PollBatch(ctx, h); err != nil || st.State != llmlimit.BatchCompleted {
					t.Fatalf("%+v %v", st, err)
				}
				res, err := b.CollectBatch(ctx, h, idsOf(reqs))
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range res {
					if want, _ := llmtest.Answer(reqs[i].Request.Prompt); r.Err != nil || r.Response.Text != want {
						t.Errorf("%s: %v %+v", r.ID, r.Err, r.Response)
					}
				}
			})
		}
		if c := x.emu.BatchCounters(); c.Gemini.Uploads != 1 || c.OpenAI.Uploads != 1 || c.Gemini.Jobs != 2 || c.OpenAI.Jobs != 1 {
			t.Errorf("counters %+v", c)
		}
	})
}

// TestBatchSubmitAbandons fails a submission after its first job started:
// that job is cancelled and no handle returned, or, when cancelling fails
// too, the handle names it.
func TestBatchSubmitAbandons(t *testing.T) {
	for _, api := range batchAPIs {
		for _, latency := range []time.Duration{time.Hour, 0} {
			t.Run(fmt.Sprint(api, latency), func(t *testing.T) {
				inBubble(t, batchConfig(llmtest.BatchConfig{Latency: latency}), func(t *testing.T, x e2e) {
					reqs := batchOf(4)
					r := *reqs[3].Request
					if api == "gemini" {
						r.Model = "bad?model" // genai refuses it before sending
					} else {
						r.Model, r.Prompt = "gpt-4o", strings.Repeat("x", 10_000) // over the file limit below
						llmlimit.SetBatchLimits(x.openai, 0, 8_000)
					}
					reqs[3].Request = &r
					h, err := x.batcher(api).SubmitBatch(t.Context(), reqs)
					c := x.emu.BatchCounters().OpenAI
					if api == "gemini" {
						c = x.emu.BatchCounters().Gemini
					}
					if err == nil || c.Jobs != 1 {
						t.Fatalf("%q, %v; %d jobs", h, err, c.Jobs)
					}
					if latency > 0 {
						// The running job was cancelled.
						if h != "" || c.Cancels != 1 {
							t.Errorf("handle %q, %d cancels: %v", h, c.Cancels, err)
						}
						return
					}
					// The job had already completed: cancelling it failed.
					if len(jobNames(t, h)) != 1 || !strings.Contains(err.Error(), "cancelling batch") {
						t.Errorf("handle %q: %v", h, err)
					}
					if res, err := x.batcher(api).CollectBatch(t.Context(), h, idsOf(reqs)[:3]); err != nil || resultKind(res[0]) != "ok" {
						t.Errorf("collecting the abandoned job: %+v %v", res, err)
					}
				})
			})
		}
	}
}
