package llmlimit

import (
	"math"
	"time"

	"github.com/llmlimit/llmlimit/internal/pace"
)

// Pacing holds the starts of attempts to the provider's quotas, of every
// unit, so that 429s are rare instead of being the signal that drives the
// Limiter. A start must fit every quota: one request against request
// quotas, its estimated tokens ([Cost]) against token quotas. Each quota
// is paced one of two ways:
//
//   - A told quota ([WithQuota], [WithRequestsPerMinute],
//     [WithTokensPerMinute]): a sliding log admits a start only when the
//     units started in the last Window, this one's included, fit the Limit.
//     Any fixed window of that length then holds at most Limit, whatever
//     its phase, and so does a rolling one. A token bucket would not do:
//     with a burst of Limit it admits about twice Limit in some window.
//   - A learned quota: servers say what their quotas are — Gemini in each
//     violation of a 429's QuotaFailure, OpenAI in x-ratelimit-* headers on
//     every reply. A quota that refills at a window's end (RefillWindow) is
//     paced as that window: once its units are spent, starts wait for the
//     next one, and may use all of it at once. One that refills
//     continuously (RefillContinuous: OpenAI's buckets, whose reset is the
//     time until full) is paced as a bucket of Limit refilling at the rate
//     the reply implies.
//
// A model can be wrong about the server's shape: a 429 for a quota the
// model said had room is a contradiction, and that quota is then paced
// smoothly — starts spaced at Limit per Window with a small burst — for
// smoothWindows of its windows, doubling each time it is contradicted
// again. Quotas of a day or more are not paced: exhausting one fails fast
// until its reset (see [Limiter]).
//
// Estimates are settled when an attempt ends: the difference between the
// tokens reserved and those the reply reports is added to every token
// quota.

// Cost is what one attempt counts against quotas besides one request.
type Cost struct {
	// InputTokens is the prompt's tokens, against [UnitInputTokens] quotas.
	InputTokens int
	// Tokens is the prompt's and the reply's tokens, against [UnitTokens]
	// quotas.
	Tokens int
}

// of returns c in unit u.
func (c Cost) of(u Unit) int {
	switch u {
	case UnitRequests:
		return 1
	case UnitInputTokens:
		return c.InputTokens
	default:
		return c.Tokens
	}
}

// units is the number of units pacing knows.
const units = 3

const (
	// minWindow is the shortest window the pacer rolls over; shorter
	// claimed windows are treated as unknown.
	minWindow = time.Second
	// smoothWindows is how many windows a contradicted quota is paced
	// smoothly, at first.
	smoothWindows = pace.SmoothWindows
	// smoothBurst is the share of a window's limit a smooth quota may
	// start at once; it refills at the rest of the limit per window, so
	// that no window of that length, whatever its phase, sees more than
	// the limit.
	smoothBurst = pace.SmoothBurst
)

// stamp is one start in a sliding log.
type stamp struct {
	at   time.Time
	cost int
}

// toldQuota paces to a known quota with a sliding log of starts.
type toldQuota struct {
	q      Quota
	log    []stamp // oldest first, from head
	head   int
	sum    int       // the costs in log[head:]
	smooth bool      // contradicted: also space starts
	next   time.Time // smooth: the earliest next start
}

func newTold(q Quota) *toldQuota {
	if q.Window <= 0 {
		q.Window = time.Minute
	}
	return &toldQuota{q: q}
}

// expire drops the starts that no longer count at now.
func (t *toldQuota) expire(now time.Time) {
	cut := now.Add(-t.q.Window)
	for t.head < len(t.log) && !t.log[t.head].at.After(cut) {
		t.sum -= t.log[t.head].cost
		t.head++
	}
	if t.head > 64 && t.head > len(t.log)/2 {
		t.log = append(t.log[:0], t.log[t.head:]...)
		t.head = 0
	}
}

// wait returns how long from now until a start of cost fits.
func (t *toldQuota) wait(now time.Time, cost int) time.Duration {
	t.expire(now)
	// A start larger than the whole quota never fits: let it through
	// alone and let the server say so.
	cost = min(cost, t.q.Limit)
	var d time.Duration
	if over := t.sum + cost - t.q.Limit; over > 0 {
		for _, s := range t.log[t.head:] {
			over -= s.cost
			if over <= 0 {
				d = s.at.Add(t.q.Window).Sub(now)
				break
			}
		}
	}
	if t.smooth {
		d = max(d, t.next.Sub(now))
	}
	return max(d, 0)
}

