package llmtest

import (
	"math"
	"strconv"
	"time"
)

// Shape is how a [Quota] refills. Real servers differ: Gemini's free tier
// behaves like fixed windows, OpenAI's limits like token buckets (its
// "Please try again in" is exactly the time the bucket needs to refill the
// excess), and proxies in front of either often count over a rolling window.
type Shape int

const (
	// FixedWindow counts units in windows that start at
	// start − Phase + k·Window (the emulator's start, k = 0, 1, …): a
	// request is admitted when the units counted in its window plus its own
	// fit Limit, and every boundary sets the count back to zero. A refused
	// request can succeed at the window's end.
	FixedWindow Shape = iota
	// RollingWindow admits a request when the units admitted in the last
	// Window (arrivals at t with now − t < Window) plus its own fit Limit.
	// Each admitted request's units leave the count exactly Window after it
	// arrived, so a refused request can succeed once enough have left.
	RollingWindow
	// TokenBucket holds up to Burst units (Limit when Burst is 0), starts
	// full and refills continuously at Limit per Window; a request is
	// admitted when the bucket holds its units, and takes them. A refused
	// request can succeed once the bucket has refilled the difference.
	TokenBucket
)

// String returns the shape's name, as in "TokenBucket".
func (s Shape) String() string {
	switch s {
	case FixedWindow:
		return "FixedWindow"
	case RollingWindow:
		return "RollingWindow"
	case TokenBucket:
		return "TokenBucket"
	}
	return "Shape(" + strconv.Itoa(int(s)) + ")"
}

// Quota is one limit an emulated API enforces on requests or on tokens:
// Limit units per Window, refilled as Shape says. The zero value is no
// quota.
//
// A request is admitted only when every quota of its API admits it, and
// then counts against all of them at its arrival; a refused request counts
// against none. A request that asks for more units than a quota can ever
// hold (Limit, or Burst for a bucket) is refused every time.
type Quota struct {
	// Limit is the units per Window; 0 or less is no quota.
	Limit int
	// Window is the period Limit applies to; 0 means a minute, or a day for
	// the per-day quotas.
	Window time.Duration
	// Shape is how the quota refills; the zero value, and any value that is
	// not a Shape constant, is FixedWindow.
	Shape Shape
	// Phase shifts a FixedWindow's boundaries to start − Phase + k·Window,
	// so that a run can begin anywhere inside a window. Other shapes ignore
	// it.
	Phase time.Duration
	// Burst is a TokenBucket's capacity; 0 means Limit. Other shapes ignore
	// it.
	Burst int
}

// capacity is the most units the quota can admit at once.
func (q Quota) capacity() int {
	if q.Shape == TokenBucket && q.Burst > 0 {
		return q.Burst
	}
	return q.Limit
}

// frame is a quota with its defaults applied and its placement in time.
type frame struct {
	q     Quota
	start time.Time
	// pacific makes a FixedWindow's boundaries midnights in
	// America/Los_Angeles, as Gemini's per-day quotas are.
	pacific bool
}

// bounds is the FixedWindow that holds now.
func (f frame) bounds(now time.Time) (begin, end time.Time) {
	if f.pacific {
		return pacificDay(now)
	}
	w := f.q.Window
	phase := f.q.Phase % w
	if phase < 0 {
		phase += w
	}
	elapsed := now.Sub(f.start) + phase
	k := elapsed / w
	if elapsed < 0 && elapsed%w != 0 {
		k--
	}
	begin = f.start.Add(-phase + k*w)
	return begin, begin.Add(w)
}

// meter is the state of one quota. The Emulator's lock guards it; its
// methods take the time as an argument and never read the clock.
type meter struct {
	// FixedWindow: the current window's start and its count.
	begin time.Time
	count int
	// RollingWindow: admitted arrivals still inside the window, oldest
	// first.
	log []stamp
	// TokenBucket: how long the bucket needs to be full again, in
	// nanoseconds, as of last. A float keeps the refill exact for the rates
	// real quotas have (Window/Limit a whole number of nanoseconds) without
	// overflowing for a day's millions of tokens.
	debt float64
	last time.Time
}

