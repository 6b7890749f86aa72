package llmtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// FuzzEmulatorRequest sends arbitrary bodies to both endpoints: the emulator
// must answer every one with a JSON body of a status the real API uses, and
// never echo the key.
func FuzzEmulatorRequest(f *testing.F) {
	f.Add(true, []byte(`{"contents":[{"role":"user","parts":[{"text":"ITEMS: [{\"id\":\"1\",\"text\":\"water\"}]"}]}]}`))
	f.Add(false, []byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"ITEMS: []"}]}]}`))
	f.Add(false, []byte(`{"model":"m","messages":[{"role":"user","content":7}]}`))
	f.Add(true, []byte(`{"contents":[]}`))
	f.Add(true, []byte(`not json`))
	f.Fuzz(func(t *testing.T, gemini bool, body []byte) {
		e := NewEmulator(Config{
			Gemini: API{Key: goodKey, DropRate: 0.5, MalformedRate: 0.2},
			OpenAI: API{Key: goodKey, DropRate: 0.5, MalformedRate: 0.2},
		})
		url := "http://openai.emulator/v1/chat/completions"
		if gemini {
			url = "http://gemini.emulator/v1beta/models/m:generateContent"
		}
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-goog-api-key", goodKey)
		req.Header.Set("Authorization", "Bearer "+goodKey)
		rec := &recorder{header: make(http.Header)}
		e.ServeHTTP(rec, req)
		if rec.code != 200 && rec.code != 400 {
			t.Fatalf("status %d for %q", rec.code, body)
		}
		if !json.Valid(rec.body.Bytes()) {
			t.Fatalf("reply is not JSON: %s", rec.body.Bytes())
		}
		if bytes.Contains(rec.body.Bytes(), []byte(goodKey)) && !bytes.Contains(body, []byte(goodKey)) {
			t.Fatalf("reply echoes the key: %s", rec.body.Bytes())
		}
		c := counters(e, map[bool]string{true: "gemini", false: "openai"}[gemini])
		if c.Requests != 1 || (rec.code == 200) != (c.Successes == 1) {
			t.Fatalf("status %d, counters %+v", rec.code, c)
		}
	})
}

// FuzzQuotaTokens sends arbitrary bodies to APIs with token quotas: a
// request is admitted with exactly the tokens the emulator's rules count
// for what it parsed, or refused as too large without consuming any.
func FuzzQuotaTokens(f *testing.F) {
	f.Add(true, []byte(`{"contents":[{"role":"user","parts":[{"text":"abcdabcd"}]}],"systemInstruction":{"parts":[{"text":"sys"}]}}`))
	f.Add(false, []byte(`{"model":"m","messages":[{"role":"user","content":"abcd"}],"max_tokens":30}`))
	f.Add(false, []byte(`{"model":"m","messages":[{"role":"system","content":"x"},{"role":"user","content":"y"}],"max_completion_tokens":9223372036854775807}`))
	f.Add(false, []byte(`{"model":"m","messages":[{"role":"user","content":"y"}],"max_tokens":-5}`))
	f.Fuzz(func(t *testing.T, gemini bool, body []byte) {
		api := map[bool]string{true: "gemini", false: "openai"}[gemini]
		quota := API{Tokens: Quota{Limit: 1000, Shape: TokenBucket}, TokensPerDay: Quota{Limit: 5000}}
		e := NewEmulator(Config{Gemini: quota, OpenAI: quota})
		url := "http://openai.emulator/v1/chat/completions"
		if gemini {
			url = "http://gemini.emulator/v1beta/models/m:generateContent"
		}
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{header: make(http.Header)}
		e.ServeHTTP(rec, req)
		c := counters(e, api)
		switch rec.code {
		case 200:
			got := e.Received()
			if len(got) != 1 {
				t.Fatalf("200 after %d requests read", len(got))
			}
			want := quotaTokens(api, got[0], answerOrEmpty(got[0].Prompt))
			if c.TokensAdmitted != want || want < inputTokens(got[0]) || want > 1000 {
				t.Fatalf("admitted %d tokens, the rules count %d (input %d)", c.TokensAdmitted, want, inputTokens(got[0]))
			}
		case 429:
			if c.TokensAdmitted != 0 || c.TooLarge != 1 {
				t.Fatalf("429 of a first request: counters %+v", c)
			}
		case 400:
		default:
			t.Fatalf("status %d for %q", rec.code, body)
		}
		if !json.Valid(rec.body.Bytes()) {
			t.Fatalf("reply is not JSON: %s", rec.body.Bytes())
		}
	})
}

// FuzzShapes runs arbitrary arrivals against each shape and checks its
// definition: the units counted never exceed what it can hold, a request
// is admitted exactly when its wait is zero, and after waiting that long
// (with no other arrival) the request is admitted.
func FuzzShapes(f *testing.F) {
	f.Add(uint8(0), uint16(10), uint16(3), []byte{0, 1, 0, 2, 5, 1, 200, 3})
	f.Add(uint8(1), uint16(60), uint16(100), []byte{0, 60, 20, 30, 10, 50, 30, 10})
	f.Add(uint8(2), uint16(60), uint16(300), []byte{0, 75, 0, 1, 1, 5, 1, 1})
	f.Fuzz(func(t *testing.T, shape uint8, windowSec, limit uint16, ops []byte) {
		if windowSec == 0 || limit == 0 {
			return
		}
		q := Quota{Limit: int(limit), Window: time.Duration(windowSec) * time.Second, Shape: Shape(shape % 3), Phase: time.Duration(shape) * time.Second}
		if q.Shape == TokenBucket {
			q.Burst = int(limit)/4 + 1
		}
		start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		f := frame{q: q, start: start}
		var m meter
		now := start
		for i := 0; i+1 < len(ops); i += 2 {
			now = now.Add(time.Duration(ops[i]) * 100 * time.Millisecond)
			n := int(ops[i+1])%q.capacity() + 1
			m.sync(f, now)
			w := m.wait(f, now, n)
			if w < 0 {
				t.Fatalf("negative wait %v", w)
			}
			if w > 0 {
				probe := m
				probe.log = append([]stamp(nil), m.log...)
				later := now.Add(w)
				probe.sync(f, later)
				if probe.wait(f, later, n) != 0 {
					t.Fatalf("%v: waited %v for %d units and still refused", q, w, n)
				}
				continue
			}
			m.take(f, now, n)
			if u := m.used(f); u > q.capacity() {
				t.Fatalf("%v: %d units counted", q, u)
			}
		}
	})
}
