package llmlimit

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

const openaiTestKey = "sk-proj-TEST-KEY-must-never-leak-9876543210"

func newTestOpenAI(w *fakeWire, model string) *OpenAI {
	c := openai.NewClient(
		option.WithAPIKey(openaiTestKey),
		option.WithBaseURL("http://openai.test/v1/"),
		option.WithHTTPClient(&http.Client{Transport: w}),
		// A client-level retry policy must not make the SDK retry.
		option.WithMaxRetries(5),
	)
	return NewOpenAI(c, model)
}

const (
	openaiOK = `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18",
		"choices":[{"index":0,"message":{"role":"assistant","content":"{\"results\":[]}","refusal":null},"finish_reason":"stop","logprobs":null}],
		"usage":{"prompt_tokens":21,"completion_tokens":9,"total_tokens":30}}`
	openai429     = `{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-emulator on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`
	openaiNoQuota = `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`
	openai500     = `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`
	// openai401 quotes the key, as a hostile or careless server might.
	openai401 = `{"error":{"message":"Incorrect API key provided: ` + openaiTestKey + `.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
)

var rateHeaders = http.Header{
	"X-Ratelimit-Limit-Requests":     {"500"},
	"X-Ratelimit-Remaining-Requests": {"0"},
	"X-Ratelimit-Reset-Requests":     {"120ms"},
}

func withHeaders(h http.Header, kv ...string) http.Header {
	out := h.Clone()
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

func TestParseOpenAIQuotas(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want []Quota
	}{
		{name: "nothing", h: http.Header{}},
		{
			name: "both dimensions", h: http.Header{
				"X-Ratelimit-Limit-Requests": {"200"}, "X-Ratelimit-Remaining-Requests": {"198"}, "X-Ratelimit-Reset-Requests": {"11m32.334s"},
				"X-Ratelimit-Limit-Tokens": {"40000"}, "X-Ratelimit-Remaining-Tokens": {"39976"}, "X-Ratelimit-Reset-Tokens": {"36ms"},
			},
			want: []Quota{
				{Unit: UnitRequests, Limit: 200, Remaining: 198, Reset: 11*time.Minute + 32334*time.Millisecond, Refill: RefillContinuous},
				{Unit: UnitTokens, Limit: 40000, Remaining: 39976, Reset: 36 * time.Millisecond, Refill: RefillContinuous},
			},
		},
		{name: "limit only", h: http.Header{"X-Ratelimit-Limit-Requests": {"60"}}, want: []Quota{{Unit: UnitRequests, Limit: 60, Remaining: -1, Refill: RefillContinuous}}},
		{name: "reset only", h: http.Header{"X-Ratelimit-Reset-Tokens": {"1s"}}, want: []Quota{{Unit: UnitTokens, Remaining: -1, Reset: time.Second, Refill: RefillContinuous}}},
		{name: "reset in bare seconds", h: http.Header{"X-Ratelimit-Reset-Requests": {"60"}}, want: []Quota{{Unit: UnitRequests, Remaining: -1, Reset: time.Minute, Refill: RefillContinuous}}},
		{name: "remaining zero is known", h: http.Header{"X-Ratelimit-Remaining-Requests": {"0"}}, want: []Quota{{Unit: UnitRequests, Remaining: 0, Refill: RefillContinuous}}},
		{name: "Azure's unknowns", h: http.Header{"X-Ratelimit-Limit-Tokens": {"-1"}, "X-Ratelimit-Remaining-Tokens": {"-1"}, "X-Ratelimit-Reset-Tokens": {"0"}}},
		{name: "garbage", h: http.Header{"X-Ratelimit-Limit-Requests": {"lots"}, "X-Ratelimit-Remaining-Requests": {"-1"}, "X-Ratelimit-Reset-Requests": {"6 minutes later"}}},
		{name: "huge reset clamped", h: http.Header{"X-Ratelimit-Reset-Requests": {"9999999999h"}}, want: []Quota{{Unit: UnitRequests, Remaining: -1, Reset: maxHint, Refill: RefillContinuous}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseOpenAIQuotas(tt.h); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// Every header hint is read and the longest wins.
func TestHeaderHint(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"nothing", http.Header{}, 0},
		{"retry-after is longer than retry-after-ms", http.Header{"Retry-After-Ms": {"120"}, "Retry-After": {"1"}}, time.Second},
		{"retry-after-ms is longer", http.Header{"Retry-After-Ms": {"2500"}, "Retry-After": {"2"}}, 2500 * time.Millisecond},
		{"fractional ms", http.Header{"Retry-After-Ms": {"1.5"}}, 1500 * time.Microsecond},
		{"bad ms, good seconds", http.Header{"Retry-After-Ms": {"soon"}, "Retry-After": {"3"}}, 3 * time.Second},
		{"http date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{"a date in 2099 is clamped", http.Header{"Retry-After": {"Thu, 01 Jan 2099 00:00:00 GMT"}}, maxHint},
		{"retry-after-ms 1e30 is clamped", http.Header{"Retry-After-Ms": {"1e30"}}, maxHint},
		{"huge seconds clamped", http.Header{"Retry-After": {"1e12"}}, maxHint},
		{"negative ignored", http.Header{"Retry-After": {"-4"}}, 0},
	}
	for _, tt := range tests {
		if got := headerHint(tt.h, now); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestStrictSchema(t *testing.T) {
	obj := func(props map[string]any, required []any, extra any) map[string]any {
		m := map[string]any{"type": "object", "properties": props, "required": required}
		if extra != nil {
			m["additionalProperties"] = extra
		}
		return m
	}
	str := map[string]any{"type": "string"}
	tests := []struct {
		name   string
		schema map[string]any
		want   bool
	}{
		{"batch protocol", prompt.Schema(), true},
		{"flat strict", obj(map[string]any{"a": str}, []any{"a"}, false), true},
		{"additional allowed", obj(map[string]any{"a": str}, []any{"a"}, true), false},
		{"additional unset", obj(map[string]any{"a": str}, []any{"a"}, nil), false},
		{"optional property", obj(map[string]any{"a": str, "b": str}, []any{"a"}, false), false},
		{"nested loose", obj(map[string]any{"a": map[string]any{"type": "array", "items": obj(map[string]any{"x": str}, nil, false)}}, []any{"a"}, false), false},
		{"in anyOf", map[string]any{"anyOf": []any{str, obj(map[string]any{"x": str}, []any{}, false)}}, false},
		{"no objects", map[string]any{"type": "string"}, true},
	}
	for _, tt := range tests {
		if got := strictSchema(tt.schema); got != tt.want {
			t.Errorf("%s: strictSchema = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestOpenAIRequestMapping(t *testing.T) {
	temp := 0.5
	tests := []struct {
		name  string
		req   Request
		model string
		check func(t *testing.T, b map[string]any)
	}{
		{
			name:  "structured",
			req:   Request{System: "be terse", Prompt: "tag this", JSONSchema: prompt.Schema(), MaxOutputTokens: 300, Temperature: &temp},
			model: "",
			check: func(t *testing.T, b map[string]any) {
				if b["model"] != DefaultOpenAIModel {
					t.Errorf("model = %v", b["model"])
				}
				msgs, _ := b["messages"].([]any)
				if len(msgs) != 2 || msgs[0].(map[string]any)["role"] != "system" || msgs[0].(map[string]any)["content"] != "be terse" ||
					msgs[1].(map[string]any)["role"] != "user" || msgs[1].(map[string]any)["content"] != "tag this" {
					t.Errorf("messages = %v", b["messages"])
				}
				rf, _ := b["response_format"].(map[string]any)
				js, _ := rf["json_schema"].(map[string]any)
				if rf["type"] != "json_schema" || js["name"] != "response" || js["strict"] != true || js["schema"] == nil {
					t.Errorf("response_format = %v", b["response_format"])
				}
				if b["max_completion_tokens"] != 300.0 || b["temperature"] != 0.5 {
					t.Errorf("max_completion_tokens %v temperature %v", b["max_completion_tokens"], b["temperature"])
				}
			},
		},
		{
			name:  "plain, request model wins",
			req:   Request{Prompt: "hello", Model: "gpt-4.1"},
			model: "gpt-x",
			check: func(t *testing.T, b map[string]any) {
				if b["model"] != "gpt-4.1" {
					t.Errorf("model = %v", b["model"])
				}
				for _, k := range []string{"response_format", "max_completion_tokens", "max_tokens", "temperature"} {
					if _, ok := b[k]; ok {
						t.Errorf("%s sent unasked", k)
					}
				}
				if msgs, _ := b["messages"].([]any); len(msgs) != 1 {
					t.Errorf("messages = %v", b["messages"])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWire{replies: []wireReply{{status: 200, body: openaiOK}}}
			if _, err := newTestOpenAI(w, tt.model).Generate(context.Background(), &tt.req); err != nil {
				t.Fatal(err)
			}
			if w.count() != 1 {
				t.Fatalf("requests = %d, want 1", w.count())
			}
			r := w.reqs[0]
			if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
				t.Errorf("%s %s", r.Method, r.URL.Path)
			}
			if r.Header.Get("Authorization") != "Bearer "+openaiTestKey || strings.Contains(r.URL.String(), openaiTestKey) {
				t.Errorf("key must travel in the Authorization header only")
			}
			tt.check(t, w.lastBody(t))
		})
	}
}

func TestOpenAIReply(t *testing.T) {
	tests := []struct {
		name    string
		reply   wireReply
		want    *Response
		wantErr string
	}{
		{
			name:  "reply with quota headers",
			reply: wireReply{status: 200, body: openaiOK, header: withHeaders(rateHeaders, "X-Ratelimit-Remaining-Requests", "42", "X-Ratelimit-Reset-Requests", "6m0s")},
			want: &Response{Text: `{"results":[]}`, Provider: "openai", Model: "gpt-4o-mini-2024-07-18",
				Usage: Usage{InputTokens: 21, OutputTokens: 9}, Quotas: []Quota{{Limit: 500, Remaining: 42, Reset: 6 * time.Minute}}},
		},
		{
			name:  "no headers, no model",
			reply: wireReply{status: 200, body: `{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}]}`},
			want:  &Response{Text: "hi", Provider: "openai", Model: DefaultOpenAIModel},
		},
		{name: "refusal", reply: wireReply{status: 200, body: `{"choices":[{"message":{"content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}`}, wantErr: "model refused: I can't help with that."},
		{name: "no choices", reply: wireReply{status: 200, body: `{"choices":[]}`}, wantErr: "no choices"},
		{name: "empty content", reply: wireReply{status: 200, body: `{"choices":[{"message":{"content":""},"finish_reason":"content_filter"}]}`}, wantErr: "no text (finish reason content_filter)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newTestOpenAI(&fakeWire{replies: []wireReply{tt.reply}}, "").Generate(context.Background(), &Request{Prompt: "p"})
			if tt.wantErr != "" {
				var pe *ProviderError
				if !errors.As(err, &pe) || pe.Kind != KindPermanent || pe.StatusCode != 200 || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want permanent %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g, w := requestQuota(got.Quotas), requestQuota(tt.want.Quotas); !sameLimits(g, w) {
				t.Errorf("RateLimit = %+v, want %+v", g, w)
			}
			got.Quotas, tt.want.Quotas = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOpenAIErrors(t *testing.T) {
	tests := []struct {
		name    string
		reply   wireReply
		kind    Kind
		status  int
		retry   time.Duration
		quotaID string
		rl      *Quota
		msg     []string // in the message, since the SDK's own hides them
		is      error
		noAPI   bool // no *openai.Error despite a status
	}{
		{
			name:  "429 rate limit",
			reply: wireReply{status: 429, body: openai429, header: withHeaders(rateHeaders, "Retry-After", "1", "Retry-After-Ms", "120")},
			kind:  KindRateLimited, status: 429, retry: time.Second, quotaID: "requests",
			rl:  &Quota{Limit: 500, Remaining: 0, Reset: 120 * time.Millisecond, Window: time.Minute},
			msg: []string{"code=rate_limit_exceeded", "type=requests", "Rate limit reached for gpt-4o-mini"},
			is:  ErrRateLimited,
		},
		{
			name:  "429 retry-after only",
			reply: wireReply{status: 429, body: openai429, header: http.Header{"Retry-After": {"2"}}},
			rl:    &Quota{Limit: 500, Remaining: 0, Window: time.Minute},
			kind:  KindRateLimited, status: 429, retry: 2 * time.Second, quotaID: "requests", is: ErrRateLimited,
		},
		{
			name:  "insufficient quota is not a rate limit",
			reply: wireReply{status: 429, body: openaiNoQuota},
			kind:  KindQuotaExhausted, status: 429, quotaID: "insufficient_quota",
			msg: []string{"code=insufficient_quota", "check your plan"}, is: ErrQuotaExhausted,
		},
		{name: "500", reply: wireReply{status: 500, body: openai500}, kind: KindTransient, status: 500, msg: []string{"type=server_error"}},
		{name: "502 html page", reply: wireReply{status: 502, body: "<html>bad gateway</html>", header: http.Header{"Content-Type": {"text/html"}}}, kind: KindTransient, status: 502},
		{name: "401 echoing the key", reply: wireReply{status: 401, body: openai401}, kind: KindPermanent, status: 401, msg: []string{"code=invalid_api_key", "Incorrect API key provided: [redacted]"}},
		{name: "404", reply: wireReply{status: 404, body: `{"error":{"message":"The model does not exist","type":"invalid_request_error","param":"model","code":"model_not_found"}}`}, kind: KindPermanent, status: 404, msg: []string{"param=model"}},
		{name: "connection refused", reply: wireReply{err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}, kind: KindTransient},
		{
			name:  "error body cut off keeps status and headers",
			reply: wireReply{status: 503, body: `{"error":`, bodyErr: io.ErrUnexpectedEOF, header: http.Header{"Retry-After": {"5"}}},
			kind:  KindTransient, status: 503, retry: 5 * time.Second, noAPI: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWire{replies: []wireReply{tt.reply}}
			_, err := newTestOpenAI(w, "").Generate(context.Background(), &Request{Prompt: "p"})
			if w.count() != 1 {
				t.Errorf("requests = %d, want 1", w.count())
			}
			var pe *ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %T %v, want *ProviderError", err, err)
			}
			if pe.Provider != "openai" || pe.Kind != tt.kind || pe.StatusCode != tt.status || pe.RetryAfter != tt.retry || pe.QuotaID != tt.quotaID {
				t.Errorf("got %+v\nwant kind %v status %d retry %v quota %q", pe, tt.kind, tt.status, tt.retry, tt.quotaID)
			}
			if rl := requestQuota(pe.Quotas); !sameLimits(rl, tt.rl) {
				t.Errorf("RateLimit = %+v, want %+v", rl, tt.rl)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(err, %v) = false", tt.is)
			}
			var apiErr *openai.Error
			if wantAPI := tt.status != 0 && !tt.noAPI; errors.As(err, &apiErr) != wantAPI {
				t.Errorf("errors.As(err, *openai.Error) = %v, want %v", !wantAPI, wantAPI)
			}
			msg := err.Error()
			if strings.Contains(msg, openaiTestKey) {
				t.Errorf("key leaked: %s", msg)
			}
			if !strings.HasPrefix(msg, "llmlimit: openai") {
				t.Errorf("message %q lacks the prefix", msg)
			}
			for _, m := range tt.msg {
				if !strings.Contains(msg, m) {
					t.Errorf("message %q lacks %q", msg, m)
				}
			}
		})
	}
}

func TestOpenAICanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := &fakeWire{replies: []wireReply{{status: 200, body: openaiOK}}}
	if _, err := newTestOpenAI(w, "").Generate(ctx, &Request{Prompt: "p"}); err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled itself", err)
	}
	if w.count() != 0 {
		t.Errorf("sent %d requests after cancellation", w.count())
	}
	ctx, cancel = context.WithCancel(context.Background())
	w = &fakeWire{replies: []wireReply{{err: context.Canceled, hook: cancel}}}
	if _, err := newTestOpenAI(w, "").Generate(ctx, &Request{Prompt: "p"}); err != context.Canceled {
		t.Fatalf("in flight: err = %v, want context.Canceled itself", err)
	}
	var pe *ProviderError
	if _, err := newTestOpenAI(w, "").Generate(context.Background(), nil); !errors.As(err, &pe) || pe.Kind != KindPermanent {
		t.Errorf("nil request: %v", err)
	}
}
