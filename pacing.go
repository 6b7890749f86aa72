package llmlimit

import "time"

// quota paces the starts of attempts to the provider's request quota, so
// that 429s become rare instead of being the signal that drives the
// Limiter. It has two independent parts, and a start must satisfy both:
//
//   - A known rate ([WithRequestsPerMinute] n): a sliding log of the last n
//     starts admits a start only when fewer than n happened in the last
//     minute. Any fixed one-minute window then holds at most n starts, so a
//     server counting per fixed window never answers 429, whatever its
//     window's phase. A token bucket would not do: with burst n it admits
//     about 2n in some minute, and with burst 1 it wastes the first window.
//   - A learned window: servers say what their quota is — Gemini in the
//     QuotaFailure (quotaValue) and RetryInfo (time to the window's end) of a
//     429, OpenAI in x-ratelimit-*-requests headers on every reply. From
//     that the Limiter knows when the current window ends and how many
//     starts are left in it; once they are spent, callers wait for the next
//     window (or, past their wait budget, fail fast to a fallback), and when
//     it opens they may use all of it at once.
//
// quota has no lock of its own: [MemoryState]'s mutex guards it.
type quota struct {
	// Sliding log, a ring of the last rate.Requests start times.
	rate   Rate
	starts []time.Time
	next   int

	// Learned fixed window.
	limit     int           // starts allowed per window; 0 = nothing learned
	window    time.Duration // window length; 0 = forget the limit at windowEnd
	windowEnd time.Time
	used      int
}

// minWindow is the shortest window the Limiter will roll over; shorter
// claimed windows are treated as unknown.
const minWindow = time.Second

// known reports whether pacing knows the quota, told or learned.
func (q *quota) known() bool { return q.rate.Requests > 0 || q.limit > 0 }

// setRate sets the known rate; a change starts a new log.
func (q *quota) setRate(r Rate) {
	if q.rate == r {
		return
	}
	q.rate, q.starts, q.next = r, nil, 0
	if r.Requests > 0 {
		q.starts = make([]time.Time, 0, r.Requests)
	}
}

// roll moves the learned window forward to the one containing now.
func (q *quota) roll(now time.Time) {
	if q.limit == 0 || now.Before(q.windowEnd) {
		return
	}
	if q.window < minWindow {
		q.limit, q.used = 0, 0
		return
	}
	n := now.Sub(q.windowEnd)/q.window + 1
	q.windowEnd = q.windowEnd.Add(n * q.window)
	q.used = 0
}

// wait returns how long from now until a start is allowed, or 0.
func (q *quota) wait(now time.Time) time.Duration {
	var d time.Duration
	if n := q.rate.Requests; n > 0 && len(q.starts) == n {
		// The oldest start in the ring is the one at next.
		d = q.starts[q.next].Add(q.rate.Per).Sub(now)
	}
	q.roll(now)
	if q.limit > 0 && q.used >= q.limit {
		d = max(d, q.windowEnd.Sub(now))
	}
	return max(d, 0)
}

// take records a start at now. Call it only when wait(now) is 0.
func (q *quota) take(now time.Time) {
	if n := q.rate.Requests; n > 0 {
		if len(q.starts) < n {
			q.starts = append(q.starts, now)
		} else {
			q.starts[q.next] = now
			q.next = (q.next + 1) % n
		}
	}
	if q.limit > 0 {
		q.used++
	}
}

// learn applies what a server said about its quota at now. A reply in the
// same window (its end within a second of the known one) can only raise the
// count of starts used, since replies arrive out of order; a reply from a
// new window replaces what was known.
func (q *quota) learn(now time.Time, rl *Quota) {
	if rl == nil || rl.Limit <= 0 || rl.Reset <= 0 {
		return
	}
	used := rl.Limit
	if rl.Remaining >= 0 {
		used = rl.Limit - min(rl.Remaining, rl.Limit)
	}
	end := now.Add(rl.Reset)
	if q.limit == rl.Limit && absDuration(end.Sub(q.windowEnd)) < time.Second {
		q.used = max(q.used, used)
		return
	}
	q.limit, q.window, q.windowEnd, q.used = rl.Limit, rl.Window, end, used
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
