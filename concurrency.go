package llmlimit

import (
	"container/list"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/llmlimit/llmlimit/internal/wait"
)

// Limiter keeps one provider's quota for every caller in the process. It is
// itself a [Provider]: Generate waits in line for the cooldown gate, the
// quota and a free slot, calls the wrapped provider, and retries rate limits
// and transient failures with exponential backoff.
//
// The model, in the order a call meets it:
//
//   - The cooldown gate is one instant, shared by all callers, before which no
//     attempt starts. N consecutive 429s move it a pause ahead
//     ([WithRateLimitCooldown]); a server's retry hint moves it to at least
//     now plus the hint, because the quota is shared. Every Nth success
//     moves it a short pause ahead ([WithSuccessCooldown]), a blind guess at
//     a quota nobody reported: by default only while armed by a 429 that
//     reports no quota or contradicts what pacing knows, every Nth success
//     whatever is known with [WithSuccessCooldownAlways] (see
//     [CooldownRules]). The gate only ever moves forward.
//   - Quota pacing holds starts to the provider's quotas of requests and of
//     input tokens (a request counts its prompt's tokens), per minute or
//     per day: quotas told with [WithQuota], [WithRequestsPerMinute] and
//     [WithTokensPerMinute], and those the server reports in its replies
//     (Gemini's 429 details, OpenAI's x-ratelimit-* headers and messages).
//     A told quota is kept with a sliding log of starts; a learned one as
//     the server refills it, a fixed window or a continuous bucket, and
//     paced smoothly for a spell when a 429 contradicts it. Once a quota is
//     spent, callers wait for it as they wait at the gate.
//   - Slots bound the attempts in flight. The limit starts at
//     [WithConcurrency] and grows up to [WithMaxConcurrency]: by one a
//     success at first, and by one after every 10 successes in a row once
//     a 429 that doesn't report its quota was seen; every such 429 halves
//     it (to at least 1). A slot is held only while an attempt runs, never
//     during a backoff sleep.
//   - Callers that can't start at once wait in one line, in arrival order.
//     Only the first in line re-checks the gate, the quota and the slots, so
//     a closed gate costs one check however many callers wait; each start
//     lets the next one try. The first caller woken by an opening gate is
//     delayed by up to 250 ms of jitter.
//   - Retries: rate limits and transient failures are retried up to
//     [WithMaxRetries] times after an exponential backoff ([WithBackoff],
//     [WithJitter]); a server hint is a floor for the delay. A retry budget
//     stops retrying transient failures when most attempts fail, so an
//     outage is not multiplied by the retries. Permanent failures, exhausted
//     quotas, requests too large for the quota, and cancellation are
//     returned at once. After an exhausted quota the Limiter fails fast,
//     without sending, until the reported reset.
//   - Every wait of a call — the gate, the quota, the line and backoff —
//     comes out of one wait budget: the smaller of [WithMaxWait] and the
//     time left before the context's deadline. A call whose wait is known to
//     exceed what is left fails at once with a [*WaitError], and a call in
//     line leaves it when its budget ends, so that a [Fallback] can serve it
//     in the caller's time. The wait in line is estimated from the callers
//     ahead and the provider's recent latency.
//
// A server hint longer than the quota it refers to can justify is clamped
// and logged: about two windows for a per-minute quota, until the reset for
// a per-day one, and the backoff cap when the reply names no quota.
//
// A panic in the provider or in a [State] fails that call with an error
// matching [ErrPanic] (the panic and its stack are logged) and leaves the
// Limiter usable; so does a provider returning neither a reply nor an error.
//
// Use one Limiter per provider, model and API key: its state is that quota's
// state. Replicas sharing one quota share the gate, the cooldown counters
// and pacing through [WithState]. The zero value is not usable; call [New].
// A Limiter is safe for simultaneous use by multiple goroutines.
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
	streak         int  // successes since the slot limit last changed
	overloaded     bool // a 429 that named no quota was seen: grow slowly
	limit          int
	inFlight       int
	line           list.List // of *waiter, in arrival order
	tickets        uint64    // callers that joined the line so far
	latency        time.Duration
	budget         retryBudget
	sharedDownAt   time.Time // when the shared state last failed; zero when healthy
	openAt         time.Time // when the gate or the quota is known to open next
	openReason     string    // "gate" or "quota": what closes it until openAt
	learned        Quota     // the last request quota a server reported
	holdUnit       Unit      // the unit of the quota that last held a start
	tokens         tokenEstimate
	recent         minuteCount // successes of the last minute
	stats          Stats
	reported       [units]Quota // per unit, the last quota a server reported

	tel *limiterTel // nil without WithMeterProvider and WithTracerProvider
}

