package sim

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/internal/wait"
	"github.com/llmlimit/llmlimit/llmtest"
)

// Oracle is the policy that knows the primary's quotas — their shapes,
// sizes and phase, its per-day cap and its outage — and so never sends a
// request the server would refuse, and uses every slot the run gives it
// from the first call. It shows where the frontier is: how much a policy
// with perfect knowledge serves on the primary, and how close the bound
// ([Frame]) comes to it.
//
// Calls get the earliest start the quotas admit, in arrival order: one
// that can start now is sent at once; one whose start is within the wait
// budget waits for it, with its start reserved, so that later calls queue
// behind it; any other fails at once with a [*llmlimit.WaitError], which
// sends it to the next provider of a Fallback. It reports that start as an
// [llmlimit.AvailabilityReporter], so TagSpace keeps a run's tail for the
// primary as it does for a Limiter.
//
// It counts a request's input tokens as the emulator does (about four
// bytes a token of the system instruction and of the prompt); a test
// checks the two agree. An Oracle is safe for simultaneous use.
type Oracle struct {
	p       llmlimit.Provider
	maxWait time.Duration
	open    time.Time // when the outage ends

	mu       sync.Mutex
	quotas   []*ledger // the request and token quotas set
	perDay   int       // the per-day cap, 0 for none; runs never cross a day
	sent     int       // starts reserved
	reqQuota int       // requests per window, 0 for none
	window   time.Duration
	last     time.Time // the latest start reserved
	opTokens int       // the last request's tokens, for Availability
}

// errPerDay is the oracle's refusal once the per-day cap is spent.
var errPerDay = errors.New("llmlimit: sim: oracle: the per-day quota is spent")

// NewOracle wraps p, the primary, with what f says about it: its quotas,
// with shape and phase, placed from start, the emulator's start, its
// per-day cap and its outage (f.From); the rest of f is the bound's. It
// waits at most maxWait (0: as long as needed) for a start.
func NewOracle(p llmlimit.Provider, start time.Time, f Frame, maxWait time.Duration) *Oracle {
	o := &Oracle{p: p, maxWait: maxWait, open: start.Add(f.From), last: start, perDay: f.PerDay}
	if q := f.Requests; q.Limit > 0 {
		o.quotas = append(o.quotas, newLedger(q, start, false))
		o.reqQuota, o.window = q.Limit, q.Window
	}
	if q := f.Tokens; q.Limit > 0 {
		o.quotas = append(o.quotas, newLedger(q, start, true))
		o.window = q.Window
	}
	return o
}

// Name returns the wrapped provider's name.
func (o *Oracle) Name() string { return o.p.Name() }

var _ llmlimit.Wrapper = (*Oracle)(nil)

// Unwrap returns the wrapped provider; see [llmlimit.Wrapper].
func (o *Oracle) Unwrap() []llmlimit.Provider { return []llmlimit.Provider{o.p} }

// Generate sends req at the earliest start the quotas admit, when that is
// within the wait budget; see [Oracle]. It returns ctx's error when ctx
// ends while it waits.
func (o *Oracle) Generate(ctx context.Context, req *llmlimit.Request) (*llmlimit.Response, error) {
	n := requestTokens(req)
	o.mu.Lock()
	now := time.Now()
	o.opTokens = n
	at, ok := o.earliestLocked(now, n)
	if !ok {
		o.mu.Unlock()
		return nil, errPerDay
	}
	if w := at.Sub(now); o.maxWait > 0 && w > o.maxWait {
		o.mu.Unlock()
		return nil, &llmlimit.WaitError{Provider: o.Name(), Reason: "quota", Wait: w, Budget: o.maxWait}
	}
	for _, q := range o.quotas {
		q.take(at, n)
	}
	o.last = at
	o.sent++
	o.mu.Unlock()
	if err := wait.Sleep(ctx, time.Until(at)); err != nil {
		return nil, err
	}
	return o.p.Generate(ctx, req)
}

// Availability implements [llmlimit.AvailabilityReporter]: the wait for
// the next start, and the request quota in operations (what the token
// quota admits of operations like the last one, when it admits fewer).
func (o *Oracle) Availability() llmlimit.Availability {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	a := llmlimit.Availability{MaxWait: o.maxWait, Limit: o.reqQuota, Window: o.window}
	for _, q := range o.quotas {
		if q.tokens && o.opTokens > 0 {
			ops := q.q.Limit / o.opTokens
			if a.Limit == 0 || ops < a.Limit {
				a.Limit = ops
			}
		}
	}
	if at, ok := o.earliestLocked(now, o.opTokens); ok {
		a.Wait = max(at.Sub(now), 0)
	} else {
		a.Limit = 0
	}
	return a
}

