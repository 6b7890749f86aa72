package llmtest

import (
	"math/rand/v2"
	"time"
)

// API configures one emulated API. The zero value accepts any key, has no
// quota, no latency and injects no failure, and its 429s carry retry hints.
//
// Quotas: a request is admitted when every quota set here admits it (see
// [Quota] and [Shape]), and then counts against all of them: 1 against the
// request quotas, its tokens against the token quotas. Gemini's token
// quotas count the prompt's input tokens; OpenAI's count the prompt plus
// the larger of max_completion_tokens (or max_tokens) and the emulator's
// estimate of its reply, as OpenAI does. Token counts are the emulator's
// estimate, about four bytes a token, the same counts its replies report
// as usage.
//
// A refused request gets a 429 that counts against no quota:
//   - Gemini: RESOURCE_EXHAUSTED whose QuotaFailure lists one violation per
//     quota that refused it (per-day requests, requests, input tokens, in
//     that order), with one "* Quota exceeded for metric" line each in the
//     message, and a RetryInfo of when the request would be admitted,
//     truncated to whole seconds as the real API writes it, beside the
//     exact "Please retry in 58.217843437s." of the message. A per-day 429
//     still carries the short hint of the per-minute window, as real ones
//     do: clients must read the quota id, not the delay.
//   - OpenAI: rate_limit_exceeded of type "requests" or "tokens", for the
//     refusing quota that needs the longest wait, with its "Rate limit
//     reached for … Please try again in 1.574s." message, retry-after
//     (whole seconds, rounded up) and retry-after-ms headers. A request
//     whose tokens exceed what a token quota can ever hold gets "Request
//     too large" instead, with no retry hint. Every reply that went through
//     the quotas carries x-ratelimit-{limit,remaining,reset}-{requests,tokens}
//     for the per-window quotas (the per-day ones when no per-window one is
//     set); reset is the time until the quota is back to its initial state.
type API struct {
	// Key is the API key every request must carry; "" accepts any key, or
	// none.
	Key string

	// Requests is the request quota per window (per minute unless its
	// Window says otherwise). When its Limit is 0, RequestsPerWindow,
	// Window and Phase describe a FixedWindow request quota instead.
	Requests Quota
	// Tokens is the token quota per window: Gemini's input tokens per
	// minute, OpenAI's tokens per minute (TPM).
	Tokens Quota
	// RequestsPerDay is the request quota per day (RPD); its Window
	// defaults to a day. When its Limit is 0, PerDay is the limit. A Gemini
	// FixedWindow per-day quota of a day's Window resets at midnight Pacific
	// time, as the real one does; other per-day quotas are placed like any
	// quota, from the emulator's start.
	RequestsPerDay Quota
	// TokensPerDay is OpenAI's tokens per day (TPD); its Window defaults to
	// a day. Gemini has no per-day token quota and ignores it.
	TokensPerDay Quota

	// RequestsPerWindow is shorthand for a FixedWindow request quota of
	// this many requests per Window, with boundaries shifted by Phase; 0 is
	// unlimited. Requests overrides it when its Limit is set.
	RequestsPerWindow int
	// Window is the shorthand quota's window; 0 means one minute. Gemini's
	// short hint on a per-day 429 is the time to the end of the request
	// quota's current FixedWindow (this one when Requests is not set), or
	// of the current minute for other shapes.
	Window time.Duration
	// Phase shifts the shorthand window's boundaries to
	// start - Phase + k·Window, so a run can begin anywhere inside a window.
	Phase time.Duration
	// PerDay is shorthand for RequestsPerDay's limit; 0 is unlimited.
	PerDay int

	// PaidTier makes Gemini's 429s name the paid tier's quotas
	// (GenerateRequestsPerMinutePerProjectPerModel,
	// GenerateContentPaidTierInputTokensPerModelPerMinute, …) instead of the
	// free tier's. OpenAI ignores it.
	PaidTier bool
	// NoRetryHint leaves the retry hints out of 429s: Gemini's RetryInfo
	// detail and "Please retry in" sentence, OpenAI's retry-after and
	// retry-after-ms headers.
	NoRetryHint bool
	// HintsInBodyOnly makes OpenAI's 429s carry their hint only in the
	// message, as many real ones do: no retry-after, retry-after-ms or
	// x-ratelimit-* headers on them (successes keep x-ratelimit-*). Gemini
	// ignores it.
	HintsInBodyOnly bool
	// Opaque makes quota 429s say nothing, as some proxies and Vertex
	// endpoints answer: Gemini's carry only RESOURCE_EXHAUSTED and
	// "Resource has been exhausted (e.g. check quota).", OpenAI's a
	// rate_limit_exceeded with no figures, no "try again" sentence and no
	// rate-limit headers, and no OpenAI reply carries x-ratelimit-*. The
	// quotas still refill by their shapes.
	Opaque bool

	// Latency, when not nil, is called for every admitted request with the
	// emulator's random source; the reply is sent after that long.
	Latency func(r *rand.Rand) time.Duration
	// ServerErrorRate is the share of requests answered 500.
	ServerErrorRate float64
	// UnavailableUntil makes every request that arrives before
	// start + UnavailableUntil fail with 503: an outage, then recovery.
	UnavailableUntil time.Duration
	// MalformedRate is the share of 200 replies whose model text is not
	// valid JSON (cut off halfway, as when a model runs out of tokens).
	MalformedRate float64
	// DropRate is the share of 200 batch replies that omit one item.
	DropRate float64
	// InsufficientQuota makes OpenAI answer every request with 429
	// insufficient_quota, as for an account without credit. Gemini ignores
	// it.
	InsufficientQuota bool

	// Batch configures the API's batch jobs, which none of the settings
	// above touch but Key.
	Batch BatchConfig
}

