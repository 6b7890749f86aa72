package llmtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genai"
)

// rawReq is one hand-written request whose token count the test controls:
// Gemini counts the prompt's tokens (four bytes each), OpenAI the prompt's
// plus maxTokens (which must be at least 4, the emulator's estimate of its
// reply to a prompt that is not a batch).
type rawReq struct {
	api       string
	model     string // "" for the tests' usual model
	promptTok int
	maxTokens int // OpenAI max_tokens; 0 leaves it unset
}

// rawReply is an emulator reply as plain HTTP sees it.
type rawReply struct {
	status int
	header http.Header
	body   map[string]any
}

// send posts r through c the way the SDKs do.
func send(t *testing.T, c *http.Client, r rawReq) rawReply {
	t.Helper()
	text := strings.Repeat("abcd", r.promptTok)
	var url string
	var body any
	model := r.model
	if r.api == "gemini" {
		if model == "" {
			model = geminiModel
		}
		url = "http://gemini.emulator/v1beta/models/" + model + ":generateContent"
		body = map[string]any{"contents": []any{map[string]any{"role": "user", "parts": []any{map[string]any{"text": text}}}}}
	} else {
		if model == "" {
			model = openaiModel
		}
		url = "http://openai.emulator/v1/chat/completions"
		m := map[string]any{"model": model, "messages": []any{map[string]any{"role": "user", "content": text}}}
		if r.maxTokens > 0 {
			m["max_tokens"] = r.maxTokens
		}
		body = m
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("reply is not JSON: %v: %s", err, out)
	}
	return rawReply{resp.StatusCode, resp.Header, m}
}

// errorField returns a string field of the reply's error object.
func (r rawReply) errorField(name string) string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e[name].(string)
	return s
}

// details returns a Gemini error's details.
func (r rawReply) details() []any {
	e, _ := r.body["error"].(map[string]any)
	d, _ := e["details"].([]any)
	return d
}

// detail returns the Gemini error detail of type typ, or nil.
func (r rawReply) detail(typ string) map[string]any {
	for _, d := range r.details() {
		if m, _ := d.(map[string]any); m["@type"] == typ {
			return m
		}
	}
	return nil
}

// usage returns the prompt tokens a 200 reports.
func (r rawReply) usage() int {
	if u, ok := r.body["usageMetadata"].(map[string]any); ok {
		n, _ := u["promptTokenCount"].(float64)
		return int(n)
	}
	u, _ := r.body["usage"].(map[string]any)
	n, _ := u["prompt_tokens"].(float64)
	return int(n)
}

// geminiMessage returns the message of a Gemini SDK error.
func geminiMessage(r callResult) string {
	var ae genai.APIError
	if errors.As(r.err, &ae) {
		return ae.Message
	}
	return ""
}
