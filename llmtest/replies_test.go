package llmtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestGeminiMultiViolation: a request refused by three quotas at once gets
// one violation and one message line for each, per-day first, and the hint
// of the longest per-window wait.
func TestGeminiMultiViolation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := NewEmulator(Config{Gemini: API{
			RequestsPerDay: Quota{Limit: 1},
			Requests:       Quota{Limit: 1},
			Tokens:         Quota{Limit: 10, Shape: RollingWindow},
		}})
		c := &http.Client{Transport: e.Transport()}
		if r := send(t, c, rawReq{api: "gemini", promptTok: 8}); r.status != 200 {
			t.Fatalf("first request: %d %v", r.status, r.body)
		}
		time.Sleep(18500 * time.Millisecond)
		r := send(t, c, rawReq{api: "gemini", promptTok: 8})
		m := geminiModel
		wantMsg := "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/rate-limit. " +
			"\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 1, model: " + m +
			"\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 1, model: " + m +
			"\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_input_token_count, limit: 10, model: " + m +
			"\nPlease retry in 41.5s."
		if r.status != 429 || r.errorField("message") != wantMsg || r.errorField("status") != "RESOURCE_EXHAUSTED" {
			t.Errorf("got %d %q\nwant %q", r.status, r.errorField("message"), wantMsg)
		}
		qf, _ := json.Marshal(r.detail("type.googleapis.com/google.rpc.QuotaFailure")["violations"])
		wantQF := `[{"quotaDimensions":{"location":"global","model":"` + m + `"},"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier","quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaValue":"1"},` +
			`{"quotaDimensions":{"location":"global","model":"` + m + `"},"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaValue":"1"},` +
			`{"quotaDimensions":{"location":"global","model":"` + m + `"},"quotaId":"GenerateContentInputTokensPerModelPerMinute-FreeTier","quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_input_token_count","quotaValue":"10"}]`
		if string(qf) != wantQF {
			t.Errorf("violations\n%s\nwant\n%s", qf, wantQF)
		}
		if ri := r.detail("type.googleapis.com/google.rpc.RetryInfo"); ri["retryDelay"] != "41s" {
			t.Errorf("RetryInfo %v, want 41s", ri)
		}
		if c := e.Counters().Gemini; c.QuotaExceeded != 1 || c.RateLimited != 0 || c.Limited != (Limits{Requests: 1, Tokens: 1, RequestsPerDay: 1}) {
			t.Errorf("counters %+v", c)
		}
	})
}

// TestGeminiPaidTier: the paid tier's ids and metrics.
func TestGeminiPaidTier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := NewEmulator(Config{Gemini: API{PaidTier: true, RequestsPerDay: Quota{Limit: 1}, Requests: Quota{Limit: 1}, Tokens: Quota{Limit: 10}}})
		c := &http.Client{Transport: e.Transport()}
		send(t, c, rawReq{api: "gemini", promptTok: 8})
		r := send(t, c, rawReq{api: "gemini", promptTok: 8})
		if got := geminiQuotaIDs(r); got != "GenerateRequestsPerDayPerProjectPerModel,GenerateRequestsPerMinutePerProjectPerModel,GenerateContentPaidTierInputTokensPerModelPerMinute" {
			t.Errorf("paid-tier ids %q", got)
		}
		msg := r.errorField("message")
		for _, metric := range []string{"generate_requests_per_model_per_day, limit: 1", "generate_requests_per_model, limit: 1", "generate_content_paid_tier_input_token_count, limit: 10"} {
			if !strings.Contains(msg, "* Quota exceeded for metric: generativelanguage.googleapis.com/"+metric+", model: ") {
				t.Errorf("message %q lacks %s", msg, metric)
			}
		}
	})
}

