package sim

import (
	"math"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit/llmtest"
)

func TestFrameBound(t *testing.T) {
	const s = time.Second
	// A mean latency of 1.5 s makes Starts easy to follow by hand:
	// 6·(1 + d/1.5 s), so 46 in 10 s, 126 in 30 s, 246 in 60 s.
	base := Frame{Slots: 6, Latency: 1500 * time.Millisecond}
	fixed := func(limit int, phase time.Duration) llmtest.Quota {
		return llmtest.Quota{Limit: limit, Window: time.Minute, Phase: phase}
	}
	with := func(f func(*Frame)) Frame { c := base; f(&c); return c }
	tests := []struct {
		name  string
		frame Frame
		T     time.Duration
		n     int
		// windows are each window's Ops, want the bound in operations.
		windows []float64
		want    float64
	}{
		{"fixed 60/min, phase 50 s: short first and last windows",
			with(func(f *Frame) { f.Requests = fixed(60, 50*s) }), 200 * s, 300,
			[]float64{46, 60, 60, 60, 46}, 272},
		{"fixed 60/min, a first window of 3 s",
			with(func(f *Frame) { f.Requests = fixed(60, 57*s) }), 63 * s, 300,
			[]float64{18, 60}, 78},
		{"fixed 15/min, phase 0: only the quota binds",
			with(func(f *Frame) { f.Requests = fixed(15, 0) }), 130 * s, 300,
			[]float64{15, 15, 15}, 45},
		{"demand binds",
			with(func(f *Frame) { f.Requests = fixed(60, 0) }), 130 * s, 100,
			[]float64{60, 60, 46}, 100},
		{"a negative phase is the same as its complement",
			with(func(f *Frame) { f.Requests = fixed(60, -10*s) }), 200 * s, 300,
			[]float64{46, 60, 60, 60, 46}, 272},
		{"rolling 60/min: spans of a minute from the start",
			with(func(f *Frame) {
				f.Requests = llmtest.Quota{Limit: 60, Window: time.Minute, Shape: llmtest.RollingWindow}
			}),
			150 * s, 300, []float64{60, 60, 60}, 180},
		{"rolling 60/min, last span of 2 s",
			with(func(f *Frame) {
				f.Requests = llmtest.Quota{Limit: 60, Window: time.Minute, Shape: llmtest.RollingWindow}
			}),
			122 * s, 300, []float64{60, 60, 14}, 134},
		{"bucket 60/min of 15: burst plus refill over the run",
			with(func(f *Frame) {
				f.Requests = llmtest.Quota{Limit: 60, Window: time.Minute, Shape: llmtest.TokenBucket, Burst: 15}
			}), 100 * s, 300, []float64{115}, 115},
		{"bucket, a run too short for the burst",
			with(func(f *Frame) {
				f.Requests = llmtest.Quota{Limit: 60, Window: time.Minute, Shape: llmtest.TokenBucket, Burst: 15}
			}), 2 * s, 300, []float64{14}, 14},
		{"tokens bind: 250,000 a minute of 10,250 an operation is 24",
			with(func(f *Frame) {
				f.Requests, f.Tokens, f.OpTokens = fixed(1000, 0), fixed(250_000, 0), 10_250
			}), 90 * s, 100, []float64{24, 24}, 48},
		{"tokens unknown per operation: only requests count",
			with(func(f *Frame) { f.Requests, f.Tokens = fixed(1000, 0), fixed(250_000, 0) }), 90 * s, 500,
			[]float64{246, 126}, 372},
		{"a token bucket alone",
			with(func(f *Frame) {
				f.Tokens = llmtest.Quota{Limit: 250_000, Window: time.Minute, Shape: llmtest.TokenBucket, Burst: 62_500}
				f.OpTokens = 10_000
			}), 60 * s, 100, []float64{31}, 31},
		{"no quota: what the slots start once the outage ends",
			with(func(f *Frame) { f.From = 60 * s }), 90 * s, 300, []float64{126}, 126},
		{"fixed windows after an outage",
			with(func(f *Frame) { f.Requests, f.From = fixed(60, 0), 90*s }), 200 * s, 300,
			[]float64{60, 60, 60}, 180},
		{"the run ends before the outage does",
			with(func(f *Frame) { f.From = 60 * s }), 50 * s, 300, nil, 0},
		{"per-day cap",
			with(func(f *Frame) { f.Requests, f.PerDay = fixed(1000, 0), 120 }), 100 * s, 300,
			[]float64{246, 166}, 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := tt.frame.Windows(tt.T)
			if len(ws) != len(tt.windows) {
				t.Fatalf("windows %+v, want %d", ws, len(tt.windows))
			}
			var end time.Duration
			for i, w := range ws {
				if math.Abs(w.Ops-tt.windows[i]) > 1e-9 {
					t.Errorf("window %d [%v, %v): %.4f operations, want %.4f", i, w.Start, w.End, w.Ops, tt.windows[i])
				}
				if i > 0 && w.Start != end {
					t.Errorf("window %d starts at %v, not where the previous one ended (%v)", i, w.Start, end)
				}
				end = w.End
			}
			if len(ws) > 0 && (ws[0].Start != tt.frame.From || end != tt.T) {
				t.Errorf("windows cover [%v, %v), want [%v, %v)", ws[0].Start, end, tt.frame.From, tt.T)
			}
			if got := tt.frame.Bound(tt.T, tt.n); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Bound = %.4f, want %.4f", got, tt.want)
			}
		})
	}
}

func TestFrameTokenCapacity(t *testing.T) {
	f := Frame{
		Slots: 6, Latency: 1500 * time.Millisecond, OpTokens: 10_000,
		Requests: llmtest.Quota{Limit: 1000, Window: time.Minute, Phase: 59 * time.Second},
		Tokens:   llmtest.Quota{Limit: 250_000, Window: time.Minute, Phase: 59 * time.Second},
	}
	// [0, 1 s): 6·(1 + 1/1.5) = 10 operations of 10,000 tokens; then a
	// full window of 250,000; then [61 s, 70 s), also full.
	if got, want := f.TokenCapacity(70*time.Second), 600_000.0; math.Abs(got-want) > 1e-6 {
		t.Errorf("TokenCapacity = %.1f, want %.1f", got, want)
	}
	if got := (Frame{Slots: 6, Latency: time.Second}).TokenCapacity(time.Minute); got != 0 {
		t.Errorf("TokenCapacity without a token quota = %v, want 0", got)
	}
}

func TestLogNormalMean(t *testing.T) {
	// 1.2 s · e^(0.5²/2) = 1.2 s · 1.1331 = 1.3597 s.
	if got := geminiLatency.Mean(); got < 1359*time.Millisecond || got > 1360*time.Millisecond {
		t.Errorf("mean %v, want 1.3597 s", got)
	}
}
