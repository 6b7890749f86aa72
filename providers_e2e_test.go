package llmlimit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

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

// Structured output goes out as each API's JSON-schema mode and comes back
// as the batch protocol's reply, with the emulator's deterministic tags.
func TestE2EStructuredRoundTrip(t *testing.T) {
	for _, tr := range transports {
		for _, name := range []string{"gemini", "openai"} {
			t.Run(tr.name+"/"+name, func(t *testing.T) {
				tr.run(t, llmtest.Config{}, func(t *testing.T, x e2e) {
					resp, err := x.provider(name).Generate(t.Context(), batchRequest(e2eItems, e2eVocab))
					if err != nil {
						t.Fatal(err)
					}
					var reply prompt.Reply
					if err := json.Unmarshal([]byte(resp.Text), &reply); err != nil {
						t.Fatalf("reply %q: %v", resp.Text, err)
					}
					if len(reply.Results) != len(e2eItems) {
						t.Fatalf("results = %+v", reply.Results)
					}
					for i, it := range e2eItems {
						want := llmtest.Tags(it.Text, e2eVocab)
						if got := reply.Results[i]; got.ID != it.ID || !slices.Equal(got.Tags, want) {
							t.Errorf("result %d = %+v, want %s %v", i, got, it.ID, want)
						}
					}
					c := x.counters(name)
					if c.Requests != 1 || c.Successes != 1 {
						t.Errorf("counters = %+v", c)
					}
					if resp.Provider != name || resp.Model == "" ||
						resp.Usage != (llmlimit.Usage{InputTokens: c.InputTokens, OutputTokens: c.OutputTokens}) || resp.Usage.InputTokens == 0 {
						t.Errorf("response = %+v, emulator counted %d/%d tokens", resp, c.InputTokens, c.OutputTokens)
					}
					got := x.emu.Received()
					if len(got) != 1 {
						t.Fatalf("received %d requests", len(got))
					}
					r := got[0]
					wantFormat := map[string]string{"gemini": "application/json", "openai": "json_schema"}[name]
					if r.API != name || r.System != prompt.System || r.ResponseFormat != wantFormat || r.Schema == nil ||
						r.MaxOutputTokens != 1024 || r.Temperature == nil || *r.Temperature != 0 || !strings.Contains(r.Prompt, `"id":"b"`) {
						t.Errorf("emulator read %+v", r)
					}
				})
			})
		}
	}
}

// scenario is one error reply and what the bare provider must make of it.
type scenario struct {
	name     string
	provider string
	cfg      llmtest.Config
	warm     int // successful calls first, to spend a quota
	kind     llmlimit.Kind
	status   int
	is       error
	hint     bool // RetryAfter > 0
	quotaID  string
}

var scenarios = []scenario{
	{name: "per-minute 429", provider: "gemini", cfg: llmtest.Config{Gemini: llmtest.API{RequestsPerWindow: 1}}, warm: 1,
		kind: llmlimit.KindRateLimited, status: 429, is: llmlimit.ErrRateLimited, hint: true, quotaID: llmtest.QuotaIDPerMinute},
	{name: "per-minute 429 without hint", provider: "gemini", cfg: llmtest.Config{Gemini: llmtest.API{RequestsPerWindow: 1, NoRetryHint: true}}, warm: 1,
		kind: llmlimit.KindRateLimited, status: 429, is: llmlimit.ErrRateLimited, quotaID: llmtest.QuotaIDPerMinute},
	{name: "per-day 429", provider: "gemini", cfg: llmtest.Config{Gemini: llmtest.API{PerDay: 1}}, warm: 1,
		kind: llmlimit.KindQuotaExhausted, status: 429, is: llmlimit.ErrQuotaExhausted, hint: true, quotaID: llmtest.QuotaIDPerDay},
	{name: "500", provider: "gemini", cfg: llmtest.Config{Gemini: llmtest.API{ServerErrorRate: 1}}, kind: llmlimit.KindTransient, status: 500},
	{name: "503 outage", provider: "gemini", cfg: llmtest.Config{Gemini: llmtest.API{UnavailableUntil: time.Hour}}, kind: llmlimit.KindTransient, status: 503},
	{name: "bad key", provider: "gemini", cfg: llmtest.Config{Gemini: llmtest.API{Key: "AIza-the-right-key-0000000"}}, kind: llmlimit.KindPermanent, status: 400},
	{name: "rate limit 429", provider: "openai", cfg: llmtest.Config{OpenAI: llmtest.API{RequestsPerWindow: 1}}, warm: 1,
		kind: llmlimit.KindRateLimited, status: 429, is: llmlimit.ErrRateLimited, hint: true, quotaID: "requests"},
	{name: "insufficient_quota", provider: "openai", cfg: llmtest.Config{OpenAI: llmtest.API{InsufficientQuota: true}},
		kind: llmlimit.KindQuotaExhausted, status: 429, is: llmlimit.ErrQuotaExhausted, quotaID: "insufficient_quota"},
	{name: "500", provider: "openai", cfg: llmtest.Config{OpenAI: llmtest.API{ServerErrorRate: 1}}, kind: llmlimit.KindTransient, status: 500},
	{name: "bad key", provider: "openai", cfg: llmtest.Config{OpenAI: llmtest.API{Key: "sk-the-right-key-0000000"}}, kind: llmlimit.KindPermanent, status: 401},
}

