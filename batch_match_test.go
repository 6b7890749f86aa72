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
