package redisstate

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit"
)

// One table, run against llmlimit.MemoryState in virtual time (exactly) and
// against State on a real Redis in real time (within slack): the two are the
// same model.

type op int

const (
	opAdmit op = iota
	opRecord
	opReset
	opSleep
)

type step struct {
	op    op
	adm   llmlimit.Admission // opAdmit
	out   llmlimit.Outcome   // opRecord
	d     time.Duration      // opSleep
	wait  time.Duration      // opAdmit: the wait expected; 0 = admitted
	fired llmlimit.Cooldowns // opRecord
}

func admit(a llmlimit.Admission, wait time.Duration) step {
	return step{op: opAdmit, adm: a, wait: wait}
}
func record(o llmlimit.Outcome, fired llmlimit.Cooldowns) step {
	return step{op: opRecord, out: o, fired: fired}
}
func reset() step                    { return step{op: opReset} }
func sleep(d time.Duration) step     { return step{op: opSleep, d: d} }
func times(n int, s step) (a []step) { return append(a, repeatStep(n, s)...) }

func repeatStep(n int, s step) []step {
	a := make([]step, n)
	for i := range a {
		a[i] = s
	}
	return a
}

// told is an admission under a told quota of limit units per window, of
// cost (the unit's own: one request, or tokens).
func told(u llmlimit.Unit, limit int, window time.Duration, cost int) llmlimit.Admission {
	a := llmlimit.Admission{Quotas: []llmlimit.Quota{{Unit: u, Limit: limit, Window: window}}}
	a.Cost = tokens(cost).Cost
	if u == llmlimit.UnitRequests {
		a.Cost = llmlimit.Cost{}
	}
	return a
}

// tokens is an admission of cost tokens of both kinds, with no told quota.
func tokens(cost int) llmlimit.Admission {
	return llmlimit.Admission{Cost: llmlimit.Cost{InputTokens: cost, Tokens: cost}}
}

var (
	noRate    llmlimit.Admission
	noRules   llmlimit.CooldownRules
	sRules    = llmlimit.CooldownRules{SuccessesPerCooldown: 3, SuccessCooldown: time.Second}
	aRules    = llmlimit.CooldownRules{SuccessesPerCooldown: 3, SuccessCooldown: time.Second, SuccessCooldownAlways: true}
	rRules    = llmlimit.CooldownRules{RateLimitsPerCooldown: 2, RateLimitCooldown: 2 * time.Second}
	bothRules = llmlimit.CooldownRules{SuccessesPerCooldown: 3, SuccessCooldown: time.Second, SuccessCooldownAlways: true,
		RateLimitsPerCooldown: 2, RateLimitCooldown: 2 * time.Second}

	none       = llmlimit.Cooldowns{}
	firedS     = llmlimit.Cooldowns{Successes: 1}
	firedR     = llmlimit.Cooldowns{RateLimit: 1}
	firedH     = llmlimit.Cooldowns{ServerHint: 1}
	firedRH    = llmlimit.Cooldowns{RateLimit: 1, ServerHint: 1}
	hourly2    = told(llmlimit.UnitRequests, 2, time.Hour, 1)
	threePerS  = told(llmlimit.UnitRequests, 3, time.Second, 1)
	oncePerH   = told(llmlimit.UnitRequests, 1, time.Hour, 1)
	hourly3    = told(llmlimit.UnitRequests, 3, time.Hour, 1)
	otherCause = llmlimit.Outcome{} // neither success nor 429
	perSecond  = llmlimit.Quota{Limit: 10, Remaining: 0, Reset: time.Second, Window: time.Second}
)

func ok(r llmlimit.CooldownRules) llmlimit.Outcome {
	return llmlimit.Outcome{Success: true, Rules: r}
}

func okQ(r llmlimit.CooldownRules, q llmlimit.Quota) llmlimit.Outcome {
	return llmlimit.Outcome{Success: true, Rules: r, Quotas: []llmlimit.Quota{q}}
}

func limited(r llmlimit.CooldownRules, hint time.Duration) llmlimit.Outcome {
	return llmlimit.Outcome{RateLimited: true, Rules: r, RetryAfter: hint}
}

