package llmlimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var (
	// ErrRateLimited matches errors caused by a rate limit (HTTP 429) that
	// a later attempt may get past.
	ErrRateLimited = errors.New("llmlimit: rate limited")
	// ErrQuotaExhausted matches errors caused by a spent quota that no retry
	// soon will fix: Gemini per-day quotas, OpenAI insufficient_quota.
	ErrQuotaExhausted = errors.New("llmlimit: quota exhausted")
	// ErrCooldown matches errors returned by a [Limiter] when a call would
	// have to wait longer than its wait budget: see [WaitError].
	ErrCooldown = errors.New("llmlimit: wait exceeds budget")
	// ErrRequestTooLarge matches errors caused by a request that no quota
	// window can ever admit, such as OpenAI's "Request too large ... The
	// input or output tokens must be reduced". Retrying it is useless; a
	// smaller request may pass.
	ErrRequestTooLarge = errors.New("llmlimit: request too large for the quota")
)

// Kind classifies a failed call.
type Kind int

const (
	// KindPermanent failures are not retried: bad requests, authentication,
	// unknown models, and errors nothing is known about.
	KindPermanent Kind = iota
	// KindTransient failures are retried: 5xx, timeouts, connection errors.
	KindTransient
	// KindRateLimited failures (HTTP 429 with a per-minute or unknown quota)
	// are retried after a backoff and count toward the 429 cooldown.
	KindRateLimited
	// KindQuotaExhausted failures (per-day quota, insufficient_quota) are not
	// retried and make the Limiter fail fast until the reported reset.
	KindQuotaExhausted
	// KindCanceled means the caller's context was canceled or timed out.
	KindCanceled
	// KindTooLarge failures are requests larger than the quota allows at
	// all: not retried, and no cooldown for other callers, since the quota
	// itself is not spent.
	KindTooLarge
)

var kindNames = [...]string{"permanent", "transient", "rate_limited", "quota_exhausted", "canceled", "too_large"}

// String returns the kind's snake_case name, as used in logs and reports.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// ProviderError is a failed call to a provider, classified. It wraps the SDK's
// own error, so errors.As to *openai.Error or genai.APIError keeps working,
// and errors.Is matches [ErrRateLimited] or [ErrQuotaExhausted] by Kind.
type ProviderError struct {
	// Provider is the Name of the provider that failed.
	Provider string
	// StatusCode is the HTTP status, or 0 when no reply was received.
	StatusCode int
	// Kind classifies the failure.
	Kind Kind
	// RetryAfter is the longest retry hint the reply gave (headers, the
	// body's retry details, the message's "retry in" text), or 0 when it
	// gave none. It is not bounded by what the reply says of the quota (a
	// per-day 429 often hints 30 s): a [Limiter] bounds it. It is only
	// clamped to a week, so that adding it to a time never overflows.
	RetryAfter time.Duration
	// QuotaID names the quota that was exceeded, when the server said so
	// (e.g. Gemini's "GenerateRequestsPerMinutePerProjectPerModel-FreeTier").
	QuotaID string
	// Quotas is what the reply said about the server's quotas, the
	// exceeded ones marked, or nil: see [ParseGeminiError] and
	// [ParseOpenAIError] for how each format is read.
	Quotas []Quota
	// Err is the underlying error.
	Err error
}

