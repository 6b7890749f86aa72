package llmlimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
// Failures are returned as a [*ProviderError] wrapping the SDK's
// genai.APIError (a value, so errors.As takes a *genai.APIError target). A
// 429 is [KindRateLimited] unless its google.rpc.QuotaFailure names a per-day
// quota ("...PerDay..."), which is [KindQuotaExhausted] even though Gemini
// attaches a short retry delay to it. The google.rpc.RetryInfo delay becomes
// RetryAfter, and the quota's value becomes RateLimit.Limit. Error messages
// never contain the client's API key.
//
// A Gemini is safe for simultaneous use by multiple goroutines.
type Gemini struct {
	c     *genai.Client
	model string
	key   string // only to scrub it from error messages
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
		g.key = c.ClientConfig().APIKey
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
		HTTPOptions: &genai.HTTPOptions{
			RetryOptions: &genai.HTTPRetryOptions{Attempts: genai.Ptr[int32](1)},
		},
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

// classify turns a failed GenerateContent into a *ProviderError.
func (g *Gemini) classify(err error) *ProviderError {
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) {
		// No HTTP reply, or one the SDK could not read.
		return &ProviderError{Provider: g.Name(), Kind: KindOf(err), Err: scrubbed(err, g.key)}
	}
	status := apiErr.Code
	if status == 0 {
		status = grpcStatusHTTP[apiErr.Status]
	}
	pe := &ProviderError{
		Provider:   g.Name(),
		StatusCode: status,
		Kind:       KindOfStatus(status),
		Err:        &geminiAPIError{APIError: apiErr, msg: geminiMessage(apiErr, g.key)},
	}
	d := readGeminiDetails(apiErr.Details)
	pe.RetryAfter = d.retryDelay
	pe.QuotaID = d.quotaID
	if d.quotaID != "" || d.quotaValue > 0 {
		pe.Quotas = []Quota{{ID: d.quotaID, Limit: d.quotaValue, Remaining: 0, Reset: d.retryDelay, Window: d.window, Exceeded: true}}
	}
	if status == 429 && d.perDay {
		pe.Kind = KindQuotaExhausted
	}
	return pe
}

// grpcStatusHTTP maps google.rpc.Code names to HTTP statuses, for error
// bodies that carry a status name but no code.
var grpcStatusHTTP = map[string]int{
	"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
	"UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404,
	"ABORTED": 409, "ALREADY_EXISTS": 409, "RESOURCE_EXHAUSTED": 429,
	"CANCELLED": 499, "INTERNAL": 500, "UNKNOWN": 500, "DATA_LOSS": 500,
	"NOT_IMPLEMENTED": 501, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504,
}

// geminiAPIError keeps the SDK's genai.APIError for errors.As while giving
// a short message: APIError.Error prints every detail map.
type geminiAPIError struct {
	genai.APIError
	msg string
}

func (e *geminiAPIError) Error() string { return e.msg }
func (e *geminiAPIError) Unwrap() error { return e.APIError }

// geminiMessage describes e without its details and without key. The key
// goes before the clipping, which could otherwise cut it in half.
func geminiMessage(e genai.APIError, key string) string {
	s := "gemini api error"
	if e.Status != "" {
		s += " " + redactKey(e.Status, key)
	}
	if m := strings.TrimSpace(e.Message); m != "" {
		s += ": " + clipMessage(redactKey(m, key))
	}
	return s
}

// geminiDetails is what readGeminiDetails found in an error's details.
type geminiDetails struct {
	retryDelay time.Duration // google.rpc.RetryInfo.retryDelay; 0 if absent or bad
	quotaID    string        // the violation chosen: the per-day one if any, else the first
	quotaValue int           // its quotaValue; 0 if absent or bad
	window     time.Duration // a minute for PerMinute ids, a day for PerDay ids, else 0
	perDay     bool
}

const (
	typeRetryInfo    = "type.googleapis.com/google.rpc.RetryInfo"
	typeQuotaFailure = "type.googleapis.com/google.rpc.QuotaFailure"
)

// readGeminiDetails reads google.rpc.RetryInfo and google.rpc.QuotaFailure
// out of genai.APIError.Details, which is decoded JSON and so may hold
// anything: unknown shapes are ignored, never a panic.
func readGeminiDetails(details []map[string]any) geminiDetails {
	var d geminiDetails
	chosen := false
	for _, m := range details {
		switch t, _ := m["@type"].(string); t {
		case typeRetryInfo:
			if s, ok := m["retryDelay"].(string); ok {
				if delay, err := parseRetryDelay(s); err == nil {
					d.retryDelay = delay
				}
			}
		case typeQuotaFailure:
			vs, _ := m["violations"].([]any)
			for _, v := range vs {
				vm, ok := v.(map[string]any)
				if !ok {
					continue
				}
				id, _ := vm["quotaId"].(string)
				perDay := strings.Contains(id, "PerDay")
				if chosen && (d.perDay || !perDay) {
					continue
				}
				chosen = true
				d.quotaID, d.perDay = id, perDay
				d.quotaValue = quotaValue(vm["quotaValue"])
				switch {
				case perDay:
					d.window = 24 * time.Hour
				case strings.Contains(id, "PerMinute"):
					d.window = time.Minute
				default:
					d.window = 0
				}
			}
		}
	}
	return d
}

// quotaValue reads an int64 quota value, which proto3 JSON writes as a
// string but a lenient server might write as a number.
func quotaValue(v any) int {
	var f float64
	switch x := v.(type) {
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil || n < 0 || n > math.MaxInt32 {
			return 0
		}
		return int(n)
	case float64:
		f = x
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0
		}
	default:
		return 0
	}
	if f < 0 || f > math.MaxInt32 || f != math.Trunc(f) {
		return 0
	}
	return int(f)
}

// Helpers shared by both providers.

// maxMessage bounds the server text kept in an error message: a proxy's
// HTML error page has no place in a log line.
const maxMessage = 512

// clipMessage shortens s to about maxMessage bytes on a rune boundary.
func clipMessage(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// minKeyLen keeps redaction from mangling messages when a test passes a
// one-letter key; real keys are dozens of characters.
const minKeyLen = 4

// redactKey replaces every occurrence of key in s.
func redactKey(s, key string) string {
	if len(key) < minKeyLen {
		return s
	}
	return strings.ReplaceAll(s, key, "[redacted]")
}

// scrubbedError is an SDK or transport error whose message had the API key
// removed; Unwrap keeps the original for errors.Is and errors.As.
type scrubbedError struct {
	err error
	msg string
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrubbed wraps err so that its message never shows key.
func scrubbed(err error, key string) error {
	return &scrubbedError{err: err, msg: clipMessage(redactKey(err.Error(), key))}
}
