package llmlimit_test

import (
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// Clients configured to retry on their own still send one request per
// attempt: the providers turn the SDK retries off on every call.
func TestE2EOneRequestPerAttempt(t *testing.T) {
	cfg := llmtest.Config{Gemini: llmtest.API{ServerErrorRate: 1}, OpenAI: llmtest.API{ServerErrorRate: 1}}
	synctest.Test(t, func(t *testing.T) {
		emu := llmtest.NewEmulator(cfg)
		gc, err := genai.NewClient(t.Context(), &genai.ClientConfig{
			APIKey: e2eGeminiKey, Backend: genai.BackendGeminiAPI,
			HTTPClient:  &http.Client{Transport: emu.Transport()},
			HTTPOptions: genai.HTTPOptions{BaseURL: llmtest.GeminiBaseURL, RetryOptions: &genai.HTTPRetryOptions{Attempts: genai.Ptr[int32](4)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		oc := openai.NewClient(option.WithAPIKey(e2eOpenAIKey), option.WithBaseURL(llmtest.OpenAIBaseURL),
			option.WithHTTPClient(&http.Client{Transport: emu.Transport()}), option.WithMaxRetries(4))
		for _, p := range []llmlimit.Provider{llmlimit.NewGemini(gc, ""), llmlimit.NewOpenAI(oc, "")} {
			l, err := llmlimit.New(p, llmlimit.WithMaxRetries(2), llmlimit.WithBackoff(time.Second, time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = l.Generate(t.Context(), &llmlimit.Request{Prompt: "hello"})
			if llmlimit.KindOf(err) != llmlimit.KindTransient {
				t.Errorf("%s: err = %v, want transient", p.Name(), err)
			}
			if s := l.Stats(); s.Calls != 3 || s.Retries != 2 || s.Transient != 3 {
				t.Errorf("%s: stats = %+v", p.Name(), s)
			}
			// Two backoffs of 1 s and 2 s plus additive jitter of 0.1–0.4 s each.
			if d := time.Since(start); d < 3200*time.Millisecond || d > 3800*time.Millisecond {
				t.Errorf("%s: took %v of virtual time", p.Name(), d)
			}
		}
		c := emu.Counters()
		if c.Gemini.Requests != 3 || c.OpenAI.Requests != 3 {
			t.Errorf("emulator saw gemini %d, openai %d requests; want 3 each (one per attempt)", c.Gemini.Requests, c.OpenAI.Requests)
		}
	})
}

// A Gemini 429 whose RetryInfo says "26s" holds the retry for 26 s of
// virtual time, and the retry then succeeds in the next quota window.
func TestE2EGeminiRetryDelay(t *testing.T) {
	// The first window ends 26 s after the start.
	cfg := llmtest.Config{Gemini: llmtest.API{RequestsPerWindow: 1, Phase: 34 * time.Second}}
	inBubble(t, cfg, func(t *testing.T, x e2e) {
		l := limited(t, x.gemini, llmlimit.WithBackoff(time.Second, time.Minute))
		if _, err := l.Generate(t.Context(), batchRequest(e2eItems, nil)); err != nil {
			t.Fatal(err)
		}
		// What the server says, seen through the bare provider.
		var pe *llmlimit.ProviderError
		if _, err := x.gemini.Generate(t.Context(), batchRequest(e2eItems, nil)); !errors.As(err, &pe) || pe.RetryAfter != 26*time.Second {
			t.Fatalf("bare provider: %v, want a 429 with retryDelay 26s", err)
		}
		start := time.Now()
		resp, err := l.Generate(t.Context(), batchRequest(e2eItems, nil))
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 26*time.Second || d > 27*time.Second {
			t.Errorf("retry after %v, want 26 s (the server's retryDelay) plus at most the gate's stagger", d)
		}
		if resp.Provider != "gemini" {
			t.Errorf("served by %q", resp.Provider)
		}
		if c := x.emu.Counters().Gemini; c.Requests != 4 || c.RateLimited != 2 || c.Successes != 2 {
			t.Errorf("emulator counters %+v", c)
		}
		if s := l.Stats(); s.RateLimited != 1 || s.Retries != 1 || s.Cooldowns.ServerHint != 1 {
			t.Errorf("stats %+v", s)
		}
	})
}

// Spent quotas (Gemini per day, OpenAI insufficient_quota) and bad keys are
// never retried, and a 5xx is.
func TestE2ELimiterRetries(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		cfg      llmtest.Config
		warm     int
		is       error
		kind     llmlimit.Kind
		requests int // after warm-up, with WithMaxRetries(3)
	}{
		{"gemini per-day 429", "gemini", llmtest.Config{Gemini: llmtest.API{PerDay: 1}}, 1, llmlimit.ErrQuotaExhausted, llmlimit.KindQuotaExhausted, 1},
		{"openai insufficient_quota", "openai", llmtest.Config{OpenAI: llmtest.API{InsufficientQuota: true}}, 0, llmlimit.ErrQuotaExhausted, llmlimit.KindQuotaExhausted, 1},
		{"gemini bad key", "gemini", llmtest.Config{Gemini: llmtest.API{Key: "AIza-the-right-key-0000000"}}, 0, nil, llmlimit.KindPermanent, 1},
		{"openai bad key", "openai", llmtest.Config{OpenAI: llmtest.API{Key: "sk-the-right-key-0000000"}}, 0, nil, llmlimit.KindPermanent, 1},
		{"gemini 500", "gemini", llmtest.Config{Gemini: llmtest.API{ServerErrorRate: 1}}, 0, nil, llmlimit.KindTransient, 4},
		{"openai 500", "openai", llmtest.Config{OpenAI: llmtest.API{ServerErrorRate: 1}}, 0, nil, llmlimit.KindTransient, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inBubble(t, tt.cfg, func(t *testing.T, x e2e) {
				l := limited(t, x.provider(tt.provider), llmlimit.WithMaxRetries(3))
				for range tt.warm {
					if _, err := l.Generate(t.Context(), batchRequest(e2eItems, nil)); err != nil {
						t.Fatal(err)
					}
				}
				start := time.Now()
				_, err := l.Generate(t.Context(), batchRequest(e2eItems, nil))
				if llmlimit.KindOf(err) != tt.kind || tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("err = %v, want kind %v", err, tt.kind)
				}
				if got := x.counters(tt.provider).Requests - tt.warm; got != tt.requests {
					t.Errorf("sent %d requests, want %d", got, tt.requests)
				}
				if tt.requests == 1 && time.Since(start) != 0 {
					t.Errorf("a call that is not retried took %v", time.Since(start))
				}
			})
		})
	}
}
