package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

func TestMain(m *testing.M) {
	// genai links go.opencensus.io, whose package init starts a worker
	// goroutine that never ends.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// TestBurst fires 200 concurrent requests at the service, each with the
// service's 5 s, over the in-process emulator of both APIs in virtual
// time: Gemini allows 10 requests per 10 s, OpenAI 500 a minute. Every
// request must be answered in time, Gemini's quota used and the rest
// served by OpenAI.
func TestBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := emulatorConfig()
		cfg.Seed = 7
		em := llmtest.NewEmulator(cfg)
		gc, err := em.GeminiClient(t.Context(), "k")
		if err != nil {
			t.Fatal(err)
		}
		p, err := newPipeline(llmlimit.NewGemini(gc, ""), llmlimit.NewOpenAI(em.OpenAIClient("k"), ""),
			slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		h := newHandler(p, requestTimeout)

		const n = 200
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			codes = map[int]int{}
			by    = map[string]int{}
			took  []time.Duration
		)
		start := time.Now()
		for range n {
			wg.Go(func() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/summarize?text=a+long+story", nil))
				d := time.Since(start)
				var body struct{ Provider string }
				json.NewDecoder(rec.Body).Decode(&body)
				mu.Lock()
				defer mu.Unlock()
				codes[rec.Code]++
				by[body.Provider]++
				took = append(took, d)
			})
		}
		wg.Wait()
		slices.Sort(took)
		c := em.Counters()
		t.Logf("%d requests: status %v, served by %v; p50 %v, p99 %v, max %v; gemini sent %d (429s %d), openai sent %d",
			n, codes, by, took[n/2], took[n*99/100], took[n-1], c.Gemini.Requests, c.Gemini.RateLimited, c.OpenAI.Requests)
		if codes[http.StatusOK] != n {
			t.Errorf("status codes %v, want %d OK", codes, n)
		}
		if took[n-1] > requestTimeout {
			t.Errorf("slowest answer after %v, past the %v deadline", took[n-1], requestTimeout)
		}
		if by["gemini"] != 10 || c.Gemini.Successes != 10 {
			t.Errorf("gemini served %d (emulator: %d successes), want its whole quota of 10", by["gemini"], c.Gemini.Successes)
		}
		if by["openai"] != n-10 {
			t.Errorf("openai served %d, want the other %d", by["openai"], n-10)
		}
	})
}
