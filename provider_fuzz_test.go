package llmlimit

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzGeminiDetails feeds arbitrary JSON, decoded the way genai decodes an
// error's details, to readGeminiDetails.
func FuzzGeminiDetails(f *testing.F) {
	for _, body := range []string{gemini429Minute, gemini429Day, gemini429Bare} {
		var w struct {
			Error struct {
				Details json.RawMessage `json:"details"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &w); err != nil {
			f.Fatal(err)
		}
		f.Add(string(w.Error.Details))
	}
	f.Add(`[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1e400s"}]`)
	f.Add(`[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"XPerMinute","quotaValue":15},{"quotaId":"XPerDay","quotaValue":"-3"}]}]`)
	f.Add(`[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":"none"},{"@type":7}]`)
	f.Fuzz(func(t *testing.T, details string) {
		var ds []map[string]any
		if json.Unmarshal([]byte(details), &ds) != nil {
			return
		}
		d := readGeminiDetails(ds)
		if d.retryDelay < 0 || d.retryDelay > maxHint {
			t.Errorf("retry delay %v out of [0, %v]", d.retryDelay, maxHint)
		}
		if d.quotaValue < 0 {
			t.Errorf("quota value %d", d.quotaValue)
		}
		if d.perDay != strings.Contains(d.quotaID, "PerDay") {
			t.Errorf("perDay %v for quota id %q", d.perDay, d.quotaID)
		}
		switch {
		case d.perDay && d.window != 24*time.Hour,
			!d.perDay && strings.Contains(d.quotaID, "PerMinute") && d.window != time.Minute:
			t.Errorf("window %v for quota id %q", d.window, d.quotaID)
		}
		// A per-day violation anywhere must win: it decides "never retry".
		if strings.Contains(details, "PerDay") && !d.perDay && anyPerDay(ds) {
			t.Errorf("per-day violation missed in %s", details)
		}
	})
}

// anyPerDay is the slow, obvious reading of "some QuotaFailure violation
// has a per-day quota id".
func anyPerDay(ds []map[string]any) bool {
	for _, m := range ds {
		if m["@type"] != typeQuotaFailure {
			continue
		}
		vs, _ := m["violations"].([]any)
		for _, v := range vs {
			if vm, ok := v.(map[string]any); ok {
				if id, ok := vm["quotaId"].(string); ok && strings.Contains(id, "PerDay") {
					return true
				}
			}
		}
	}
	return false
}

// FuzzOpenAIHeaders feeds arbitrary header values to parseOpenAIHeaders.
func FuzzOpenAIHeaders(f *testing.F) {
	f.Add("120", "1", "500", "0", "120ms")
	f.Add("", "Wed, 21 Oct 2015 07:28:00 GMT", "60", "59", "6m0s")
	f.Add("NaN", "-1", "x", "-2", "1h1h")
	f.Add("1e308", "1e308", "99999999999999999999", "1", "9999999h")
	f.Fuzz(func(t *testing.T, ms, after, limit, remaining, reset string) {
		h := http.Header{}
		for k, v := range map[string]string{
			"Retry-After-Ms": ms, "Retry-After": after, "X-Ratelimit-Limit-Requests": limit,
			"X-Ratelimit-Remaining-Requests": remaining, "X-Ratelimit-Reset-Requests": reset,
		} {
			if v != "" {
				h.Set(k, v)
			}
		}
		now := time.Date(2015, 10, 21, 7, 0, 0, 0, time.UTC)
		hint, rls := parseOpenAIHeaders(h, now)
		if hint < 0 || hint > maxHint {
			t.Errorf("hint %v out of [0, %v]", hint, maxHint)
		}
		if d, ok := parseRetryAfterMS(h.Get("Retry-After-Ms")); ok && hint != d {
			t.Errorf("retry-after-ms %q gave %v, hint %v", ms, d, hint)
		}
		rl := requestQuota(rls)
		if rl == nil {
			if _, ok := headerCount(h.Get("X-Ratelimit-Limit-Requests")); ok {
				t.Errorf("limit %q readable but no RateLimit", limit)
			}
			return
		}
		if rl.Limit < 0 || rl.Remaining < -1 || rl.Reset < 0 || rl.Reset > maxHint || rl.Window != time.Minute {
			t.Errorf("bad RateLimit %+v", rl)
		}
	})
}

// FuzzProviderErrorBody sends arbitrary error replies through the real SDKs:
// whatever the server says, the result is a classified *ProviderError whose
// message never contains the API key, even when the body quotes it.
func FuzzProviderErrorBody(f *testing.F) {
	for _, b := range []string{gemini429Minute, gemini429Day, gemini500, geminiEcho, openai429, openaiNoQuota, openai401, "<html>", ""} {
		f.Add(429, b)
	}
	f.Add(503, `{"error":{"code":"503","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"`+testKey+`s"}]}}`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 400 || status > 599 {
			return
		}
		body = strings.NewReplacer("GEMINIKEY", testKey, "OPENAIKEY", openaiTestKey).Replace(body)
		providers := []struct {
			p   Provider
			key string
		}{
			{newTestGemini(t, &fakeWire{replies: []wireReply{{status: status, body: body}}}, ""), testKey},
			{newTestOpenAI(&fakeWire{replies: []wireReply{{status: status, body: body}}}, ""), openaiTestKey},
		}
		for _, p := range providers {
			_, err := p.p.Generate(context.Background(), &Request{Prompt: "p"})
			var pe *ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("%s: %T %v, want *ProviderError", p.p.Name(), err, err)
			}
			if strings.Contains(err.Error(), p.key) {
				t.Errorf("%s: key leaked: %s", p.p.Name(), err)
			}
			if pe.RetryAfter < 0 || pe.RetryAfter > maxHint {
				t.Errorf("%s: retry after %v", p.p.Name(), pe.RetryAfter)
			}
			// The HTTP status is the truth OpenAI classifies by; Gemini
			// trusts the body's code, which the emulator and Google agree on.
			if p.p.Name() == "openai" && pe.StatusCode != status {
				t.Errorf("openai: status %d, want %d", pe.StatusCode, status)
			}
		}
	})
}
