package redisstate

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmlimit/llmlimit"
)

// TestCorruptStateHeals writes to a State's keys what no script writes: the
// call that meets it fails (so the Limiter limits locally), the key is
// deleted, and the next call answers from a healed state.
func TestCorruptStateHeals(t *testing.T) {
	rate := told(llmlimit.UnitRequests, 1, time.Minute, 1)
	rl := llmlimit.Outcome{RateLimited: true}
	cases := []struct {
		name  string
		key   string // gate, window, counters or log
		write func(ctx context.Context, c *redis.Client, key string, now int64) error
		op    string // the call that meets it: admit or record
	}{
		{"gate a year ahead", "gate", setString(365 * 24 * time.Hour), "admit"},
		{"gate inf", "gate", setRaw("inf"), "admit"},
		{"gate nan", "gate", setRaw("nan"), "admit"},
		{"gate not a number", "gate", setRaw("soon"), "admit"},
		{"gate of another type", "gate", pushList, "admit"},
		{"gate of another type at record", "gate", pushList, "record"},
		{"window a year ahead", "window", func(ctx context.Context, c *redis.Client, key string, now int64) error {
			return c.HSet(ctx, key, "limit", 1, "window", 60e6, "end", now+365*24*3600e6, "used", 1).Err()
		}, "admit"},
		{"window end inf", "window", func(ctx context.Context, c *redis.Client, key string, now int64) error {
			return c.HSet(ctx, key, "limit", 1, "window", 60e6, "end", "inf", "used", 1).Err()
		}, "admit"},
		{"window length nan", "window", func(ctx context.Context, c *redis.Client, key string, now int64) error {
			return c.HSet(ctx, key, "limit", 1, "window", "nan", "end", now-1, "used", 1).Err()
		}, "admit"},
		{"window of another type", "window", setRaw("x"), "admit"},
		{"window of another type at record", "window", setRaw("x"), "record"},
		{"counters not a number", "counters", func(ctx context.Context, c *redis.Client, key string, now int64) error {
			return c.HSet(ctx, key, "ratelimits", "many").Err()
		}, "record"},
		{"counters of another type", "counters", setRaw("x"), "record"},
		{"log a year ahead", "log", func(ctx context.Context, c *redis.Client, key string, now int64) error {
			return c.ZAdd(ctx, key, redis.Z{Score: float64(now + 365*24*3600e6), Member: "future"}).Err()
		}, "admit"},
		{"log at +inf", "log", func(ctx context.Context, c *redis.Client, key string, now int64) error {
			return c.ZAdd(ctx, key, redis.Z{Score: math.Inf(1), Member: "inf"}).Err()
		}, "admit"},
		{"log of another type", "log", setRaw("x"), "admit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newTestState(t)
			ctx := t.Context()
			key := s.prefix + tc.key
			switch told := toldOf(rate.Quotas); tc.key {
			case "window":
				key = s.prefix + "q:0"
			case "log":
				key = s.keys(&told)[5]
			}
			if err := tc.write(ctx, c, key, redisNow(t, c)); err != nil {
				t.Fatal(err)
			}
			call := func() error {
				if tc.op == "record" {
					_, err := s.Record(ctx, rl)
					return err
				}
				_, err := s.Admit(ctx, rate)
				return err
			}
			err := call()
			if err == nil || !strings.Contains(err.Error(), "corrupt") {
				t.Fatalf("%s on a corrupt %s: %v, want an error", tc.op, tc.key, err)
			}
			t.Logf("%s: %v", tc.op, err)
			if n := c.Exists(ctx, key).Val(); n != 0 {
				t.Errorf("the corrupt %s was not deleted", tc.key)
			}
			if err := call(); err != nil {
				t.Errorf("%s after the repair: %v", tc.op, err)
			}
			if w, err := s.Admit(ctx, llmlimit.Admission{}); err != nil || w.Wait != 0 {
				t.Errorf("Admit after the repair = %v, %v; want an open gate", w, err)
			}
		})
	}
}

// TestLongWaitsKept shows the other side of the bound: a gate an hour
// ahead is a wait, a retry hint over 24 h is written as 24 h and read back
// as a wait, and a told quota of a day makes a wait of a day.
func TestLongWaitsKept(t *testing.T) {
	const slack = time.Second
	t.Run("gate 1h", func(t *testing.T) {
		s, c := newTestState(t)
		ctx := t.Context()
		if err := setString(time.Hour)(ctx, c, s.prefix+"gate", redisNow(t, c)); err != nil {
			t.Fatal(err)
		}
		h, err := s.Admit(ctx, llmlimit.Admission{})
		if w := h.Wait; err != nil || w < time.Hour-slack || w > time.Hour {
			t.Errorf("Admit = %v, %v; want 1h", w, err)
		}
	})
	t.Run("hint 48h", func(t *testing.T) {
		s, _ := newTestState(t)
		ctx := t.Context()
		if _, err := s.Record(ctx, llmlimit.Outcome{RateLimited: true, RetryAfter: 48 * time.Hour}); err != nil {
			t.Fatal(err)
		}
		h, err := s.Admit(ctx, llmlimit.Admission{})
		if w := h.Wait; err != nil || w < maxWait-slack || w > maxWait {
			t.Errorf("Admit = %v, %v; want %v", w, err, maxWait)
		}
	})
	t.Run("told quota per day", func(t *testing.T) {
		s, _ := newTestState(t)
		ctx := t.Context()
		rate := told(llmlimit.UnitRequests, 1, maxWait, 1)
		if h, err := s.Admit(ctx, rate); err != nil || h.Wait != 0 {
			t.Fatalf("first Admit = %v, %v", h, err)
		}
		h, err := s.Admit(ctx, rate)
		if w := h.Wait; err != nil || w < maxWait-slack || w > maxWait {
			t.Errorf("Admit = %v, %v; want %v", w, err, maxWait)
		}
	})
}

// redisNow is the server's time in microseconds, the scripts' clock.
func redisNow(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	now, err := c.Time(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return now.UnixMicro()
}

// setString writes a gate d after now, with no expiry.
func setString(d time.Duration) func(context.Context, *redis.Client, string, int64) error {
	return func(ctx context.Context, c *redis.Client, key string, now int64) error {
		return c.Set(ctx, key, strconv.FormatInt(now+d.Microseconds(), 10), 0).Err()
	}
}

func setRaw(v string) func(context.Context, *redis.Client, string, int64) error {
	return func(ctx context.Context, c *redis.Client, key string, _ int64) error {
		return c.Set(ctx, key, v, 0).Err()
	}
}

func pushList(ctx context.Context, c *redis.Client, key string, _ int64) error {
	return c.RPush(ctx, key, "x").Err()
}
