package llmlimit

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// untilPacificMidnight is when a per-day quota resets, seen from the start
// of a synctest bubble: 2000-01-01 00:00 UTC is 16:00 PST on New Year's Eve.
const untilPacificMidnight = 8 * time.Hour

// recording is one reply of testdata/wire and what it must be read as.
type recording struct {
	file    string // without .json; a .headers file beside it is sent too
	status  int
	kind    Kind
	hint    time.Duration
	quotaID string
	quotas  []Quota
}

// minute spells the window of the table below; day is the package's.
const minute = time.Minute

// recordings covers every reply of testdata/wire; README.md there gives
// each one's source.
var recordings = []recording{
	// Gemini. retryDelay truncates to whole seconds; the message's "Please
	// retry in" is exact, and the longer of the two wins.
	{file: "gemini_429_per_minute", status: 429, kind: KindRateLimited, hint: 27 * time.Second,
		quotaID: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
		quotas:  []Quota{{ID: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", Unit: UnitRequests, Limit: 15, Remaining: 0, Reset: 27 * time.Second, Window: minute, Exceeded: true}}},
	{file: "gemini_429_per_day", status: 429, kind: KindQuotaExhausted, hint: 42 * time.Second,
		quotaID: "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
		quotas:  []Quota{{ID: "GenerateRequestsPerDayPerProjectPerModel-FreeTier", Unit: UnitRequests, Limit: 250, Remaining: 0, Reset: untilPacificMidnight, Window: day, Exceeded: true}}},
	{file: "gemini_429_input_tokens_per_minute_free_tier", status: 429, kind: KindRateLimited, hint: 26 * time.Second,
		quotaID: "GenerateContentInputTokensPerModelPerMinute-FreeTier",
		quotas:  []Quota{{ID: "GenerateContentInputTokensPerModelPerMinute-FreeTier", Unit: UnitInputTokens, Limit: 250000, Remaining: -1, Reset: 26 * time.Second, Window: minute, Exceeded: true}}},
	{file: "gemini_429_per_day_truncated_retry_delay", status: 429, kind: KindQuotaExhausted, hint: 36429760048 * time.Nanosecond,
		quotaID: "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
		quotas:  []Quota{{ID: "GenerateRequestsPerDayPerProjectPerModel-FreeTier", Unit: UnitRequests, Limit: 20, Remaining: 0, Reset: untilPacificMidnight, Window: day, Exceeded: true}}},
	{file: "gemini_429_three_violations", status: 429, kind: KindQuotaExhausted, hint: 47 * time.Second,
		quotaID: "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
		quotas: []Quota{
			{ID: "GenerateRequestsPerDayPerProjectPerModel-FreeTier", Unit: UnitRequests, Remaining: 0, Reset: untilPacificMidnight, Window: day, Exceeded: true},
			{ID: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", Unit: UnitRequests, Remaining: 0, Reset: 47 * time.Second, Window: minute, Exceeded: true},
			{ID: "GenerateContentInputTokensPerModelPerMinute-FreeTier", Unit: UnitInputTokens, Remaining: -1, Reset: 47 * time.Second, Window: minute, Exceeded: true},
		}},
	{file: "gemini_400_input_token_count_exceeds", status: 400, kind: KindPermanent},
	{file: "gemini_400_api_key_invalid", status: 400, kind: KindPermanent},
	{file: "gemini_500", status: 500, kind: KindTransient},
	{file: "gemini_503", status: 503, kind: KindTransient},

	// OpenAI and servers that copy its format (Groq). Quotas refill
	// continuously; the message names the exceeded one and its window.
	{file: "openai_429_rate_limit", status: 429, kind: KindRateLimited, hint: time.Second, quotaID: "requests",
		quotas: []Quota{{ID: "RPM", Unit: UnitRequests, Limit: 500, Remaining: 0, Reset: 120 * time.Millisecond, Window: minute, Refill: RefillContinuous, Exceeded: true}}},
	{file: "openai_429_tokens_per_min_hint_in_body_only", status: 429, kind: KindRateLimited, hint: 644 * time.Millisecond, quotaID: "tokens",
		quotas: []Quota{{ID: "TPM", Unit: UnitTokens, Limit: 30000, Remaining: 63, Window: minute, Refill: RefillContinuous, Exceeded: true}}},
	{file: "openai_429_tokens_per_min_18s", status: 429, kind: KindRateLimited, hint: 18642 * time.Millisecond, quotaID: "tokens",
		quotas: []Quota{{ID: "TPM", Unit: UnitTokens, Limit: 30000, Remaining: 15433, Window: minute, Refill: RefillContinuous, Exceeded: true}}},
	{file: "openai_429_requests_per_min_2023_wording", status: 429, kind: KindRateLimited, hint: 3 * time.Second, quotaID: "requests",
		quotas: []Quota{{Unit: UnitRequests, Limit: 20, Remaining: -1, Window: minute, Refill: RefillContinuous, Exceeded: true}}},
	{file: "openai_429_requests_per_day", status: 429, kind: KindQuotaExhausted, hint: 8640 * time.Millisecond, quotaID: "requests",
		quotas: []Quota{{ID: "RPD", Unit: UnitRequests, Limit: 10000, Remaining: 0, Window: day, Refill: RefillContinuous, Exceeded: true}}},
	{file: "openai_429_requests_per_day_free_tier", status: 429, kind: KindQuotaExhausted, hint: 7*time.Minute + 12*time.Second, quotaID: "requests",
		quotas: []Quota{{ID: "RPD", Unit: UnitRequests, Limit: 200, Remaining: 0, Window: day, Refill: RefillContinuous, Exceeded: true}}},
	{file: "openai_429_request_too_large", status: 429, kind: KindTooLarge, quotaID: "tokens",
		quotas: []Quota{{ID: "TPM", Unit: UnitTokens, Limit: 30000, Remaining: -1, Window: minute, Refill: RefillContinuous, Exceeded: true}}},
	{file: "openai_insufficient_quota", status: 429, kind: KindQuotaExhausted, quotaID: "insufficient_quota"},
	{file: "openai_401_invalid_api_key", status: 401, kind: KindPermanent},
	{file: "openai_500", status: 500, kind: KindTransient},
	{file: "groq_429_tokens_per_minute_requested_over_limit", status: 429, kind: KindTooLarge, hint: 50597142857 * time.Nanosecond, quotaID: "tokens",
		quotas: []Quota{{ID: "TPM", Unit: UnitTokens, Limit: 7000, Remaining: 7000, Window: minute, Refill: RefillContinuous, Exceeded: true}}},
	{file: "groq_429_tokens_per_day", status: 429, kind: KindQuotaExhausted, hint: 9*time.Minute + 38016*time.Millisecond, quotaID: "tokens",
		quotas: []Quota{{ID: "TPD", Unit: UnitTokens, Limit: 100000, Remaining: 2950, Window: day, Refill: RefillContinuous, Exceeded: true}}},
	{file: "groq_413_request_too_large", status: 413, kind: KindTooLarge, quotaID: "tokens",
		quotas: []Quota{{ID: "TPM", Unit: UnitTokens, Limit: 6000, Remaining: -1, Window: minute, Refill: RefillContinuous, Exceeded: true}}},
}

func (r recording) gemini() bool { return strings.HasPrefix(r.file, "gemini_") }

// check compares what a parser made of r with the table.
func (r recording) check(t *testing.T, pe *ProviderError) {
	t.Helper()
	if pe.Kind != r.kind || pe.StatusCode != r.status || pe.RetryAfter != r.hint || pe.QuotaID != r.quotaID {
		t.Errorf("kind %v status %d hint %v quota %q; want %v %d %v %q", pe.Kind, pe.StatusCode, pe.RetryAfter, pe.QuotaID, r.kind, r.status, r.hint, r.quotaID)
	}
	if !reflect.DeepEqual(pe.Quotas, r.quotas) {
		t.Errorf("quotas\n got %+v\nwant %+v", pe.Quotas, r.quotas)
	}
	if msg := pe.Error(); !strings.HasPrefix(msg, "llmlimit: ") {
		t.Errorf("message %q", msg)
	}
}

// Through the providers, the real SDKs read every recording as the table
// says, in a synctest bubble so that per-day resets are exact.
func TestRecordedRepliesThroughProviders(t *testing.T) {
	for _, r := range recordings {
		t.Run(r.file, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := &fakeWire{replies: []wireReply{readWire(t, r.file, r.status)}}
				var p Provider = newTestOpenAI(w, "")
				if r.gemini() {
					p = newTestGemini(t, w, "")
				}
				_, err := p.Generate(context.Background(), &Request{Prompt: "p"})
				var pe *ProviderError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v", err)
				}
				r.check(t, pe)
			})
		})
	}
}