const (
	// growAfter is the number of successes in a row after which the slot
	// limit grows by one.
	growAfter = 10
	// gateStagger bounds the jitter added to a wake-up at the gate, so that
	// replicas released together don't start in one burst.
	gateStagger = 250 * time.Millisecond
	// quotaRecheck is how long an exhausted quota fails fast when the
	// server gave no reset time.
	quotaRecheck = time.Minute
)

// New returns a Limiter around p. It reads the Limiter options —
// [WithConcurrency], [WithMaxConcurrency], [WithSuccessCooldown],
// [WithRateLimitCooldown], [WithMaxRetries], [WithBackoff], [WithJitter],
// [WithMaxWait], [WithRequestsPerMinute], [WithRequestRate], [WithState],
// [WithStateTimeout], [WithLogger], [WithMeterProvider] and
// [WithTracerProvider] — and ignores the others; an invalid
// value is an error naming the setting.
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
	l := &Limiter{p: p, cfg: cfg, limit: cfg.concurrency, local: new(MemoryState), shared: cfg.state,
		budget: newRetryBudget(), openReason: "gate"}
	l.log = cfg.logger.With("provider", p.Name())
	tel, err := newLimiterTel(l, &l.cfg)
	if err != nil {
		return nil, err
	}
	l.tel = tel
	return l, nil
}

// Name returns the wrapped provider's name.
func (l *Limiter) Name() string { return l.p.Name() }

// Unwrap returns the wrapped provider; see [Wrapper].
func (l *Limiter) Unwrap() []Provider { return []Provider{l.p} }

// Generate calls the wrapped provider under the Limiter's rules (see
// [Limiter]). It returns the reply of the first successful attempt; the last
// attempt's error when retries are spent or the failure is not retryable; a
// [*WaitError] (matching [ErrCooldown]) when the wait budget would be
// exceeded; or ctx.Err() when ctx is done first, in which case nothing is
// counted as a provider failure.
func (l *Limiter) Generate(ctx context.Context, req *Request) (*Response, error) {
	return l.generate(ctx, req, l.cfg.maxWait)
}

// GenerateWait is Generate with maxWait in place of the Limiter's
// [WithMaxWait]: the call may wait up to maxWait in all, or, when maxWait
// is 0, as long as ctx's deadline allows. It implements [Waiter].
func (l *Limiter) GenerateWait(ctx context.Context, req *Request, maxWait time.Duration) (*Response, error) {
	return l.generate(ctx, req, max(maxWait, 0))
}

func (l *Limiter) generate(ctx context.Context, req *Request, maxWait time.Duration) (*Response, error) {
	if l.tel == nil {
		return l.calls(ctx, req, maxWait, nil)
	}
	var o callObs
	ctx = l.tel.startCall(ctx, req, &o)
	resp, err := l.calls(ctx, req, maxWait, &o)
	o.end(ctx, err)
	return resp, err
}

