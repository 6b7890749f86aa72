package redisstate

import (
	"fmt"
	"time"

	"github.com/llmlimit/llmlimit"
)

// maxWait bounds a wait read from Redis: more than this is a corrupt key,
// not a quota, and must not overflow a Duration.
const maxWait = 366 * 24 * time.Hour

// parseWait reads the admit script's reply: a wait in microseconds.
func parseWait(v any) (time.Duration, error) {
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("unexpected reply %T", v)
	}
	if n < 0 || n > int64(maxWait/time.Microsecond) {
		return 0, fmt.Errorf("wait of %d µs out of range", n)
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
