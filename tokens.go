package llmlimit

import "math"

// tokenEstimate estimates what an attempt will count against token
// quotas before it is sent: its prompt's bytes times a ratio of tokens per
// byte, starting at a quarter (the providers' rule of thumb) and moving
// toward what the provider's replies report, plus an output allowance: the
// request's MaxOutputTokens, or the recent mean of replies' output. No
// tokenizer is downloaded and no call made.
//
// tokenEstimate has no lock of its own: the Limiter's mutex guards it.
type tokenEstimate struct {
	perByte float64 // 0 until calibrated: a quarter
	output  float64 // mean output tokens
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
	l.mu.Lock()
	perByte, output := l.tokens.perByte, l.tokens.output
	l.mu.Unlock()
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
	l.mu.Lock()
	defer l.mu.Unlock()
	ratio := float64(in) / float64(b)
	if l.tokens.perByte == 0 {
		l.tokens.perByte, l.tokens.output = ratio, float64(max(out, 0))
		return
	}
	l.tokens.perByte += (ratio - l.tokens.perByte) / 8
	l.tokens.output += (float64(max(out, 0)) - l.tokens.output) / 8
}
