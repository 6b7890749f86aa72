package llmlimit

import (
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// geminiBody builds a Gemini 429 with a message and QuotaFailure violations.
func geminiBody(message string, violations ...string) string {
	return `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":` + strconv.Quote(message) + `,"details":[` +
		`{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[` + strings.Join(violations, ",") + `]}]}}`
}

func TestParseGeminiErrorCases(t *testing.T) {
	tokens := `{"quotaMetric":"generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count","quotaId":"GenerateContentPaidTierInputTokensPerModelPerMinute","quotaValue":"4000000"}`
	tests := []struct {
		name    string
		status  int
		header  http.Header
		body    string
		kind    Kind
		hint    time.Duration
		quotaID string
		quotas  []Quota
		msg     string // in Error()
	}{
		{
			name: "paid-tier tokens, 4,000,000 a minute", status: 429, body: geminiBody("Please retry in 51.386192716s.", tokens),
			kind: KindRateLimited, hint: 51386192716 * time.Nanosecond, quotaID: "GenerateContentPaidTierInputTokensPerModelPerMinute",
			quotas: []Quota{{ID: "GenerateContentPaidTierInputTokensPerModelPerMinute", Unit: UnitInputTokens, Limit: 4000000, Remaining: -1, Reset: 51386192716 * time.Nanosecond, Window: time.Minute, Exceeded: true}},
			msg:    "exceeded 4000000 input_tokens/min",
		},
		{
			name: "a numeric quotaValue and one past any int", status: 429,
			body: geminiBody("", `{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaValue":15}`, `{"quotaId":"GenerateRequestsPerDayPerProjectPerModel","quotaValue":"99999999999999999999"}`),
			kind: KindQuotaExhausted, quotaID: "GenerateRequestsPerDayPerProjectPerModel",
			quotas: []Quota{
				{ID: "GenerateRequestsPerMinutePerProjectPerModel", Unit: UnitRequests, Limit: 15, Window: time.Minute, Exceeded: true},
				{ID: "GenerateRequestsPerDayPerProjectPerModel", Unit: UnitRequests, Reset: untilPacificMidnight, Window: 24 * time.Hour, Exceeded: true},
			},
			msg: "exceeded 15 requests/min and requests/day",
		},
		{
			name: "a zero quotaValue is a billing gate, not a wait", status: 429,
			body: geminiBody("Please retry in 32.07s.", `{"quotaId":"GenerateContentPaidTierInputTokensPerModelPerMinute","quotaValue":"0"}`),
			kind: KindQuotaExhausted, hint: 32070 * time.Millisecond, quotaID: "GenerateContentPaidTierInputTokensPerModelPerMinute",
			quotas: []Quota{{ID: "GenerateContentPaidTierInputTokensPerModelPerMinute", Unit: UnitInputTokens, Remaining: -1, Reset: 32070 * time.Millisecond, Window: time.Minute, Exceeded: true}},
		},
		{
			name: "limits from the message when quotaValue is missing, unless ambiguous", status: 429,
			body: geminiBody("* Quota exceeded for metric: m/input_token_count, limit: 250000, model: x\n* Quota exceeded for metric: m/requests, limit: 15, model: x\n* Quota exceeded for metric: m/requests, limit: 250, model: x",
				`{"quotaMetric":"m/input_token_count","quotaId":"GenerateContentInputTokensPerModelPerMinute-FreeTier"}`,
				`{"quotaMetric":"m/requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}`),
			kind: KindRateLimited, quotaID: "GenerateContentInputTokensPerModelPerMinute-FreeTier",
			quotas: []Quota{
				{ID: "GenerateContentInputTokensPerModelPerMinute-FreeTier", Unit: UnitInputTokens, Limit: 250000, Remaining: -1, Window: time.Minute, Exceeded: true},
				{ID: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", Unit: UnitRequests, Window: time.Minute, Exceeded: true},
			},
		},
		{
			name: "limit: 0 in the message: no free quota for this model", status: 429,
			body: geminiBody("* Quota exceeded for metric: m/requests, limit: 0, model: x", `{"quotaMetric":"m/requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}`),
			kind: KindQuotaExhausted, quotaID: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
			quotas: []Quota{{ID: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", Unit: UnitRequests, Window: time.Minute, Exceeded: true}},
		},
		{
			name: "Vertex-style metric names the window; an unknown unit is left out but still names the quota", status: 429,
			body: geminiBody("", `{"quotaMetric":"aiplatform.googleapis.com/online_prediction_widgets_per_minute","quotaId":"Widgets"}`,
				`{"quotaMetric":"aiplatform.googleapis.com/generate_content_requests_per_minute_per_project_per_base_model","quotaId":"Base"}`),
			kind: KindRateLimited, quotaID: "Widgets",
			quotas: []Quota{{ID: "Base", Unit: UnitRequests, Window: time.Minute, Exceeded: true}},
		},
		{
			name: "a Retry-After header from a gateway counts", status: 429, header: http.Header{"Retry-After": {"90"}},
			body: `[{"error":{"code":429,"message":"Resource exhausted. Please try again later.","status":"RESOURCE_EXHAUSTED"}}]`,
			kind: KindRateLimited, hint: 90 * time.Second,
		},
		{name: "status from the body's code", status: 0, body: `{"error":{"code":503,"message":"overloaded"}}`, kind: KindTransient},
		{name: "status from the status name", status: 0, body: `{"error":{"code":"x","status":"RESOURCE_EXHAUSTED"}}`, kind: KindRateLimited},
		{name: "an HTML page", status: 502, body: "<html>bad gateway, retry in 5s</html>", kind: KindTransient, hint: 5 * time.Second, msg: "gemini api error: <html>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pe := ParseGeminiError("gemini", tt.status, tt.header, []byte(tt.body))
				want := tt.status
				if want == 0 {
					want = map[Kind]int{KindTransient: 503, KindRateLimited: 429}[tt.kind]
				}
				if pe.Kind != tt.kind || pe.RetryAfter != tt.hint || pe.QuotaID != tt.quotaID || pe.StatusCode != want {
					t.Errorf("kind %v hint %v quota %q status %d", pe.Kind, pe.RetryAfter, pe.QuotaID, pe.StatusCode)
				}
				if !reflect.DeepEqual(pe.Quotas, tt.quotas) {
					t.Errorf("quotas\n got %+v\nwant %+v", pe.Quotas, tt.quotas)
				}
				if !strings.Contains(pe.Error(), tt.msg) {
					t.Errorf("message %q lacks %q", pe.Error(), tt.msg)
				}
			})
		})
	}
}

func TestParseOpenAIErrorCases(t *testing.T) {
	minuteHeaders := http.Header{
		"X-Ratelimit-Limit-Tokens": {"6000"}, "X-Ratelimit-Remaining-Tokens": {"5900"}, "X-Ratelimit-Reset-Tokens": {"1s"},
		"X-Ratelimit-Limit-Requests": {"14400"}, "X-Ratelimit-Remaining-Requests": {"14370"}, "X-Ratelimit-Reset-Requests": {"2m59.56s"},
	}
	body := func(msg, typ string) string {
		return `{"error":{"message":` + strconv.Quote(msg) + `,"type":"` + typ + `","code":"rate_limit_exceeded"}}`
	}
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		kind   Kind
		hint   time.Duration
		quotas []Quota
		msg    string
	}{
		{
			name: "a day's tokens beside the minute's headers is another quota", status: 429, header: minuteHeaders,
			body: body("on tokens per day (TPD): Limit 200,000, Used 199,336, Requested 1,524. Please try again in 6m 11.52s.", "tokens"),
			kind: KindQuotaExhausted, hint: 6*time.Minute + 11520*time.Millisecond,
			quotas: []Quota{
				{Unit: UnitRequests, Limit: 14400, Remaining: 14370, Reset: 2*time.Minute + 59560*time.Millisecond, Refill: RefillContinuous},
				{Unit: UnitTokens, Limit: 6000, Remaining: 5900, Reset: time.Second, Refill: RefillContinuous},
				{ID: "TPD", Unit: UnitTokens, Limit: 200000, Remaining: 664, Window: 24 * time.Hour, Refill: RefillContinuous, Exceeded: true},
			},
			msg: "exceeded 200000 tokens/day",
		},
		{
			name: "the minute's quota named by the message is the headers'", status: 429, header: minuteHeaders,
			body: body("on tokens per minute (TPM): Limit 6000, Used 5034, Requested 1443. Please try again in 4.77s.", "tokens"),
			kind: KindRateLimited, hint: 4770 * time.Millisecond,
			quotas: []Quota{
				{Unit: UnitRequests, Limit: 14400, Remaining: 14370, Reset: 2*time.Minute + 59560*time.Millisecond, Refill: RefillContinuous},
				{ID: "TPM", Unit: UnitTokens, Limit: 6000, Remaining: 5900, Reset: time.Second, Window: time.Minute, Refill: RefillContinuous, Exceeded: true},
			},
		},
		{
			name: "error.type alone marks the headers' quota", status: 429, header: minuteHeaders, body: body("slow down", "requests"),
			kind: KindRateLimited,
			quotas: []Quota{
				{Unit: UnitRequests, Limit: 14400, Remaining: 14370, Reset: 2*time.Minute + 59560*time.Millisecond, Refill: RefillContinuous, Exceeded: true},
				{Unit: UnitTokens, Limit: 6000, Remaining: 5900, Reset: time.Second, Refill: RefillContinuous},
			},
		},
		{
			name: "error.type alone, no headers", status: 429, body: body("slow down", "tokens"), kind: KindRateLimited,
			quotas: []Quota{{Unit: UnitTokens, Remaining: -1, Refill: RefillContinuous, Exceeded: true}},
		},
		{
			name: "Azure's wording and code", status: 429, header: http.Header{"Retry-After": {"6"}},
			body: `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-02-01 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 7 seconds."}}`,
			kind: KindRateLimited, hint: 7 * time.Second, msg: "code=429",
		},
		{name: "insufficient_quota in type only", status: 429, body: `{"error":{"message":"quota","type":"insufficient_quota","code":null}}`, kind: KindQuotaExhausted},
		{name: "a 413 without the words is permanent", status: 413, body: `<html>Request Entity Too Large</html>`, kind: KindPermanent, msg: "openai api error: <html>"},
		{name: "an empty error object", status: 500, body: `{"error":{}}`, kind: KindTransient, msg: "holds no error object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := ParseOpenAIError("compat", tt.status, tt.header, []byte(tt.body))
			if pe.Kind != tt.kind || pe.RetryAfter != tt.hint || pe.StatusCode != tt.status {
				t.Errorf("kind %v hint %v status %d", pe.Kind, pe.RetryAfter, pe.StatusCode)
			}
			if !reflect.DeepEqual(pe.Quotas, tt.quotas) {
				t.Errorf("quotas\n got %+v\nwant %+v", pe.Quotas, tt.quotas)
			}
			if !strings.Contains(pe.Error(), tt.msg) || !strings.HasPrefix(pe.Error(), "llmlimit: compat") {
				t.Errorf("message %q lacks %q", pe.Error(), tt.msg)
			}
			if tt.kind == KindTooLarge != errors.Is(pe, ErrRequestTooLarge) {
				t.Errorf("errors.Is(ErrRequestTooLarge) disagrees with kind %v", pe.Kind)
			}
		})
	}
}