// The exported parsers read the raw recordings the same way.
func TestRecordedRepliesThroughParsers(t *testing.T) {
	for _, r := range recordings {
		t.Run(r.file, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rep := readWire(t, r.file, r.status)
				parse := ParseOpenAIError
				if r.gemini() {
					parse = ParseGeminiError
				}
				pe := parse("custom", r.status, rep.header, []byte(rep.body))
				if pe.Provider != "custom" {
					t.Errorf("provider %q", pe.Provider)
				}
				r.check(t, pe)
			})
		})
	}
}

// The recorded headers of successful replies become quotas; Azure's -1s
// are unknown values, not quotas.
func TestRecordedQuotaHeaders(t *testing.T) {
	tests := []struct {
		file string
		want []Quota
	}{
		{"openai_success", []Quota{{Unit: UnitRequests, Limit: 500, Remaining: 499, Reset: 120 * time.Millisecond, Refill: RefillContinuous}}},
		{"openai_ratelimit_headers_success", []Quota{
			{Unit: UnitRequests, Limit: 500, Remaining: 499, Reset: 120 * time.Millisecond, Refill: RefillContinuous},
			{Unit: UnitTokens, Limit: 30000, Remaining: 29996, Reset: 8 * time.Millisecond, Refill: RefillContinuous},
		}},
		{"azure_ratelimit_headers_unknown", nil},
	}
	for _, tt := range tests {
		h := readHeaders(t, tt.file)
		if got := ParseOpenAIQuotas(h); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.file, got, tt.want)
		}
	}
	// And through the provider, on a successful reply.
	resp, err := newTestOpenAI(&fakeWire{replies: []wireReply{readWire(t, "openai_success", 200)}}, "").Generate(context.Background(), &Request{Prompt: "p"})
	if err != nil || !reflect.DeepEqual(resp.Quotas, tests[0].want) {
		t.Errorf("success: %+v, %v", resp, err)
	}
}

// readHeaders reads testdata/wire/<name>.headers.
func readHeaders(t *testing.T, name string) http.Header {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wire", name+".headers"))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return h
}
