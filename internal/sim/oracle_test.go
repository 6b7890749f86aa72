package sim

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// oracleRig is an oracle around the real Gemini client of an emulator
// configured with api.
func oracleRig(t *testing.T, api llmtest.API, maxWait time.Duration) (*Oracle, *llmtest.Emulator) {
	t.Helper()
	api.Key = geminiKey
	em := llmtest.NewEmulator(llmtest.Config{Gemini: api})
	gc, err := em.GeminiClient(t.Context(), geminiKey)
	if err != nil {
		t.Fatal(err)
	}
	f := Frame{Requests: api.Requests, Tokens: api.Tokens, PerDay: api.RequestsPerDay.Limit, From: api.UnavailableUntil}
	return NewOracle(llmlimit.NewGemini(gc, ""), time.Now(), f, maxWait), em
}

// TestRequestTokens checks that the oracle counts a request's tokens as the
// emulator does: it relies on that never to be refused by a token quota.
func TestRequestTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o, em := oracleRig(t, llmtest.API{}, 0)
		space := NewSpace(5, 8000, 1)
		var prompt strings.Builder
		for _, it := range space.Items {
			prompt.WriteString(it.Text + "\n")
		}
		total := 0
		for _, req := range []*llmlimit.Request{
			{System: "Tag every item.", Prompt: prompt.String()},
			{Prompt: "odd length, no system"},
			{System: "s", Prompt: "12345"},
		} {
			if _, err := o.Generate(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			total += requestTokens(req)
		}
		if got := em.Counters().Gemini.TokensAdmitted; got != total {
			t.Errorf("emulator counted %d tokens, the oracle %d", got, total)
		}
	})
}

// TestOracleNeverRefused drives an oracle with six callers for 230 virtual
// seconds on every shape, and checks that Gemini never refuses
// it and that it admits what the quota allows: the oracle is the row that
// shows the frontier, so it must be both safe and greedy.
func TestOracleNeverRefused(t *testing.T) {
	const callers = 6
	// Not a whole number of minutes: no start falls on the run's end.
	run := 230 * time.Second
	fixed := func(limit int, phase time.Duration) llmtest.Quota {
		return llmtest.Quota{Limit: limit, Window: time.Minute, Phase: phase}
	}
	tests := []struct {
		name string
		api  llmtest.API
		// want is the requests the quota admits in the run, which the
		// oracle must all use: requests of 1,000 tokens each.
		want int
	}{
		// Windows [0, 40 s), [40 s, 100 s), … [220 s, 230 s).
		{"fixed, phase 20 s", llmtest.API{Requests: fixed(15, 20*time.Second)}, 5 * 15},
		// Spans [0, 60 s), … [180 s, 230 s).
		{"rolling", llmtest.API{Requests: llmtest.Quota{Limit: 15, Shape: llmtest.RollingWindow}}, 4 * 15},
		// ⌊4 + 15 · 230/60⌋: 4 at once, then one every 4 s up to 228 s.
		{"bucket of 4", llmtest.API{Requests: llmtest.Quota{Limit: 15, Shape: llmtest.TokenBucket, Burst: 4}}, 4 + 57},
		// Five windows of 25 requests' tokens.
		{"tokens in fixed windows", llmtest.API{Requests: fixed(1000, 20*time.Second),
			Tokens: fixed(25_000, 20*time.Second)}, 5 * 25},
		// ⌊(6,250 + 25,000 · 230/60) / 1,000⌋.
		{"tokens in a bucket", llmtest.API{Requests: llmtest.Quota{Limit: 1000, Shape: llmtest.TokenBucket, Burst: 250},
			Tokens: llmtest.Quota{Limit: 25_000, Shape: llmtest.TokenBucket, Burst: 6_250}}, 102},
		{"per-day cap", llmtest.API{Requests: fixed(60, 0), RequestsPerDay: llmtest.Quota{Limit: 100}}, 100},
		// Windows [90 s, 120 s), [120 s, 180 s), [180 s, 230 s).
		{"outage", llmtest.API{Requests: fixed(15, 0), UnavailableUntil: 90 * time.Second}, 3 * 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tt.api.Latency = geminiLatency.Draw
				o, em := oracleRig(t, tt.api, 0)
				// About 1,000 input tokens a request.
				req := &llmlimit.Request{Prompt: strings.Repeat("word ", 800)}
				ctx, cancel := context.WithTimeout(t.Context(), run)
				defer cancel()
				var wg sync.WaitGroup
				for range callers {
					wg.Go(func() {
						for ctx.Err() == nil {
							if _, err := o.Generate(ctx, req); err != nil && ctx.Err() == nil {
								if errors.Is(err, errPerDay) {
									return
								}
								t.Errorf("Generate: %v", err)
								return
							}
						}
					})
				}
				wg.Wait()
				c := em.Counters().Gemini
				if n := c.RateLimited + c.QuotaExceeded + c.ServerErrors; n > 0 {
					t.Errorf("Gemini refused the oracle %d times (%+v)", n, c)
				}
				if got := c.Requests; got != tt.want {
					t.Errorf("%d requests admitted in %v, want %d", got, run, tt.want)
				}
			})
		})
	}
}

func TestOracleWaitBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o, _ := oracleRig(t, llmtest.API{Requests: llmtest.Quota{Limit: 2, Window: time.Minute, Phase: 30 * time.Second}}, 20*time.Second)
		req := &llmlimit.Request{Prompt: "p"}
		for range 2 {
			if _, err := o.Generate(t.Context(), req); err != nil {
				t.Fatal(err)
			}
		}
		// The window ends 30 s after the start: past the budget of 20 s.
		_, err := o.Generate(t.Context(), req)
		var we *llmlimit.WaitError
		if !errors.As(err, &we) || we.Wait != 30*time.Second {
			t.Fatalf("err = %v, want a WaitError of 30 s", err)
		}
		if a := o.Availability(); a.Wait != 30*time.Second || a.Limit != 2 || a.Window != time.Minute || a.MaxWait != 20*time.Second {
			t.Errorf("Availability = %+v, want a wait of 30 s for 2 a minute, budget 20 s", a)
		}
		time.Sleep(15 * time.Second)
		// Now the window's end is 15 s away, within the budget: it waits.
		begin := time.Now()
		if _, err := o.Generate(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(begin); got != 15*time.Second {
			t.Errorf("waited %v, want 15 s", got)
		}
	})
}
