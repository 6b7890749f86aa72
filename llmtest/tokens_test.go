package llmtest

import (
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
)

// TestTokensCounted checks what the token quotas count, against the usage
// the real SDK clients report: Gemini's input tokens, OpenAI's prompt plus
// max_completion_tokens.
func TestTokensCounted(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := NewEmulator(only(api, API{Tokens: Quota{Limit: 1_000_000}}))
				r := call(t.Context(), t, e, api, goodKey, batch(3))
				if r.status != 200 || r.in == 0 {
					t.Fatalf("status %d, usage in %d: %v", r.status, r.in, r.err)
				}
				want := r.in // the sdk helpers ask for at most 512 tokens
				if api == "openai" {
					want += 512
				}
				if c := counters(e, api); c.TokensAdmitted != want || c.InputTokens != r.in {
					t.Errorf("tokens admitted %d, input %d; want %d, %d", c.TokensAdmitted, c.InputTokens, want, r.in)
				}
			})
		})
	}
}

// TestOpenAITokenEstimate: without max_tokens OpenAI counts its estimate of
// the reply; with one, the larger of the two.
func TestOpenAITokenEstimate(t *testing.T) {
	tests := []struct {
		maxTokens, want int
	}{
		{0, 10 + 4}, // the reply to a prompt that is not a batch is 4 tokens
		{3, 10 + 4},
		{50, 10 + 50},
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			e := NewEmulator(Config{OpenAI: API{Tokens: Quota{Limit: 1000}}})
			r := send(t, &http.Client{Transport: e.Transport()}, rawReq{api: "openai", promptTok: 10, maxTokens: tt.maxTokens})
			if r.status != 200 || r.usage() != 10 {
				t.Fatalf("status %d, prompt tokens %d", r.status, r.usage())
			}
			if got := e.Counters().OpenAI.TokensAdmitted; got != tt.want {
				t.Errorf("max_tokens %d: %d tokens counted, want %d", tt.maxTokens, got, tt.want)
			}
			if got := r.header.Get("x-ratelimit-remaining-tokens"); got != itoa(1000-tt.want) {
				t.Errorf("max_tokens %d: remaining tokens %q, want %d", tt.maxTokens, got, 1000-tt.want)
			}
		})
	}
}

// TestRequestTooLarge: a request larger than a token quota can hold is
// refused at once and consumes nothing; OpenAI says so in its own words,
// Gemini with its ordinary token 429.
func TestRequestTooLarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := NewEmulator(Config{
			OpenAI: API{Requests: Quota{Limit: 10}, Tokens: Quota{Limit: 30000}, TokensPerDay: Quota{Limit: 1000000}},
			Gemini: API{Tokens: Quota{Limit: 100}},
		})
		c := &http.Client{Transport: e.Transport()}
		r := send(t, c, rawReq{api: "openai", model: "gpt-4o", maxTokens: 30601})
		want := "Request too large for gpt-4o in organization org-emulator on tokens per min (TPM): Limit 30000, Requested 30601. " +
			"The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more."
		if r.status != 429 || r.errorField("message") != want || r.errorField("type") != "tokens" || r.errorField("code") != "rate_limit_exceeded" {
			t.Errorf("too large: %d %v", r.status, r.body)
		}
		if r.header.Get("retry-after") != "" || r.header.Get("retry-after-ms") != "" {
			t.Errorf("too large carries a retry hint: %v", r.header)
		}
		if r.header.Get("x-ratelimit-remaining-tokens") != "30000" || r.header.Get("x-ratelimit-remaining-requests") != "10" {
			t.Errorf("too large consumed quota: %v", r.header)
		}
		if r := send(t, c, rawReq{api: "openai", maxTokens: 30000}); r.status != 200 {
			t.Errorf("a request of the whole quota after it: %d %v", r.status, r.body)
		}
		oc := e.Counters().OpenAI
		if oc.TooLarge != 1 || oc.Limited != (Limits{Tokens: 1}) || oc.RateLimited != 1 || oc.TokensAdmitted != 30000 {
			t.Errorf("openai counters %+v", oc)
		}

		g := send(t, c, rawReq{api: "gemini", promptTok: 101})
		if g.status != 429 || geminiQuotaIDs(g) != QuotaIDInputTokensPerMinute || !strings.Contains(g.errorField("message"), "input_token_count, limit: 100, model: ") {
			t.Errorf("gemini too large: %d %v", g.status, g.body)
		}
		if gc := e.Counters().Gemini; gc.TooLarge != 1 || gc.Limited != (Limits{Tokens: 1}) || gc.RateLimited != 1 {
			t.Errorf("gemini counters %+v", gc)
		}
	})
}

// TestTooLargeForBucket: a bucket admits no request above its burst, and
// OpenAI's message names that capacity.
func TestTooLargeForBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := NewEmulator(Config{OpenAI: API{TokensPerDay: Quota{Limit: 1_000_000, Shape: TokenBucket, Burst: 5000}}})
		r := send(t, &http.Client{Transport: e.Transport()}, rawReq{api: "openai", maxTokens: 6000})
		if msg := r.errorField("message"); r.status != 429 || !strings.Contains(msg, "on tokens per day (TPD): Limit 5000, Requested 6000. The input") {
			t.Errorf("%d %q", r.status, msg)
		}
		if c := e.Counters().OpenAI; c.TooLarge != 1 || c.QuotaExceeded != 1 || c.Limited != (Limits{TokensPerDay: 1}) {
			t.Errorf("counters %+v", c)
		}
	})
}

// TestAbsurdMaxTokens: a max_tokens near the int range saturates instead of
// overflowing into a small count.
func TestAbsurdMaxTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := NewEmulator(Config{OpenAI: API{Tokens: Quota{Limit: 1000}}})
		r := send(t, &http.Client{Transport: e.Transport()}, rawReq{api: "openai", promptTok: 8, maxTokens: 1<<63 - 1})
		if r.status != 429 || !strings.HasPrefix(r.errorField("message"), "Request too large") {
			t.Errorf("%d %v", r.status, r.body)
		}
	})
}
