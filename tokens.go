package llmlimit

import (
	"math"
	"sync/atomic"
	"time"
)

// tokenEstimate estimates what an attempt will count against token
// quotas before it is sent: its prompt's bytes times a ratio of tokens per
// byte, starting at a quarter (the providers' rule of thumb) and moving
// toward what the provider's replies report, plus an output allowance: the
// request's MaxOutputTokens, or the recent mean of replies' output. No
// tokenizer is downloaded and no call made.
//
// tokenEstimate is read and written with atomics, off the Limiter's lock:
// two replies calibrating at once may lose one's step, which an average of
// eight barely feels.
type tokenEstimate struct {
	perByte atomic.Uint64 // float64 bits; 0 until calibrated: a quarter
	output  atomic.Uint64 // float64 bits: mean output tokens
}

// defaultTokensPerByte is the ratio before any reply reports usage.
const defaultTokensPerByte = 0.25

// promptBytes is the length of what a request sends as its prompt.
func promptBytes(req *Request) int {
	if req == nil {
		return 0
	}
	return len(req.System) + len(req.Prompt)
}

// estimate returns req's cost.
func (l *Limiter) estimate(req *Request) Cost {
	perByte, output := math.Float64frombits(l.tokens.perByte.Load()), math.Float64frombits(l.tokens.output.Load())
	if perByte == 0 {
		perByte = defaultTokensPerByte
	}
	in := int(math.Ceil(perByte * float64(promptBytes(req))))
	out := int(math.Ceil(output))
	if req != nil && req.MaxOutputTokens > 0 {
		out = req.MaxOutputTokens
	}
	return Cost{InputTokens: in, Tokens: in + out}
}

// calibrate moves the estimate toward a reply's reported usage: a moving
// average over about eight replies.
func (l *Limiter) calibrate(req *Request, in, out int) {
	b := promptBytes(req)
	if b == 0 || in <= 0 {
		return
	}
	ratio, o := float64(in)/float64(b), float64(max(out, 0))
	perByte, output := math.Float64frombits(l.tokens.perByte.Load()), math.Float64frombits(l.tokens.output.Load())
	if perByte != 0 {
		ratio, o = perByte+(ratio-perByte)/8, output+(o-output)/8
	}
	l.tokens.perByte.Store(math.Float64bits(ratio))
	l.tokens.output.Store(math.Float64bits(o))
}

// minuteCount counts events of the last minute in one-second buckets. It has
// no lock of its own: the Limiter's mutex guards it.
type minuteCount struct {
	buckets [60]int
	last    int64 // the Unix second of the newest bucket
}

// add counts an event at t.
func (m *minuteCount) add(t time.Time) {
	s := t.Unix()
	m.advance(s)
	m.buckets[s%60]++
}

// count returns the events of the minute up to t.
func (m *minuteCount) count(t time.Time) int {
	m.advance(t.Unix())
	n := 0
	for _, b := range m.buckets {
		n += b
	}
	return n
}

// advance clears the buckets of the seconds between the newest one and s.
func (m *minuteCount) advance(s int64) {
	if s <= m.last {
		return
	}
	for k := m.last + 1; k <= s && k <= m.last+60; k++ {
		m.buckets[k%60] = 0
	}
	m.last = s
}
