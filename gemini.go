package llmlimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"google.golang.org/genai"
)

// DefaultGeminiModel is the model a [Gemini] uses when neither NewGemini nor
// the Request names one.
const DefaultGeminiModel = "gemini-2.5-flash"

// Gemini is a [Provider] calling the Gemini API through a *genai.Client
// (google.golang.org/genai). It sends exactly one HTTP request per Generate:
// the SDK's own retries and its automatic continuation are turned off on
// every call, because retrying is the [Limiter]'s job and it must count what
// is sent.
//
// Failures are returned as a [*ProviderError] wrapping a copy of the SDK's
// genai.APIError (a value, so errors.As takes a *genai.APIError target),
// classified as [ParseGeminiError] documents: a 429 that names a per-day
// quota is [KindQuotaExhausted] even though Gemini attaches a short retry
// delay to it, every QuotaFailure violation becomes a [Quota] of its own
// unit and window, and RetryAfter is the longest of RetryInfo and the
// message's "Please retry in". No error in the returned chain shows the
// client's API key, nor what looks like a key in the URLs it names; the
// APIError's message and details are redacted copies of the server's.
//
// A Gemini is safe for simultaneous use by multiple goroutines.
type Gemini struct {
	c     *genai.Client
	model string
	// key and baseURL are only for keeping them out of errors.
	key, baseURL string
	limits       batchLimits // tests lower the batch limits
}

// NewGemini returns a Gemini provider using c and model; an empty model means
// [DefaultGeminiModel]. Build c with genai.NewClient and Backend
// genai.BackendGeminiAPI (Vertex AI works too, with its own credentials).
func NewGemini(c *genai.Client, model string) *Gemini {
	if model == "" {
		model = DefaultGeminiModel
	}
	g := &Gemini{c: c, model: model}
	if c != nil {
		cfg := c.ClientConfig()
		g.key, g.baseURL = cfg.APIKey, cfg.HTTPOptions.BaseURL
	}
	return g
}

// Name returns "gemini".
func (g *Gemini) Name() string { return "gemini" }

// Generate sends req as one generateContent call. It returns ctx.Err() when
// ctx is done, a [*ProviderError] for any other failure (including a reply
// with no text, such as a blocked prompt, which is [KindPermanent]), or the
// reply: its text, the model version that served it, and token usage, where
// output tokens include thinking tokens because they are billed as output.
func (g *Gemini) Generate(ctx context.Context, req *Request) (*Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if g.c == nil || req == nil {
		return nil, &ProviderError{Provider: g.Name(), Kind: KindPermanent,
			Err: errors.New("llmlimit: gemini: nil client or request")}
	}
	model := req.Model
	if model == "" {
		model = g.model
	}
	resp, err := g.c.Models.GenerateContent(ctx, model, genai.Text(req.Prompt), geminiConfig(req))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, g.classify(err)
	}
	return g.response(resp, model)
}

// response reads a reply from model, as Generate returns it; a reply with
// no text is a [KindPermanent] error.
func (g *Gemini) response(resp *genai.GenerateContentResponse, model string) (*Response, error) {
	text, err := geminiText(resp)
	if err != nil {
		return nil, &ProviderError{Provider: g.Name(), StatusCode: 200, Kind: KindPermanent, Err: err}
	}
	out := &Response{Text: text, Provider: g.Name(), Model: resp.ModelVersion}
	if out.Model == "" {
		out.Model = model
	}
	if u := resp.UsageMetadata; u != nil {
		out.Usage = Usage{
			InputTokens:  int(u.PromptTokenCount),
			OutputTokens: int(u.CandidatesTokenCount) + int(u.ThoughtsTokenCount),
		}
	}
	return out, nil
}