// calls makes the attempts of one Generate; o observes them, when not nil.
func (l *Limiter) calls(ctx context.Context, req *Request, maxWait time.Duration, o *callObs) (*Response, error) {
	c := callBudget{ctx: ctx, maxWait: maxWait, cost: l.estimate(req)}
	var last Kind // the kind of the failure being retried
	for attempt := 0; ; attempt++ {
		var begin time.Time
		if o != nil {
			begin = time.Now()
		}
		c.held = ""
		if err := c.wait(func() error { return l.acquire(&c) }); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			// Admitted after the caller gave up: nothing is sent.
			l.releaseSlot()
			l.countCanceled()
			return nil, err
		}
		l.countStart(attempt)
		actx := ctx
		var span trace.Span
		if o != nil {
			if c.held != "" {
				o.wait(ctx, c.held, c.admitted.Sub(begin))
			}
			if attempt > 0 {
				o.retry(ctx, last)
			}
			actx, span = o.startAttempt(ctx, attempt)
		}
		resp, r := l.attempt(actx, req, c.cost, c.admitted)
		if o != nil {
			o.endAttempt(ctx, span, resp, r, &l.cfg)
		}
		if r.err == nil {
			if resp.Provider == "" {
				resp.Provider = l.p.Name()
			}
			return resp, nil
		}
		if r.kind == KindCanceled {
			return nil, ctx.Err()
		}
		if !r.retryable || attempt >= l.cfg.maxRetries {
			return nil, r.err
		}
		if r.throttled {
			l.countThrottled()
			return nil, r.err
		}
		delay := backoffDelay(attempt, l.cfg.baseDelay, l.cfg.maxDelay, l.cfg.jitter, l.cfg.rand(), r.hint)
		if budget, bounded := c.budget(time.Now()); bounded && delay > budget {
			l.countRejected()
			return nil, &WaitError{Provider: l.p.Name(), Reason: "backoff", Wait: delay, Budget: budget, Cause: r.err}
		}
		l.log.Info("backoff", "status", providerErrorOf(r.err).StatusCode, "kind", r.kind.String(), "attempt", attempt+1, "wait", delay)
		if err := c.wait(func() error { return wait.Sleep(ctx, delay) }); err != nil {
			l.countCanceled()
			return nil, err
		}
		if o != nil {
			o.wait(ctx, "backoff", delay)
		}
		c.last, last = r.err, r.kind
	}
}

// attempt sends req once in the slot acquire took at begin, and applies
// the outcome. The slot is given back however the attempt ends, after the
// outcome is recorded, so the next start sees what this one taught.
func (l *Limiter) attempt(ctx context.Context, req *Request, cost Cost, begin time.Time) (*Response, result) {
	defer l.releaseSlot()
	resp, err := l.send(ctx, req)
	return resp, l.finish(ctx, req, resp, err, cost, begin)
}

// send calls the provider; a panic or a reply of (nil, nil) becomes an
// error.
func (l *Limiter) send(ctx context.Context, req *Request) (resp *Response, err error) {
	defer func() {
		if v := recover(); v != nil {
			resp, err = nil, l.panicked("provider", v)
		}
	}()
	resp, err = l.p.Generate(ctx, req)
	if err == nil && resp == nil {
		err = &ProviderError{Provider: l.p.Name(), Kind: KindPermanent,
			Err: fmt.Errorf("llmlimit: %s returned neither a reply nor an error", l.p.Name())}
	}
	return resp, err
}

// callBudget is one Generate's wait budget: maxWait in all (0 for none), and no
// later than ctx's deadline.
type callBudget struct {
	ctx     context.Context
	maxWait time.Duration
	waited  time.Duration // spent waiting so far
	last    error         // the last attempt's failure, the cause of a wait
	cost    Cost          // the tokens each attempt reserves
	// admitted is when the state admitted the current attempt: when it
	// starts, give or take the microseconds to the provider's call.
	admitted time.Time
	// held is what held the current attempt before it started: "gate",
	// "pacing" or "slot"; "" when it started at once.
	held string
}

// hold notes what holds the call back; the gate and pacing, which say
// why, win over a slot, which may only be the wait behind them.
func (c *callBudget) hold(why string) {
	if c.held == "" || c.held == "slot" {
		c.held = why
	}
}

// budget returns how long the call may still wait at now, and whether that
// is bounded at all.
func (c *callBudget) budget(now time.Time) (time.Duration, bool) {
	left, bounded := time.Duration(1<<63-1), false
	if c.maxWait > 0 {
		left, bounded = max(c.maxWait-c.waited, 0), true
	}
	if dl, ok := c.ctx.Deadline(); ok {
		left, bounded = min(left, max(dl.Sub(now), 0)), true
	}
	return left, bounded
}

// wait runs f and counts the time it took against maxWait; a deadline
// needs no count.
func (c *callBudget) wait(f func() error) error {
	if c.maxWait == 0 {
		return f()
	}
	begin := time.Now()
	err := f()
	c.waited += time.Since(begin)
	return err
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

func (l *Limiter) countStart(attempt int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Calls++
	if attempt > 0 {
		l.stats.Retries++
	}
}

func (l *Limiter) countCanceled() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Canceled++
}

func (l *Limiter) countThrottled() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Throttled++
}

func (l *Limiter) countRejected() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Rejected++
}