// Error describes the failure without any secret: status, kind, hint,
// quota, the exceeded quotas in brief ("exceeded 250000 input_tokens/min
// and 20 requests/day") and the underlying message.
func (e *ProviderError) Error() string {
	var b strings.Builder
	b.WriteString("llmlimit: ")
	b.WriteString(e.Provider)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": status %d", e.StatusCode)
	}
	b.WriteString(" (")
	b.WriteString(e.Kind.String())
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	if e.QuotaID != "" {
		fmt.Fprintf(&b, ", quota %s", e.QuotaID)
	}
	sep := ", exceeded "
	for _, q := range e.Quotas {
		if q.Exceeded {
			b.WriteString(sep)
			b.WriteString(quotaBrief(q))
			sep = " and "
		}
	}
	b.WriteString(")")
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// quotaBrief names a quota in a few words: limit, unit and window.
func quotaBrief(q Quota) string {
	s := q.Unit.String()
	if q.Limit > 0 {
		s = strconv.Itoa(q.Limit) + " " + s
	}
	switch q.Window {
	case 0:
	case time.Minute:
		s += "/min"
	case time.Hour:
		s += "/hour"
	case 24 * time.Hour:
		s += "/day"
	default:
		s += "/" + q.Window.String()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *ProviderError) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel that matches e's Kind.
func (e *ProviderError) Is(target error) bool {
	switch target {
	case ErrRateLimited:
		return e.Kind == KindRateLimited
	case ErrQuotaExhausted:
		return e.Kind == KindQuotaExhausted
	case ErrRequestTooLarge:
		return e.Kind == KindTooLarge
	}
	return false
}

// KindOf classifies err. A [*ProviderError] in the chain gives its Kind;
// context cancellation is [KindCanceled]; timeouts, connection resets and
// refused or broken connections are [KindTransient]; anything else is
// [KindPermanent], so that an unknown error is never retried blindly.
//
// A deadline that expired inside a provider while the caller's own context is
// still live is a timeout of that attempt: callers that know their context
// (as [Limiter] does) check it first.
func KindOf(err error) Kind {
	if err == nil {
		return KindPermanent
	}
	var pe *ProviderError
	if errors.As(err, &pe) {
		return pe.Kind
	}
	if errors.Is(err, context.Canceled) {
		return KindCanceled
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return KindTransient
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return KindTransient
	}
	return KindPermanent
}

// kindOfStatus classifies an HTTP status code: 429 is rate-limited, 408 and
// 5xx are transient, everything else is permanent. Providers refine 429s into
// [KindQuotaExhausted] from the body.
func kindOfStatus(status int) Kind {
	switch {
	case status == 429:
		return KindRateLimited
	case status == 408 || status >= 500:
		return KindTransient
	default:
		return KindPermanent
	}
}

// WaitError is the error of a call that would have had to wait longer than
// its wait budget: the smaller of [WithMaxWait] and the time left before its
// context's deadline. It is returned as soon as the wait is known to be too
// long, without waiting it, so that a [Fallback] can serve the call
// elsewhere in the time the caller has left.
//
// errors.Is(err, ErrCooldown) holds for a WaitError, and Unwrap returns
// Cause, so errors.Is also finds, say, [ErrRateLimited] when a 429 made the
// call wait.
type WaitError struct {
	// Provider is the Name of the provider that refused to wait.
	Provider string
	// Reason is what the call would have waited for: "gate" (a cooldown or
	// a server's retry hint), "quota" (pacing to the provider's quota),
	// "slot" (a free slot) or "backoff" (the delay before a retry).
	Reason string
	// Wait is how long the call would have had to wait; for a slot, how
	// long it queued before it gave up.
	Wait time.Duration
	// Budget is how long the call could wait.
	Budget time.Duration
	// Cause is the failure that made the call wait, or nil.
	Cause error
}

// Error says what the call would have waited for, and why.
func (e *WaitError) Error() string {
	s := fmt.Sprintf("llmlimit: %s: %s wait of %s exceeds the wait budget of %s", e.Provider, e.Reason,
		e.Wait.Round(time.Millisecond), e.Budget.Round(time.Millisecond))
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Is reports whether target is [ErrCooldown].
func (e *WaitError) Is(target error) bool { return target == ErrCooldown }

// Unwrap returns Cause.
func (e *WaitError) Unwrap() error { return e.Cause }

// providerErrorOf returns the *ProviderError in err's chain, or an empty one
// (no status, hint or quota report) when there is none.
func providerErrorOf(err error) *ProviderError {
	var pe *ProviderError
	if errors.As(err, &pe) {
		return pe
	}
	return &ProviderError{}
}
