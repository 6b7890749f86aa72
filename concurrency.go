package llmlimit

import (
	"container/list"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/llmlimit/llmlimit/internal/wait"
)

// Limiter keeps one provider's quota for every caller in the process. It is
// itself a [Provider]: Generate waits at a shared cooldown gate, takes one of
// a bounded number of slots, calls the wrapped provider, and retries rate
// limits and transient failures with exponential backoff.
//
// The model, in the order a call meets it:
//
//   - The cooldown gate is one instant, shared by all callers, before which no
//     attempt starts. Every Nth success moves it a short pause ahead
//     ([WithSuccessCooldown]) while the quota is unknown — once pacing knows
//     it, this blind guess at the quota stands down; N consecutive 429s move
//     it a longer pause ahead
//     ([WithRateLimitCooldown]); a server's retry hint moves it to at least now
//     plus the hint, because the quota is shared. The gate only ever moves
//     forward. Callers woken by it are staggered by up to 250 ms of jitter.
//   - Quota pacing holds starts to the provider's request quota: a known
//     rate ([WithRequestsPerMinute]) or the window the server reported in
//     its replies (see pacing.go). Once a window's starts are spent, callers
//     wait for the next window as they would at the gate.
//   - Slots bound the attempts in flight. The limit starts at
//     [WithConcurrency], grows by one after every 10 successes in a row up to
//     [WithMaxConcurrency], and halves (to at least 1) on every 429 that
//     doesn't report its quota (one that does is pacing's business). A slot is
//     held only while an attempt runs, never during a backoff sleep, and
//     waiting callers get slots in arrival order.
//   - Retries: rate limits and transient failures are retried up to
//     [WithMaxRetries] times after a delay documented in backoff.go; a
//     server hint is a floor for the delay. A retry budget (retrybudget.go)
//     stops retrying transient failures when most attempts fail, so an
//     outage is not multiplied by the retries. Permanent failures, exhausted
//     quotas and cancellation are returned at once. After an exhausted quota
//     the Limiter fails fast, without sending, until the reported reset (one
//     minute when none was reported).
//   - With a wait budget ([WithMaxWait]), a call that would wait longer than
//     the budget at the gate or in a backoff fails at once with [ErrCooldown].
//
// Use one Limiter per provider, model and API key: its state is that quota's
// state. Replicas sharing one quota share the gate, the cooldown counters
// and pacing through [WithState]. [Limiter.Availability] tells when the
// Limiter can next start a call; [TagSpace] uses it to keep the end of a run
// for the provider's next quota window. The zero value is not usable; call
// [New]. A Limiter is safe for simultaneous use by multiple goroutines.
type Limiter struct {
	p   Provider
	cfg config
	log *slog.Logger

	// local is the private state: the only one, or the fallback while a
	// shared state (WithState) fails.
	local  *MemoryState
	shared State

	mu             sync.Mutex
	exhaustedUntil time.Time
	exhaustedErr   error
	streak         int // successes since the slot limit last changed
	limit          int
	inFlight       int
	waiters        list.List // of *slotWaiter, in arrival order
	budget         retryBudget
	sharedDownAt   time.Time // when the shared state last failed; zero when healthy
	openAt         time.Time // when the last pause handed out ends (Availability)
	learned        Quota     // the last request quota a server reported (Availability)
	stats          Stats
}

const (
	// growAfter is the number of successes in a row after which the slot
	// limit grows by one.
	growAfter = 10
	// gateStagger bounds the jitter added to a wake-up at the gate, so that
	// callers released together don't start in one burst.
	gateStagger = 250 * time.Millisecond
	// quotaRecheck is how long an exhausted quota fails fast when the
	// server gave no reset time.
	quotaRecheck = time.Minute
)

// New returns a Limiter around p. It reads the Limiter options (concurrency,
// cooldowns, retries, backoff, jitter, wait budget, logger) and ignores the
// others; an invalid value is an error naming the setting.
func New(p Provider, opts ...Option) (*Limiter, error) {
	if p == nil {
		return nil, fmt.Errorf("llmlimit: New: nil provider")
	}
	cfg := newConfig(opts)
	if err := cfg.validateLimiter(); err != nil {
		return nil, err
	}
	if cfg.rand == nil {
		cfg.rand = rand.Float64
	}
	l := &Limiter{p: p, cfg: cfg, limit: cfg.concurrency, local: NewMemoryState(), shared: cfg.state, budget: newRetryBudget()}
	l.log = cfg.logger.With("provider", p.Name())
	return l, nil
}

