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
	rate  llmlimit.Rate      // opAdmit
	out   llmlimit.Outcome   // opRecord
	d     time.Duration      // opSleep
	wait  time.Duration      // opAdmit: the wait expected; 0 = admitted
	fired llmlimit.Cooldowns // opRecord
}

func admit(r llmlimit.Rate, wait time.Duration) step { return step{op: opAdmit, rate: r, wait: wait} }
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

var (
	noRate    llmlimit.Rate
	noRules   llmlimit.CooldownRules
	sRules    = llmlimit.CooldownRules{SuccessesPerCooldown: 3, SuccessCooldown: time.Second}
	rRules    = llmlimit.CooldownRules{RateLimitsPerCooldown: 2, RateLimitCooldown: 2 * time.Second}
	bothRules = llmlimit.CooldownRules{SuccessesPerCooldown: 3, SuccessCooldown: time.Second,
		RateLimitsPerCooldown: 2, RateLimitCooldown: 2 * time.Second}

	none       = llmlimit.Cooldowns{}
	firedS     = llmlimit.Cooldowns{Successes: 1}
	firedR     = llmlimit.Cooldowns{RateLimit: 1}
	firedH     = llmlimit.Cooldowns{ServerHint: 1}
	firedRH    = llmlimit.Cooldowns{RateLimit: 1, ServerHint: 1}
	hourly2    = llmlimit.Rate{Requests: 2, Per: time.Hour}
	threePerS  = llmlimit.Rate{Requests: 3, Per: time.Second}
	oncePerH   = llmlimit.Rate{Requests: 1, Per: time.Hour}
	hourly3    = llmlimit.Rate{Requests: 3, Per: time.Hour}
	otherCause = llmlimit.Outcome{} // neither success nor 429
)

func ok(r llmlimit.CooldownRules) llmlimit.Outcome {
	return llmlimit.Outcome{Success: true, Rules: r}
}

func okRL(r llmlimit.CooldownRules, rl llmlimit.RateLimit) llmlimit.Outcome {
	return llmlimit.Outcome{Success: true, Rules: r, RateLimit: &rl}
}

func limited(r llmlimit.CooldownRules, hint time.Duration) llmlimit.Outcome {
	return llmlimit.Outcome{RateLimited: true, Rules: r, RetryAfter: hint}
}

func limitedRL(r llmlimit.CooldownRules, hint time.Duration, rl llmlimit.RateLimit) llmlimit.Outcome {
	return llmlimit.Outcome{RateLimited: true, Rules: r, RetryAfter: hint, RateLimit: &rl}
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
	{"every Nth success pauses everyone", seq(
		times(2, record(ok(sRules), none)),
		one(record(ok(sRules), firedS), admit(noRate, time.Second)),
		times(2, record(ok(sRules), none)),
		one(record(ok(sRules), firedS)),
	)},
	{"a told quota stands the success cooldown down", seq(
		one(admit(hourly3, 0)),
		times(4, record(ok(sRules), none)),
	)},
	{"a learned quota stands the success cooldown down", seq(
		one(record(ok(sRules), none)),
		one(record(okRL(sRules, llmlimit.RateLimit{Limit: 9, Remaining: 8, Reset: time.Minute, Window: time.Minute}), none)),
		times(3, record(ok(sRules), none)),
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
		times(2, record(ok(sRules), none)),
		one(record(otherCause, none), record(ok(sRules), firedS)),
		one(record(limited(rRules, 0), none), record(otherCause, none), record(limited(rRules, 0), firedR)),
	)},
	{"a server hint closes the gate for everyone", one(
		record(limited(noRules, 2*time.Second), firedH),
		admit(noRate, 2*time.Second),
		admit(hourly2, 2*time.Second),
	)},
	{"the gate only moves forward", seq(
		one(record(limited(noRules, 2*time.Second), firedH), record(limited(noRules, time.Second), none)),
		times(2, record(ok(sRules), none)),
		// The cooldown fires though the gate, already later, does not move.
		one(record(ok(sRules), firedS), admit(noRate, 2*time.Second)),
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
	{"the log admits Requests per sliding Per", one(
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
	{"another rate starts another log", one(
		admit(hourly2, 0), admit(hourly2, 0), admit(hourly2, time.Hour),
		admit(hourly3, 0),
	)},
	{"the longer of the gate and the quota", one(
		admit(oncePerH, 0),
		record(limited(noRules, 2*time.Second), firedH),
		admit(oncePerH, time.Hour),
		admit(noRate, 2*time.Second),
	)},
	{"a learned window holds starts to its limit and rolls over", seq(
		one(record(limitedRL(noRules, 0, llmlimit.RateLimit{Limit: 2, Remaining: 0, Reset: 600 * time.Millisecond, Window: time.Second}), none)),
		one(admit(noRate, 600*time.Millisecond), sleep(600*time.Millisecond)),
		times(2, admit(noRate, 0)),
		one(admit(noRate, time.Second)),
	)},
	{"replies from one window only raise the count used", seq(
		one(record(okRL(noRules, llmlimit.RateLimit{Limit: 5, Remaining: 3, Reset: time.Second, Window: time.Second}), none)),
		one(record(okRL(noRules, llmlimit.RateLimit{Limit: 5, Remaining: 4, Reset: time.Second, Window: time.Second}), none)),
		times(3, admit(noRate, 0)),
		one(admit(noRate, time.Second)),
	)},
	{"a reply from a new window replaces the old one", seq(
		one(record(okRL(noRules, llmlimit.RateLimit{Limit: 5, Remaining: 0, Reset: time.Second, Window: time.Minute}), none)),
		one(admit(noRate, time.Second)),
		one(record(okRL(noRules, llmlimit.RateLimit{Limit: 5, Remaining: 4, Reset: 3 * time.Second, Window: time.Minute}), none)),
		times(4, admit(noRate, 0)),
		one(admit(noRate, 3*time.Second)),
	)},
	{"unknown remaining counts the window as spent", one(
		record(okRL(noRules, llmlimit.RateLimit{Limit: 2, Remaining: -1, Reset: time.Second, Window: time.Minute}), none),
		admit(noRate, time.Second),
	)},
	{"a window under a second is forgotten at its end", seq(
		one(record(limitedRL(noRules, 0, llmlimit.RateLimit{Limit: 1, Remaining: 0, Reset: 300 * time.Millisecond}), none)),
		one(admit(noRate, 300*time.Millisecond), sleep(300*time.Millisecond)),
		times(3, admit(noRate, 0)),
	)},
	{"a reply without limit or reset teaches nothing", seq(
		one(record(limitedRL(noRules, 0, llmlimit.RateLimit{Limit: 0, Remaining: 0, Reset: time.Second}), none)),
		one(record(okRL(noRules, llmlimit.RateLimit{Limit: 1, Remaining: 0, Reset: 0}), none)),
		times(3, admit(noRate, 0)),
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
			got, err := s.Admit(ctx, st.rate)
			if err != nil {
				t.Fatalf("step %d: admit: %v", i, err)
			}
			if st.wait == 0 && got != 0 || st.wait != 0 && (got > st.wait || got <= st.wait-slack-time.Nanosecond) {
				t.Fatalf("step %d: admit %+v: wait %v, want %v (slack %v)", i, st.rate, got, st.wait, slack)
			}
		case opRecord:
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
				runSteps(t, llmlimit.NewMemoryState(), tc.steps, 0)
			})
		})
	}
}

// redisSlack bounds the real time that passes between two steps, under the
// race detector on a loaded machine.
const redisSlack = 150 * time.Millisecond

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
