package llmtest

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

func TestRoundTrip(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := NewEmulator(only(api, API{Key: goodKey}))
				p := batch(3)
				want, _ := Answer(p)
				r := call(t.Context(), t, e, api, goodKey, p)
				if r.err != nil || r.text != want {
					t.Fatalf("reply %q, %v; want %q", r.text, r.err, want)
				}
				c := counters(e, api)
				if c.Requests != 1 || c.Successes != 1 || c.InputTokens != r.in || c.OutputTokens != r.out || r.in == 0 || r.out != tokens(want) {
					t.Errorf("counters %+v, reply usage in %d out %d", c, r.in, r.out)
				}
				rec := e.Received()
				if len(rec) != 1 {
					t.Fatalf("Received() = %d requests", len(rec))
				}
				got := rec[0]
				wantFormat := map[string]string{"gemini": "application/json", "openai": "json_schema"}[api]
				wantModel := map[string]string{"gemini": geminiModel, "openai": openaiModel}[api]
				if got.API != api || got.Model != wantModel || got.System != prompt.System || got.Prompt != p ||
					got.ResponseFormat != wantFormat || got.Schema["type"] != "object" || got.MaxOutputTokens != 512 ||
					got.Temperature == nil || *got.Temperature < 0.19 || *got.Temperature > 0.21 {
					t.Errorf("Received %+v", got)
				}
			})
		})
	}
}

func TestLatency(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := NewEmulator(only(api, API{RequestsPerWindow: 5, Latency: func(r *rand.Rand) time.Duration {
					return 2*time.Second + time.Duration(r.IntN(2))*time.Second
				}}))
				start := time.Now()
				if r := call(t.Context(), t, e, api, goodKey, batch(1)); r.status != 200 {
					t.Fatal(r.err)
				}
				if d := time.Since(start); d != 2*time.Second && d != 3*time.Second {
					t.Errorf("call took %v, want 2s or 3s", d)
				}
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				defer cancel()
				start = time.Now()
				r := call(ctx, t, e, api, goodKey, batch(1))
				if !errors.Is(r.err, context.DeadlineExceeded) || time.Since(start) != time.Second {
					t.Fatalf("canceled call: %v after %v", r.err, time.Since(start))
				}
				// Quota is counted at arrival, even when the caller gives up.
				if c := counters(e, api); c.Requests != 2 || c.Successes != 1 {
					t.Errorf("counters %+v", c)
				}
			})
		})
	}
}
