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
	// Admit decides whether an attempt may start now. It returns the zero
	// Hold and counts the start and its cost against every quota it
	// paces, or a Hold saying how long to wait and why, counting nothing.
	Admit(ctx context.Context, a Admission) (Hold, error)
	// Record applies an attempt's outcome and returns the cooldowns it set:
	// each field of the result is 1 when that cause moved the gate.
	Record(ctx context.Context, o Outcome) (Cooldowns, error)
	// Reset zeroes the success and consecutive-429 counters and disarms
	// the success cooldown.
	Reset(ctx context.Context) error
}

// Admission is an attempt asking a [State] to start.
type Admission struct {
	// Quotas are the quotas the Limiter was told ([WithQuota]): the state
	// paces to them besides those it learned from replies.
	Quotas []Quota
	// Cost is the attempt's estimated tokens.
	Cost Cost
}

// Hold is why a [State] holds a start back; the zero Hold admits it.
type Hold struct {
	// Wait is how long until the start may be tried again.
	Wait time.Duration
	// Quota reports that a quota, not the cooldown gate, holds it, and
	// Unit which quota.
	Quota bool
	Unit  Unit
}

// Outcome is an attempt's result, as a [State] needs it.
type Outcome struct {
	// Success is true for a reply; RateLimited for a retryable 429. Other
	// failures are neither and only settle the attempt's cost.
	Success, RateLimited bool
	// RetryAfter is the server's hint, bounded, or 0.
	RetryAfter time.Duration
	// Quotas is what the reply said about the server's quotas, their
	// resets bounded.
	Quotas []Quota
	// Reserved is the cost Admit counted; Used is what the server counted:
	// the usage a reply reports, nothing for a request it refused or
	// failed, the reservation itself when that is unknown. The state adds
	// the difference to its token quotas.
	Reserved, Used Cost
	// Admitted is when the state admitted the attempt, by the Limiter's
	// clock. A fixed window settles only an attempt admitted in it: one
	// from a window that has since ended counted against that one.
	Admitted time.Time
	// Rules are the Limiter's cooldown settings.
	Rules CooldownRules
}

// CooldownRules are a Limiter's cooldown settings: a pause of
// SuccessCooldown after every SuccessesPerCooldown successes, and of
// RateLimitCooldown after RateLimitsPerCooldown consecutive 429s. A zero
// count or pause disables a rule.
//
// The success cooldown is a blind guess at a quota nobody told the Limiter
// about. Unless SuccessCooldownAlways is set, it counts successes only
// while armed: a 429 that reports no quota, or one that contradicts what
// pacing knows, arms it, and each pause it makes disarms it; while a quota
// is known and holds, or nothing is refused, it never pauses.
type CooldownRules struct {
	SuccessesPerCooldown  int
	SuccessCooldown       time.Duration
	SuccessCooldownAlways bool
	RateLimitsPerCooldown int
	RateLimitCooldown     time.Duration
}

// MemoryState is the in-process [State]. Its zero value is ready to use.
type MemoryState struct {
	mu          sync.Mutex
	pausedUntil time.Time
	successes   int  // toward the success cooldown
	rateLimits  int  // consecutive 429s
	armed       bool // the success cooldown counts
	told        [units]*toldQuota
	learned     [units]learnedQuota
}

// Admit implements [State].
func (m *MemoryState) Admit(_ context.Context, a Admission) (Hold, error) {
	return m.admitAt(time.Now(), a), nil
}

// admitAt is Admit at now: a Limiter that just read the clock passes its
// reading, since reading it is much of an uncontended call's cost.
func (m *MemoryState) admitAt(now time.Time, a Admission) Hold {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setTold(a.Quotas)
	var h Hold
	if now.Before(m.pausedUntil) {
		h.Wait = m.pausedUntil.Sub(now)
	}
	if !m.paced() {
		return h
	}
	for u := range Unit(units) {
		cost := a.Cost.of(u)
		if u != UnitRequests && cost == 0 {
			continue
		}
		if t := m.told[u]; t != nil {
			h = h.atLeast(t.wait(now, cost), u)
		}
		h = h.atLeast(m.learned[u].wait(now, cost), u)
	}
	if h.Wait > 0 {
		return h
	}
	for u := range Unit(units) {
		cost := a.Cost.of(u)
		if t := m.told[u]; t != nil {
			t.take(now, cost)
		}
		m.learned[u].take(now, cost)
	}
	return Hold{}
}

