package llmlimit

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// ErrPanic matches the error of a call whose provider or [State] panicked.
// The Limiter logs the panic's value and stack and stays usable.
var ErrPanic = errors.New("llmlimit: panic")

// result is what one attempt's outcome means for its call.
type result struct {
	kind Kind
	// err is the attempt's failure, or nil.
	err error
	// hint is the server's retry hint, bounded by the quota it refers to.
	hint time.Duration
	// retryable is whether the kind may be retried; throttled is whether
	// the retry budget forbids it anyway.
	retryable, throttled bool
	// fired counts the cooldowns the outcome fired.
	fired Cooldowns
	// took is how long the attempt's call to the provider took.
	took time.Duration
}

// finish applies an attempt's outcome to the counters, the slot limit and
// the state, in three steps: classify without the lock, count under it,
// then tell the state, whose reply moves the gate.
func (l *Limiter) finish(ctx context.Context, req *Request, resp *Response, err error, cost Cost, admitted time.Time) result {
	took := time.Since(admitted)
	r, pe := l.classify(ctx, err)
	r.took = took
	var reply replyFacts
	switch {
	case err == nil:
		reply = l.factsOf(req, resp)
	case pe != nil:
		reply.quotas = boundQuotas(pe.Quotas, l.cfg.maxDelay)
		reply.reported = len(pe.Quotas) > 0
		if r.kind == KindRateLimited && !reply.reported {
			reply.quotas = l.inferQuota(admitted)
		}
		// A refused or failed request the server answered used no quota;
		// one it never answered may have.
		reply.used = cost
		if pe.StatusCode != 0 {
			reply.used = Cost{}
		}
	default:
		reply.used = cost
	}
	o, limit := l.count(&r, reply, admitted, took)
	if limit > 0 {
		l.log.Debug("concurrency", "limit", limit)
	}
	o.Reserved, o.Used, o.Admitted = cost, reply.used, admitted
	if o.Success || o.RateLimited || o.Used != o.Reserved {
		r.fired = l.record(ctx, o)
		l.cooldowns(r.fired, o)
	}
	return r
}

// replyFacts is what count needs from a reply or an error, copied out
// before the lock is taken.
type replyFacts struct {
	input, output int
	quotas        []Quota // their resets bounded
	reported      bool    // the reply reported any quota
	used          Cost    // what the server counted
}

func (l *Limiter) factsOf(req *Request, resp *Response) replyFacts {
	in, out := resp.Usage.InputTokens, resp.Usage.OutputTokens
	l.calibrate(req, in, out)
	return replyFacts{
		input: in, output: out,
		quotas:   boundQuotas(resp.Quotas, l.cfg.maxDelay),
		reported: len(resp.Quotas) > 0,
		used:     Cost{InputTokens: in, Tokens: in + out},
	}
}

// classify reads an attempt's failure: its kind and its bounded hint.
func (l *Limiter) classify(ctx context.Context, err error) (result, *ProviderError) {
	if err == nil {
		return result{}, nil
	}
	if ctx.Err() != nil {
		return result{kind: KindCanceled, err: err}, nil
	}
	kind, pe := KindOf(err), providerErrorOf(err)
	if kind == KindCanceled {
		// The provider saw a cancellation that was not the caller's:
		// nothing says a retry would fare better.
		kind = KindPermanent
	}
	r := result{kind: kind, err: err, hint: pe.RetryAfter, retryable: kind == KindRateLimited || kind == KindTransient}
	if bound := hintBound(pe.Quotas, l.cfg.maxDelay); r.hint > bound {
		l.log.Warn("retry hint clamped", "hint", r.hint, "bound", bound, "status", pe.StatusCode, "quota", pe.QuotaID)
		r.hint = bound
	}
	return r, pe
}