// Name returns the wrapped provider's name.
func (l *Limiter) Name() string { return l.p.Name() }

// Unwrap returns the wrapped provider.
func (l *Limiter) Unwrap() Provider { return l.p }

// Generate calls the wrapped provider under the Limiter's rules (see
// [Limiter]). It returns the reply of the first successful attempt; the last
// attempt's error when retries are spent or the failure is not retryable;
// an error matching [ErrCooldown] when the wait budget would be exceeded;
// or ctx.Err() when ctx is done first, in which case nothing is counted as
// a provider failure.
func (l *Limiter) Generate(ctx context.Context, req *Request) (*Response, error) {
	var last error
	for attempt := 0; ; attempt++ {
		if err := l.acquire(ctx, attempt, last); err != nil {
			return nil, err
		}
		resp, err := l.p.Generate(ctx, req)
		kind, hint, budgetLeft := l.finish(ctx, resp, err)
		if err == nil {
			if resp.Provider == "" {
				resp.Provider = l.p.Name()
			}
			return resp, nil
		}
		if kind == KindCanceled {
			return nil, ctx.Err()
		}
		if (kind != KindRateLimited && kind != KindTransient) || attempt >= l.cfg.maxRetries {
			return nil, err
		}
		if kind == KindTransient && !budgetLeft {
			l.mu.Lock()
			l.stats.Throttled++
			l.mu.Unlock()
			return nil, err
		}
		delay := backoffDelay(attempt, l.cfg.baseDelay, l.cfg.maxDelay, l.cfg.jitter, l.cfg.rand(), hint)
		if budget := l.waitBudget(ctx); budget > 0 && delay > budget {
			l.mu.Lock()
			l.stats.Rejected++
			l.mu.Unlock()
			return nil, &WaitError{Provider: l.p.Name(), Reason: "backoff", Wait: delay, Budget: budget, Cause: err}
		}
		l.log.Info("backoff", "status", providerErrorOf(err).StatusCode, "kind", kind.String(), "attempt", attempt+1, "wait", delay)
		if err := wait.Sleep(ctx, delay); err != nil {
			l.countCanceled()
			return nil, err
		}
		last = err
	}
}

// acquire takes a slot and then asks the state whether the attempt may
// start: the gate and the quota are checked by whoever holds a slot, so a
// start is counted against the quota when it really happens. When the
// answer is to wait, the slot is given back for the wait. On failure
// acquire holds no slot.
func (l *Limiter) acquire(ctx context.Context, attempt int, last error) error {
	for {
		if err := ctx.Err(); err != nil {
			l.countCanceled()
			return err
		}
		if err := l.takeSlot(ctx); err != nil {
			return err
		}
		pause, err := l.admit(ctx)
		if err != nil {
			l.releaseSlot()
			l.countCanceled()
			return err
		}
		if pause <= 0 {
			l.mu.Lock()
			l.stats.Calls++
			if attempt > 0 {
				l.stats.Retries++
			}
			l.mu.Unlock()
			return nil
		}
		l.releaseSlot()
		budget := l.waitBudget(ctx)
		l.mu.Lock()
		l.noteAvailabilityLocked(pause, nil)
		if budget > 0 && pause > budget {
			l.stats.Rejected++
			l.mu.Unlock()
			return &WaitError{Provider: l.p.Name(), Reason: "gate", Wait: pause, Budget: budget, Cause: last}
		}
		l.mu.Unlock()
		pause += time.Duration(l.cfg.rand() * float64(gateStagger))
		if err := wait.Sleep(ctx, pause); err != nil {
			l.countCanceled()
			return err
		}
	}
}

func (l *Limiter) countCanceled() {
	l.mu.Lock()
	l.stats.Canceled++
	l.mu.Unlock()
}

