package llmlimit

import (
	"context"
	"fmt"
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
	// Quotas is what the server reported about its quotas on this reply
	// (OpenAI's x-ratelimit-* headers), or nil.
	Quotas []Quota
}

// Usage counts tokens.
type Usage struct {
	InputTokens  int
	OutputTokens int
}

// Unit is what a quota counts.
type Unit uint8

const (
	// UnitRequests counts requests: RPM and RPD quotas.
	UnitRequests Unit = iota
	// UnitInputTokens counts the tokens of the prompt, as Gemini's input
	// tokens per minute quotas do.
	UnitInputTokens
	// UnitTokens counts input and output tokens together, as OpenAI's TPM
	// and TPD quotas do (charging a request its max output tokens up front).
	UnitTokens
)

var unitNames = [...]string{"requests", "input_tokens", "tokens"}

// String returns the unit's snake_case name, as used in logs and reports.
func (u Unit) String() string {
	if int(u) >= len(unitNames) {
		return fmt.Sprintf("unit(%d)", int(u))
	}
	return unitNames[u]
}

// Refill is how a quota's units come back after they are spent.
type Refill uint8

const (
	// RefillWindow gives the whole Limit back at the end of each Window,
	// as a fixed window does; Quota.Reset is the time to the window's end.
	RefillWindow Refill = iota
	// RefillContinuous gives units back continuously, Limit per Window, as
	// token buckets and rolling windows do; Quota.Reset is the time until
	// the quota is whole again (OpenAI's x-ratelimit-reset-*).
	RefillContinuous
)

// Quota is what a server reported about one of its quotas: Gemini in each
// violation of the QuotaFailure detail of a 429, OpenAI in the
// x-ratelimit-* headers of every reply and in the message of a 429. Zero
// fields are unknown, except Remaining, which is -1 when unknown.
type Quota struct {
	// ID is the server's name for the quota, when it gave one (Gemini's
	// quotaId, such as "GenerateRequestsPerMinutePerProjectPerModel-FreeTier").
	ID string
	// Unit is what the quota counts.
	Unit Unit
	// Limit is the number of units the quota allows per Window.
	Limit int
	// Remaining is the number of units left now, or -1 when unknown.
	Remaining int
	// Reset is how long until the quota refills: see [Refill].
	Reset time.Duration
	// Window is the period Limit counts over (a minute, a day), or 0 when
	// the server didn't say.
	Window time.Duration
	// Refill is how spent units come back.
	Refill Refill
	// Exceeded reports that the reply refused the request because of this
	// quota (a 429's violation, or the dimension OpenAI named).
	Exceeded bool
}

// requestQuota returns the request quota among qs, an exceeded one first,
// or nil.
func requestQuota(qs []Quota) *Quota {
	var found *Quota
	for i := range qs {
		if q := &qs[i]; q.Unit == UnitRequests && (found == nil || q.Exceeded && !found.Exceeded) {
			found = q
		}
	}
	return found
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

// Wrapper is implemented by providers that delegate to other providers,
// such as [*Limiter] (its one provider) and the provider returned by
// [Fallback] (its members). Unwrap returns them in the order calls try
// them. [TagSpace] walks the tree this makes to reset it, to report on each
// provider, and to find the primary: the first provider down the tree.
type Wrapper interface {
	Unwrap() []Provider
}

// Waiter is implemented by providers that take a wait budget from their
// caller, such as [*Limiter]: GenerateWait is Generate, waiting for the
// provider's quota, gate and slots for at most maxWait in all, or, when
// maxWait is 0, for as long as ctx's deadline allows.
//
// [Fallback] uses it as its last resort: when every member refused a call
// with a [*WaitError], it calls GenerateWait on the member that said it
// would be free soonest, if that is within the caller's time. A provider of
// its own that limits its calls takes part by returning *WaitError and
// implementing Waiter.
type Waiter interface {
	GenerateWait(ctx context.Context, req *Request, maxWait time.Duration) (*Response, error)
}