// TestOpaque: 429s with nothing in them, while the quotas still refill.
func TestOpaque(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := API{Opaque: true, Requests: Quota{Limit: 1, Shape: TokenBucket}, Tokens: Quota{Limit: 1000}}
		e := NewEmulator(Config{Gemini: q, OpenAI: q})
		c := &http.Client{Transport: e.Transport()}
		for _, api := range apis {
			ok := send(t, c, tokenReq(api, 8))
			r := send(t, c, tokenReq(api, 8))
			if ok.status != 200 || r.status != 429 {
				t.Fatalf("%s: statuses %d, %d", api, ok.status, r.status)
			}
			for k := range ok.header {
				if strings.HasPrefix(strings.ToLower(k), "x-ratelimit") || strings.HasPrefix(strings.ToLower(k), "retry-after") {
					t.Errorf("%s: header %s on an opaque API", api, k)
				}
			}
			for k := range r.header {
				if strings.HasPrefix(strings.ToLower(k), "x-ratelimit") || strings.HasPrefix(strings.ToLower(k), "retry-after") {
					t.Errorf("%s: 429 header %s on an opaque API", api, k)
				}
			}
			b, _ := json.Marshal(r.body)
			want := map[string]string{
				"gemini": `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`,
				"openai": `{"error":{"code":"rate_limit_exceeded","message":"Rate limit reached for requests.","param":null,"type":"requests"}}`,
			}[api]
			if string(b) != want {
				t.Errorf("%s: body %s, want %s", api, b, want)
			}
		}
		time.Sleep(time.Minute) // the bucket refills one request
		for _, api := range apis {
			if r := send(t, c, tokenReq(api, 8)); r.status != 200 {
				t.Errorf("%s after the refill: %d", api, r.status)
			}
		}
		if c := e.Counters(); c.Gemini.Limited.Requests != 1 || c.OpenAI.Limited.Requests != 1 {
			t.Errorf("counters %+v", c)
		}
	})
}

// TestHintsInBodyOnly: OpenAI 429s whose hint is only in the message;
// successes keep their rate-limit headers. Gemini ignores the option.
func TestHintsInBodyOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := API{HintsInBodyOnly: true, Requests: Quota{Limit: 1}, Tokens: Quota{Limit: 1000}}
		e := NewEmulator(Config{Gemini: q, OpenAI: q})
		c := &http.Client{Transport: e.Transport()}
		ok := send(t, c, tokenReq("openai", 8))
		if ok.header.Get("x-ratelimit-remaining-requests") != "0" || ok.header.Get("x-ratelimit-remaining-tokens") != "992" {
			t.Errorf("success headers %v", ok.header)
		}
		time.Sleep(1500 * time.Millisecond)
		r := send(t, c, tokenReq("openai", 8))
		for k := range r.header {
			if l := strings.ToLower(k); strings.HasPrefix(l, "x-ratelimit") || strings.HasPrefix(l, "retry-after") {
				t.Errorf("429 header %s", k)
			}
		}
		if msg := r.errorField("message"); r.status != 429 || !strings.Contains(msg, "Please try again in 58.5s.") {
			t.Errorf("429 %d %q", r.status, msg)
		}
		send(t, c, tokenReq("gemini", 8))
		g := send(t, c, tokenReq("gemini", 8))
		if g.detail("type.googleapis.com/google.rpc.RetryInfo") == nil {
			t.Errorf("gemini lost its RetryInfo: %v", g.body)
		}
	})
}

// TestOpenAICitesLongestWait: of the quotas that refuse a request, OpenAI's
// 429 names the one a retry must wait longest for, and its headers report
// both quotas as they stand.
func TestOpenAICitesLongestWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := NewEmulator(Config{OpenAI: API{
			Requests: Quota{Limit: 2},
			Tokens:   Quota{Limit: 600, Shape: TokenBucket},
		}})
		c := &http.Client{Transport: e.Transport()}
		send(t, c, tokenReq("openai", 300))
		send(t, c, tokenReq("openai", 300))
		time.Sleep(10 * time.Second) // the bucket refills 100 tokens
		r := send(t, c, tokenReq("openai", 300))
		want := "Rate limit reached for gpt-4o-mini in organization org-emulator on requests per min (RPM): Limit 2, Used 2, Requested 1. Please try again in 50s. Visit https://platform.openai.com/account/rate-limits to learn more."
		if r.status != 429 || r.errorField("message") != want || r.errorField("type") != "requests" {
			t.Errorf("%d %v", r.status, r.body)
		}
		wantH := map[string]string{
			"retry-after": "50", "retry-after-ms": "50000",
			"x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "50s",
			"x-ratelimit-limit-tokens": "600", "x-ratelimit-remaining-tokens": "100", "x-ratelimit-reset-tokens": "50s",
		}
		for k, v := range wantH {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		time.Sleep(50 * time.Second) // a new minute: only tokens refuse
		send(t, c, tokenReq("openai", 300))
		r = send(t, c, tokenReq("openai", 600))
		if r.errorField("type") != "tokens" || !strings.Contains(r.errorField("message"), "tokens per min (TPM): Limit 600, Used 300, Requested 600. Please try again in 30s.") {
			t.Errorf("%d %v", r.status, r.body)
		}
		if c := e.Counters().OpenAI; c.Limited != (Limits{Requests: 1, Tokens: 1}) || c.RateLimited != 2 {
			t.Errorf("counters %+v", c)
		}
	})
}