// Every error reply of the emulator is classified, keeps the SDK error
// reachable, costs exactly one HTTP request, and never shows a key.
func TestE2EErrorClassification(t *testing.T) {
	for _, tr := range transports {
		for _, sc := range scenarios {
			t.Run(tr.name+"/"+sc.provider+"/"+sc.name, func(t *testing.T) {
				tr.run(t, sc.cfg, func(t *testing.T, x e2e) {
					p := x.provider(sc.provider)
					for range sc.warm {
						if _, err := p.Generate(t.Context(), batchRequest(e2eItems, nil)); err != nil {
							t.Fatal(err)
						}
					}
					_, err := p.Generate(t.Context(), batchRequest(e2eItems, nil))
					var pe *llmlimit.ProviderError
					if !errors.As(err, &pe) {
						t.Fatalf("err = %v, want *ProviderError", err)
					}
					if pe.Kind != sc.kind || pe.StatusCode != sc.status || (pe.RetryAfter > 0) != sc.hint || pe.QuotaID != sc.quotaID {
						t.Errorf("got kind %v status %d retry %v quota %q; want %v %d hint=%v %q", pe.Kind, pe.StatusCode, pe.RetryAfter, pe.QuotaID, sc.kind, sc.status, sc.hint, sc.quotaID)
					}
					if sc.is != nil && !errors.Is(err, sc.is) {
						t.Errorf("errors.Is(%v) = false", sc.is)
					}
					var gErr genai.APIError
					var oErr *openai.Error
					if sc.provider == "gemini" && !errors.As(err, &gErr) || sc.provider == "openai" && !errors.As(err, &oErr) {
						t.Errorf("SDK error not reachable through errors.As: %v", err)
					}
					if c := x.counters(sc.provider); c.Requests != sc.warm+1 {
						t.Errorf("emulator saw %d requests, want %d", c.Requests, sc.warm+1)
					}
					assertNoKey(t, err.Error())
				})
			})
		}
	}
}

func assertNoKey(t *testing.T, s string) {
	t.Helper()
	for _, k := range []string{e2eGeminiKey, e2eOpenAIKey, "the-right-key"} {
		if strings.Contains(s, k) {
			t.Errorf("key %q leaked into %q", k, s)
		}
	}
}

