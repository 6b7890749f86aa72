package llmlimit

import (
	"errors"
	"math"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff maths. The delay before retry k (k = 0 for the first retry) is
//
//	exp(k) = min(base·2^k, max)
//	JitterAdditive: exp(k) + U(0.1 s, 0.4 s)
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

// maxHint is the longest server hint this package returns. It only keeps
// the arithmetic safe: a Retry-After in 2099, a retry-after-ms of 1e30 or a
// retryDelay of "99999999s" all become a week, which time.Duration and
// time.Time additions hold without overflow. It is not a sanity bound: a
// hint says nothing about how long a quota can really stay shut, and the
// [Limiter] bounds hints by what it knows of the quota.
const maxHint = 7 * 24 * time.Hour

var errBadDuration = errors.New("llmlimit: bad duration")

// parseRetryDelay parses Gemini's google.rpc.RetryInfo.retryDelay, the JSON
// form of google.protobuf.Duration: decimal seconds with an "s" suffix, such
// as "26s", "1.5s" or "45.837906927s", read exactly.
func parseRetryDelay(s string) (time.Duration, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "s")
	if !ok {
		return 0, errBadDuration
	}
	d, ok := clampHint(num, time.Second, false)
	if !ok {
		return 0, errBadDuration
	}
	return d, nil
}

// parseRetryAfter parses an HTTP Retry-After value: delay-seconds or an
// HTTP-date, relative to now. A date in the past is a zero delay.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if d, ok := clampHint(v, time.Second, true); ok {
		return d, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	// Sub saturates instead of overflowing, for dates centuries away.
	return min(max(t.Sub(now), 0), maxHint), true
}

// parseRetryAfterMS parses OpenAI's retry-after-ms header: milliseconds,
// possibly fractional.
func parseRetryAfterMS(v string) (time.Duration, bool) {
	return clampHint(strings.TrimSpace(v), time.Millisecond, true)
}

// clampHint turns num units into a Duration in [0, maxHint]. Plain
// decimals ("58.217843437") are read exactly, since a float64 would turn
// 36.429760048 s into 36.429760047 s; with exponent, numbers such as "1e30"
// are read too, through a float64. Anything else (signs, hex, Inf, NaN,
// spaces) is not a hint.
func clampHint(num string, unit time.Duration, exponent bool) (time.Duration, bool) {
	intPart, frac, dotted := strings.Cut(num, ".")
	if intPart == "" || !allDigits(intPart) || dotted && (frac == "" || !allDigits(frac)) {
		if !exponent || num == "" || strings.Trim(num, "0123456789.eE+") != "" || strings.ContainsAny(num[:1], ".eE+") {
			return 0, false
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil && f == 0 || math.IsNaN(f) || f < 0 {
			return 0, false // ParseFloat saturates huge values to +Inf with an error: those are kept
		}
		if f*float64(unit) >= float64(maxHint) {
			return maxHint, true
		}
		return time.Duration(f * float64(unit)), true
	}
	// 20 integer digits of any unit exceed a week; the fraction needs no
	// more than 18 digits for nanoseconds of an hour.
	if len(strings.TrimLeft(intPart, "0")) > 19 {
		return maxHint, true
	}
	r, ok := new(big.Rat).SetString(intPart + "." + frac[:min(len(frac), 18)] + "0")
	if !ok {
		return 0, false
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(unit)))
	if r.Cmp(new(big.Rat).SetInt64(int64(maxHint))) >= 0 {
		return maxHint, true
	}
	return time.Duration(new(big.Int).Quo(r.Num(), r.Denom()).Int64()), true
}

func allDigits(s string) bool { return strings.Trim(s, "0123456789") == "" }