// finish releases the attempt's slot and applies its outcome to the
// counters, the state and the slot limit. It returns the failure's kind, the
// server's retry hint, and whether the retry budget allows another attempt.
func (l *Limiter) finish(ctx context.Context, resp *Response, err error) (Kind, time.Duration, bool) {
	var (
		kind     Kind
		hint     time.Duration
		newLimit int
		outcome  = Outcome{Rules: l.rules()}
	)
	// Classify before taking the lock: errors.As walks the chain.
	var pe *ProviderError
	if err != nil && ctx.Err() == nil {
		kind, pe = KindOf(err), providerErrorOf(err)
		if kind == KindCanceled {
			// The provider saw a cancellation that was not the caller's:
			// nothing says a retry would fare better.
			kind = KindPermanent
		}
		hint = pe.RetryAfter
	}
	l.mu.Lock()
	l.inFlight--
	switch {
	case err == nil:
		outcome.Success, outcome.RateLimit = true, requestQuota(resp.Quotas)
		l.budget.succeed()
		l.stats.Successes++
		l.stats.InputTokens += int64(resp.Usage.InputTokens)
		l.stats.OutputTokens += int64(resp.Usage.OutputTokens)
		l.streak++
		if l.streak >= growAfter && l.limit < l.cfg.maxConcurrency {
			l.limit++
			l.streak = 0
			newLimit = l.limit
		}
	case ctx.Err() != nil:
		kind = KindCanceled
		l.stats.Canceled++
	default:
		switch kind {
		case KindRateLimited:
			outcome.RateLimited, outcome.RetryAfter, outcome.RateLimit = true, hint, requestQuota(pe.Quotas)
			l.stats.RateLimited++
			l.streak = 0
			// A 429 that reports its quota says the window is spent, which
			// pacing now handles; only an unexplained one says the provider
			// is overloaded, and halving the slots is the answer to that.
			if half := max(1, l.limit/2); half != l.limit && outcome.RateLimit == nil {
				l.limit = half
				newLimit = half
			}
		case KindTransient:
			l.stats.Transient++
			l.budget.fail()
		case KindQuotaExhausted:
			l.stats.QuotaExhausted++
			failFast := quotaRecheck
			if hint > 0 {
				failFast = hint
			}
			until := time.Now().Add(failFast)
			if until.After(l.exhaustedUntil) {
				l.exhaustedUntil = until
			}
			l.exhaustedErr = err
		default:
			l.stats.Permanent++
		}
	}
	if outcome.RateLimit != nil {
		l.noteAvailabilityLocked(0, outcome.RateLimit)
	}
	budgetLeft := l.budget.allow()
	l.grantLocked()
	l.mu.Unlock()

	if outcome.Success || outcome.RateLimited {
		fired := l.record(ctx, outcome)
		if fired != (Cooldowns{}) {
			l.mu.Lock()
			l.stats.Cooldowns.Successes += fired.Successes
			l.stats.Cooldowns.RateLimit += fired.RateLimit
			l.stats.Cooldowns.ServerHint += fired.ServerHint
			l.mu.Unlock()
		}
		if fired.Successes > 0 {
			l.log.Info("cooldown", "cause", "successes", "pause", outcome.Rules.SuccessCooldown)
		}
		if fired.ServerHint > 0 {
			l.log.Info("cooldown", "cause", "server_hint", "pause", hint)
		}
		if fired.RateLimit > 0 {
			l.log.Warn("cooldown", "cause", "rate_limit", "pause", outcome.Rules.RateLimitCooldown)
		}
	}
	if newLimit > 0 {
		l.log.Debug("concurrency", "limit", newLimit)
	}
	return kind, hint, budgetLeft
}

func (l *Limiter) rules() CooldownRules {
	return CooldownRules{
		SuccessesPerCooldown:  l.cfg.successesPerCooldown,
		SuccessCooldown:       l.cfg.successCooldown,
		RateLimitsPerCooldown: l.cfg.rateLimitsPerCooldown,
		RateLimitCooldown:     l.cfg.rateLimitCooldown,
	}
}

// Reset starts a new run: it zeroes the success and consecutive-429 counters
// that drive the cooldowns, and resets the wrapped provider if it is a
// [Resetter]. The gate, the slot limit and [Stats] are left alone: they
// describe the quota, not the run.
func (l *Limiter) Reset() {
	l.withState(context.Background(), func(ctx context.Context, s State) error { return s.Reset(ctx) })
	l.log.Info("counters reset")
	if r, ok := l.p.(Resetter); ok {
		r.Reset()
	}
}

// Stats returns the Limiter's cumulative counts.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.ConcurrencyLimit = l.limit
	return s
}

// waitBudgetKey marks a context whose calls wait as long as the context
// allows, whatever their Limiter's wait budget: see [NewFallback].
type waitBudgetKey struct{}

// withoutWaitBudget returns ctx marked so that Limiters ignore their wait
// budget.
func withoutWaitBudget(ctx context.Context) context.Context {
	return context.WithValue(ctx, waitBudgetKey{}, true)
}

// waitBudget returns the longest wait a call with ctx accepts, or 0 for no
// limit.
func (l *Limiter) waitBudget(ctx context.Context) time.Duration {
	if l.cfg.maxWait == 0 || ctx.Value(waitBudgetKey{}) != nil {
		return 0
	}
	return l.cfg.maxWait
}