// geminiConfig maps a Request onto the SDK's per-call configuration.
func geminiConfig(req *Request) *genai.GenerateContentConfig {
	cfg := &genai.GenerateContentConfig{
		// Continuation would send more requests behind our back.
		AutomaticContinuation: genai.Ptr(false),
		// A nil RetryOptions here would inherit whatever the caller set on
		// the client; one attempt is what "no SDK retries" means whatever
		// the client says. With the default client both send one request.
		HTTPOptions: oneAttempt(),
	}
	if req.System != "" {
		cfg.SystemInstruction = &genai.Content{Parts: []*genai.Part{{Text: req.System}}}
	}
	if req.JSONSchema != nil {
		cfg.ResponseMIMEType = "application/json"
		cfg.ResponseJsonSchema = req.JSONSchema
	}
	if req.MaxOutputTokens > 0 {
		cfg.MaxOutputTokens = int32(min(req.MaxOutputTokens, math.MaxInt32))
	}
	if req.Temperature != nil {
		cfg.Temperature = genai.Ptr(float32(*req.Temperature))
	}
	return cfg
}

// geminiText returns the first candidate's text, thoughts left out. It
// reads the parts itself because resp.Text logs warnings through the
// standard logger.
func geminiText(resp *genai.GenerateContentResponse) (string, error) {
	if fb := resp.PromptFeedback; fb != nil && fb.BlockReason != "" {
		return "", fmt.Errorf("llmlimit: gemini: prompt blocked: %s", fb.BlockReason)
	}
	if len(resp.Candidates) == 0 || resp.Candidates[0] == nil {
		return "", errors.New("llmlimit: gemini: reply has no candidates")
	}
	c := resp.Candidates[0]
	var b strings.Builder
	if c.Content != nil {
		for _, p := range c.Content.Parts {
			if p != nil && !p.Thought {
				b.WriteString(p.Text)
			}
		}
	}
	if b.Len() == 0 {
		reason := string(c.FinishReason)
		if reason == "" {
			reason = "none"
		}
		return "", fmt.Errorf("llmlimit: gemini: reply has no text (finish reason %s)", reason)
	}
	return b.String(), nil
}

// classify turns a failed GenerateContent into a *ProviderError whose
// chain holds no secret: the client's key, or whatever looks like a key in
// its base URL or in the URLs the chain names.
func (g *Gemini) classify(err error) *ProviderError {
	s := g.secrets()
	apiErr, ok := errorsAs[genai.APIError](err)
	if !ok {
		// No HTTP reply, or one the SDK could not read.
		return &ProviderError{Provider: g.Name(), Kind: KindOf(err), Err: s.sanitize(err, nil, sanitizeGenai(&s))}
	}
	s.learn(err, nil)
	r := geminiReply{status: apiErr.Code, name: apiErr.Status, message: apiErr.Message, details: apiErr.Details}
	pe := classifyGemini(g.Name(), r, &s, time.Now())
	pe.Err = &geminiAPIError{api: sanitizedAPIError(apiErr, &s), msg: geminiMessage(apiErr.Status, apiErr.Message, &s)}
	return pe
}

// geminiAPIError keeps a sanitized copy of the SDK's genai.APIError for
// errors.As while giving a short message: APIError.Error prints every
// detail map.
type geminiAPIError struct {
	api genai.APIError
	msg string
}

func (e *geminiAPIError) Error() string { return e.msg }
func (e *geminiAPIError) Unwrap() error { return e.api }

// sanitizedAPIError returns a copy of e without secrets, details included.
func sanitizedAPIError(e genai.APIError, s *secrets) genai.APIError {
	c := genai.APIError{Code: e.Code, Message: s.redact(e.Message), Status: s.redact(e.Status)}
	for _, d := range e.Details {
		m, _ := s.redactAny(d).(map[string]any)
		c.Details = append(c.Details, m)
	}
	return c
}

// sanitizeGenai rebuilds genai's error types for secrets.sanitize.
func sanitizeGenai(s *secrets) func(error) (error, bool) {
	return func(err error) (error, bool) {
		switch e := err.(type) {
		case genai.APIError:
			return sanitizedAPIError(e, s), true
		case *genai.APIError:
			c := sanitizedAPIError(*e, s)
			return &c, true
		}
		return nil, false
	}
}
