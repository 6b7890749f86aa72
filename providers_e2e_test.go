package llmlimit_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"google.golang.org/genai"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/internal/prompt"
	"github.com/llmlimit/llmlimit/llmtest"
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
// reachable, costs exactly one HTTP request, and shows no key anywhere in
// its chain.
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
					eachInChain(err, func(e error) { assertNoKey(t, fmt.Sprintf("%s %v %+v %#v", e.Error(), e, e, e)) })
				})
			})
		}
	}
}