// Clients configured to retry on their own still send one request per
// attempt: the providers turn the SDK retries off on every call.
func TestE2EOneRequestPerAttempt(t *testing.T) {
	cfg := llmtest.Config{Gemini: llmtest.API{ServerErrorRate: 1}, OpenAI: llmtest.API{ServerErrorRate: 1}}
	synctest.Test(t, func(t *testing.T) {
		emu := llmtest.NewEmulator(cfg)
		gc, err := genai.NewClient(t.Context(), &genai.ClientConfig{
			APIKey: e2eGeminiKey, Backend: genai.BackendGeminiAPI,
			HTTPClient:  &http.Client{Transport: emu.Transport()},
			HTTPOptions: genai.HTTPOptions{BaseURL: llmtest.GeminiBaseURL, RetryOptions: &genai.HTTPRetryOptions{Attempts: genai.Ptr[int32](4)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		oc := openai.NewClient(option.WithAPIKey(e2eOpenAIKey), option.WithBaseURL(llmtest.OpenAIBaseURL),
			option.WithHTTPClient(&http.Client{Transport: emu.Transport()}), option.WithMaxRetries(4))
		for _, p := range []llmlimit.Provider{llmlimit.NewGemini(gc, ""), llmlimit.NewOpenAI(oc, "")} {
			l, err := llmlimit.New(p, llmlimit.WithMaxRetries(2), llmlimit.WithBackoff(time.Second, time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = l.Generate(t.Context(), &llmlimit.Request{Prompt: "hello"})
			if llmlimit.KindOf(err) != llmlimit.KindTransient {
				t.Errorf("%s: err = %v, want transient", p.Name(), err)
			}
			if s := l.Stats(); s.Calls != 3 || s.Retries != 2 || s.Transient != 3 {
				t.Errorf("%s: stats = %+v", p.Name(), s)
			}
			// Two backoffs of 1 s and 2 s plus additive jitter of 0.1–0.4 s each.
			if d := time.Since(start); d < 3200*time.Millisecond || d > 3800*time.Millisecond {
				t.Errorf("%s: took %v of virtual time", p.Name(), d)
			}
		}
		c := emu.Counters()
		if c.Gemini.Requests != 3 || c.OpenAI.Requests != 3 {
			t.Errorf("emulator saw gemini %d, openai %d requests; want 3 each (one per attempt)", c.Gemini.Requests, c.OpenAI.Requests)
		}
	})
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

// A Gemini 429 whose RetryInfo says "26s" holds the retry for 26 s of
// virtual time, and the retry then succeeds in the next quota window.
func TestE2EGeminiRetryDelay(t *testing.T) {
	// The first window ends 26 s after the start.
	cfg := llmtest.Config{Gemini: llmtest.API{RequestsPerWindow: 1, Phase: 34 * time.Second}}
	inBubble(t, cfg, func(t *testing.T, x e2e) {
		l := limited(t, x.gemini, llmlimit.WithBackoff(time.Second, time.Minute))
		if _, err := l.Generate(t.Context(), batchRequest(e2eItems, nil)); err != nil {
			t.Fatal(err)
		}
		// What the server says, seen through the bare provider.
		var pe *llmlimit.ProviderError
		if _, err := x.gemini.Generate(t.Context(), batchRequest(e2eItems, nil)); !errors.As(err, &pe) || pe.RetryAfter != 26*time.Second {
			t.Fatalf("bare provider: %v, want a 429 with retryDelay 26s", err)
		}
		start := time.Now()
		resp, err := l.Generate(t.Context(), batchRequest(e2eItems, nil))
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 26*time.Second || d > 27*time.Second {
			t.Errorf("retry after %v, want 26 s (the server's retryDelay) plus at most the gate's stagger", d)
		}
		if resp.Provider != "gemini" {
			t.Errorf("served by %q", resp.Provider)
		}
		if c := x.emu.Counters().Gemini; c.Requests != 4 || c.RateLimited != 2 || c.Successes != 2 {
			t.Errorf("emulator counters %+v", c)
		}
		if s := l.Stats(); s.RateLimited != 1 || s.Retries != 1 || s.Cooldowns.ServerHint != 1 {
			t.Errorf("stats %+v", s)
		}
	})
}

// Spent quotas (Gemini per day, OpenAI insufficient_quota) and bad keys are
// never retried, and a 5xx is.
func TestE2ELimiterRetries(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		cfg      llmtest.Config
		warm     int
		is       error
		kind     llmlimit.Kind
		requests int // after warm-up, with WithMaxRetries(3)
	}{
		{"gemini per-day 429", "gemini", llmtest.Config{Gemini: llmtest.API{PerDay: 1}}, 1, llmlimit.ErrQuotaExhausted, llmlimit.KindQuotaExhausted, 1},
		{"openai insufficient_quota", "openai", llmtest.Config{OpenAI: llmtest.API{InsufficientQuota: true}}, 0, llmlimit.ErrQuotaExhausted, llmlimit.KindQuotaExhausted, 1},
		{"gemini bad key", "gemini", llmtest.Config{Gemini: llmtest.API{Key: "AIza-the-right-key-0000000"}}, 0, nil, llmlimit.KindPermanent, 1},
		{"openai bad key", "openai", llmtest.Config{OpenAI: llmtest.API{Key: "sk-the-right-key-0000000"}}, 0, nil, llmlimit.KindPermanent, 1},
		{"gemini 500", "gemini", llmtest.Config{Gemini: llmtest.API{ServerErrorRate: 1}}, 0, nil, llmlimit.KindTransient, 4},
		{"openai 500", "openai", llmtest.Config{OpenAI: llmtest.API{ServerErrorRate: 1}}, 0, nil, llmlimit.KindTransient, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inBubble(t, tt.cfg, func(t *testing.T, x e2e) {
				l := limited(t, x.provider(tt.provider), llmlimit.WithMaxRetries(3))
				for range tt.warm {
					if _, err := l.Generate(t.Context(), batchRequest(e2eItems, nil)); err != nil {
						t.Fatal(err)
					}
				}
				start := time.Now()
				_, err := l.Generate(t.Context(), batchRequest(e2eItems, nil))
				if llmlimit.KindOf(err) != tt.kind || tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("err = %v, want kind %v", err, tt.kind)
				}
				if got := x.counters(tt.provider).Requests - tt.warm; got != tt.requests {
					t.Errorf("sent %d requests, want %d", got, tt.requests)
				}
				if tt.requests == 1 && time.Since(start) != 0 {
					t.Errorf("a call that is not retried took %v", time.Since(start))
				}
			})
		})
	}
}

// Fallback(Limiter(Gemini), Limiter(OpenAI)) serves from OpenAI once
// Gemini's quota is spent, per day or per minute, without waiting.
func TestE2EFallback(t *testing.T) {
	tests := []struct {
		name       string
		gemini     llmtest.API
		served     []string // by call
		geminiSent int
	}{
		// The per-day 429 is not retried, and the Limiter fails fast after it.
		{"per-day quota spent", llmtest.API{PerDay: 2}, []string{"gemini", "gemini", "openai", "openai"}, 3},
		// The 429's hint (the rest of the minute) exceeds the wait budget.
		{"per-minute quota spent", llmtest.API{RequestsPerWindow: 1}, []string{"gemini", "openai", "openai"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inBubble(t, llmtest.Config{Gemini: tt.gemini}, func(t *testing.T, x e2e) {
				var logs bytes.Buffer
				log := llmlimit.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
				fb, err := llmlimit.NewFallback([]llmlimit.Provider{
					limited(t, x.gemini, llmlimit.WithMaxWait(5*time.Second), log),
					limited(t, x.openai, llmlimit.WithMaxWait(5*time.Second), log),
				}, log)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				for i, want := range tt.served {
					resp, err := fb.Generate(t.Context(), batchRequest(e2eItems, e2eVocab))
					if err != nil {
						t.Fatalf("call %d: %v", i, err)
					}
					if resp.Provider != want {
						t.Errorf("call %d served by %q, want %q", i, resp.Provider, want)
					}
				}
				if d := time.Since(start); d != 0 {
					t.Errorf("took %v of virtual time, want no waiting", d)
				}
				c := x.emu.Counters()
				if c.Gemini.Requests != tt.geminiSent || c.OpenAI.Requests != len(tt.served)-(tt.geminiSent-1) {
					t.Errorf("emulator saw gemini %d, openai %d requests", c.Gemini.Requests, c.OpenAI.Requests)
				}
				if !strings.Contains(logs.String(), "fallback") {
					t.Errorf("no fallback logged:\n%s", logs.String())
				}
				assertNoKey(t, logs.String())
			})
		})
	}
}

// With keys the emulator rejects, neither the error nor any log line of the
// whole stack shows the key that was sent.
func TestE2ENoKeyInErrorsOrLogs(t *testing.T) {
	cfg := llmtest.Config{Gemini: llmtest.API{Key: "AIza-the-right-key-0000000"}, OpenAI: llmtest.API{Key: "sk-the-right-key-0000000"}}
	inBubble(t, cfg, func(t *testing.T, x e2e) {
		var logs bytes.Buffer
		log := llmlimit.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		fb, err := llmlimit.NewFallback([]llmlimit.Provider{limited(t, x.gemini, log), limited(t, x.openai, log)}, log)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fb.Generate(t.Context(), batchRequest(e2eItems, nil))
		if err == nil {
			t.Fatal("bad keys were accepted")
		}
		for _, s := range []string{err.Error(), logs.String()} {
			assertNoKey(t, s)
		}
		if c := x.emu.Counters(); c.Gemini.Unauthorized != 1 || c.OpenAI.Unauthorized != 1 {
			t.Errorf("counters %+v", c)
		}
	})
}
