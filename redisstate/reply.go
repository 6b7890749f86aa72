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

// parseHold reads the admit script's reply: {wait µs, 1 when a quota
// holds, its unit}, the wait at most maxWait.
func parseHold(v any) (llmlimit.Hold, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 3 {
		return llmlimit.Hold{}, fmt.Errorf("unexpected reply %T of %d values", v, len(a))
	}
	var n [3]int64
	for i, x := range a {
		if n[i], ok = x.(int64); !ok {
			return llmlimit.Hold{}, fmt.Errorf("unexpected reply value %T", x)
		}
	}
	switch {
	case n[0] < 0 || n[0] > micros(maxWait):
		return llmlimit.Hold{}, fmt.Errorf("wait of %d µs out of range", n[0])
	case n[1] < 0 || n[1] > 1 || n[2] < 0 || n[2] >= units:
		return llmlimit.Hold{}, fmt.Errorf("unexpected hold %d of unit %d", n[1], n[2])
	}
	return llmlimit.Hold{Wait: time.Duration(n[0]) * time.Microsecond, Quota: n[1] == 1, Unit: llmlimit.Unit(n[2])}, nil
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
