package llmtest

import (
	"errors"
	"fmt"
	"time"

	"github.com/llmlimit/llmlimit"
)

// Quota ids the real Gemini API reports in the QuotaFailure of a 429, on
// the free tier ([API.PaidTier] reports the paid tier's). The Limiter tells
// a per-day quota from a per-minute one by the "PerDay" in the id, and
// learns a one-minute window from "PerMinute".
const (
	QuotaIDPerMinute = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
	QuotaIDPerDay    = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
	// QuotaIDInputTokensPerMinute is the input-token quota's id.
	QuotaIDInputTokensPerMinute = "GenerateContentInputTokensPerModelPerMinute-FreeTier"
	// QuotaIDPerWindow is what the emulator reports for a window quota whose
	// Window is not a minute (a time-scaled demo, say). The real API has no
	// such quota; claiming "PerMinute" would teach a Limiter a window ten
	// times too long, so this id names no length and the Limiter learns
	// only the limit and the time to the window's end.
	QuotaIDPerWindow = "GenerateRequestsPerWindowPerProjectPerModel-Emulated"
)

// RateLimited returns the error a provider named provider gives for a 429
// that a later attempt may get past: [llmlimit.KindRateLimited], the
// per-minute quota id and a server retry hint of retryAfter (0 for none).
// errors.Is(err, llmlimit.ErrRateLimited) holds.
func RateLimited(provider string, retryAfter time.Duration) *llmlimit.ProviderError {
	return &llmlimit.ProviderError{
		Provider:   provider,
		StatusCode: 429,
		Kind:       llmlimit.KindRateLimited,
		RetryAfter: retryAfter,
		QuotaID:    QuotaIDPerMinute,
		Err:        errors.New("llmtest: 429 rate limit exceeded"),
	}
}

// QuotaExhausted returns the error a provider named provider gives for a
// spent per-day quota: a 429 of [llmlimit.KindQuotaExhausted] with the
// per-day quota id and a retry hint of retryAfter (0 for none).
// errors.Is(err, llmlimit.ErrQuotaExhausted) holds.
func QuotaExhausted(provider string, retryAfter time.Duration) *llmlimit.ProviderError {
	return &llmlimit.ProviderError{
		Provider:   provider,
		StatusCode: 429,
		Kind:       llmlimit.KindQuotaExhausted,
		RetryAfter: retryAfter,
		QuotaID:    QuotaIDPerDay,
		Err:        errors.New("llmtest: 429 daily quota exceeded"),
	}
}

// ServerError returns a [llmlimit.KindTransient] error with HTTP status
// status (such as 500 or 503), as a provider gives for a server failure.
func ServerError(provider string, status int) *llmlimit.ProviderError {
	return &llmlimit.ProviderError{
		Provider:   provider,
		StatusCode: status,
		Kind:       llmlimit.KindTransient,
		Err:        fmt.Errorf("llmtest: server error %d", status),
	}
}

// BadRequest returns a 400 of [llmlimit.KindPermanent], which must never be
// retried.
func BadRequest(provider string) *llmlimit.ProviderError {
	return &llmlimit.ProviderError{
		Provider:   provider,
		StatusCode: 400,
		Kind:       llmlimit.KindPermanent,
		Err:        errors.New("llmtest: 400 bad request"),
	}
}
