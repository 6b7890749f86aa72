package llmlimit

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/genai"
)

// testKey is distinctive so that a leak is easy to find in any string.
const testKey = "AIzaSy-TEST-KEY-must-never-leak-0123456789"

func newTestGemini(t *testing.T, w *fakeWire, model string, edit ...func(*genai.ClientConfig)) *Gemini {
	t.Helper()
	cfg := &genai.ClientConfig{
		APIKey: testKey, Backend: genai.BackendGeminiAPI,
		HTTPClient:  &http.Client{Transport: w},
		HTTPOptions: genai.HTTPOptions{BaseURL: "http://gemini.test/"},
	}
	for _, e := range edit {
		e(cfg)
	}
	c, err := genai.NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return NewGemini(c, model)
}

const (
	geminiOK = `{"candidates":[{"content":{"parts":[{"text":"thinking...","thought":true},{"text":"{\"results\":"},{"text":"[]}"}],"role":"model"},"finishReason":"STOP","index":0}],
		"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":7,"thoughtsTokenCount":5,"totalTokenCount":23},"modelVersion":"gemini-2.5-flash-001","responseId":"r1"}`
	gemini429Minute = `{"error":{"code":429,"message":"You exceeded your current quota.\nPlease retry in 26.547889357s.","status":"RESOURCE_EXHAUSTED","details":[
		{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaDimensions":{"location":"global","model":"gemini-2.5-flash"},"quotaValue":"15"}]},
		{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more about Gemini API quotas","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]},
		{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"26s"}]}}`
	gemini429Day = `{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED","details":[
		{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier","quotaValue":"250"}]},
		{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}`
	gemini429Bare = `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`
	gemini500     = `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`
	gemini400Key  = `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}`
	// geminiEcho is a hostile server quoting the key back.
	geminiEcho = `{"error":{"code":403,"message":"key ` + testKey + ` is suspended","status":"PERMISSION_DENIED"}}`
)