// take records a start of cost at now.
func (t *toldQuota) take(now time.Time, cost int) {
	t.log = append(t.log, stamp{at: now, cost: cost})
	t.sum += cost
	if t.smooth {
		t.next = now.Add(spacing(t.q, cost))
	}
}

// settle adds what an attempt really used beyond its reservation to its
// newest start, which expires about when the attempt's did.
func (t *toldQuota) settle(delta int) {
	if n := len(t.log); n > t.head {
		c := max(t.log[n-1].cost+delta, 0)
		t.sum += c - t.log[n-1].cost
		t.log[n-1].cost = c
	}
}

// spacing is the time a smooth quota puts between starts of cost.
func spacing(q Quota, cost int) time.Duration {
	if q.Limit <= 0 {
		return 0
	}
	return time.Duration(float64(q.Window) * float64(cost) / float64(q.Limit))
}

// learnedQuota paces to what the server said about one of its quotas.
type learnedQuota struct {
	limit  int
	window time.Duration // 0: unknown; a fixed window is then forgotten at its end
	refill Refill

	// RefillWindow: the window ending at end, with used units started in it.
	end  time.Time
	used int

	// RefillContinuous, and smooth pacing: level units available at at,
	// refilling at rate units a second up to capacity.
	level    float64
	at       time.Time
	rate     float64
	capacity float64

	smoothUntil time.Time // contradicted: paced smoothly until then
	smoothFor   int       // windows of the last smooth spell
	since       time.Time // when the model was first learned
}

func (q *learnedQuota) known() bool { return q.limit > 0 }

func (q *learnedQuota) smooth(now time.Time) bool { return now.Before(q.smoothUntil) }

// bucketed reports whether the quota paces by its bucket at now: known,
// and smooth or continuous.
func (q *learnedQuota) bucketed(now time.Time) bool {
	return q.known() && (q.smooth(now) || q.refill == RefillContinuous)
}

// levelAt returns the continuous level at now.
func (q *learnedQuota) levelAt(now time.Time) float64 {
	return min(q.capacity, q.level+q.rate*now.Sub(q.at).Seconds())
}

// roll moves a fixed window forward to the one containing now, or forgets
// it at its end when its length is unknown.
func (q *learnedQuota) roll(now time.Time) {
	if q.refill != RefillWindow || now.Before(q.end) {
		return
	}
	if q.window < minWindow {
		*q = learnedQuota{smoothUntil: q.smoothUntil, smoothFor: q.smoothFor}
		return
	}
	n := now.Sub(q.end)/q.window + 1
	q.end = q.end.Add(n * q.window)
	q.used = 0
}

// wait returns how long from now until a start of cost fits: the later of
// what the fixed window allows and, while smooth or continuous, what the
// bucket does.
func (q *learnedQuota) wait(now time.Time, cost int) time.Duration {
	if !q.known() {
		return 0
	}
	var d time.Duration
	if q.refill == RefillWindow {
		q.roll(now)
		if q.known() && q.used > 0 && q.used+cost > q.limit {
			d = max(q.end.Sub(now), 0)
		}
	}
	if q.bucketed(now) {
		c := math.Min(float64(cost), q.capacity)
		if l := q.levelAt(now); l < c && q.rate > 0 {
			d = max(d, time.Duration((c-l)/q.rate*float64(time.Second)))
		}
	}
	return d
}

// take records a start of cost at now. A fixed window counts every start,
// smooth or not, so that it is right when the smooth spell ends.
func (q *learnedQuota) take(now time.Time, cost int) {
	if !q.known() {
		return
	}
	if q.refill == RefillWindow {
		q.roll(now)
		q.used += cost
	}
	if q.bucketed(now) {
		q.level, q.at = q.levelAt(now)-float64(cost), now
	}
}

