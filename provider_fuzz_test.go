package llmlimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Key-shaped secrets the fuzz targets plant in replies: a parser that has
// no key to look for must still drop anything shaped like one.
const (
	plantedGeminiKey = "AIzaSyD-planted-0123456789abcdefghijklm"
	plantedOpenAIKey = "sk-proj-planted0123456789ABCDEFghijkl"
)

func plant(s string) string {
	return strings.NewReplacer("GEMINIKEY", " "+plantedGeminiKey, "OPENAIKEY", " "+plantedOpenAIKey).Replace(s)
}

// addRecordings seeds f with every recorded body of testdata/wire whose
// name starts with prefix, with its status.
func addRecordings(f *testing.F, add func(status int, body string), prefixes ...string) {
	files, err := filepath.Glob(filepath.Join("testdata", "wire", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) {
				b, err := os.ReadFile(file)
				if err != nil {
					f.Fatal(err)
				}
				status := 429
				fmt.Sscanf(strings.TrimPrefix(strings.TrimPrefix(name, p), "_"), "%d", &status)
				add(status, string(b))
			}
		}
	}
}

// checkParsed holds for whatever a parser makes of any reply.
func checkParsed(t *testing.T, pe *ProviderError, status int) {
	t.Helper()
	if pe == nil {
		t.Fatal("nil ProviderError")
	}
	if pe.RetryAfter < 0 || pe.RetryAfter > maxHint {
		t.Errorf("hint %v out of [0, %v]", pe.RetryAfter, maxHint)
	}
	if strings.HasPrefix(pe.Kind.String(), "kind(") {
		t.Errorf("kind %v", pe.Kind)
	}
	if status != 0 && pe.StatusCode != status {
		t.Errorf("status %d, want %d", pe.StatusCode, status)
	}
	for _, q := range pe.Quotas {
		if q.Limit < 0 || q.Remaining < -1 || q.Reset < 0 || q.Reset > maxHint || q.Window < 0 {
			t.Errorf("bad quota %+v", q)
		}
	}
	for _, s := range []string{pe.Error(), fmt.Sprintf("%+v", pe), fmt.Sprintf("%#v", pe), fmt.Sprintf("%#v", pe.Quotas)} {
		if strings.Contains(s, plantedGeminiKey) || strings.Contains(s, plantedOpenAIKey) {
			t.Errorf("planted key shown: %s", s)
		}
	}
	if !strings.HasPrefix(pe.Error(), "llmlimit: ") {
		t.Errorf("message %q", pe.Error())
	}
}

// FuzzGeminiError feeds arbitrary replies to ParseGeminiError.
func FuzzGeminiError(f *testing.F) {
	addRecordings(f, func(status int, body string) { f.Add(status, body) }, "gemini")
	for _, b := range []string{gemini429Minute, gemini429Day, gemini429Bare, `[` + gemini429Minute + `]`, "<html>", ""} {
		f.Add(429, b)
	}
	f.Add(0, `{"error":{"code":"429","message":"Please retry in 99999999999999999999999h.","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1e400s"}]}}`)
	f.Add(429, `{"error":{"code":429,"message":"* Quota exceeded for metric: m, limit: 0, model: x","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"XPerMinute","quotaMetric":"m","quotaValue":15},{"quotaId":"GEMINIKEY PerDay","quotaValue":"-3"}]}]}}`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 0 || status > 999 {
			return
		}
		body = plant(body)
		pe := ParseGeminiError("gemini", status, nil, []byte(body))
		checkParsed(t, pe, status)
		perDay := false
		for _, q := range pe.Quotas {
			if !q.Exceeded || q.Refill != RefillWindow {
				t.Errorf("violation quota %+v not exceeded or not a window", q)
			}
			if q.Window == 24*time.Hour {
				perDay = true
				if q.Reset <= 0 || q.Reset > 25*time.Hour {
					t.Errorf("per-day reset %v", q.Reset)
				}
			}
		}
		if perDay && pe.StatusCode == 429 && pe.Kind != KindQuotaExhausted {
			t.Errorf("per-day 429 is %v", pe.Kind)
		}
	})
}

