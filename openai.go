package llmlimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
// Failures are returned as a [*ProviderError] wrapping a sanitized copy of
// the SDK's *openai.Error, classified as [ParseOpenAIError] documents:
// insufficient_quota and per-day quotas are [KindQuotaExhausted], "Request
// too large" is [KindTooLarge], RetryAfter is the longest of retry-after-ms,
// retry-after and the message's "Please try again in". The x-ratelimit-*
// headers become Quotas ([ParseOpenAIQuotas]) on errors and successful
// replies alike. The SDK's own error message is only a status line, so the
// message here adds the code, type and server message. No error in the
// returned chain shows the request's key, nor what looks like a key in the
// URLs it names (a proxy's base URL, a redirect's target), in any fmt verb.
//
// An OpenAI is safe for simultaneous use by multiple goroutines.
type OpenAI struct {
	c      openai.Client
	model  string
	limits batchLimits // tests lower the batch limits
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
	var req0 sent
	cc, err := o.c.Chat.Completions.New(ctx, openaiParams(req, model),
		option.WithMaxRetries(0), option.WithResponseInto(&httpResp), option.WithMiddleware(req0.capture))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, o.classify(err, httpResp, req0)
	}
	var qs []Quota
	if httpResp != nil {
		qs = ParseOpenAIQuotas(httpResp.Header)
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

// sent is what a call's request carried, captured by a middleware before
// the SDK sends it: the key and URL an error must not show, even when no
// reply came back to name them.
type sent struct{ key, url string }

func (x *sent) capture(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	x.key, x.url = keyOf(r), r.URL.String()
	return next(r)
}

// classify turns a failed chat completion into a *ProviderError whose
// chain holds no secret. httpResp is the reply the SDK captured, if any: it
// carries the status and headers even when the body was not an OpenAI
// error object (a proxy's 502 page).
func (o *OpenAI) classify(err error, httpResp *http.Response, req sent) *ProviderError {
	var s secrets
	s.add(req.key)
	s.addURL(req.url)
	if httpResp != nil && httpResp.Request != nil {
		s.addURL(httpResp.Request.URL.String())
	}
	learn := learnOpenAI(&s)
	s.learn(err, learn)
	apiErr, ok := errorsAs[*openai.Error](err)
	if !ok {
		if httpResp == nil || httpResp.StatusCode < 400 {
			return &ProviderError{Provider: o.Name(), Kind: KindOf(err), Err: s.sanitize(err, learn, sanitizeOpenAI(&s))}
		}
		pe := classifyOpenAI(o.Name(), openaiReply{status: httpResp.StatusCode, header: httpResp.Header}, &s, time.Now())
		pe.Err = s.sanitize(err, learn, sanitizeOpenAI(&s))
		return pe
	}
	r := openaiReply{status: apiErr.StatusCode, code: apiErr.Code, typ: apiErr.Type, param: apiErr.Param, message: apiErr.Message, isError: true}
	if apiErr.Response != nil {
		r.header = apiErr.Response.Header
	}
	pe := classifyOpenAI(o.Name(), r, &s, time.Now())
	pe.Err = &openaiAPIError{err: sanitizedOpenAIError(apiErr, &s), msg: openaiMessage(r, &s)}
	return pe
}

// keyOf returns the API key a request carried.
func keyOf(r *http.Request) string {
	if r == nil {
		return ""
	}
	if k, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(k)
	}
	return r.Header.Get("Api-Key") // Azure OpenAI
}

// learnOpenAI learns the keys and URLs an *openai.Error holds: its
// request's, and its reply's request's, which is a redirect's target.
func learnOpenAI(s *secrets) func(error) {
	return func(err error) {
		e, ok := err.(*openai.Error)
		if !ok || e == nil {
			return
		}
		for _, r := range [...]*http.Request{e.Request, responseRequest(e.Response)} {
			if r != nil {
				s.add(keyOf(r))
				if r.URL != nil {
					s.addURL(r.URL.String())
				}
			}
		}
	}
}

func responseRequest(r *http.Response) *http.Request {
	if r == nil {
		return nil
	}
	return r.Request
}

// sanitizeOpenAI rebuilds openai-go's error type for secrets.sanitize.
func sanitizeOpenAI(s *secrets) func(error) (error, bool) {
	return func(err error) (error, bool) {
		if e, ok := err.(*openai.Error); ok && e != nil {
			return sanitizedOpenAIError(e, s), true
		}
		return nil, false
	}
}

// sanitizedOpenAIError returns a copy of e without secrets: its fields and
// raw JSON redacted, its request without credentials or body, its reply's
// body redacted.
func sanitizedOpenAIError(e *openai.Error, s *secrets) *openai.Error {
	c := &openai.Error{}
	if raw := e.RawJSON(); raw != "" {
		// Keeps RawJSON and the field metadata; a raw body that no longer
		// parses leaves them empty.
		_ = c.UnmarshalJSON([]byte(s.redact(raw)))
	}
	c.Code, c.Message, c.Param, c.Type = s.redact(e.Code), s.redact(e.Message), s.redact(e.Param), s.redact(e.Type)
	c.StatusCode = e.StatusCode
	c.Request = s.sanitizedRequest(e.Request)
	if r := e.Response; r != nil {
		c.Response = &http.Response{
			Status: s.redact(r.Status), StatusCode: r.StatusCode, Proto: r.Proto, ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor,
			Header: s.sanitizedHeader(r.Header), Request: s.sanitizedRequest(r.Request), Body: http.NoBody,
		}
		if r.Body != nil {
			// The SDK read the body and put it back as a buffer.
			if b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20)); err == nil {
				c.Response.Body = io.NopCloser(strings.NewReader(s.redact(string(b))))
				c.Response.ContentLength = -1
			}
		}
	}
	return c
}

// openaiAPIError keeps a sanitized copy of the SDK's *openai.Error for
// errors.As while saying what it hides: the SDK's message is only "OpenAI
// API error: 429 Too Many Requests".
type openaiAPIError struct {
	err *openai.Error
	msg string
}

func (e *openaiAPIError) Error() string { return e.msg }
func (e *openaiAPIError) Unwrap() error { return e.err }
