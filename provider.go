package llmlimit

import (
	"context"
	"time"
)

// Provider is one LLM backend. Generate sends one request and returns the
// model's reply; it does not retry. Implementations must be safe for
// simultaneous use by multiple goroutines and must return the context's error
// when ctx is done.
//
// Errors a Provider returns should be (or wrap) a [*ProviderError] so that a
// [Limiter] can tell rate limits from transient and permanent failures; other
// errors are classified by [KindOf].
type Provider interface {
	// Name identifies the backend in reports and logs, e.g. "gemini".
	Name() string
	// Generate sends req once and returns the reply.
	Generate(ctx context.Context, req *Request) (*Response, error)
}

// Request is one prompt for a model.
type Request struct {
	// Model overrides the provider's default model when not empty.
	Model string
	// System is the system instruction; may be empty.
	System string
	// Prompt is the user message.
	Prompt string
	// JSONSchema, when non-nil, asks for structured JSON output matching
	// this JSON Schema. Callers may share one map between requests, so
	// providers must treat it as read-only.
	JSONSchema map[string]any
	// MaxOutputTokens limits the reply; 0 leaves the provider's default.
	MaxOutputTokens int
	// Temperature, when non-nil, sets the sampling temperature.
	Temperature *float64
}

// Response is a model's reply.
type Response struct {
	// Text is the reply text (JSON when the request had a JSONSchema).
	Text string
	// Provider is the Name of the provider that served the request.
	Provider string
	// Model is the model that served the request.
	Model string
	// Usage counts the tokens the request consumed.
	Usage Usage
	// RateLimit is what the server reported about its request quota, or
	// nil when it reported nothing.
	RateLimit *RateLimit
}

// Usage counts tokens.
type Usage struct {
	InputTokens  int
	OutputTokens int
}

// RateLimit is what a server reported about its request quota: Gemini in the
// QuotaFailure detail of a 429, OpenAI in x-ratelimit-* headers on every
// reply. Zero fields are unknown, except Remaining, which is -1 when unknown.
type RateLimit struct {
	// Limit is the number of requests the quota allows per Window.
	Limit int
	// Remaining is the number of requests left in the current window, or -1.
	Remaining int
	// Reset is the time until the current window resets.
	Reset time.Duration
	// Window is the length of the quota window (one minute for RPM quotas).
	Window time.Duration
}

// Resetter is implemented by providers that keep per-run counters, such as
// [*Limiter] and the provider returned by [Fallback]. [TagSpace] calls Reset
// at the start of every run.
type Resetter interface {
	Reset()
}

// StatsReporter is implemented by providers that count what they did, such as
// [*Limiter].
type StatsReporter interface {
	Stats() Stats
}

// Chain is implemented by providers that delegate to other providers, such as
// the provider returned by [Fallback]. Members returns them in order.
type Chain interface {
	Members() []Provider
}