// count applies r to the counters, the slot limit, the retry budget and
// the exhausted-quota state. It returns what the state must record, and the
// new slot limit when it changed.
func (l *Limiter) count(r *result, reply replyFacts, admitted time.Time, took time.Duration) (Outcome, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o, limit := Outcome{Rules: l.rules(), Quotas: reply.quotas}, l.limit
	if r.kind != KindCanceled {
		l.observeLatencyLocked(took)
	}
	if q := requestQuota(reply.quotas); q != nil && q.Limit > 0 && q.Window > 0 && q.Window < day {
		l.learned = *q
	}
	if l.tel != nil {
		l.noteQuotasLocked(reply.quotas) // for the gauges alone
	}
	if r.err != nil && exceededTokens(reply.quotas) {
		l.stats.RateLimitedTokens++
	}
	switch {
	case r.err == nil:
		o.Success = true
		l.onSuccessLocked(reply, admitted)
	case r.kind == KindCanceled:
		l.stats.Canceled++
	case r.kind == KindRateLimited:
		o.RateLimited, o.RetryAfter = true, r.hint
		l.onRateLimitLocked(reply)
	case r.kind == KindTransient:
		l.stats.Transient++
		l.budget.fail()
		r.throttled = !l.budget.allow()
	case r.kind == KindQuotaExhausted:
		l.stats.QuotaExhausted++
		l.exhaustLocked(time.Now().Add(exhaustedFor(r.hint, reply.quotas)), r.err)
	case r.kind == KindTooLarge:
		l.stats.TooLarge++
	default:
		l.stats.Permanent++
	}
	if l.limit == limit {
		return o, 0
	}
	return o, l.limit
}

func (l *Limiter) onSuccessLocked(reply replyFacts, at time.Time) {
	l.recent.add(at)
	l.budget.succeed()
	l.stats.Successes++
	l.stats.InputTokens += int64(reply.input)
	l.stats.OutputTokens += int64(reply.output)
	l.streak++
	// Until the provider has shown it can be overloaded (a 429 that names
	// no quota), every success is evidence it can take one more call: the
	// limit grows a slot a success, as TCP's slow start does, and after
	// one a slot per growAfter successes.
	grow := growAfter
	if !l.overloaded {
		grow = 1
	}
	if l.streak >= grow && l.limit < l.cfg.maxConcurrency {
		l.setLimitLocked(l.limit + 1)
	}
}

func (l *Limiter) onRateLimitLocked(reply replyFacts) {
	l.stats.RateLimited++
	l.streak = 0
	// A 429 that reports its quota says the quota is spent, which pacing
	// handles; only an unexplained one says the provider is overloaded,
	// and halving the slots is the answer to that.
	if !reply.reported {
		l.overloaded = true
		l.setLimitLocked(max(1, l.limit/2))
	}
}

func (l *Limiter) setLimitLocked(n int) {
	if n == l.limit {
		return
	}
	l.limit, l.streak = n, 0
	l.nudgeHeadLocked()
}

// inferQuota is the quota a 429 that names none implies: the server
// admitted the successes of the last minute, so about that many a minute,
// refilling continuously. Pacing to it keeps a silent server's 429s rare;
// if it is too generous, the next 429 says so. Fewer than minInferred
// successes say too little, and infer nothing.
func (l *Limiter) inferQuota(now time.Time) []Quota {
	l.mu.Lock()
	n := l.recent.count(now)
	l.mu.Unlock()
	if n < minInferred {
		return nil
	}
	return []Quota{{ID: "inferred", Unit: UnitRequests, Limit: n, Remaining: 0,
		Window: time.Minute, Refill: RefillContinuous, Exceeded: true}}
}

// minInferred is the fewest successes in a minute a quota is inferred from.
const minInferred = 3

// observeLatencyLocked folds an attempt's duration into the latency the
// line's wait estimates use: a moving average over about eight attempts.
// The first one also tells every caller that joined the line before any
// latency was known whether it can still start in time; the later ones
// are left to each caller's own checks.
func (l *Limiter) observeLatencyLocked(took time.Duration) {
	if l.latency > 0 {
		l.latency += (took - l.latency) / 8
		return
	}
	l.latency = max(took, time.Nanosecond)
	now := time.Now()
	for e := l.line.Front(); e != nil; {
		w := e.Value.(*waiter)
		e = e.Next()
		if !w.deadline.IsZero() && l.lateLocked(w, now) {
			l.refuseLocked(w, l.budgetSpent(w, now))
		}
	}
}

