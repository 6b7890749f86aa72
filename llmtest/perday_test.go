package llmtest

import (
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

// sleepUntil sleeps in the bubble until the UTC instant s (RFC 3339).
func sleepUntil(t *testing.T, s string) {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(at))
}

// TestGeminiPerDayPacificMidnight: Gemini's per-day quota resets at
// midnight Pacific time, DST included, and its 429 says so only by the
// quota id: the hint is the short one of the current minute.
func TestGeminiPerDayPacificMidnight(t *testing.T) {
	for name, api := range map[string]API{
		"RequestsPerDay": {RequestsPerDay: Quota{Limit: 2}},
		"PerDay":         {PerDay: 2},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := NewEmulator(Config{Gemini: api})
				spend := func(when string) {
					t.Helper()
					for i := range 2 {
						if r := call(t.Context(), t, e, "gemini", goodKey, batch(1)); r.status != 200 {
							t.Fatalf("%s, call %d: %d %v", when, i, r.status, r.err)
						}
					}
				}
				refused := func(when string, hint time.Duration) {
					t.Helper()
					r := call(t.Context(), t, e, "gemini", goodKey, batch(1))
					if r.status != 429 || geminiQuotaID(r) != QuotaIDPerDay {
						t.Fatalf("%s: status %d, quota %q; want a per-day 429", when, r.status, geminiQuotaID(r))
					}
					checkHint(t, "gemini", r, hint)
				}
				// The bubble starts at 16:00 PST on 31 December 1999:
				// the Pacific day ends eight hours later.
				spend("at the start")
				refused("at the start", time.Minute)
				sleepUntil(t, "2000-01-01T07:59:59Z")
				refused("a second before midnight Pacific", time.Second)
				time.Sleep(time.Second)
				spend("at midnight Pacific")
				// Under PDT the day starts at 07:00 UTC.
				sleepUntil(t, "2000-04-02T20:00:00Z")
				spend("on the day DST starts")
				sleepUntil(t, "2000-04-03T06:59:30Z")
				refused("before midnight PDT", 30*time.Second)
				sleepUntil(t, "2000-04-03T07:00:00Z")
				spend("at midnight PDT")
				if c := e.Counters().Gemini; c.QuotaExceeded != 3 || c.RateLimited != 0 || c.Limited != (Limits{RequestsPerDay: 3}) || c.Successes != 8 {
					t.Errorf("counters %+v", c)
				}
			})
		})
	}
}

// TestOpenAIPerDay checks the RPD and TPD 429s of both refills: a fixed day
// and a bucket, whose "try again in" is the refill time of one request
// (86400 s / 200 = 7m12s, as real RPD replies say).
func TestOpenAIPerDay(t *testing.T) {
	tests := []struct {
		name    string
		api     API
		before  []int // tokens of the admitted requests (OpenAI: at least 4)
		request int
		want    string
		typ     string
		after   string // retry-after
	}{
		{"RPD fixed", API{RequestsPerDay: Quota{Limit: 2}}, []int{4, 4}, 4,
			"Rate limit reached for gpt-4o-mini in organization org-emulator on requests per day (RPD): Limit 2, Used 2, Requested 1. Please try again in 24h0m0s. Visit https://platform.openai.com/account/rate-limits to learn more.",
			"requests", "86400"},
		{"RPD bucket", API{RequestsPerDay: Quota{Limit: 200, Shape: TokenBucket}}, make200(), 4,
			"Rate limit reached for gpt-4o-mini in organization org-emulator on requests per day (RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s. Visit https://platform.openai.com/account/rate-limits to learn more.",
			"requests", "432"},
		{"TPD bucket", API{TokensPerDay: Quota{Limit: 1000, Shape: TokenBucket}}, []int{600}, 600,
			"Rate limit reached for gpt-4o-mini in organization org-emulator on tokens per day (TPD): Limit 1000, Used 600, Requested 600. Please try again in 4h48m0s. Visit https://platform.openai.com/account/rate-limits to learn more.",
			"tokens", "17280"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := NewEmulator(Config{OpenAI: tt.api})
				c := &http.Client{Transport: e.Transport()}
				for i, n := range tt.before {
					if r := send(t, c, rawReq{api: "openai", maxTokens: n}); r.status != 200 {
						t.Fatalf("request %d: %d %v", i, r.status, r.body)
					}
				}
				r := send(t, c, rawReq{api: "openai", maxTokens: tt.request})
				if r.status != 429 || r.errorField("message") != tt.want || r.errorField("type") != tt.typ || r.header.Get("retry-after") != tt.after {
					t.Errorf("got %d, retry-after %q, %v\nwant %s", r.status, r.header.Get("retry-after"), r.body, tt.want)
				}
				if got := e.Counters().OpenAI; got.QuotaExceeded != 1 || got.RateLimited != 0 {
					t.Errorf("counters %+v", got)
				}
			})
		})
	}
}

func make200() []int {
	n := make([]int, 200)
	for i := range n {
		n[i] = 4
	}
	return n
}

// TestOpenAIBucketHeaders reproduces the rate-limit headers of a real
// reply from an account with 200 requests a day and 40000 tokens a
// minute: limit-requests 200, remaining-requests 198, reset-requests
// 11m32.334s, limit-tokens 40000, remaining-tokens 39880, reset-tokens
// 180ms. Only buckets give those figures: the reset is the time until
// full, (limit − remaining)/rate with the fraction the bucket refilled.
func TestOpenAIBucketHeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := NewEmulator(Config{OpenAI: API{
			RequestsPerDay: Quota{Limit: 200, Shape: TokenBucket},
			Tokens:         Quota{Limit: 40000, Shape: TokenBucket},
		}})
		c := &http.Client{Transport: e.Transport()}
		send(t, c, rawReq{api: "openai", maxTokens: 500})
		time.Sleep(171666 * time.Millisecond)
		r := send(t, c, rawReq{api: "openai", maxTokens: 120})
		want := map[string]string{
			"x-ratelimit-limit-requests": "200", "x-ratelimit-remaining-requests": "198", "x-ratelimit-reset-requests": "11m32.334s",
			"x-ratelimit-limit-tokens": "40000", "x-ratelimit-remaining-tokens": "39880", "x-ratelimit-reset-tokens": "180ms",
		}
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
	})
}