// atLeast returns h, or a quota hold of unit u when d is longer.
func (h Hold) atLeast(d time.Duration, u Unit) Hold {
	if d > h.Wait {
		return Hold{Wait: d, Quota: true, Unit: u}
	}
	return h
}

// paced reports whether any quota is told or learned.
func (m *MemoryState) paced() bool {
	for u := range units {
		if m.told[u] != nil || m.learned[u].known() {
			return true
		}
	}
	return false
}

// setTold sets the told quotas; a changed one starts a new log.
func (m *MemoryState) setTold(qs []Quota) {
	if len(qs) == 0 && m.told == ([units]*toldQuota{}) {
		return
	}
	var want [units]*Quota
	for i := range qs {
		if q := &qs[i]; q.Limit > 0 && int(q.Unit) < units {
			want[q.Unit] = q
		}
	}
	for u, q := range want {
		switch {
		case q == nil:
			m.told[u] = nil
		case m.told[u] == nil || m.told[u].q != *q:
			m.told[u] = newTold(*q)
		}
	}
}

// Record implements [State].
func (m *MemoryState) Record(_ context.Context, o Outcome) (Cooldowns, error) {
	var fired Cooldowns
	r := o.Rules
	m.mu.Lock()
	defer m.mu.Unlock()
	if o.Success && m.rateLimits == 0 && len(o.Quotas) == 0 && o.Used == o.Reserved &&
		!(r.SuccessesPerCooldown > 0 && r.SuccessCooldown > 0 && (r.SuccessCooldownAlways || m.armed)) {
		return fired, nil // a plain success changes nothing
	}
	// time.Now is much of an uncontended call's cost: read it only when
	// something needs it.
	var now time.Time
	if o.Used != o.Reserved || len(o.Quotas) > 0 || o.RateLimited {
		now = time.Now()
	}
	if o.Used != o.Reserved {
		m.settle(now, o.Admitted, o.Reserved, o.Used)
	}
	explained, contradicted := m.learn(now, o)
	switch {
	case o.Success:
		m.rateLimits = 0
		if r.SuccessesPerCooldown > 0 && r.SuccessCooldown > 0 && (r.SuccessCooldownAlways || m.armed) {
			m.successes++
			if m.successes >= r.SuccessesPerCooldown {
				m.successes, m.armed = 0, false
				m.extendGate(time.Now().Add(r.SuccessCooldown))
				fired.Successes = 1
			}
		}
	case o.RateLimited:
		if !explained || contradicted {
			m.armed = true
		}
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

// settle adds to the token quotas what an attempt admitted at admitted
// used beyond what it reserved.
func (m *MemoryState) settle(now, admitted time.Time, reserved, used Cost) {
	for _, u := range [...]Unit{UnitInputTokens, UnitTokens} {
		delta := used.of(u) - reserved.of(u)
		if delta == 0 {
			continue
		}
		if t := m.told[u]; t != nil {
			t.settle(delta)
		}
		m.learned[u].settle(now, admitted, delta)
	}
}

// learn applies what a reply said about the quotas. explained is whether a
// 429 named a quota it exceeded; contradicted whether pacing had said that
// quota had room.
func (m *MemoryState) learn(now time.Time, o Outcome) (explained, contradicted bool) {
	for _, q := range o.Quotas {
		if int(q.Unit) >= units || q.Window >= day {
			continue
		}
		refused := o.RateLimited && q.Exceeded
		if refused && q.Limit > 0 {
			explained = true
		}
		if m.learned[q.Unit].learn(now, q, refused, o.Admitted, o.Reserved.of(q.Unit)) {
			contradicted = true
		}
		if t := m.told[q.Unit]; refused && t != nil && !t.smooth {
			t.smooth, contradicted = true, true
		}
	}
	return explained, contradicted
}

// Reset implements [State].
func (m *MemoryState) Reset(context.Context) error {
	m.mu.Lock()
	m.successes, m.rateLimits, m.armed = 0, 0, false
	m.mu.Unlock()
	return nil
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