// FuzzOpenAIError feeds arbitrary replies, headers included, to
// ParseOpenAIError.
func FuzzOpenAIError(f *testing.F) {
	addRecordings(f, func(status int, body string) { f.Add(status, body, "", "", "", "", "") }, "openai", "groq")
	f.Add(429, openai429, "120", "1", "500", "0", "120ms")
	f.Add(429, openaiNoQuota, "", "Wed, 21 Oct 2015 07:28:00 GMT", "60", "59", "6m0s")
	f.Add(429, `{"error":{"message":"on tokens per day (TPD): Limit 99999999999999999999, Used 1, Requested ~3. Please try again in 1h23m45.6s.","type":"tokens","code":7}}`, "NaN", "-1", "x", "-2", "1h1h")
	f.Add(413, `{"error":{"message":"Request too large OPENAIKEY","type":null,"param":{},"code":null}}`, "1e308", "1e308", "99999999999999999999", "1", "9999999h")
	f.Fuzz(func(t *testing.T, status int, body, ms, after, limit, remaining, reset string) {
		if status < 0 || status > 999 {
			return
		}
		h := http.Header{}
		for k, v := range map[string]string{
			"Retry-After-Ms": ms, "Retry-After": after, "X-Ratelimit-Limit-Tokens": limit,
			"X-Ratelimit-Remaining-Tokens": remaining, "X-Ratelimit-Reset-Requests": reset,
		} {
			if v != "" {
				h.Set(k, v)
			}
		}
		pe := ParseOpenAIError("openai", status, h, []byte(plant(body)))
		checkParsed(t, pe, status)
		if d, ok := parseRetryAfterMS(ms); ok && pe.RetryAfter < d {
			t.Errorf("retry-after-ms %q gave %v, hint %v: the longest must win", ms, d, pe.RetryAfter)
		}
		if n, ok := headerCount(limit); ok && n > 0 {
			found := false
			for _, q := range pe.Quotas {
				found = found || q.Unit == UnitTokens && q.Limit == n
			}
			if !found {
				t.Errorf("limit %q readable but no token quota of it in %+v", limit, pe.Quotas)
			}
		}
	})
}

// FuzzHintText feeds arbitrary text to the prose and header duration
// readers.
func FuzzHintText(f *testing.F) {
	for _, s := range []string{"Please retry in 58.217843437s.", "Please try again in 1m9.696s.", "try again in 6m 11.52s", "retry after 6 seconds",
		"try again in 99999999999999999999999999h", "retry in 5 sheep", "retry in 1.5.5s", "11m32.334s", "0", "60"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := parseHintText(s); d < 0 || d > maxHint || !ok && d != 0 {
			t.Errorf("parseHintText(%q) = %v, %v", s, d, ok)
		}
		if d, n := parseSpokenDuration(s); d < 0 || d > maxHint || n < 0 || n > len(s) || n == 0 && d != 0 {
			t.Errorf("parseSpokenDuration(%q) = %v, %d", s, d, n)
		}
		if d, ok := parseResetHeader(s); d < 0 || d > maxHint || !ok && d != 0 {
			t.Errorf("parseResetHeader(%q) = %v, %v", s, d, ok)
		}
	})
}

// FuzzProviderErrorBody sends arbitrary error replies through the real SDKs:
// whatever the server says, the result is a classified *ProviderError and
// no error of its chain shows the API key, in any fmt verb, even when the
// body quotes it.
func FuzzProviderErrorBody(f *testing.F) {
	for _, b := range []string{gemini429Minute, gemini429Day, gemini500, geminiEcho, openai429, openaiNoQuota, openai401, "<html>", ""} {
		f.Add(429, b)
	}
	addRecordings(f, func(status int, body string) { f.Add(status, body) }, "gemini", "openai", "groq")
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
			assertChainClean(t, err, p.key)
			checkParsed(t, pe, 0)
			// The HTTP status is the truth OpenAI classifies by; Gemini
			// trusts the body's code, which the emulator and Google agree on.
			if p.p.Name() == "openai" && pe.StatusCode != status {
				t.Errorf("openai: status %d, want %d", pe.StatusCode, status)
			}
		}
	})
}
