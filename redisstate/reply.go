package redisstate

import (
	"fmt"
	"time"

	"github.com/llmlimit/llmlimit"
)

// maxWait is the longest wait a State writes: the longest cooldown a
// Limiter accepts, and its bound on server hints; Record clips what it
// writes to it. A longer wait read from Redis is a corrupt key (or a
// server that doesn't run the scripts), not a quota: the Limiter must then
// limit locally rather than park its callers for a year.
const maxWait = 24 * time.Hour

// waitBound is the longest wait an Admit given rate can legitimately
// return: pacing to a rate may wait out a period longer than maxWait.
func waitBound(rate llmlimit.Rate) time.Duration { return max(maxWait, rate.Per) }

// parseWait reads the admit script's reply: a wait in microseconds, at
// most bound.
func parseWait(v any, bound time.Duration) (time.Duration, error) {
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("unexpected reply %T", v)
	}
	if n < 0 || n > micros(bound) {
		return 0, fmt.Errorf("wait of %d µs out of range", n)
	}
	if n > int64(bound/time.Microsecond) {
		// The last microsecond of a bound that is not a whole number of
		// them, which may be the largest Duration.
		return bound, nil
	}
	return time.Duration(n) * time.Microsecond, nil
}

// parseCooldowns reads the record script's reply: three flags.
func parseCooldowns(v any) (llmlimit.Cooldowns, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 3 {
		return llmlimit.Cooldowns{}, fmt.Errorf("unexpected reply %T of %d values", v, len(a))
	}
	var f [3]int64
	for i, x := range a {
		n, ok := x.(int64)
		if !ok || n < 0 || n > 1 {
			return llmlimit.Cooldowns{}, fmt.Errorf("unexpected cooldown flag %v", x)
		}
		f[i] = n
	}
	return llmlimit.Cooldowns{Successes: f[0], RateLimit: f[1], ServerHint: f[2]}, nil
}
