package llmlimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// DefaultOpenAIModel is the model an [OpenAI] uses when neither NewOpenAI nor
// the Request names one.
const DefaultOpenAIModel = "gpt-4o-mini"

// OpenAI is a [Provider] calling OpenAI chat completions through an
// openai.Client (github.com/openai/openai-go/v3). It sends exactly one HTTP
// request per Generate: every call passes option.WithMaxRetries(0), because
// the SDK otherwise retries 429s and 5xx twice without telling anyone, and
// retrying is the [Limiter]'s job.
//
// Failures are returned as a [*ProviderError] wrapping the SDK's
// *openai.Error. A 429 is [KindRateLimited] unless its code is
// insufficient_quota (billing, not rate), which is [KindQuotaExhausted].
// RetryAfter comes from retry-after-ms, else retry-after; the
// x-ratelimit-*-requests headers become RateLimit, on errors and on
// successful replies alike. The SDK's own error message is only a status
// line, so the message here adds the code, type and server message, with the
// API key scrubbed out.
//
// An OpenAI is safe for simultaneous use by multiple goroutines.
type OpenAI struct {
	c     openai.Client
	model string
}

// NewOpenAI returns an OpenAI provider using c and model; an empty model
// means [DefaultOpenAIModel].
func NewOpenAI(c openai.Client, model string) *OpenAI {
	if model == "" {
		model = DefaultOpenAIModel
	}
	return &OpenAI{c: c, model: model}
}

// Name returns "openai".
func (o *OpenAI) Name() string { return "openai" }

// Generate sends req as one chat completion, with response_format
// json_schema when req.JSONSchema is set (strict when the schema allows it).
// It returns ctx.Err() when ctx is done, a [*ProviderError] for any other
// failure (including a refusal or an empty reply, which are
// [KindPermanent]), or the reply with its model, usage and the rate-limit
// headers.
func (o *OpenAI) Generate(ctx context.Context, req *Request) (*Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req == nil {
		return nil, &ProviderError{Provider: o.Name(), Kind: KindPermanent,
			Err: errors.New("llmlimit: openai: nil request")}
	}
	model := req.Model
	if model == "" {
		model = o.model
	}
	var httpResp *http.Response
	cc, err := o.c.Chat.Completions.New(ctx, openaiParams(req, model),
		option.WithMaxRetries(0), option.WithResponseInto(&httpResp))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, o.classify(err, httpResp)
	}
	var qs []Quota
	if httpResp != nil {
		_, qs = parseOpenAIHeaders(httpResp.Header, time.Now())
	}
	text, err := openaiText(cc)
	if err != nil {
		return nil, &ProviderError{Provider: o.Name(), StatusCode: 200, Kind: KindPermanent, Quotas: qs, Err: err}
	}
	out := &Response{
		Text: text, Provider: o.Name(), Model: cc.Model, Quotas: qs,
		Usage: Usage{InputTokens: int(cc.Usage.PromptTokens), OutputTokens: int(cc.Usage.CompletionTokens)},
	}
	if out.Model == "" {
		out.Model = model
	}
	return out, nil
}

// openaiParams maps a Request onto a chat completion request.
func openaiParams(req *Request, model string) openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{Model: model}
	if req.System != "" {
		p.Messages = append(p.Messages, openai.SystemMessage(req.System))
	}
	p.Messages = append(p.Messages, openai.UserMessage(req.Prompt))
	if req.JSONSchema != nil {
		p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
					Name:   "response",
					Schema: req.JSONSchema,
					Strict: openai.Bool(strictSchema(req.JSONSchema)),
				},
			},
		}
	}
	if req.MaxOutputTokens > 0 {
		p.MaxCompletionTokens = openai.Int(int64(req.MaxOutputTokens))
	}
	if req.Temperature != nil {
		p.Temperature = openai.Float(*req.Temperature)
	}
	return p
}

// strictSchema reports whether schema meets OpenAI's strict structured
// output rules as far as they can be checked cheaply: every object with
// properties forbids additional ones and requires all of them. A schema
// that doesn't is sent non-strict rather than rejected with a 400.
func strictSchema(schema any) bool {
	switch s := schema.(type) {
	case map[string]any:
		if props, ok := s["properties"].(map[string]any); ok {
			if ap, ok := s["additionalProperties"].(bool); !ok || ap {
				return false
			}
			req, _ := s["required"].([]any)
			have := make(map[string]bool, len(req))
			for _, r := range req {
				if name, ok := r.(string); ok {
					have[name] = true
				}
			}
			for name := range props {
				if !have[name] {
					return false
				}
			}
		}
		for _, v := range s {
			if !strictSchema(v) {
				return false
			}
		}
	case []any:
		for _, v := range s {
			if !strictSchema(v) {
				return false
			}
		}
	}
	return true
}

