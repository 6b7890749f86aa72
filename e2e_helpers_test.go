package llmlimit_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/internal/prompt"
	"github.com/llmlimit/llmlimit/llmtest"
)

// Distinctive keys, so that a leak is easy to spot in any string.
const (
	e2eGeminiKey = "AIza-E2E-gemini-key-must-not-leak-31337"
	e2eOpenAIKey = "sk-e2e-openai-key-must-not-leak-31337"
)

// e2e is one emulator and the real SDK clients wired to it.
type e2e struct {
	emu    *llmtest.Emulator
	gemini *llmlimit.Gemini
	openai *llmlimit.OpenAI
}

// keyed sets the keys the emulator requires, unless a test set its own.
func keyed(cfg llmtest.Config) llmtest.Config {
	if cfg.Gemini.Key == "" {
		cfg.Gemini.Key = e2eGeminiKey
	}
	if cfg.OpenAI.Key == "" {
		cfg.OpenAI.Key = e2eOpenAIKey
	}
	return cfg
}

// inBubble runs f in a synctest bubble against the in-process emulator, so
// quota windows, hints and backoffs run in virtual time.
func inBubble(t *testing.T, cfg llmtest.Config, f func(t *testing.T, x e2e)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		emu := llmtest.NewEmulator(keyed(cfg))
		gc, err := emu.GeminiClient(t.Context(), e2eGeminiKey)
		if err != nil {
			t.Fatal(err)
		}
		f(t, e2e{emu, llmlimit.NewGemini(gc, ""), llmlimit.NewOpenAI(emu.OpenAIClient(e2eOpenAIKey), "")})
	})
}

// overLoopback runs f against the emulator served by httptest.NewServer, in
// real time, through the SDKs' ordinary HTTP stack.
func overLoopback(t *testing.T, cfg llmtest.Config, f func(t *testing.T, x e2e)) {
	t.Helper()
	emu := llmtest.NewEmulator(keyed(cfg))
	srv := httptest.NewServer(emu)
	defer srv.Close()
	gc, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		APIKey: e2eGeminiKey, Backend: genai.BackendGeminiAPI,
		HTTPClient: srv.Client(), HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL + "/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	oc := openai.NewClient(option.WithAPIKey(e2eOpenAIKey), option.WithBaseURL(srv.URL+"/v1/"), option.WithHTTPClient(srv.Client()))
	f(t, e2e{emu, llmlimit.NewGemini(gc, ""), llmlimit.NewOpenAI(oc, "")})
	srv.Client().CloseIdleConnections()
}

var transports = []struct {
	name string
	run  func(*testing.T, llmtest.Config, func(*testing.T, e2e))
}{
	{"bubble", inBubble},
	{"loopback", overLoopback},
}

func (x e2e) provider(name string) llmlimit.Provider {
	if name == "gemini" {
		return x.gemini
	}
	return x.openai
}

func (x e2e) counters(name string) llmtest.APICounters {
	if name == "gemini" {
		return x.emu.Counters().Gemini
	}
	return x.emu.Counters().OpenAI
}

// batchRequest is a TagSpace-style request for items and vocab.
func batchRequest(items []prompt.Item, vocab []string) *llmlimit.Request {
	temp := 0.0
	return &llmlimit.Request{
		System: prompt.System, Prompt: prompt.Build(items, vocab), JSONSchema: prompt.Schema(),
		MaxOutputTokens: 1024, Temperature: &temp,
	}
}

var (
	e2eItems = []prompt.Item{
		{ID: "a", Text: "Air quality alerts in the city"},
		{ID: "b", Text: "Hospital waiting times grew"},
		{ID: "c", Text: "Something else entirely"},
	}
	e2eVocab = []string{"air-quality", "hospitals", "waiting-times", "noise"}
)

func assertNoKey(t *testing.T, s string) {
	t.Helper()
	for _, k := range []string{e2eGeminiKey, e2eOpenAIKey, "the-right-key"} {
		if strings.Contains(s, k) {
			t.Errorf("key %q leaked into %q", k, s)
		}
	}
}

// limited wraps p in a Limiter with the seed's cooldowns off, so that only
// what the server says drives the timing under test.
func limited(t *testing.T, p llmlimit.Provider, opts ...llmlimit.Option) *llmlimit.Limiter {
	t.Helper()
	opts = append([]llmlimit.Option{llmlimit.WithSuccessCooldown(0, 0), llmlimit.WithRateLimitCooldown(0, 0)}, opts...)
	l, err := llmlimit.New(p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