func TestGeminiRequestMapping(t *testing.T) {
	temp := 0.25
	tests := []struct {
		name  string
		req   Request
		model string // given to NewGemini
		path  string
		check func(t *testing.T, body map[string]any)
	}{
		{
			name:  "structured",
			req:   Request{System: "be terse", Prompt: "tag this", JSONSchema: map[string]any{"type": "object"}, MaxOutputTokens: 256, Temperature: &temp},
			model: "",
			path:  "/v1beta/models/" + DefaultGeminiModel + ":generateContent",
			check: func(t *testing.T, b map[string]any) {
				gc, _ := b["generationConfig"].(map[string]any)
				if gc["responseMimeType"] != "application/json" {
					t.Errorf("responseMimeType = %v", gc["responseMimeType"])
				}
				if s, _ := gc["responseJsonSchema"].(map[string]any); s["type"] != "object" {
					t.Errorf("responseJsonSchema = %v", gc["responseJsonSchema"])
				}
				if gc["maxOutputTokens"] != 256.0 || gc["temperature"] != 0.25 {
					t.Errorf("generationConfig = %v", gc)
				}
				si, _ := b["systemInstruction"].(map[string]any)
				parts, _ := si["parts"].([]any)
				if len(parts) != 1 || parts[0].(map[string]any)["text"] != "be terse" {
					t.Errorf("systemInstruction = %v", b["systemInstruction"])
				}
			},
		},
		{
			name:  "plain text, request model wins",
			req:   Request{Prompt: "hello", Model: "gemini-2.0-flash"},
			model: "gemini-x",
			path:  "/v1beta/models/gemini-2.0-flash:generateContent",
			check: func(t *testing.T, b map[string]any) {
				if _, ok := b["systemInstruction"]; ok {
					t.Errorf("systemInstruction sent without System")
				}
				if gc, ok := b["generationConfig"].(map[string]any); ok && (gc["responseMimeType"] != nil || gc["temperature"] != nil || gc["maxOutputTokens"] != nil) {
					t.Errorf("generationConfig = %v", gc)
				}
				for _, k := range []string{"automaticContinuation", "retryOptions", "httpOptions"} {
					if strings.Contains(string(mustJSON(t, b)), k) {
						t.Errorf("SDK-side option %q leaked into the body", k)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWire{replies: []wireReply{{status: 200, body: geminiOK}}}
			g := newTestGemini(t, w, tt.model)
			if _, err := g.Generate(context.Background(), &tt.req); err != nil {
				t.Fatal(err)
			}
			if w.count() != 1 {
				t.Fatalf("requests = %d, want 1", w.count())
			}
			r := w.reqs[0]
			if r.Method != http.MethodPost || r.URL.Path != tt.path {
				t.Errorf("%s %s, want POST %s", r.Method, r.URL.Path, tt.path)
			}
			if r.Header.Get("x-goog-api-key") != testKey || strings.Contains(r.URL.String(), testKey) {
				t.Errorf("key must travel in x-goog-api-key only: url %s", r.URL)
			}
			body := w.lastBody(t)
			contents, _ := body["contents"].([]any)
			if len(contents) != 1 || !strings.Contains(string(mustJSON(t, contents[0])), tt.req.Prompt) {
				t.Errorf("contents = %v", body["contents"])
			}
			tt.check(t, body)
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGeminiReply(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    *Response
		wantErr string
	}{
		{
			name: "text parts joined, thoughts dropped",
			body: geminiOK,
			want: &Response{Text: `{"results":[]}`, Provider: "gemini", Model: "gemini-2.5-flash-001", Usage: Usage{InputTokens: 11, OutputTokens: 12}},
		},
		{
			name: "model falls back to the requested one",
			body: `{"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}]}`,
			want: &Response{Text: "hi", Provider: "gemini", Model: DefaultGeminiModel},
		},
		{name: "blocked prompt", body: `{"promptFeedback":{"blockReason":"SAFETY"}}`, wantErr: "prompt blocked: SAFETY"},
		{name: "no candidates", body: `{"candidates":[]}`, wantErr: "no candidates"},
		{name: "empty candidate", body: `{"candidates":[{"finishReason":"SAFETY"}]}`, wantErr: "no text (finish reason SAFETY)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newTestGemini(t, &fakeWire{replies: []wireReply{{status: 200, body: tt.body}}}, "")
			got, err := g.Generate(context.Background(), &Request{Prompt: "p"})
			if tt.wantErr != "" {
				var pe *ProviderError
				if !errors.As(err, &pe) || pe.Kind != KindPermanent || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want permanent %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestGeminiErrors(t *testing.T) {
	tests := []struct {
		name      string
		reply     wireReply
		kind      Kind
		status    int
		retry     time.Duration
		quotaID   string
		rateLimit *Quota
		is        error
		noCode    bool // the error body has no "code"
	}{
		{
			name: "429 per minute", reply: wireReply{status: 429, body: gemini429Minute},
			kind: KindRateLimited, status: 429, retry: 26547889357 * time.Nanosecond, // the message's, longer than retryDelay's 26s
			quotaID:   "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
			rateLimit: &Quota{Limit: 15, Remaining: 0, Reset: 26547889357 * time.Nanosecond, Window: time.Minute},
			is:        ErrRateLimited,
		},
		{
			name: "429 per day is exhausted despite its short delay", reply: wireReply{status: 429, body: gemini429Day},
			kind: KindQuotaExhausted, status: 429, retry: 7 * time.Second,
			quotaID:   "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
			rateLimit: &Quota{Limit: 250, Remaining: 0, Reset: untilPacificMidnight, Window: 24 * time.Hour},
			is:        ErrQuotaExhausted,
		},
		{name: "429 without details", reply: wireReply{status: 429, body: gemini429Bare}, kind: KindRateLimited, status: 429, is: ErrRateLimited},
		{name: "500", reply: wireReply{status: 500, body: gemini500}, kind: KindTransient, status: 500},
		{name: "503 html page", reply: wireReply{status: 503, body: "<html>overloaded</html>"}, kind: KindTransient, status: 503},
		{name: "400 bad key", reply: wireReply{status: 400, body: gemini400Key}, kind: KindPermanent, status: 400},
		{name: "403 echoing the key", reply: wireReply{status: 403, body: geminiEcho}, kind: KindPermanent, status: 403},
		{name: "code only in status name", reply: wireReply{status: 429, body: `{"error":{"message":"slow down","status":"RESOURCE_EXHAUSTED"}}`}, kind: KindRateLimited, status: 429, noCode: true},
		{name: "connection refused", reply: wireReply{err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}, kind: KindTransient},
		{name: "error body cut off", reply: wireReply{status: 503, body: `{"error":`, bodyErr: io.ErrUnexpectedEOF}, kind: KindTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := &fakeWire{replies: []wireReply{tt.reply}}
				// A client-level retry policy must not make the SDK retry.
				g := newTestGemini(t, w, "", func(c *genai.ClientConfig) {
					c.HTTPOptions.RetryOptions = &genai.HTTPRetryOptions{Attempts: genai.Ptr[int32](5), InitialDelay: genai.Ptr(0.001)}
				})
				_, err := g.Generate(context.Background(), &Request{Prompt: "p"})
				if w.count() != 1 {
					t.Errorf("requests = %d, want 1", w.count())
				}
				var pe *ProviderError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %T %v, want *ProviderError", err, err)
				}
				if pe.Provider != "gemini" || pe.Kind != tt.kind || pe.StatusCode != tt.status || pe.RetryAfter != tt.retry || pe.QuotaID != tt.quotaID {
					t.Errorf("got %+v\nwant kind %v status %d retry %v quota %q", pe, tt.kind, tt.status, tt.retry, tt.quotaID)
				}
				if rl := requestQuota(pe.Quotas); !sameLimits(rl, tt.rateLimit) {
					t.Errorf("RateLimit = %+v, want %+v", rl, tt.rateLimit)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("errors.Is(err, %v) = false", tt.is)
				}
				if tt.status != 0 {
					var apiErr genai.APIError
					if !errors.As(err, &apiErr) || (!tt.noCode && apiErr.Code != tt.status) {
						t.Errorf("errors.As(err, genai.APIError) = %v, code %d", errors.As(err, &apiErr), apiErr.Code)
					}
				}
				msg := err.Error()
				if strings.Contains(msg, testKey) {
					t.Errorf("key leaked: %s", msg)
				}
				if !strings.HasPrefix(msg, "llmlimit: gemini") {
					t.Errorf("message %q lacks the prefix", msg)
				}
			})
		})
	}
}

func TestGeminiCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &fakeWire{replies: []wireReply{{err: errors.New("unused")}}}
	g := newTestGemini(t, w, "")
	cancel()
	if _, err := g.Generate(ctx, &Request{Prompt: "p"}); err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled itself", err)
	}
	if w.count() != 0 {
		t.Errorf("sent %d requests after cancellation", w.count())
	}
	// Canceled while in flight: the transport sees the context end.
	ctx, cancel = context.WithCancel(context.Background())
	w = &fakeWire{replies: []wireReply{{err: context.Canceled, hook: cancel}}}
	g = newTestGemini(t, w, "")
	if _, err := g.Generate(ctx, &Request{Prompt: "p"}); err != context.Canceled {
		t.Fatalf("in flight: err = %v, want context.Canceled itself", err)
	}
	if w.count() != 1 {
		t.Errorf("requests = %d, want 1", w.count())
	}
}

func TestGeminiNil(t *testing.T) {
	var pe *ProviderError
	if _, err := NewGemini(nil, "").Generate(context.Background(), &Request{}); !errors.As(err, &pe) || pe.Kind != KindPermanent {
		t.Errorf("nil client: %v", err)
	}
	g := newTestGemini(t, &fakeWire{replies: []wireReply{{status: 200, body: geminiOK}}}, "")
	if _, err := g.Generate(context.Background(), nil); !errors.As(err, &pe) || pe.Kind != KindPermanent {
		t.Errorf("nil request: %v", err)
	}
	if g.Name() != "gemini" || g.model != DefaultGeminiModel {
		t.Errorf("Name %q model %q", g.Name(), g.model)
	}
}
