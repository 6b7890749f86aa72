package sim

import (
	"math"
	"time"

	"github.com/llmlimit/llmlimit/llmtest"
)

// Frame is what limits the primary in a run, as the bound on its share
// counts it: its per-minute quotas, its per-day cap, the calls the run
// keeps in flight and how long each takes, and when it starts answering.
//
// The bound is what a policy could actually do. A run of makespan T is cut
// into the windows of the primary's quotas ([Frame.Windows]); each counts
// for the most that could be started in its part inside the run, d long:
//
//	min(quota of the window, Slots·(1 + d/Latency))
//
// The second term is what Slots calls in flight can start in d: all of
// them at once at its beginning, then one each time one ends, Slots per
// mean latency. It is an upper bound of the expected count for latencies
// like the emulator's (a slot's renewals in d are at most d/Latency on
// average when, as for these lognormals, short latencies are rare), so the
// bound is an upper bound of what any policy serves on average, and a
// window it counts in full is one a policy with every slot free at its
// start could fill. The bound of the run is
//
//	min(N, per-day cap, Σ over windows)
//
// operations, and primary_bound_share is that over N.
type Frame struct {
	// Requests and Tokens are the primary's per-minute quotas as the
	// emulator applies them, with defaults (window, shape) filled in; a
	// zero Limit is none. When both are set they share a shape, a window
	// and a phase, as Gemini's do.
	Requests, Tokens llmtest.Quota
	// OpTokens is the fewest input tokens one operation counts against
	// Tokens; 0 leaves the token quota out.
	OpTokens int
	// PerDay is the per-day cap in requests; 0 is none.
	PerDay int
	// Slots is the calls the run keeps in flight, Latency the primary's
	// mean latency.
	Slots   int
	Latency time.Duration
	// From is when the primary starts answering, from the run's start:
	// the end of an outage, or 0.
	From time.Duration
}

// Window is one quota window of a run as the bound counts it.
type Window struct {
	// Start and End delimit its part inside the run, from the run's start.
	Start, End time.Duration
	// Quota is the most operations its quotas admit, +Inf when there is
	// no quota; Tokens the most input tokens, +Inf when no token quota.
	Quota, Tokens float64
	// Ops is what the bound counts for it: min(Quota, Starts(End − Start)).
	Ops float64
}

// Starts is the most calls Slots calls in flight start in d, on average:
// Slots·(1 + d/Latency).
func (f Frame) Starts(d time.Duration) float64 {
	if f.Latency <= 0 {
		return math.Inf(1)
	}
	return float64(f.Slots) * (1 + d.Seconds()/f.Latency.Seconds())
}

// Windows returns the quota windows of a run of makespan T, in order, cut
// to the part of the run where the primary answers, [From, T). What a
// window is depends on the quota's shape:
//
//   - FixedWindow: the server's windows, with boundaries at k·W − Phase
//     from the run's start. They are disjoint and each admits Limit.
//   - RollingWindow: consecutive spans of W from From. Any span of W holds
//     at most Limit arrivals (the last one admitted in it saw all the
//     others in its count), so each such span admits at most Limit; this
//     partition, aligned with the empty quota at the start, is the one a
//     policy can fill: Limit at once, and Limit again W later, as the
//     first arrivals leave.
//   - TokenBucket: a single window, the whole run. A bucket that starts
//     full admits at most Burst + Limit·d/W over any span of d, and no
//     partition gives less: the sum over the parts would count the burst
//     again in each. The minimum of that with Starts, both concave in d,
//     is what the two together admit over the run.
//
// A run with no quota is a single window with an infinite quota.
func (f Frame) Windows(T time.Duration) []Window {
	if T <= f.From {
		return nil
	}
	ref := f.Requests
	if ref.Limit <= 0 {
		ref = f.Tokens
	}
	var spans [][2]time.Duration
	switch {
	case ref.Limit <= 0 || ref.Shape == llmtest.TokenBucket:
		spans = [][2]time.Duration{{f.From, T}}
	case ref.Shape == llmtest.RollingWindow:
		for b := f.From; b < T; b += ref.Window {
			spans = append(spans, [2]time.Duration{b, min(b+ref.Window, T)})
		}
	default:
		w := ref.Window
		for b := windowStart(ref, f.From); b < T; b += w {
			spans = append(spans, [2]time.Duration{max(b, f.From), min(b+w, T)})
		}
	}
	ws := make([]Window, len(spans))
	for i, sp := range spans {
		d := sp[1] - sp[0]
		w := Window{Start: sp[0], End: sp[1], Quota: allowance(f.Requests, d), Tokens: allowance(f.Tokens, d)}
		if f.OpTokens > 0 && !math.IsInf(w.Tokens, 1) {
			w.Quota = math.Min(w.Quota, math.Floor(w.Tokens/float64(f.OpTokens)+1e-9))
		}
		w.Ops = math.Min(w.Quota, f.Starts(d))
		ws[i] = w
	}
	return ws
}

// windowStart is the start of the FixedWindow of q that holds d (d ≥ 0),
// both from the run's start: boundaries are at k·W − Phase.
func windowStart(q llmtest.Quota, d time.Duration) time.Duration {
	w := q.Window
	phase := ((q.Phase % w) + w) % w
	return (d+phase)/w*w - phase
}

// allowance is the most units quota q admits in one of its windows whose
// part inside the run is d long: Limit, or a bucket's Burst + Limit·d/W;
// +Inf when q is none.
func allowance(q llmtest.Quota, d time.Duration) float64 {
	switch {
	case q.Limit <= 0:
		return math.Inf(1)
	case q.Shape == llmtest.TokenBucket:
		burst := q.Burst
		if burst <= 0 {
			burst = q.Limit
		}
		return float64(burst) + float64(q.Limit)*d.Seconds()/q.Window.Seconds()
	}
	return float64(q.Limit)
}

// Quota is the operations the run's windows admit, each counted for what
// could start in its part inside the run: Σ Ops.
func (f Frame) Quota(T time.Duration) float64 {
	var sum float64
	for _, w := range f.Windows(T) {
		sum += w.Ops
	}
	return sum
}

// Bound is the most operations of n the primary could serve in a run of
// makespan T: min(n, PerDay, [Frame.Quota]).
func (f Frame) Bound(T time.Duration, n int) float64 {
	b := math.Min(float64(n), f.Quota(T))
	if f.PerDay > 0 {
		b = math.Min(b, float64(f.PerDay))
	}
	return b
}

// TokenCapacity is the input tokens the run's windows admit, each counted
// for what the calls that could start in it would take:
// Σ min(Tokens, OpTokens·Starts(End − Start)). It is 0 without a token
// quota.
func (f Frame) TokenCapacity(T time.Duration) float64 {
	if f.Tokens.Limit <= 0 || f.OpTokens <= 0 {
		return 0
	}
	var sum float64
	for _, w := range f.Windows(T) {
		sum += math.Min(w.Tokens, float64(f.OpTokens)*f.Starts(w.End-w.Start))
	}
	return sum
}