// settle adds what an attempt admitted at admitted really used beyond its
// reservation: only to a model that was there when it was admitted, and in
// a fixed window only to the window it was admitted in.
func (q *learnedQuota) settle(now, admitted time.Time, delta int) {
	if !q.known() || !admitted.After(q.since) {
		return
	}
	if q.refill == RefillWindow {
		q.roll(now)
		if q.known() && !admitted.Before(q.end.Add(-q.window)) {
			q.used = max(q.used+delta, 0)
		}
	}
	if q.bucketed(now) {
		q.level, q.at = q.levelAt(now)-float64(delta), now
	}
}

// learn applies what a reply said about the quota at now; refused is
// whether the reply was a 429 for it, of an attempt admitted at admitted
// that reserved cost. It reports whether the reply contradicts the model:
// a refusal of an attempt the model admitted, when it still has room for
// it. An attempt admitted before the model knew the quota contradicts
// nothing.
func (q *learnedQuota) learn(now time.Time, r Quota, refused bool, admitted time.Time, cost int) (contradicted bool) {
	if r.Limit <= 0 {
		return false
	}
	contradicted = refused && q.known() && q.limit == r.Limit && admitted.After(q.since) && q.roomAt(now, cost)
	if contradicted {
		q.smoothFor = max(2*q.smoothFor, smoothWindows)
		w := q.window
		if w <= 0 {
			w = time.Minute
		}
		q.smoothUntil = now.Add(time.Duration(q.smoothFor) * w)
	}
	switch r.Refill {
	case RefillContinuous:
		q.learnBucket(now, r, refused)
	default:
		q.learnWindow(now, r)
	}
	if q.smooth(now) {
		q.startSmooth(now, refused)
	}
	return contradicted
}

// roomAt reports whether the model has room for a start of cost at now.
func (q *learnedQuota) roomAt(now time.Time, cost int) bool {
	return q.wait(now, max(cost, 1)) == 0
}

// learnWindow applies a reply about a fixed window. A reply in the same
// window (its end within a second of the known one) can only raise the
// count used, since replies arrive out of order; a reply from a new window
// replaces what was known.
func (q *learnedQuota) learnWindow(now time.Time, r Quota) {
	if r.Reset <= 0 {
		return
	}
	used := r.Limit
	if r.Remaining >= 0 {
		used = r.Limit - min(r.Remaining, r.Limit)
	}
	end := now.Add(r.Reset)
	if q.refill == RefillWindow && q.limit == r.Limit && absDuration(end.Sub(q.end)) < time.Second {
		q.used = max(q.used, used)
		return
	}
	if !q.known() {
		q.since = now
	}
	q.limit, q.window, q.refill, q.end, q.used = r.Limit, r.Window, RefillWindow, end, used
}

// learnBucket applies a reply about a continuously refilling quota: its
// rate is what the reply implies, (limit − remaining) / reset, else the
// limit per window, else per minute. The level only moves down on a reply,
// since replies arrive out of order; it rises by refilling.
func (q *learnedQuota) learnBucket(now time.Time, r Quota, refused bool) {
	rate := 0.0
	switch {
	case r.Remaining >= 0 && r.Remaining < r.Limit && r.Reset > 0:
		rate = float64(r.Limit-r.Remaining) / r.Reset.Seconds()
	case r.Window > 0:
		rate = float64(r.Limit) / r.Window.Seconds()
	default:
		rate = float64(r.Limit) / time.Minute.Seconds()
	}
	level := float64(r.Limit)
	if q.known() && q.refill == RefillContinuous {
		level = q.levelAt(now)
	}
	if r.Remaining >= 0 {
		level = min(level, float64(r.Remaining))
	}
	if refused {
		level = 0
	}
	if !q.known() {
		q.since = now
	}
	q.limit, q.window, q.refill = r.Limit, r.Window, RefillContinuous
	q.rate, q.capacity, q.level, q.at = rate, float64(r.Limit), level, now
}

// startSmooth paces the quota as a small bucket at limit per window.
func (q *learnedQuota) startSmooth(now time.Time, refused bool) {
	w := q.window
	if w <= 0 {
		w = time.Minute
	}
	level := q.levelAt(now)
	if q.refill == RefillWindow || refused {
		level = 0
	}
	q.capacity = max(1, smoothBurst*float64(q.limit))
	q.rate = max(float64(q.limit)-q.capacity, 1) / w.Seconds()
	q.level, q.at = min(level, q.capacity), now
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
