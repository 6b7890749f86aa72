package llmlimit_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// Fallback(Limiter(Gemini), Limiter(OpenAI)) serves from OpenAI once
// Gemini's quota is spent, per day or per minute, without waiting.
func TestE2EFallback(t *testing.T) {
	tests := []struct {
		name       string
		gemini     llmtest.API
		served     []string // by call
		geminiSent int
	}{
		// The per-day 429 is not retried, and the Limiter fails fast after it.
		{"per-day quota spent", llmtest.API{PerDay: 2}, []string{"gemini", "gemini", "openai", "openai"}, 3},
		// The 429's hint (the rest of the minute) exceeds the wait budget.
		{"per-minute quota spent", llmtest.API{RequestsPerWindow: 1}, []string{"gemini", "openai", "openai"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inBubble(t, llmtest.Config{Gemini: tt.gemini}, func(t *testing.T, x e2e) {
				var logs bytes.Buffer
				log := llmlimit.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
				fb, err := llmlimit.NewFallback([]llmlimit.Provider{
					limited(t, x.gemini, llmlimit.WithMaxWait(5*time.Second), log),
					limited(t, x.openai, llmlimit.WithMaxWait(5*time.Second), log),
				}, log)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				for i, want := range tt.served {
					resp, err := fb.Generate(t.Context(), batchRequest(e2eItems, e2eVocab))
					if err != nil {
						t.Fatalf("call %d: %v", i, err)
					}
					if resp.Provider != want {
						t.Errorf("call %d served by %q, want %q", i, resp.Provider, want)
					}
				}
				if d := time.Since(start); d != 0 {
					t.Errorf("took %v of virtual time, want no waiting", d)
				}
				c := x.emu.Counters()
				if c.Gemini.Requests != tt.geminiSent || c.OpenAI.Requests != len(tt.served)-(tt.geminiSent-1) {
					t.Errorf("emulator saw gemini %d, openai %d requests", c.Gemini.Requests, c.OpenAI.Requests)
				}
				if !strings.Contains(logs.String(), "fallback") {
					t.Errorf("no fallback logged:\n%s", logs.String())
				}
				assertNoKey(t, logs.String())
			})
		})
	}
}

// With keys the emulator rejects, neither the error nor any log line of the
// whole stack shows the key that was sent.
func TestE2ENoKeyInErrorsOrLogs(t *testing.T) {
	cfg := llmtest.Config{Gemini: llmtest.API{Key: "AIza-the-right-key-0000000"}, OpenAI: llmtest.API{Key: "sk-the-right-key-0000000"}}
	inBubble(t, cfg, func(t *testing.T, x e2e) {
		var logs bytes.Buffer
		log := llmlimit.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		fb, err := llmlimit.NewFallback([]llmlimit.Provider{limited(t, x.gemini, log), limited(t, x.openai, log)}, log)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fb.Generate(t.Context(), batchRequest(e2eItems, nil))
		if err == nil {
			t.Fatal("bad keys were accepted")
		}
		for _, s := range []string{err.Error(), logs.String()} {
			assertNoKey(t, s)
		}
		if c := x.emu.Counters(); c.Gemini.Unauthorized != 1 || c.OpenAI.Unauthorized != 1 {
			t.Errorf("counters %+v", c)
		}
	})
}
