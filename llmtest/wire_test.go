package llmtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

// The batch of testdata/wire/*_success.json.
var (
	wireItems = []prompt.Item{{ID: "1", Text: "Air quality alerts in Lyon"}, {ID: "2", Text: "Night noise from the ring road"}}
	wireVocab = []string{"air-quality", "noise", "water"}
)

const (
	geminiModel = "gemini-2.5-flash"
	openaiModel = "gpt-4o-mini"
	goodKey     = "k-good-123"
	badKey      = "sk-WRONG-secret-456"
)

// rawCall sends one hand-written request the way the SDKs do, so the test
// sees the emulator's exact body and headers.
func rawCall(t *testing.T, c *http.Client, api, key, p string) (int, http.Header, []byte) {
	t.Helper()
	var url string
	var body any
	h := http.Header{"Content-Type": {"application/json"}}
	if api == "gemini" {
		url = "http://gemini.emulator/v1beta/models/" + geminiModel + ":generateContent"
		body = map[string]any{"contents": []any{map[string]any{"role": "user", "parts": []any{map[string]any{"text": p}}}}}
		if key != "" {
			h.Set("x-goog-api-key", key)
		}
	} else {
		url = "http://openai.emulator/v1/chat/completions"
		body = map[string]any{"model": openaiModel, "messages": []any{map[string]any{"role": "user", "content": p}}}
		if key != "" {
			h.Set("Authorization", "Bearer "+key)
		}
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

func TestWireShapes(t *testing.T) {
	tests := []struct {
		file   string
		api    string
		status int
		cfg    API
		key    string
		before int // requests sent before the compared one
	}{
		{"gemini_success", "gemini", 200, API{}, goodKey, 0},
		{"gemini_429_per_minute", "gemini", 429, API{RequestsPerWindow: 15, Phase: 33 * time.Second}, goodKey, 15},
		{"gemini_429_per_day", "gemini", 429, API{PerDay: 250, RequestsPerWindow: 1000}, goodKey, 250},
		{"gemini_500", "gemini", 500, API{ServerErrorRate: 1}, goodKey, 0},
		{"gemini_503", "gemini", 503, API{UnavailableUntil: time.Minute}, goodKey, 0},
		{"gemini_400_api_key_invalid", "gemini", 400, API{Key: goodKey}, badKey, 0},
		{"openai_success", "openai", 200, API{RequestsPerWindow: 500}, goodKey, 0},
		{"openai_429_rate_limit", "openai", 429, API{RequestsPerWindow: 500, Phase: 59880 * time.Millisecond}, goodKey, 500},
		{"openai_insufficient_quota", "openai", 429, API{InsufficientQuota: true}, goodKey, 0},
		{"openai_500", "openai", 500, API{ServerErrorRate: 1}, goodKey, 0},
		{"openai_401_invalid_api_key", "openai", 401, API{Key: goodKey}, badKey, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var cfg Config
				if tt.api == "gemini" {
					cfg.Gemini = tt.cfg
				} else {
					cfg.OpenAI = tt.cfg
				}
				e := NewEmulator(cfg)
				c := &http.Client{Transport: e.Transport()}
				p := prompt.Build(wireItems, wireVocab)
				for range tt.before {
					if status, _, body := rawCall(t, c, tt.api, tt.key, p); status != 200 {
						t.Fatalf("warm-up request: %d %s", status, body)
					}
				}
				status, header, body := rawCall(t, c, tt.api, tt.key, p)
				if status != tt.status {
					t.Fatalf("status %d, want %d: %s", status, tt.status, body)
				}
				if bytes.Contains(body, []byte(tt.key)) {
					t.Errorf("body echoes the API key: %s", body)
				}
				var got, want any
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatalf("body is not JSON: %v: %s", err, body)
				}
				raw, err := os.ReadFile(filepath.Join("..", "testdata", "wire", tt.file+".json"))
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(raw, &want); err != nil {
					t.Fatal(err)
				}
				sameShape(t, "$", want, got)
				checkHeaders(t, tt.file, header)
			})
		})
	}
}

// opaque holds keys whose values are ids or timestamps no two replies share.
var opaque = map[string]bool{"responseId": true, "id": true, "created": true, "system_fingerprint": true, "x-request-id": true}

var (
	durationRE = regexp.MustCompile(`\b(?:\d+(?:\.\d+)?(?:ms|h|m|s))+\b`)
	numberRE   = regexp.MustCompile(`\d+(?:\.\d+)?`)
)

// normalize replaces durations and numbers, the dynamic parts of messages,
// so that "Please retry in 26.547889357s" matches "Please retry in 27s".
func normalize(s string) string {
	return numberRE.ReplaceAllString(durationRE.ReplaceAllString(s, "<dur>"), "<n>")
}

// sameShape compares two decoded JSON values: the same keys, array lengths,
// types and strings (after normalize), any numbers. The model text of a
// reply is a string, so it is compared exactly, numbers and all... except for
// numbers; the tags are what matters and they are words.
func sameShape(t *testing.T, path string, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: got %T, want object", path, got)
			return
		}
		wk, gk := keys(w), keys(g)
		if !slices.Equal(wk, gk) {
			t.Errorf("%s: keys %v, want %v", path, gk, wk)
		}
		for _, k := range wk {
			if _, ok := g[k]; ok && !opaque[k] {
				sameShape(t, path+"."+k, w[k], g[k])
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %v, want %d elements", path, got, len(w))
			return
		}
		for i := range w {
			sameShape(t, fmt.Sprintf("%s[%d]", path, i), w[i], g[i])
		}
	case string:
		g, ok := got.(string)
		if !ok || normalize(g) != normalize(w) {
			t.Errorf("%s: got %q, want like %q", path, got, w)
		}
	case float64:
		if _, ok := got.(float64); !ok {
			t.Errorf("%s: got %v, want a number", path, got)
		}
	default: // bool, nil
		if got != want {
			t.Errorf("%s: got %v, want %v", path, got, want)
		}
	}
}

func keys(m map[string]any) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}

// checkHeaders compares the headers of a reply with testdata/wire/<file>.headers
// when there is one: every header there must be sent, with a value of the
// same form; retry hints must be absent where the file has none.
func checkHeaders(t *testing.T, file string, got http.Header) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "wire", file+".headers"))
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := http.Header{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			t.Fatalf("%s.headers: bad line %q", file, sc.Text())
		}
		want.Add(k, v)
	}
	for k := range want {
		g := got.Get(k)
		if g == "" {
			t.Errorf("header %s missing", k)
		} else if !opaque[strings.ToLower(k)] && normalize(g) != normalize(want.Get(k)) {
			t.Errorf("header %s = %q, want like %q", k, g, want.Get(k))
		}
	}
	for _, k := range []string{"retry-after", "retry-after-ms"} {
		if want.Get(k) == "" && got.Get(k) != "" {
			t.Errorf("header %s = %q, want none", k, got.Get(k))
		}
	}
}
