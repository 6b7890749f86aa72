package llmlimit

// Stats are a Limiter's cumulative counts since it was made. [Limiter.Reset]
// does not zero them; take the difference of two Stats to measure a run.
//
// Each attempt sent counts once in Calls and, when it ended, once in
// Successes or in one failure count by [Kind]: RateLimited,
// QuotaExhausted, TooLarge, Transient or Permanent (a canceled attempt
// counts in Canceled instead).
type Stats struct {
	// Calls counts attempts sent to the provider, retries included.
	Calls int64
	// Successes counts attempts that returned a reply.
	Successes int64
	// RateLimited counts attempts refused with a 429 that may be retried.
	RateLimited int64
	// QuotaExhausted counts attempts refused because a quota is spent
	// until a reset (per-day quotas, billing); TooLarge those refused as
	// larger than the quota allows at all. The built-in providers get both
	// as 429s.
	QuotaExhausted, TooLarge int64
	// Transient and Permanent count the other failed attempts by kind.
	Transient, Permanent int64
	// Retries counts attempts after the first of a call.
	Retries int64
	// Canceled counts calls ended by the caller's context.
	Canceled int64
	// Throttled counts transient failures not retried because the retry
	// budget was spent.
	Throttled int64
	// Panics counts panics of the provider or the state, each of which
	// failed its call.
	Panics int64
	// StateErrors counts failed calls to a shared State (WithState), each
	// answered by the Limiter's private state instead.
	StateErrors int64
	// Rejected counts calls refused without being sent: with a [*WaitError]
	// or on an exhausted quota.
	Rejected int64
	// HeldForRequests and HeldForTokens count the times pacing held a
	// start back for a request quota, and for a token quota.
	HeldForRequests, HeldForTokens int64
	// RateLimitedTokens counts the failed attempts whose 429 named a token
	// quota it exceeded: the part of the refusals that tokens caused.
	RateLimitedTokens int64
	// Cooldowns counts pauses of the gate by cause.
	Cooldowns Cooldowns
	// InputTokens and OutputTokens add up Usage of successful attempts.
	InputTokens, OutputTokens int64
	// ConcurrencyLimit is the current slot limit.
	ConcurrencyLimit int
}

// Cooldowns counts pauses of the cooldown gate by cause.
type Cooldowns struct {
	// Successes counts pauses after every Nth success.
	Successes int64
	// RateLimit counts pauses after N consecutive 429s.
	RateLimit int64
	// ServerHint counts pauses set by a server's retry hint.
	ServerHint int64
}

// Errors returns the number of failed attempts that were not refused for a
// quota: Transient + Permanent.
func (s Stats) Errors() int64 { return s.Transient + s.Permanent }

// refused returns the number of attempts refused for a quota, the 429
// replies of the built-in providers: RateLimited + QuotaExhausted +
// TooLarge.
func (s Stats) refused() int64 { return s.RateLimited + s.QuotaExhausted + s.TooLarge }

// Sub returns s minus t, for measuring a run between two snapshots.
// ConcurrencyLimit is s's.
func (s Stats) Sub(t Stats) Stats { return s.combine(t, -1) }

// Add returns s plus t, for adding up Limiters. ConcurrencyLimit is the sum.
func (s Stats) Add(t Stats) Stats {
	r := s.combine(t, 1)
	r.ConcurrencyLimit = s.ConcurrencyLimit + t.ConcurrencyLimit
	return r
}

// combine returns s + sign·t for every count; ConcurrencyLimit is s's.
func (s Stats) combine(t Stats, sign int64) Stats {
	return Stats{
		Calls: s.Calls + sign*t.Calls, Successes: s.Successes + sign*t.Successes,
		RateLimited: s.RateLimited + sign*t.RateLimited, QuotaExhausted: s.QuotaExhausted + sign*t.QuotaExhausted,
		TooLarge: s.TooLarge + sign*t.TooLarge, Transient: s.Transient + sign*t.Transient,
		Permanent: s.Permanent + sign*t.Permanent, Retries: s.Retries + sign*t.Retries,
		Canceled: s.Canceled + sign*t.Canceled, Throttled: s.Throttled + sign*t.Throttled,
		Panics: s.Panics + sign*t.Panics, StateErrors: s.StateErrors + sign*t.StateErrors,
		Rejected:        s.Rejected + sign*t.Rejected,
		HeldForRequests: s.HeldForRequests + sign*t.HeldForRequests, HeldForTokens: s.HeldForTokens + sign*t.HeldForTokens,
		RateLimitedTokens: s.RateLimitedTokens + sign*t.RateLimitedTokens,
		Cooldowns: Cooldowns{
			Successes:  s.Cooldowns.Successes + sign*t.Cooldowns.Successes,
			RateLimit:  s.Cooldowns.RateLimit + sign*t.Cooldowns.RateLimit,
			ServerHint: s.Cooldowns.ServerHint + sign*t.Cooldowns.ServerHint,
		},
		InputTokens: s.InputTokens + sign*t.InputTokens, OutputTokens: s.OutputTokens + sign*t.OutputTokens,
		ConcurrencyLimit: s.ConcurrencyLimit,
	}
}
