package llmtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// step is one request of a script: sent at an offset from the emulator's
// start, with the status and, for a 429, the retry hint it must get.
type step struct {
	at     time.Duration
	status int
	hint   time.Duration
}

// TestRequestShapes drives each shape of request quota through the real
// SDK clients of both APIs.
func TestRequestShapes(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name  string
		q     Quota
		steps []step
	}{
		{"fixed window", Quota{Limit: 2, Window: 10 * s, Phase: 4 * s}, []step{
			{0, 200, 0}, {0, 200, 0}, {0, 429, 6 * s}, {5 * s, 429, 1 * s},
			{6 * s, 200, 0}, {6 * s, 200, 0}, {15 * s, 429, 1 * s}, {16 * s, 200, 0},
		}},
		{"rolling window", Quota{Limit: 2, Window: 10 * s, Shape: RollingWindow}, []step{
			{0, 200, 0}, {3 * s, 200, 0}, {5 * s, 429, 5 * s}, {9500 * time.Millisecond, 429, 500 * time.Millisecond},
			{10 * s, 200, 0}, {11 * s, 429, 2 * s}, {13 * s, 200, 0}, {13 * s, 429, 7 * s},
		}},
		{"token bucket", Quota{Limit: 6, Window: time.Minute, Shape: TokenBucket, Burst: 2}, []step{
			{0, 200, 0}, {0, 200, 0}, {0, 429, 10 * s}, {5 * s, 429, 5 * s},
			{10 * s, 200, 0}, {10 * s, 429, 10 * s}, {60 * s, 200, 0}, {60 * s, 200, 0}, {60 * s, 429, 10 * s},
		}},
	}
	for _, api := range apis {
		for _, tt := range tests {
			t.Run(api+"/"+tt.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					e := NewEmulator(only(api, API{Requests: tt.q}))
					start := time.Now()
					limited := 0
					for i, st := range tt.steps {
						time.Sleep(time.Until(start.Add(st.at)))
						r := call(t.Context(), t, e, api, goodKey, batch(1))
						if r.status != st.status {
							t.Fatalf("step %d at %v: status %d, want %d (%v)", i, st.at, r.status, st.status, r.err)
						}
						if st.status == 429 {
							limited++
							checkHint(t, api, r, st.hint)
						}
					}
					c := counters(e, api)
					if c.RateLimited != limited || c.Limited != (Limits{Requests: limited}) || c.Successes != len(tt.steps)-limited {
						t.Errorf("counters %+v, want %d rate limited", c, limited)
					}
				})
			})
		}
	}
}

// checkHint checks a 429's retry hint is d, in each API's words: Gemini's
// exact "Please retry in" and truncated RetryInfo, OpenAI's "Please try
// again in" rounded to the millisecond and its retry-after headers rounded
// up.
func checkHint(t *testing.T, api string, r callResult, d time.Duration) {
	t.Helper()
	if api == "gemini" {
		ri := geminiDetail(r, "type.googleapis.com/google.rpc.RetryInfo")
		msg := geminiMessage(r)
		if ri == nil || ri["retryDelay"] != retryDelay(d) || !strings.HasSuffix(msg, "\nPlease retry in "+exactSeconds(d)+"s.") {
			t.Errorf("hint %v, message %q; want %v", ri, msg, d)
		}
		return
	}
	msg, _ := json.Marshal(r.body)
	if r.header.Get("retry-after-ms") != itoa(int(ceilDiv(d, time.Millisecond))) ||
		r.header.Get("retry-after") != itoa(int(ceilDiv(d, time.Second))) ||
		!strings.Contains(string(msg), "Please try again in "+goDuration(d)+".") {
		t.Errorf("headers %v, body %s; want a hint of %v", r.header, msg, d)
	}
}

// tokStep is one raw request of a token-quota script.
type tokStep struct {
	at     time.Duration
	tokens int
	status int
	hint   time.Duration
}