// limitedQ is a 429 for q.
func limitedQ(r llmlimit.CooldownRules, hint time.Duration, q llmlimit.Quota) llmlimit.Outcome {
	q.Exceeded = true
	return llmlimit.Outcome{RateLimited: true, Rules: r, RetryAfter: hint, Quotas: []llmlimit.Quota{q}}
}

// settled is an outcome that neither succeeded nor was a 429, of an
// attempt that reserved tokens and used used.
func settled(reserved, used int) llmlimit.Outcome {
	return llmlimit.Outcome{Reserved: tokens(reserved).Cost, Used: tokens(used).Cost}
}

func seq(parts ...[]step) (all []step) {
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

func one(s ...step) []step { return s }

var semantics = []struct {
	name  string
	steps []step
}{
	{"an open gate admits everything", times(4, admit(noRate, 0))},
	{"always: every Nth success pauses everyone", seq(
		times(2, record(ok(aRules), none)),
		one(record(ok(aRules), firedS), admit(noRate, time.Second)),
		times(2, record(ok(aRules), none)),
		one(record(ok(aRules), firedS)),
	)},
	{"adaptive: nothing refused, no pause", times(7, record(ok(sRules), none))},
	{"adaptive: an unexplained 429 arms one pause", seq(
		one(record(limited(sRules, 0), none)),
		times(2, record(ok(sRules), none)),
		one(record(ok(sRules), firedS), admit(noRate, time.Second)),
		times(4, record(ok(sRules), none)),
	)},
	{"adaptive: a 429 naming its quota teaches, and arms nothing", seq(
		one(record(limitedQ(sRules, 0, llmlimit.Quota{Limit: 9, Remaining: 0, Reset: time.Minute, Window: time.Minute}), none)),
		times(4, record(ok(sRules), none)),
	)},
	{"adaptive: reset disarms", seq(
		one(record(limited(sRules, 0), none), reset()),
		times(4, record(ok(sRules), none)),
	)},
	{"reset zeroes both counters", seq(
		times(2, record(ok(bothRules), none)),
		one(reset()),
		times(2, record(ok(bothRules), none)),
		one(record(ok(bothRules), firedS)),
		one(record(limited(bothRules, 0), none), reset(), record(limited(bothRules, 0), none)),
		one(record(limited(bothRules, 0), firedR)),
	)},
	{"a success ends a streak of 429s", one(
		record(limited(rRules, 0), none),
		record(ok(rRules), none),
		record(limited(rRules, 0), none),
		record(limited(rRules, 0), firedR),
		admit(noRate, 2*time.Second),
	)},
	{"other outcomes change no counter", seq(
		times(2, record(ok(aRules), none)),
		one(record(otherCause, none), record(ok(aRules), firedS)),
		one(record(limited(rRules, 0), none), record(otherCause, none), record(limited(rRules, 0), firedR)),
	)},
	{"a server hint closes the gate for everyone", one(
		record(limited(noRules, 2*time.Second), firedH),
		admit(noRate, 2*time.Second),
		admit(hourly2, 2*time.Second),
	)},
	{"the gate only moves forward", seq(
		one(record(limited(noRules, 2*time.Second), firedH), record(limited(noRules, time.Second), none)),
		times(2, record(ok(aRules), none)),
		// The cooldown fires though the gate, already later, does not move.
		one(record(ok(aRules), firedS), admit(noRate, 2*time.Second)),
	)},
	{"the Nth 429 pauses for longer than a hint", one(
		record(limited(rRules, 500*time.Millisecond), firedH),
		record(limited(rRules, 0), firedR),
		admit(noRate, 2*time.Second),
	)},
	{"a hint and the Nth 429 together", one(
		record(limited(rRules, 0), none),
		record(limited(rRules, time.Second), firedRH),
		admit(noRate, 2*time.Second),
	)},
	{"the log admits Limit per sliding Window", one(
		admit(threePerS, 0),
		sleep(400*time.Millisecond),
		admit(threePerS, 0),
		admit(threePerS, 0),
		admit(threePerS, 600*time.Millisecond),
		sleep(600*time.Millisecond),
		admit(threePerS, 0),
		admit(threePerS, 400*time.Millisecond),
	)},
	{"a wait counts nothing", one(
		admit(oncePerH, 0),
		admit(oncePerH, time.Hour),
		admit(oncePerH, time.Hour),
	)},
	{"another told quota starts another log", one(
		admit(hourly2, 0), admit(hourly2, 0), admit(hourly2, time.Hour),
		admit(hourly3, 0),
	)},
	{"the longer of the gate and the quota", one(
		admit(oncePerH, 0),
		record(limited(noRules, 2*time.Second), firedH),
		admit(oncePerH, time.Hour),
		admit(noRate, 2*time.Second),
	)},
	{"a told token quota admits its tokens per sliding window", one(
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 600), 0),
		sleep(500*time.Millisecond),
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 300), 0),
		// 900 in the window: 200 more wait for the 600 to leave it.
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 200), 500*time.Millisecond),
		sleep(500*time.Millisecond),
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 700), 0),
	)},
	{"a refused start still drops what left the window", one(
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 600), 0),
		sleep(500*time.Millisecond),
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 400), 0),
		sleep(500*time.Millisecond),
		// The 600 has left; 400 + 700 is still too much.
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 700), 500*time.Millisecond),
		sleep(500*time.Millisecond),
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 700), 0),
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 300), 0),
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 1), time.Second),
	)},
	{"a start larger than its told quota goes alone", one(
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 5000), 0),
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 1), time.Second),
	)},
	{"what a start used settles its reservation", one(
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 900), 0),
		record(settled(900, 100), none),
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 900), 0),
		record(settled(900, 0), none), // refused: it used nothing
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 900), 0),
		admit(told(llmlimit.UnitInputTokens, 1000, time.Second, 1), time.Second),
	)},
	{"a learned window holds starts to its limit and rolls over", seq(
		one(record(limitedQ(noRules, 0, llmlimit.Quota{Limit: 2, Remaining: 0, Reset: 600 * time.Millisecond, Window: time.Second}), none)),
		one(admit(noRate, 600*time.Millisecond), sleep(600*time.Millisecond)),
		times(2, admit(noRate, 0)),
		one(admit(noRate, time.Second)),
	)},
	{"a learned token window counts what starts cost", seq(
		one(record(limitedQ(noRules, 0, llmlimit.Quota{Unit: llmlimit.UnitInputTokens, Limit: 1000, Remaining: 0, Reset: time.Second, Window: time.Minute}), none)),
		one(admit(tokens(400), time.Second), sleep(time.Second)),
		times(2, admit(tokens(400), 0)),
		one(admit(tokens(400), time.Minute)),
	)},
	{"replies from one window only raise the count used", seq(
		one(record(okQ(noRules, llmlimit.Quota{Limit: 5, Remaining: 3, Reset: time.Second, Window: time.Second}), none)),
		one(record(okQ(noRules, llmlimit.Quota{Limit: 5, Remaining: 4, Reset: time.Second, Window: time.Second}), none)),
		times(3, admit(noRate, 0)),
		one(admit(noRate, time.Second)),
	)},
	{"a reply from a new window replaces the old one", seq(
		one(record(okQ(noRules, llmlimit.Quota{Limit: 5, Remaining: 0, Reset: time.Second, Window: time.Minute}), none)),
		one(admit(noRate, time.Second)),
		one(record(okQ(noRules, llmlimit.Quota{Limit: 5, Remaining: 4, Reset: 3 * time.Second, Window: time.Minute}), none)),
		times(4, admit(noRate, 0)),
		one(admit(noRate, 3*time.Second)),
	)},
	{"unknown remaining counts the window as spent", one(
		record(okQ(noRules, llmlimit.Quota{Limit: 2, Remaining: -1, Reset: time.Second, Window: time.Minute}), none),
		admit(noRate, time.Second),
	)},
	{"a window under a second is forgotten at its end", seq(
		one(record(limitedQ(noRules, 0, llmlimit.Quota{Limit: 1, Remaining: 0, Reset: 300 * time.Millisecond}), none)),
		one(admit(noRate, 300*time.Millisecond), sleep(300*time.Millisecond)),
		times(3, admit(noRate, 0)),
	)},
	{"a reply without limit or reset teaches nothing", seq(
		one(record(limitedQ(noRules, 0, llmlimit.Quota{Limit: 0, Remaining: 0, Reset: time.Second}), none)),
		one(record(okQ(noRules, llmlimit.Quota{Limit: 1, Remaining: 0, Reset: 0}), none)),
		times(3, admit(noRate, 0)),
	)},
	{"a bucket refills at the rate its reply implies", one(
		// 900 of 1000 spent, full again in 9 s: 100 tokens a second.
		record(okQ(noRules, llmlimit.Quota{Unit: llmlimit.UnitTokens, Limit: 1000, Remaining: 100, Reset: 9 * time.Second, Refill: llmlimit.RefillContinuous}), none),
		admit(tokens(100), 0),
		admit(tokens(100), time.Second),
		sleep(500*time.Millisecond),
		admit(tokens(100), 500*time.Millisecond),
	)},
	{"a contradicted window is paced smoothly", seq(
		one(record(limitedQ(noRules, 0, perSecond), none)),
		one(sleep(time.Second), admit(noRate, 0)),
		// The model had 9 left: this 429 contradicts it. Starts wait for
		// the window the server says is spent, then are spaced at 9 a
		// second (the limit less a burst of one), so that no second, of
		// any phase, sees more than 10.
		one(record(limitedQ(noRules, 0, perSecond), none)),
		one(admit(noRate, time.Second), sleep(time.Second)),
		one(admit(noRate, 0), admit(noRate, 111111111*time.Nanosecond)),
	)},
	{"a refusal of an attempt admitted before the model contradicts nothing", seq(
		one(record(limitedQ(noRules, 0, perSecond), none)),
		one(sleep(time.Second), admit(noRate, 0)),
		one(record(llmlimit.Outcome{RateLimited: true, Quotas: limitedQ(noRules, 0, perSecond).Quotas, Admitted: time.Unix(1, 0)}, none)),
		// Still a fixed window: the rest of it is spent, the next free.
		one(admit(noRate, time.Second), sleep(time.Second)),
		times(10, admit(noRate, 0)),
	)},
	{"a 429 against a told quota spaces its starts", one(
		admit(told(llmlimit.UnitRequests, 10, time.Second, 1), 0),
		record(limitedQ(noRules, 0, llmlimit.Quota{Limit: 10, Remaining: 0, Reset: 0, Window: time.Second}), none),
		admit(told(llmlimit.UnitRequests, 10, time.Second, 1), 0),
		admit(told(llmlimit.UnitRequests, 10, time.Second, 1), 100*time.Millisecond),
	)},
}

