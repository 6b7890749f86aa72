package llmlimit

import (
	"context"
	"sync"
	"time"
)

// State is the part of a [Limiter]'s state that every Limiter of one quota
// must share: the cooldown gate, the success and consecutive-429 counters
// that move it, and quota pacing. Slots, the retry budget and [Stats] stay
// in each Limiter: they describe one process.
//
// The default is a [MemoryState] private to the Limiter. To share one quota
// between replicas, give each replica's Limiter the same shared State with
// [WithState], for example the Redis one in package redisstate. When a shared
// State fails, the Limiter falls back to a private MemoryState until it
// answers again, so an outage of the store degrades to per-process limits,
// never to unlimited calls.
//
// Implementations must be safe for simultaneous use by multiple goroutines
// and must honour ctx; the Limiter bounds every call with a timeout.
type State interface {
	// Admit decides whether an attempt may start now. It returns 0 and
	// counts the start against the quota, or how long to wait for the gate
	// or the quota, counting nothing. rate is the known request quota
	// ([WithRequestRate]), or the zero Rate.
	Admit(ctx context.Context, rate Rate) (time.Duration, error)
	// Record applies an attempt's outcome and returns the cooldowns it set:
	// each field of the result is 1 when that cause moved the gate.
	Record(ctx context.Context, o Outcome) (Cooldowns, error)
	// Reset zeroes the success and consecutive-429 counters.
	Reset(ctx context.Context) error
}

// Outcome is an attempt's result, as a [State] needs it.
type Outcome struct {
	// Success is true for a reply; RateLimited for a retryable 429. Other
	// failures are neither and only reset nothing.
	Success, RateLimited bool
	// RetryAfter is the server's hint, or 0.
	RetryAfter time.Duration
	// RateLimit is what the server reported about its request quota, or
	// nil.
	RateLimit *Quota
	// Rules are the Limiter's cooldown settings.
	Rules CooldownRules
}

// CooldownRules are a Limiter's cooldown settings: a pause of SuccessCooldown
// after every SuccessesPerCooldown successes, and of RateLimitCooldown after
// RateLimitsPerCooldown consecutive 429s. A zero count or pause disables a
// rule.
type CooldownRules struct {
	SuccessesPerCooldown  int
	SuccessCooldown       time.Duration
	RateLimitsPerCooldown int
	RateLimitCooldown     time.Duration
}

// MemoryState is the in-process [State]. Its zero value is ready to use.
type MemoryState struct {
	mu          sync.Mutex
	pausedUntil time.Time
	successes   int // toward the success cooldown
	rateLimits  int // consecutive 429s
	quota       quota
}

// NewMemoryState returns an empty MemoryState.
func NewMemoryState() *MemoryState { return &MemoryState{} }

// Admit implements [State].
func (m *MemoryState) Admit(_ context.Context, rate Rate) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	m.quota.setRate(rate)
	if wait := max(m.pausedUntil.Sub(now), m.quota.wait(now)); wait > 0 {
		return wait, nil
	}
	m.quota.take(now)
	return 0, nil
}

// Record implements [State].
func (m *MemoryState) Record(_ context.Context, o Outcome) (Cooldowns, error) {
	var fired Cooldowns
	r := o.Rules
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case o.Success:
		// time.Now is most of an uncontended call's cost: read it only
		// when something needs it.
		if o.RateLimit != nil {
			m.quota.learn(time.Now(), o.RateLimit)
		}
		m.rateLimits = 0
		// The success cooldown is a blind guess at a quota nobody told it
		// about; once pacing knows the quota it only costs time (measured in
		// internal/sim), so it stands down.
		if r.SuccessesPerCooldown > 0 && r.SuccessCooldown > 0 && !m.quota.known() {
			m.successes++
			if m.successes >= r.SuccessesPerCooldown {
				m.successes = 0
				m.extendGate(time.Now().Add(r.SuccessCooldown))
				fired.Successes = 1
			}
		}
	case o.RateLimited:
		now := time.Now()
		m.quota.learn(now, o.RateLimit)
		if o.RetryAfter > 0 && m.extendGate(now.Add(o.RetryAfter)) {
			fired.ServerHint = 1
		}
		m.rateLimits++
		if r.RateLimitsPerCooldown > 0 && r.RateLimitCooldown > 0 && m.rateLimits >= r.RateLimitsPerCooldown {
			m.rateLimits = 0
			m.extendGate(now.Add(r.RateLimitCooldown))
			fired.RateLimit = 1
		}
	}
	return fired, nil
}

// Reset implements [State].
func (m *MemoryState) Reset(context.Context) error {
	m.mu.Lock()
	m.successes, m.rateLimits = 0, 0
	m.mu.Unlock()
	return nil
}

// PausedUntil returns the instant the cooldown gate opens; it is in the past
// when the gate is open.
func (m *MemoryState) PausedUntil() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pausedUntil
}

// extendGate moves the gate to until if that is later, and reports whether
// it moved. The gate only moves forward.
func (m *MemoryState) extendGate(until time.Time) bool {
	if until.After(m.pausedUntil) {
		m.pausedUntil = until
		return true
	}
	return false
}