// earliestLocked is the earliest start at or after now, and after every
// start reserved, that the outage and every quota admit for a request of n
// tokens; false when a quota never will.
func (o *Oracle) earliestLocked(now time.Time, n int) (time.Time, bool) {
	if o.perDay > 0 && o.sent >= o.perDay {
		return time.Time{}, false
	}
	t := now
	if t.Before(o.last) {
		t = o.last
	}
	if t.Before(o.open) {
		t = o.open
	}
	// Each quota's answer is at or after t; a few rounds settle them.
	for range 8 {
		moved := false
		for _, q := range o.quotas {
			next, ok := q.earliest(t, n)
			if !ok {
				return time.Time{}, false
			}
			if next.After(t) {
				t, moved = next, true
			}
		}
		if !moved {
			return t, true
		}
	}
	return t, true
}

// requestTokens is a request's input tokens as the emulator counts them:
// about four bytes a token of the system instruction and of the prompt.
func requestTokens(req *llmlimit.Request) int {
	return (len(req.System)+3)/4 + (len(req.Prompt)+3)/4
}

// ledger is the oracle's account of one quota: the starts it reserved,
// all at or before the times it is asked about, since reservations are
// made in order.
type ledger struct {
	q      llmtest.Quota
	start  time.Time
	tokens bool // counts a request's tokens; else 1 a request

	begin time.Time // FixedWindow: the counted window's start
	count int       // and its count
	log   []stamp   // RollingWindow: starts still in the window, oldest first
	debt  float64   // TokenBucket: nanoseconds of refill until full, as of last
	last  time.Time
}

type stamp struct {
	at    time.Time
	units int
}

func newLedger(q llmtest.Quota, start time.Time, tokens bool) *ledger {
	if q.Window <= 0 {
		q.Window = time.Minute // the emulator's default
	}
	return &ledger{q: q, start: start, tokens: tokens, last: start}
}

func (l *ledger) units(n int) int {
	if l.tokens {
		return n
	}
	return 1
}

// bucketMargin is added to a bucket's refill time, so that rounding in
// the emulator's float refill never makes the oracle a nanosecond early.
const bucketMargin = time.Microsecond

// earliest is the first time at or after t when the quota admits a
// request of n tokens; false when it never can.
func (l *ledger) earliest(t time.Time, n int) (time.Time, bool) {
	u := l.units(n)
	capacity := l.q.Limit
	if l.q.Shape == llmtest.TokenBucket && l.q.Burst > 0 {
		capacity = l.q.Burst
	}
	if u > capacity {
		return time.Time{}, false
	}
	switch l.q.Shape {
	case llmtest.RollingWindow:
		used := 0
		for _, s := range l.log {
			if t.Sub(s.at) < l.q.Window {
				used += s.units
			}
		}
		left := used + u - l.q.Limit
		for _, s := range l.log {
			if left <= 0 {
				break
			}
			if t.Sub(s.at) < l.q.Window {
				left -= s.units
				if left <= 0 {
					return s.at.Add(l.q.Window), true
				}
			}
		}
		return t, true
	case llmtest.TokenBucket:
		full := l.refill(capacity)
		over := l.debtAt(t) + l.refill(u) - full
		if over <= 0 {
			return t, true
		}
		return t.Add(time.Duration(math.Ceil(over)) + bucketMargin), true
	}
	begin, end := l.bounds(t)
	if begin.Equal(l.begin) && l.count+u > l.q.Limit {
		return end, true
	}
	return t, true
}

// take reserves a start at t for n tokens.
func (l *ledger) take(t time.Time, n int) {
	u := l.units(n)
	switch l.q.Shape {
	case llmtest.RollingWindow:
		i := 0
		for i < len(l.log) && t.Sub(l.log[i].at) >= l.q.Window {
			i++
		}
		l.log = append(l.log[i:], stamp{t, u})
	case llmtest.TokenBucket:
		l.debt, l.last = l.debtAt(t)+l.refill(u), t
	default:
		if begin, _ := l.bounds(t); !begin.Equal(l.begin) {
			l.begin, l.count = begin, 0
		}
		l.count += u
	}
}

// refill is how long a bucket takes to refill u units, in nanoseconds.
func (l *ledger) refill(u int) float64 {
	return float64(u) * float64(l.q.Window) / float64(l.q.Limit)
}

func (l *ledger) debtAt(t time.Time) float64 {
	return math.Max(0, l.debt-float64(t.Sub(l.last)))
}

// bounds is the fixed window holding t: boundaries at start − Phase + k·W.
func (l *ledger) bounds(t time.Time) (begin, end time.Time) {
	begin = l.start.Add(windowStart(l.q, t.Sub(l.start)))
	return begin, begin.Add(l.q.Window)
}