// Config configures an [Emulator].
type Config struct {
	Gemini, OpenAI API
	// Seed seeds the emulator's random source (latency, injected failures):
	// given the same order of requests, a run is reproducible.
	Seed int64
}

// api is the configuration of the API named "gemini" or "openai".
func (c *Config) api(name string) API {
	if name == "gemini" {
		return c.Gemini
	}
	return c.OpenAI
}

// quotaKind names the four quotas an API may set, in the order Gemini's
// QuotaFailure lists them.
type quotaKind int

const (
	requestsPerDay quotaKind = iota
	tokensPerDay
	requestsPerWindow
	tokensPerWindow
	numKinds
)

func (k quotaKind) perDay() bool { return k == requestsPerDay || k == tokensPerDay }
func (k quotaKind) tokens() bool { return k == tokensPerDay || k == tokensPerWindow }

// day is the default window of the per-day quotas.
const day = 24 * time.Hour

// frame returns quota k of the API with its defaults applied, placed from
// start, and whether the API sets it.
func (a API) frame(k quotaKind, start time.Time, gemini bool) (frame, bool) {
	var q Quota
	switch k {
	case requestsPerWindow:
		q = a.Requests
		if q.Limit <= 0 {
			q = Quota{Limit: a.RequestsPerWindow, Window: a.Window, Phase: a.Phase}
		}
	case tokensPerWindow:
		q = a.Tokens
	case requestsPerDay:
		q = a.RequestsPerDay
		if q.Limit <= 0 {
			q = Quota{Limit: a.PerDay}
		}
	case tokensPerDay:
		if gemini {
			return frame{}, false
		}
		q = a.TokensPerDay
	}
	if q.Window <= 0 {
		q.Window = time.Minute
		if k.perDay() {
			q.Window = day
		}
	}
	if q.Shape < FixedWindow || q.Shape > TokenBucket {
		q.Shape = FixedWindow
	}
	f := frame{q: q, start: start, pacific: gemini && k.perDay() && q.Shape == FixedWindow && q.Window == day}
	return f, q.Limit > 0
}