// openaiText returns the first choice's content, or why there is none.
func openaiText(cc *openai.ChatCompletion) (string, error) {
	if cc == nil || len(cc.Choices) == 0 {
		return "", errors.New("llmlimit: openai: reply has no choices")
	}
	c := cc.Choices[0]
	if r := strings.TrimSpace(c.Message.Refusal); r != "" {
		return "", fmt.Errorf("llmlimit: openai: model refused: %s", clipMessage(r))
	}
	if c.Message.Content == "" {
		reason := c.FinishReason
		if reason == "" {
			reason = "none"
		}
		return "", fmt.Errorf("llmlimit: openai: reply has no text (finish reason %s)", reason)
	}
	return c.Message.Content, nil
}

// classify turns a failed chat completion into a *ProviderError. httpResp is
// the reply the SDK captured, if any: it carries the status and headers
// even when the body was not an OpenAI error object (a proxy's 502 page).
func (o *OpenAI) classify(err error, httpResp *http.Response) *ProviderError {
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		if httpResp == nil || httpResp.StatusCode < 400 {
			return &ProviderError{Provider: o.Name(), Kind: KindOf(err), Err: scrubbed(err, "")}
		}
		pe := &ProviderError{Provider: o.Name(), StatusCode: httpResp.StatusCode,
			Kind: KindOfStatus(httpResp.StatusCode), Err: scrubbed(err, keyOf(httpResp.Request))}
		pe.RetryAfter, pe.Quotas = parseOpenAIHeaders(httpResp.Header, time.Now())
		return pe
	}
	pe := &ProviderError{
		Provider:   o.Name(),
		StatusCode: apiErr.StatusCode,
		Kind:       KindOfStatus(apiErr.StatusCode),
		Err:        &openaiAPIError{err: apiErr, msg: openaiMessage(apiErr, keyOf(apiErr.Request))},
	}
	if apiErr.Response != nil {
		pe.RetryAfter, pe.Quotas = parseOpenAIHeaders(apiErr.Response.Header, time.Now())
	}
	if apiErr.Code == "insufficient_quota" || apiErr.Type == "insufficient_quota" {
		pe.Kind = KindQuotaExhausted
		pe.QuotaID = "insufficient_quota"
	} else if apiErr.StatusCode == 429 && apiErr.Type != "" {
		pe.QuotaID = apiErr.Type // "requests" or "tokens"
	}
	return pe
}

// keyOf returns the API key a request carried, so that it can be scrubbed
// from what the server echoed (OpenAI's 401 quotes part of a bad key).
func keyOf(r *http.Request) string {
	if r == nil {
		return ""
	}
	if k, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(k)
	}
	return r.Header.Get("Api-Key") // Azure OpenAI
}

// openaiAPIError keeps the SDK's *openai.Error for errors.As while saying
// what it hides: the SDK's message is only "OpenAI API error: 429 Too Many
// Requests", and %#v of it prints the same.
type openaiAPIError struct {
	err *openai.Error
	msg string
}

func (e *openaiAPIError) Error() string { return e.msg }
func (e *openaiAPIError) Unwrap() error { return e.err }

// openaiMessage lists the error's fields without key. The key goes before
// the clipping, which could otherwise cut it in half.
func openaiMessage(e *openai.Error, key string) string {
	var b strings.Builder
	b.WriteString("openai api error")
	for _, f := range [...]struct{ name, v string }{{"code", e.Code}, {"type", e.Type}, {"param", e.Param}} {
		if f.v != "" {
			fmt.Fprintf(&b, " %s=%s", f.name, redactKey(f.v, key))
		}
	}
	if m := strings.TrimSpace(e.Message); m != "" {
		b.WriteString(": ")
		b.WriteString(clipMessage(redactKey(m, key)))
	}
	return b.String()
}

// parseOpenAIHeaders reads an OpenAI reply's retry hint and request quota.
// retry-after-ms wins over retry-after, as in OpenAI's own SDKs. The quota
// comes from x-ratelimit-limit-requests, -remaining-requests and
// -reset-requests (a Go-style duration such as "6m0s" or "120ms"); it is
// nil when none of the three is readable. Bad values are ignored.
func parseOpenAIHeaders(h http.Header, now time.Time) (time.Duration, []Quota) {
	var hint time.Duration
	if d, ok := parseRetryAfterMS(h.Get("Retry-After-Ms")); ok {
		hint = d
	} else if d, ok := parseRetryAfter(h.Get("Retry-After"), now); ok {
		hint = d
	}
	rl := Quota{Remaining: -1, Window: time.Minute}
	found := false
	if n, ok := headerCount(h.Get("X-Ratelimit-Limit-Requests")); ok {
		rl.Limit, found = n, true
	}
	if n, ok := headerCount(h.Get("X-Ratelimit-Remaining-Requests")); ok {
		rl.Remaining, found = n, true
	}
	if v := strings.TrimSpace(h.Get("X-Ratelimit-Reset-Requests")); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			rl.Reset, found = min(d, maxHint), true
		}
	}
	if !found {
		return hint, nil
	}
	return hint, []Quota{rl}
}

// headerCount parses a non-negative request count.
func headerCount(v string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