// TestTokenShapes drives each shape of token quota with plain HTTP
// requests whose token counts the test sets, on both APIs.
func TestTokenShapes(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name  string
		q     Quota
		steps []tokStep
	}{
		{"fixed window", Quota{Limit: 100}, []tokStep{
			{0, 60, 200, 0}, {0, 50, 429, 60 * s}, {0, 40, 200, 0}, {30 * s, 4, 429, 30 * s},
			{60 * s, 100, 200, 0},
		}},
		{"rolling window", Quota{Limit: 100, Shape: RollingWindow}, []tokStep{
			{0, 60, 200, 0}, {20 * s, 30, 200, 0}, {30 * s, 50, 429, 30 * s}, {30 * s, 10, 200, 0},
			{60 * s, 50, 200, 0}, {61 * s, 50, 429, 29 * s}, {80 * s, 50, 429, 10 * s}, {90 * s, 50, 200, 0},
		}},
		{"token bucket", Quota{Limit: 100, Shape: TokenBucket, Burst: 50}, []tokStep{
			// Refills 100 tokens a minute: one per 600 ms.
			{0, 50, 200, 0}, {0, 5, 429, 3 * s}, {3 * s, 5, 200, 0}, {30 * s, 50, 429, 3 * s},
			{33 * s, 50, 200, 0}, {33 * s, 10, 429, 6 * s},
		}},
	}
	for _, api := range apis {
		for _, tt := range tests {
			t.Run(api+"/"+tt.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					e := NewEmulator(only(api, API{Tokens: tt.q}))
					c := &http.Client{Transport: e.Transport()}
					start := time.Now()
					admitted, limited := 0, 0
					for i, st := range tt.steps {
						time.Sleep(time.Until(start.Add(st.at)))
						r := send(t, c, tokenReq(api, st.tokens))
						if r.status != st.status {
							t.Fatalf("step %d (%v, %d tokens): status %d, want %d: %v", i, st.at, st.tokens, r.status, st.status, r.body)
						}
						if st.status == 200 {
							admitted += st.tokens
							continue
						}
						limited++
						checkRawHint(t, api, r, st.hint)
						if api == "openai" && r.errorField("type") != "tokens" {
							t.Errorf("step %d: type %q, want tokens", i, r.errorField("type"))
						}
						if api == "gemini" && geminiQuotaIDs(r) != QuotaIDInputTokensPerMinute {
							t.Errorf("step %d: quota ids %q", i, geminiQuotaIDs(r))
						}
					}
					if got := counters(e, api); got.TokensAdmitted != admitted || got.Limited != (Limits{Tokens: limited}) || got.RateLimited != limited {
						t.Errorf("counters %+v, want %d tokens admitted, %d token 429s", got, admitted, limited)
					}
				})
			})
		}
	}
}

// tokenReq is a raw request that counts n tokens against api's token
// quotas (n at least 4 for OpenAI).
func tokenReq(api string, n int) rawReq {
	if api == "gemini" {
		return rawReq{api: api, promptTok: n}
	}
	return rawReq{api: api, maxTokens: n}
}

// checkRawHint checks a raw 429's hint is d.
func checkRawHint(t *testing.T, api string, r rawReply, d time.Duration) {
	t.Helper()
	msg := r.errorField("message")
	if api == "gemini" {
		ri := r.detail("type.googleapis.com/google.rpc.RetryInfo")
		if ri == nil || ri["retryDelay"] != retryDelay(d) || !strings.HasSuffix(msg, "\nPlease retry in "+exactSeconds(d)+"s.") {
			t.Errorf("hint %v, message %q; want %v", ri, msg, d)
		}
		return
	}
	if r.header.Get("retry-after-ms") != itoa(int(ceilDiv(d, time.Millisecond))) || !strings.Contains(msg, "Please try again in "+goDuration(d)+".") {
		t.Errorf("retry-after-ms %q, message %q; want a hint of %v", r.header.Get("retry-after-ms"), msg, d)
	}
}

// geminiQuotaIDs returns the quotaIds of a raw Gemini 429, comma-separated.
func geminiQuotaIDs(r rawReply) string {
	qf := r.detail("type.googleapis.com/google.rpc.QuotaFailure")
	vs, _ := qf["violations"].([]any)
	var ids []string
	for _, v := range vs {
		m, _ := v.(map[string]any)
		id, _ := m["quotaId"].(string)
		ids = append(ids, id)
	}
	return strings.Join(ids, ",")
}
