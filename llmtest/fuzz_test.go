package llmtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
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