// runSteps runs steps against s. An admit's wait must be want exactly when
// slack is 0; otherwise in (want-slack, want], since real time passes
// between the steps.
func runSteps(t *testing.T, s llmlimit.State, steps []step, slack time.Duration) {
	t.Helper()
	ctx := context.Background()
	for i, st := range steps {
		switch st.op {
		case opAdmit:
			h, err := s.Admit(ctx, st.adm)
			if err != nil {
				t.Fatalf("step %d: admit: %v", i, err)
			}
			got := h.Wait
			if st.wait == 0 && got != 0 || st.wait != 0 && (got > st.wait || got <= st.wait-slack-time.Nanosecond) {
				t.Fatalf("step %d: admit %+v: wait %v, want %v (slack %v)", i, st.adm, got, st.wait, slack)
			}
		case opRecord:
			if st.out.Admitted.IsZero() {
				st.out.Admitted = time.Now() // an attempt admitted just now
			}
			got, err := s.Record(ctx, st.out)
			if err != nil {
				t.Fatalf("step %d: record: %v", i, err)
			}
			if got != st.fired {
				t.Fatalf("step %d: record %+v: fired %+v, want %+v", i, st.out, got, st.fired)
			}
		case opReset:
			if err := s.Reset(ctx); err != nil {
				t.Fatalf("step %d: reset: %v", i, err)
			}
		case opSleep:
			time.Sleep(st.d)
		}
	}
}

func TestSemanticsMemory(t *testing.T) {
	for _, tc := range semantics {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				runSteps(t, new(llmlimit.MemoryState), tc.steps, 0)
			})
		})
	}
}

// redisSlack bounds the real time that passes between two steps, under the
// race detector on a loaded machine.
const redisSlack = 250 * time.Millisecond

func TestSemanticsRedis(t *testing.T) {
	redisAddr(t)
	for _, tc := range semantics {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestState(t)
			runSteps(t, s, tc.steps, redisSlack)
		})
	}
}
