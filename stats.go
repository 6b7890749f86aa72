package llmlimit

// Stats are a Limiter's cumulative counts since it was made. [Limiter.Reset]
// does not zero them; take the difference of two Stats to measure a run.
type Stats struct {
	// Calls counts attempts sent to the provider, retries included.
	Calls int64
	// Successes counts attempts that returned a reply.
	Successes int64
	// RateLimited counts attempts answered with a 429 that may be retried.
	RateLimited int64
	// Retries counts attempts after the first of a call.
	Retries int64
	// Transient, Permanent and QuotaExhausted count failed attempts by kind.
	Transient, Permanent, QuotaExhausted int64
	// Canceled counts calls ended by the caller's context.
	Canceled int64
	// Throttled counts transient failures not retried because the retry
	// budget was spent.
	Throttled int64
	// StateErrors counts failed calls to a shared State (WithState), each
	// answered by the Limiter's private state instead.
	StateErrors int64
	// Rejected counts calls refused with ErrCooldown or failed fast on an
	// exhausted quota without being sent.
	Rejected int64
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

// Errors returns the number of failed attempts other than 429s.
func (s Stats) Errors() int64 { return s.Transient + s.Permanent + s.QuotaExhausted }

// Sub returns s minus t, for measuring a run between two snapshots.
// ConcurrencyLimit is s's.
func (s Stats) Sub(t Stats) Stats {
	return Stats{
		Calls: s.Calls - t.Calls, Successes: s.Successes - t.Successes,
		RateLimited: s.RateLimited - t.RateLimited, Retries: s.Retries - t.Retries,
		Transient: s.Transient - t.Transient, Permanent: s.Permanent - t.Permanent,
		QuotaExhausted: s.QuotaExhausted - t.QuotaExhausted,
		Canceled:       s.Canceled - t.Canceled, Rejected: s.Rejected - t.Rejected,
		Throttled: s.Throttled - t.Throttled,
		Cooldowns: Cooldowns{
			Successes:  s.Cooldowns.Successes - t.Cooldowns.Successes,
			RateLimit:  s.Cooldowns.RateLimit - t.Cooldowns.RateLimit,
			ServerHint: s.Cooldowns.ServerHint - t.Cooldowns.ServerHint,
		},
		InputTokens: s.InputTokens - t.InputTokens, OutputTokens: s.OutputTokens - t.OutputTokens,
		ConcurrencyLimit: s.ConcurrencyLimit,
	}
}