type stamp struct {
	at    time.Time
	units int
}

// sync brings the meter to now: a new window, expired arrivals, refill.
func (m *meter) sync(f frame, now time.Time) {
	switch f.q.Shape {
	case RollingWindow:
		i := 0
		for i < len(m.log) && now.Sub(m.log[i].at) >= f.q.Window {
			i++
		}
		m.log = m.log[i:]
	case TokenBucket:
		if !m.last.IsZero() && now.After(m.last) {
			m.debt = math.Max(0, m.debt-float64(now.Sub(m.last)))
		}
		if now.After(m.last) {
			m.last = now
		}
	default:
		if begin, _ := f.bounds(now); !begin.Equal(m.begin) {
			m.begin, m.count = begin, 0
		}
	}
}

// unitTime is how long a bucket takes to refill n units, in nanoseconds.
func (f frame) unitTime(n int) float64 {
	return float64(n) * float64(f.q.Window) / float64(f.q.Limit)
}

// used is the units counted against the quota at now; sync first.
func (m *meter) used(f frame) int {
	switch f.q.Shape {
	case RollingWindow:
		n := 0
		for _, s := range m.log {
			n += s.units
		}
		return n
	case TokenBucket:
		return int(ceilUnits(m.debt * float64(f.q.Limit) / float64(f.q.Window)))
	}
	return m.count
}

// wait is how long from now until the quota would admit n units, given no
// other arrivals: 0 when it admits them now, the time to the quota's reset
// when it never can (n over capacity). Sync first.
func (m *meter) wait(f frame, now time.Time, n int) time.Duration {
	if n > f.q.capacity() {
		return m.reset(f, now)
	}
	switch f.q.Shape {
	case RollingWindow:
		left := m.used(f) + n - f.q.Limit
		for _, s := range m.log {
			if left <= 0 {
				break
			}
			left -= s.units
			if left <= 0 {
				return s.at.Add(f.q.Window).Sub(now)
			}
		}
		return 0
	case TokenBucket:
		full := f.unitTime(f.q.capacity())
		over := m.debt + f.unitTime(n) - full
		if over <= 1e-12*full { // rounding noise of a fractional refill rate
			return 0
		}
		return ceilNanos(over)
	}
	if m.count+n <= f.q.Limit {
		return 0
	}
	_, end := f.bounds(now)
	return end.Sub(now)
}

// take counts n units admitted at now.
func (m *meter) take(f frame, now time.Time, n int) {
	switch f.q.Shape {
	case RollingWindow:
		m.log = append(m.log, stamp{now, n})
	case TokenBucket:
		m.debt += f.unitTime(n)
	default:
		m.count += n
	}
}

// remaining is the units the quota would still admit at once.
func (m *meter) remaining(f frame) int {
	if f.q.Shape == TokenBucket {
		level := float64(f.q.capacity()) - m.debt*float64(f.q.Limit)/float64(f.q.Window)
		return max(int(-ceilUnits(-level)), 0)
	}
	return max(f.q.Limit-m.used(f), 0)
}

// reset is how long until the quota is back to its initial state: the
// window's end, the last arrival leaving the rolling window, or the bucket
// full again.
func (m *meter) reset(f frame, now time.Time) time.Duration {
	switch f.q.Shape {
	case RollingWindow:
		if len(m.log) == 0 {
			return 0
		}
		return m.log[len(m.log)-1].at.Add(f.q.Window).Sub(now)
	case TokenBucket:
		return ceilNanos(m.debt)
	}
	_, end := f.bounds(now)
	return end.Sub(now)
}

// ceilNanos rounds a float count of nanoseconds up to a Duration; nothing
// below zero.
func ceilNanos(ns float64) time.Duration {
	if ns <= 0 {
		return 0
	}
	return time.Duration(ceilUnits(ns))
}

// ceilUnits is ⌈x⌉ forgiving the rounding error (a few parts in 10¹⁶) of
// the products and quotients that made x, so that 162960.00000000003 units
// are 162960.
func ceilUnits(x float64) float64 {
	return math.Ceil(x - 1e-12*math.Max(1, math.Abs(x)))
}