// cooldowns counts the cooldowns the state fired for o, tells the line how
// long the gate stays closed, and logs them.
func (l *Limiter) cooldowns(fired Cooldowns, o Outcome) {
	if fired == (Cooldowns{}) {
		return
	}
	now := time.Now()
	var until time.Time
	later := func(n int64, d time.Duration) {
		if at := now.Add(d); n > 0 && at.After(until) {
			until = at
		}
	}
	later(fired.Successes, o.Rules.SuccessCooldown)
	later(fired.RateLimit, o.Rules.RateLimitCooldown)
	later(fired.ServerHint, o.RetryAfter)
	l.mu.Lock()
	l.stats.Cooldowns.Successes += fired.Successes
	l.stats.Cooldowns.RateLimit += fired.RateLimit
	l.stats.Cooldowns.ServerHint += fired.ServerHint
	l.openReason = "gate"
	l.closeUntilLocked(until)
	l.mu.Unlock()
	if fired.Successes > 0 {
		l.log.Info("cooldown", "cause", "successes", "pause", o.Rules.SuccessCooldown)
	}
	if fired.ServerHint > 0 {
		l.log.Info("cooldown", "cause", "server_hint", "pause", o.RetryAfter)
	}
	if fired.RateLimit > 0 {
		l.log.Warn("cooldown", "cause", "rate_limit", "pause", o.Rules.RateLimitCooldown)
	}
}

func (l *Limiter) rules() CooldownRules {
	return CooldownRules{
		SuccessesPerCooldown:  l.cfg.successesPerCooldown,
		SuccessCooldown:       l.cfg.successCooldown,
		SuccessCooldownAlways: l.cfg.successAlways,
		RateLimitsPerCooldown: l.cfg.rateLimitsPerCooldown,
		RateLimitCooldown:     l.cfg.rateLimitCooldown,
	}
}

// exceededTokens reports whether qs name an exceeded token quota.
func exceededTokens(qs []Quota) bool {
	for _, q := range qs {
		if q.Exceeded && q.Unit != UnitRequests {
			return true
		}
	}
	return false
}

// day is the window of per-day quotas.
const day = 24 * time.Hour

// perDayBound is the longest a per-day quota stays spent: a day, and the
// hour a daylight-saving change can add to the wait for a local midnight.
const perDayBound = day + time.Hour

// hintBound returns the longest a server's retry hint may hold callers,
// judged by what the same reply says about the quotas it exceeded: about
// two windows of a per-minute (or shorter) quota, until the reset of a
// per-day one, and backoffCap when the reply names no window.
func hintBound(quotas []Quota, backoffCap time.Duration) time.Duration {
	var bound time.Duration
	for _, q := range quotas {
		if q.Exceeded && q.Window > 0 {
			bound = max(bound, windowBound(q.Window))
		}
	}
	if bound == 0 {
		return backoffCap
	}
	return bound
}

// windowBound is the longest a quota of window w can be spent for.
func windowBound(w time.Duration) time.Duration {
	if w >= day {
		return perDayBound
	}
	return 2 * w
}

// boundQuotas returns a copy of qs whose resets are within what their
// windows allow, backoffCap when a window is unknown.
func boundQuotas(qs []Quota, backoffCap time.Duration) []Quota {
	if len(qs) == 0 {
		return nil
	}
	c := make([]Quota, len(qs))
	for i, q := range qs {
		if q.Window > 0 {
			q.Reset = min(q.Reset, windowBound(q.Window))
		} else {
			q.Reset = min(q.Reset, backoffCap)
		}
		c[i] = q
	}
	return c
}

// exhaustedFor is how long an exhausted quota fails fast: until the later of
// the hint and the reset of the exceeded per-day quota, or quotaRecheck when
// the reply says neither.
func exhaustedFor(hint time.Duration, quotas []Quota) time.Duration {
	d := hint
	for _, q := range quotas {
		if q.Exceeded && q.Window >= day {
			d = max(d, min(q.Reset, perDayBound))
		}
	}
	if d <= 0 {
		return quotaRecheck
	}
	return d
}

// panicked logs a recovered panic from the provider or the state and
// returns the error that fails the call in its place.
func (l *Limiter) panicked(where string, v any) error {
	l.mu.Lock()
	l.stats.Panics++
	l.mu.Unlock()
	l.log.Error("panic", "in", where, "value", describe(v), "stack", string(debug.Stack()))
	err := fmt.Errorf("%w in the %s (its value and stack are logged)", ErrPanic, where)
	if where == "provider" {
		return &ProviderError{Provider: l.p.Name(), Kind: KindPermanent, Err: err}
	}
	return fmt.Errorf("llmlimit: %s: %w", l.p.Name(), err)
}

// describe formats a panic value, which may itself panic when printed.
func describe(v any) (s string) {
	defer func() {
		if recover() != nil {
			s = fmt.Sprintf("%T (unprintable)", v)
		}
	}()
	return clipMessage(fmt.Sprint(v))
}
