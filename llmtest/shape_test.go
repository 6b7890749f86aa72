package llmtest

import (
	"testing"
	"time"
)

// arrival is one request a meter sees: at an offset from the start, asking
// for units; the want fields are what the shape's definition says.
type arrival struct {
	at        time.Duration
	units     int
	admitted  bool
	wait      time.Duration // when refused: until these units would fit
	remaining int           // after the arrival
	reset     time.Duration // after the arrival
}

func TestShapes(t *testing.T) {
	const s, ms = time.Second, time.Millisecond
	tests := []struct {
		name     string
		q        Quota
		arrivals []arrival
	}{
		{"fixed window", Quota{Limit: 3, Window: 10 * s}, []arrival{
			{0, 1, true, 0, 2, 10 * s},
			{4 * s, 2, true, 0, 0, 6 * s},
			{5 * s, 1, false, 5 * s, 0, 5 * s},
			// The boundary sets the count back to zero: a burst of the
			// whole limit right after one right before it.
			{10 * s, 3, true, 0, 0, 10 * s},
			{19*s + 999*ms, 1, false, 1 * ms, 0, 1 * ms},
			{20 * s, 4, false, 10 * s, 3, 10 * s}, // more than the limit: never
		}},
		{"fixed window with phase", Quota{Limit: 2, Window: 10 * s, Phase: 7 * s}, []arrival{
			{0, 2, true, 0, 0, 3 * s}, // the first window ends at 3 s
			{2 * s, 1, false, 1 * s, 0, 1 * s},
			{3 * s, 2, true, 0, 0, 10 * s},
		}},
		{"rolling window", Quota{Limit: 3, Window: 10 * s, Shape: RollingWindow}, []arrival{
			{0, 1, true, 0, 2, 10 * s},
			{4 * s, 2, true, 0, 0, 10 * s},
			// Full until the first arrival leaves at 10 s; no boundary
			// resets anything.
			{9 * s, 1, false, 1 * s, 0, 5 * s},
			{10 * s, 1, true, 0, 0, 10 * s},
			// Two units are needed: the 4 s arrival (two units) leaves at
			// 14 s.
			{12 * s, 2, false, 2 * s, 0, 8 * s},
			{14 * s, 2, true, 0, 0, 10 * s},
			{15 * s, 4, false, 9 * s, 0, 9 * s}, // more than the limit: never
		}},
		{"token bucket", Quota{Limit: 300, Window: time.Minute, Shape: TokenBucket, Burst: 75}, []arrival{
			// Starts full with 75; refills one request per 200 ms.
			{0, 75, true, 0, 0, 15 * s},
			{0, 1, false, 200 * ms, 0, 15 * s},
			{1 * s, 5, true, 0, 0, 15 * s},
			{1*s + 100*ms, 1, false, 100 * ms, 0, 14900 * ms},
			{1*s + 200*ms, 1, true, 0, 0, 15 * s},
			// After 15 s without arrivals it is full again, and no fuller.
			{60 * s, 75, true, 0, 0, 15 * s},
			{60 * s, 76, false, 15 * s, 0, 15 * s}, // more than the burst: never
		}},
		{"token bucket as OpenAI's", Quota{Limit: 200000, Window: time.Minute, Shape: TokenBucket}, []arrival{
			// The figures of a real 429: Limit 200000, Used 162960,
			// Requested 42288, "Please try again in 1.574s".
			{0, 162960, true, 0, 37040, 48888 * ms},
			{0, 42288, false, 1574400 * time.Microsecond, 37040, 48888 * ms},
			{1574400 * time.Microsecond, 42288, true, 0, 0, 60 * s},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
			f := frame{q: tt.q, start: start}
			var m meter
			for i, a := range tt.arrivals {
				now := start.Add(a.at)
				m.sync(f, now)
				w := m.wait(f, now, a.units)
				admitted := w == 0 && a.units <= f.q.capacity()
				if admitted {
					m.take(f, now, a.units)
				}
				if admitted != a.admitted || (!admitted && w != a.wait) {
					t.Errorf("arrival %d (%v, %d units): admitted %v, wait %v; want %v, %v", i, a.at, a.units, admitted, w, a.admitted, a.wait)
				}
				if u := m.used(f); u > f.q.capacity() {
					t.Errorf("arrival %d (%v): %d units counted, over the capacity", i, a.at, u)
				}
				if r, reset := m.remaining(f), m.reset(f, now); r != a.remaining || reset != a.reset {
					t.Errorf("arrival %d (%v): remaining %d, reset %v; want %d, %v", i, a.at, r, reset, a.remaining, a.reset)
				}
			}
		})
	}
}

// TestBucketUsed checks the "Used" a bucket reports: what it lacks to be
// full, the figure OpenAI's messages print.
func TestBucketUsed(t *testing.T) {
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	f := frame{q: Quota{Limit: 30000, Window: time.Minute, Shape: TokenBucket}, start: start}
	var m meter
	m.sync(f, start)
	m.take(f, start, 29937)
	now := start.Add(10 * time.Millisecond) // refills 5 tokens
	m.sync(f, now)
	if u, w := m.used(f), m.wait(f, now, 385); u != 29932 || w != 634*time.Millisecond {
		t.Errorf("used %d, wait for 385 %v; want 29932, 634ms", u, w)
	}
}

func TestShapeString(t *testing.T) {
	for s, want := range map[Shape]string{FixedWindow: "FixedWindow", RollingWindow: "RollingWindow", TokenBucket: "TokenBucket", Shape(9): "Shape(9)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
}
