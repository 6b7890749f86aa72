package llmlimit

import (
	"net/http"
	"strings"
	"time"
)

// Retry hints in prose. Many real 429s carry their only hint in the message:
// OpenAI's "Please try again in 1.574s." often comes without any retry
// header, and Gemini's "Please retry in 58.217843437s." is more exact than
// its RetryInfo, which truncates to whole seconds ("58s"). Every hint a
// reply gives is read, and the longest wins: a server that names two delays
// has said the request cannot pass before the later one.

// hintPhrases introduce a delay in an error message, lower-case: Gemini,
// OpenAI (and the proxies that copy it), Azure OpenAI ("Please retry after
// 6 seconds.").
var hintPhrases = [...]string{"retry in ", "try again in ", "retry after "}

// parseHintText returns the longest delay that msg names after one of
// hintPhrases, and whether it named any.
func parseHintText(msg string) (time.Duration, bool) {
	lower := asciiLower(msg)
	var longest time.Duration
	found := false
	for _, p := range hintPhrases {
		for rest := lower; ; {
			i := strings.Index(rest, p)
			if i < 0 {
				break
			}
			rest = rest[i+len(p):]
			if d, n := parseSpokenDuration(rest); n > 0 {
				longest, found = max(longest, d), true
			}
		}
	}
	return longest, found
}

// asciiLower lower-cases ASCII letters only, so that byte offsets in the
// result are offsets in s, whatever else s holds.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// durationUnits are the units parseSpokenDuration accepts, in seconds,
// longest spelling first so that "ms" is not read as "m".
var durationUnits = [...]struct {
	name string
	unit time.Duration
}{
	{"milliseconds", time.Millisecond}, {"millisecond", time.Millisecond}, {"minutes", time.Minute}, {"minute", time.Minute},
	{"seconds", time.Second}, {"second", time.Second}, {"hours", time.Hour}, {"hour", time.Hour},
	{"msec", time.Millisecond}, {"mins", time.Minute}, {"secs", time.Second}, {"min", time.Minute}, {"sec", time.Second},
	{"hrs", time.Hour}, {"hr", time.Hour}, {"ms", time.Millisecond}, {"us", time.Microsecond}, {"µs", time.Microsecond},
	{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second},
}

// parseSpokenDuration reads a delay at the start of s, lower-case, written
// the way error messages and headers write them: Go-style runs such as
// "1m9.696s", "644ms" or "1h23m45.6s", parts separated by a space or not
// ("6m 11.52s"), and words ("6 seconds"). It returns the delay, exact to
// the nanosecond and clamped to [0, maxHint], and the number of bytes read:
// 0 when s does not start with a delay.
func parseSpokenDuration(s string) (time.Duration, int) {
	var total time.Duration
	read := 0
	for i := 0; ; {
		j := i
		if read > 0 && j < len(s) && s[j] == ' ' {
			j++
		}
		k := j
		for k < len(s) && '0' <= s[k] && s[k] <= '9' {
			k++
		}
		if k == j {
			break
		}
		if k+1 < len(s) && s[k] == '.' && '0' <= s[k+1] && s[k+1] <= '9' {
			for k++; k < len(s) && '0' <= s[k] && s[k] <= '9'; k++ {
			}
		}
		num := s[j:k]
		u := k
		if u < len(s) && s[u] == ' ' {
			u++
		}
		unit, n := durationUnit(s[u:])
		if n == 0 {
			break
		}
		d, ok := clampHint(num, unit, false)
		if !ok {
			break
		}
		total = min(total+d, maxHint) // both are at most maxHint: no overflow
		i = u + n
		read = i
	}
	return total, read
}

// durationUnit reads a unit of durationUnits at the start of s, ending at a
// word boundary, and returns it and its length in bytes.
func durationUnit(s string) (time.Duration, int) {
	for _, u := range durationUnits {
		if !strings.HasPrefix(s, u.name) {
			continue
		}
		if n := len(u.name); n == len(s) || !isLetter(s[n]) {
			return u.unit, n
		}
	}
	return 0, 0
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80 }

// parseResetHeader reads an x-ratelimit-reset-* value: a Go-style duration
// ("6m0s", "120ms", "11m32.334s"), or bare seconds, as Azure OpenAI and some
// proxies send ("0", "60").
func parseResetHeader(v string) (time.Duration, bool) {
	v = asciiLower(strings.TrimSpace(v))
	if v == "" {
		return 0, false
	}
	if d, n := parseSpokenDuration(v); n == len(v) {
		return d, true
	}
	return clampHint(v, time.Second, false)
}

// headerHint returns the longest retry hint of an HTTP reply's headers:
// retry-after-ms (OpenAI) and Retry-After, seconds or an HTTP-date.
func headerHint(h http.Header, now time.Time) time.Duration {
	var d time.Duration
	if ms, ok := parseRetryAfterMS(h.Get("Retry-After-Ms")); ok {
		d = ms
	}
	if s, ok := parseRetryAfter(h.Get("Retry-After"), now); ok {
		d = max(d, s)
	}
	return d
}
