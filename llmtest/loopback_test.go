package llmtest

import (
	"net/http/httptest"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"
)

// TestLoopback serves the emulator over a real socket, outside any bubble,
// the way cmd/tagspace and users' integration tests do.
func TestLoopback(t *testing.T) {
	e := NewEmulator(Config{Gemini: API{Key: goodKey, RequestsPerWindow: 1}, OpenAI: API{Key: goodKey, RequestsPerWindow: 1}})
	srv := httptest.NewServer(e)
	defer srv.Close()
	p := batch(4)
	want, _ := Answer(p)

	gc, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		APIKey: goodKey, Backend: genai.BackendGeminiAPI, HTTPClient: srv.Client(),
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL + "/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	oc := openai.NewClient(option.WithAPIKey(goodKey), option.WithBaseURL(srv.URL+"/v1/"),
		option.WithHTTPClient(srv.Client()), option.WithMaxRetries(0))

	for i, r := range []callResult{geminiCall(t.Context(), gc, p), openaiCall(t.Context(), oc, p)} {
		if r.err != nil || r.text != want {
			t.Errorf("%s: %q, %v; want %q", apis[i], r.text, r.err, want)
		}
	}
	// The window quota holds over loopback too: the second call is a 429.
	if r := geminiCall(t.Context(), gc, p); r.status != 429 || geminiQuotaID(r) != QuotaIDPerMinute {
		t.Errorf("gemini second call: %d %v", r.status, r.err)
	}
	if r := openaiCall(t.Context(), oc, p); r.status != 429 || openaiCode(r) != "rate_limit_exceeded" {
		t.Errorf("openai second call: %d %v", r.status, r.err)
	}
	if c := e.Counters(); c.Gemini.Requests != 2 || c.OpenAI.Requests != 2 || c.Gemini.Successes != 1 || c.OpenAI.RateLimited != 1 {
		t.Errorf("counters %+v", c)
	}
}
