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
		if h, err := parseHold(v); err == nil && (h.Wait < 0 || h.Wait > maxWait || h.Unit >= units) {
			t.Fatalf("parseHold(%#v) = %+v, out of range", v, h)
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
// The first byte picks the told quotas every Admit is given, as a Limiter
// gives its State its configured ones. Given alternating quotas the two
// differ on purpose: MemoryState starts a new log at every change, State
// keeps a log per quota (see the package doc), and the fuzzer found
// exactly that when the quota was drawn per operation (the seed in
// testdata/fuzz).
func FuzzAgainstMemory(f *testing.F) {
	c := newClient(f, redisAddr(f))
	f.Add([]byte{0x00, 0x01, 0x01, 0x01, 0x40, 0x40, 0x40, 0x00})
	f.Add([]byte{0x80, 0x80, 0x84, 0x88, 0x01, 0x02, 0xc0, 0x80, 0x80})
	f.Add([]byte{0x41, 0x42, 0x43, 0x00, 0x00, 0xe0, 0x40, 0x81, 0x00, 0x03, 0x03})
	f.Add([]byte{0x8d, 0x00, 0xa3, 0x00, 0x4f, 0x00})
	f.Add([]byte{0x05, 0x15, 0x55, 0x15, 0x95, 0x15, 0xf5, 0x15})
	told := [][]llmlimit.Quota{nil,
		{{Unit: llmlimit.UnitRequests, Limit: 2, Window: time.Hour}},
		{{Unit: llmlimit.UnitRequests, Limit: 3, Window: time.Hour}, {Unit: llmlimit.UnitInputTokens, Limit: 5000, Window: time.Hour}},
		{{Unit: llmlimit.UnitInputTokens, Limit: 3000, Window: time.Hour}}}
	costs := []llmlimit.Cost{{}, {InputTokens: 1000, Tokens: 1200}, {InputTokens: 2500, Tokens: 2500}, {InputTokens: 10, Tokens: 9000}}
	hints := []time.Duration{0, 2 * time.Second, 5 * time.Second, 0}
	quotas := [][]llmlimit.Quota{nil,
		{{Limit: 3, Remaining: 0, Reset: 10 * time.Second, Window: time.Minute, Exceeded: true}},
		{{Limit: 3, Remaining: 1, Reset: 10 * time.Second, Window: time.Minute},
			{Unit: llmlimit.UnitInputTokens, Limit: 4000, Remaining: 0, Reset: 20 * time.Second, Window: time.Minute, Exceeded: true}},
		{{Limit: 2, Remaining: -1, Reset: 20 * time.Second},
			{Unit: llmlimit.UnitTokens, Limit: 10000, Remaining: 2000, Reset: 80 * time.Second, Refill: llmlimit.RefillContinuous}}}
	rules := llmlimit.CooldownRules{SuccessesPerCooldown: 3, SuccessCooldown: 3 * time.Second,
		RateLimitsPerCooldown: 2, RateLimitCooldown: 4 * time.Second}
	const slack = 500 * time.Millisecond

	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) == 0 {
			return
		}
		adm := llmlimit.Admission{Quotas: told[ops[0]&3]}
		rules := rules
		rules.SuccessCooldownAlways = ops[0]&4 != 0
		ops = ops[1:min(len(ops), 41)]
		var b [6]byte
		rand.Read(b[:])
		r := New(c, "fuzz."+hex.EncodeToString(b[:]))
		defer func() {
			keys, _ := c.Keys(context.Background(), r.prefix+"*").Result()
			if len(keys) > 0 {
				c.Del(context.Background(), keys...)
			}
		}()
		m := new(llmlimit.MemoryState)
		ctx := context.Background()
		var reserved llmlimit.Cost
		for i, op := range ops {
			arg := int(op & 0x1f)
			switch op >> 5 {
			case 0, 1:
				adm.Cost = costs[arg&3]
				hm, _ := m.Admit(ctx, adm)
				hr, err := r.Admit(ctx, adm)
				if err != nil {
					t.Fatal(err)
				}
				wm, wr := hm.Wait, hr.Wait
				if (wm == 0) != (wr == 0) || wm-wr > slack || wr-wm > slack {
					t.Fatalf("op %d: admit %+v: memory waits %v, redis %v", i, adm, hm, hr)
				}
				if wm == 0 {
					reserved = adm.Cost
				}
				continue
			case 6:
				m.Reset(ctx)
				if err := r.Reset(ctx); err != nil {
					t.Fatal(err)
				}
				continue
			}
			o := llmlimit.Outcome{Rules: rules, Quotas: quotas[arg&3], Reserved: reserved, Used: reserved}
			if arg&0x10 != 0 {
				o.Used = llmlimit.Cost{InputTokens: reserved.InputTokens / 2, Tokens: reserved.Tokens * 2}
			}
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
