package redisstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit"
)

// FuzzParseReply feeds the reply parsers whatever shape a misbehaving
// server, proxy or foreign script could send: they must return an error or
// a value in range, never panic.
func FuzzParseReply(f *testing.F) {
	f.Add(uint8(0), int64(0), int64(0), int64(0), uint8(3))
	f.Add(uint8(0), int64(-1), int64(1), int64(2), uint8(0))
	f.Add(uint8(1), int64(1), int64(0), int64(1), uint8(3))
	f.Add(uint8(1), int64(2), int64(0), int64(1), uint8(4))
	f.Add(uint8(2), int64(1<<62), int64(0), int64(0), uint8(1))
	f.Add(uint8(0), int64(86400000001), int64(0), int64(0), uint8(0))
	f.Add(uint8(0), int64(9223372036854776), int64(0), int64(0), uint8(2))
	f.Fuzz(func(t *testing.T, shape uint8, a, b, c int64, n uint8) {
		var v any
		switch shape % 5 {
		case 0:
			v = a
		case 1:
			vals := []any{a, b, c, a ^ b}
			v = vals[:int(n)%(len(vals)+1)]
		case 2:
			v = hex.EncodeToString([]byte{byte(a)})
		case 3:
			v = []any{a, "1", c}
		case 4:
			v = nil
		}
		bound := []time.Duration{maxWait, 48 * time.Hour, time.Duration(1<<63 - 1)}[n%3]
		if w, err := parseWait(v, bound); err == nil && (w < 0 || w > bound) {
			t.Fatalf("parseWait(%#v) = %v, out of range", v, w)
		}
		if fired, err := parseCooldowns(v); err == nil {
			for _, x := range []int64{fired.Successes, fired.RateLimit, fired.ServerHint} {
				if x != 0 && x != 1 {
					t.Fatalf("parseCooldowns(%#v) = %+v", v, fired)
				}
			}
		}
	})
}

// FuzzAgainstMemory runs the same sequence of operations against
// MemoryState and a State on Redis and requires the same answers: the same
// cooldowns fired, and the same admissions with waits within slack. The
// durations are seconds apart and a sequence takes milliseconds, so real
// time passing can't change an answer.
//
// The first byte picks the rate every Admit is given, as a Limiter gives its
// State its one configured rate. Given alternating rates the two differ on
// purpose: MemoryState starts a new log at every change, State keeps a log
// per rate (see the package doc), and the fuzzer found exactly that when
// the rate was drawn per operation (the seed in testdata/fuzz).
func FuzzAgainstMemory(f *testing.F) {
	c := newClient(f, redisAddr(f))
	f.Add([]byte{0x00, 0x01, 0x01, 0x01, 0x40, 0x40, 0x40, 0x00})
	f.Add([]byte{0x80, 0x80, 0x84, 0x88, 0x01, 0x02, 0xc0, 0x80, 0x80})
	f.Add([]byte{0x41, 0x42, 0x43, 0x00, 0x00, 0xe0, 0x40, 0x81, 0x00, 0x03, 0x03})
	f.Add([]byte{0x8d, 0x00, 0xa3, 0x00, 0x4f, 0x00})
	rates := []llmlimit.Rate{{}, {Requests: 2, Per: time.Hour}, {Requests: 3, Per: time.Hour}, {Requests: 1, Per: time.Hour}}
	hints := []time.Duration{0, 2 * time.Second, 5 * time.Second, 0}
	limits := []*llmlimit.RateLimit{nil,
		{Limit: 3, Remaining: 0, Reset: 10 * time.Second, Window: time.Minute},
		{Limit: 3, Remaining: 1, Reset: 10 * time.Second, Window: time.Minute},
		{Limit: 2, Remaining: -1, Reset: 20 * time.Second}}
	rules := llmlimit.CooldownRules{SuccessesPerCooldown: 3, SuccessCooldown: 3 * time.Second,
		RateLimitsPerCooldown: 2, RateLimitCooldown: 4 * time.Second}
	const slack = 500 * time.Millisecond

	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) == 0 {
			return
		}
		rate := rates[ops[0]&3]
		ops = ops[1:min(len(ops), 41)]
		var b [6]byte
		rand.Read(b[:])
		r := New(c, "fuzz."+hex.EncodeToString(b[:]))
		keys := []string{r.prefix + "gate", r.prefix + "counters", r.prefix + "window"}
		for _, rt := range rates {
			keys = append(keys, r.logKey(rt.Requests, micros(rt.Per)))
		}
		defer c.Del(context.Background(), keys...)
		m := llmlimit.NewMemoryState()
		ctx := context.Background()
		for i, op := range ops {
			arg := int(op & 0x1f)
			switch op >> 5 {
			case 0, 1:
				wm, _ := m.Admit(ctx, rate)
				wr, err := r.Admit(ctx, rate)
				if err != nil {
					t.Fatal(err)
				}
				if (wm == 0) != (wr == 0) || wm-wr > slack || wr-wm > slack {
					t.Fatalf("op %d: admit %+v: memory waits %v, redis %v", i, rate, wm, wr)
				}
				continue
			case 6:
				m.Reset(ctx)
				if err := r.Reset(ctx); err != nil {
					t.Fatal(err)
				}
				continue
			}
			o := llmlimit.Outcome{Rules: rules, RateLimit: limits[arg&3]}
			switch op >> 5 {
			case 2, 3:
				o.Success = true
			case 4, 5:
				o.RateLimited, o.RetryAfter = true, hints[arg>>2&3]
			}
			fm, _ := m.Record(ctx, o)
			fr, err := r.Record(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if fm != fr {
				t.Fatalf("op %d: record %+v: memory fired %+v, redis %+v", i, o, fm, fr)
			}
		}
	})
}
