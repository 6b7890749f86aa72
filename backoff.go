package llmlimit

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff maths. The delay before retry k (k = 0 for the first retry) is
//
//	exp(k) = min(base·2^k, max)
//	JitterAdditive: exp(k) + U(0.1 s, 0.4 s)   (the seed patch's jitter)
//	JitterFull:     U(0, exp(k))
//
// and a server retry hint is a floor: delay = max(delay, hint). With the
// defaults (base 1 s, max 60 s, additive jitter) the sequence is:
//
//	retry   exp     JitterAdditive    JitterFull
//	0       1 s     1.1 s – 1.4 s     0 – 1 s
//	1       2 s     2.1 s – 2.4 s     0 – 2 s
//	2       4 s     4.1 s – 4.4 s     0 – 4 s
//	3       8 s     8.1 s – 8.4 s     0 – 8 s
//	6       60 s    60.1 s – 60.4 s   0 – 60 s   (64 s capped)
//
// r is a uniform draw from [0, 1), injected so tests can pin it.

const (
	additiveJitterMin = 100 * time.Millisecond
	additiveJitterMax = 400 * time.Millisecond
)

// backoffDelay returns the delay before retry k, as documented above.
func backoffDelay(k int, base, max time.Duration, j Jitter, r float64, hint time.Duration) time.Duration {
	exp := max
	if k < 62 {
		if d := float64(base) * math.Exp2(float64(k)); d < float64(max) {
			exp = time.Duration(d)
		}
	}
	var d time.Duration
	switch j {
	case JitterFull:
		d = time.Duration(r * float64(exp))
	default:
		d = exp + additiveJitterMin + time.Duration(r*float64(additiveJitterMax-additiveJitterMin))
	}
	if d < hint {
		d = hint
	}
	return d
}

// maxHint bounds server hints, so that a hostile or broken reply can't park
// callers for years.
const maxHint = 24 * time.Hour

var errBadDuration = errors.New("llmlimit: bad duration")

// parseRetryDelay parses Gemini's google.rpc.RetryInfo.retryDelay, the JSON
// form of google.protobuf.Duration: decimal seconds with an "s" suffix, such
// as "26s", "1.5s" or "0.000001s".
func parseRetryDelay(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	num, ok := strings.CutSuffix(s, "s")
	if !ok || num == "" || strings.ContainsAny(num, "eE+-_ \t") {
		return 0, errBadDuration
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, errBadDuration
	}
	return clampHint(f), nil
}

// parseRetryAfter parses an HTTP Retry-After value: delay-seconds or an
// HTTP-date, relative to now. A date in the past is a zero delay.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return 0, false
		}
		return clampHint(f), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return min(d, maxHint), true
}

// parseRetryAfterMS parses OpenAI's retry-after-ms header: milliseconds,
// possibly fractional.
func parseRetryAfterMS(v string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	return clampHint(f / 1000), true
}

// clampHint turns seconds into a Duration no longer than maxHint.
func clampHint(seconds float64) time.Duration {
	if seconds >= maxHint.Seconds() {
		return maxHint
	}
	return time.Duration(seconds * float64(time.Second))
}
