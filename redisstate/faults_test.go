package redisstate

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// These tests run against a fake Redis on loopback, whose clock can't be
// virtual: durations are wall-clock. The bound on a State call is its
// timeout plus 10%, measured on the call itself, which only waits for a
// timer or a socket; the timeout is the Limiter's default of 250 ms. On a
// machine loaded several times over its cores the scheduler has been seen
// to wake a timer 60 ms late, so a case whose longest call overruns is run
// once more (see overran); a call that really outlasts its timeout, as a
// gigabyte's read did, overruns every time.

const (
	faultTimeout = 250 * time.Millisecond
	faultSlack   = faultTimeout / 10
	// hugeAlloc bounds what the calls of one case may allocate in all: a
	// few new connections' buffers, never the size a reply announces.
	hugeAlloc = 4 << 20
)

// faults are what a broken or hostile Redis answers a State's commands with.
var faults = []fault{
	{name: "bulk 2^63-1", reply: "$9223372036854775807\r\n", huge: true},
	{name: "bulk 2^63-2", reply: "$9223372036854775806\r\nabc", huge: true},
	{name: "array 2^63-1", reply: "*9223372036854775807\r\n", huge: true},
	{name: "map 2^62", reply: "%4611686018427387904\r\n:1\r\n", huge: true},
	{name: "bulk 1e9", reply: "$1000000000\r\n" + strings.Repeat("x", 1000), huge: true},
	{name: "array 1e9", reply: "*1000000000\r\n:1\r\n:2\r\n", huge: true},
	{name: "nested arrays", reply: strings.Repeat("*20000\r\n", 40), huge: true},
	{name: "long line", reply: "+" + strings.Repeat("x", 1<<20) + "\r\n", huge: true},
	{name: "random bytes", reply: "\x8f\x03\x00\xff*-7\r\n$\x01\x02zz\r\n\xfe\xed\xfa\xce" + strings.Repeat("\x00\xa5", 64)},
	{name: "huge handshake", reply: "%9223372036854775807\r\n", hello: true, huge: true},
	{name: "garbage handshake", reply: "\x00\x01\x02 not redis\r\n", hello: true},
	{name: "string for int", reply: "+OK\r\n"},
	{name: "bulk for int", reply: "$2\r\n12\r\n"},
	{name: "short array", reply: "*2\r\n:0\r\n:1\r\n"},
	{name: "nested array", reply: "*3\r\n*1\r\n:1\r\n:0\r\n:0\r\n"},
	{name: "error reply", reply: "-ERR boom\r\n"},
	{name: "negative wait", reply: "*3\r\n:-5\r\n:0\r\n:0\r\n"},
	{name: "hang", hang: true},
	{name: "slowloris", reply: "$10\r\n0123456789\r\n", drip: 300 * time.Millisecond},
}

// TestFaults runs every fault against a State on a client of NewClient,
// with and without ContextTimeoutEnabled: first through a Limiter, then
// each operation directly. No call crashes or outlasts its timeout, every
// Generate returns with the provider's reply (the Limiter limits locally),
// a huge reply allocates nothing of its size, and every goroutine ends.
func TestFaults(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var hugeTotal uint64
	for _, f := range faults {
		for _, ctxAware := range []bool{true, false} {
			t.Run(f.name+"/"+mode(ctxAware), func(t *testing.T) {
				res := runFault(t, f, ctxAware, NewClient)
				if f.huge {
					hugeTotal += res.alloc
				}
				overran(t, res, func() faultResult { return runFault(t, f, ctxAware, NewClient) })
				if f.huge && res.alloc > hugeAlloc {
					t.Errorf("the calls allocated %d bytes, over %d", res.alloc, hugeAlloc)
				}
				if res.stateErrors == 0 {
					t.Errorf("the Limiter counted no state error")
				}
				for _, err := range res.generate {
					if err != nil {
						t.Errorf("Generate: %v, want the provider's reply", err)
					}
				}
				for _, err := range res.admit {
					if err == nil {
						t.Errorf("Admit succeeded on %q", f.reply)
					} else if f.huge && !errors.Is(err, errRefused) {
						t.Errorf("Admit: %v, want the reply refused", err)
					}
				}
				for _, err := range res.record {
					if err == nil {
						t.Errorf("Record succeeded on %q", f.reply)
					}
				}
			})
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Everything was closed: what the cases keep is noise, not buffers.
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("the huge cases allocated %d KiB in all; the heap grew by %d KiB over every case", hugeTotal>>10, growth>>10)
	if growth > hugeAlloc {
		t.Errorf("the heap grew by %d bytes over the cases, more than %d", growth, hugeAlloc)
	}
}

func mode(ctxAware bool) string {
	if ctxAware {
		return "ContextTimeoutEnabled"
	}
	return "default"
}

// faultResult is what runFault saw.
type faultResult struct {
	calls         int
	longest       time.Duration
	stateErrors   int64
	alloc         uint64 // bytes allocated during the calls
	generate      []error
	admit, record []error
	waits         []time.Duration // of the direct Admits
	providerCalls int
}

// runFault serves f to a State on a client built by newClient: twenty
// Generates, five at a time, through a Limiter, then each of Admit,
// Record and Reset twice, directly with the Limiter's timeout. It closes
// everything and waits for every goroutine the case started to end.
func runFault(t *testing.T, f fault, ctxAware bool, newClient func(*redis.Options) *redis.Client) faultResult {
	t.Helper()
	leaks := goleak.IgnoreCurrent()
	srv := newFakeRedis(t, f)
	c := newClient(&redis.Options{Addr: srv.addr(), ContextTimeoutEnabled: ctxAware})
	ts := &timedState{s: New(c, "fault")}
	fake := llmtest.NewFake("fake")
	l, err := llmlimit.New(fake, llmlimit.WithState(ts), llmlimit.WithStateTimeout(faultTimeout),
		llmlimit.WithMaxWait(30*time.Second), llmlimit.WithLogger(slog.New(slog.DiscardHandler)),
		// Not the seed's pause after every 12 successes: each Generate
		// must meet the State, not a local cooldown.
		llmlimit.WithSuccessCooldown(0, 0))
	if err != nil {
		t.Fatal(err)
	}

	var res faultResult
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			for range 4 {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				_, err := l.Generate(ctx, request)
				cancel()
				mu.Lock()
				res.generate = append(res.generate, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.stateErrors = l.Stats().StateErrors
	res.providerCalls = fake.Calls()

	rate := told(llmlimit.UnitRequests, 10, time.Minute, 1)
	outcome := llmlimit.Outcome{Success: true}
	for range 2 {
		ctx, cancel := context.WithTimeout(t.Context(), faultTimeout)
		h, err := ts.Admit(ctx, rate)
		cancel()
		res.admit, res.waits = append(res.admit, err), append(res.waits, h.Wait)
		ctx, cancel = context.WithTimeout(t.Context(), faultTimeout)
		_, err = ts.Record(ctx, outcome)
		cancel()
		res.record = append(res.record, err)
		ctx, cancel = context.WithTimeout(t.Context(), faultTimeout)
		ts.Reset(ctx)
		cancel()
	}
	runtime.ReadMemStats(&after)
	res.alloc = after.TotalAlloc - before.TotalAlloc
	res.calls, res.longest = ts.stats()
	t.Logf("%s: %d state calls, longest %v, %d state errors, %d KiB allocated",
		t.Name(), res.calls, res.longest.Round(time.Millisecond), res.stateErrors, res.alloc>>10)

	c.Close()
	srv.close()
	waitGoroutines(t, leaks)
	return res
}

// overran fails t when a state call of res, and then one of a second run,
// took longer than the timeout + 10%.
func overran(t *testing.T, res faultResult, again func() faultResult) {
	t.Helper()
	const bound = faultTimeout + faultSlack
	if res.longest <= bound {
		return
	}
	t.Logf("a state call took %v, over %v: running the case again", res.longest, bound)
	if res = again(); res.longest > bound {
		t.Errorf("a state call took %v, over the %v timeout + 10%%, twice", res.longest, faultTimeout)
	}
}

// waitGoroutines fails t unless every goroutine not ignored by leaks ends
// within 5 s: a State's guard goroutine ends at the client's read timeout
// at the latest, and sooner once its connection closes.
func waitGoroutines(t *testing.T, leaks goleak.Option) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := goleak.Find(leaks, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines still running 5 s after the client and server closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// timedState is a State that measures each call of the one it wraps.
type timedState struct {
	s *State

	mu      sync.Mutex
	calls   int
	longest time.Duration
}

func (ts *timedState) Admit(ctx context.Context, a llmlimit.Admission) (llmlimit.Hold, error) {
	defer ts.observe(time.Now())
	return ts.s.Admit(ctx, a)
}

func (ts *timedState) Record(ctx context.Context, o llmlimit.Outcome) (llmlimit.Cooldowns, error) {
	defer ts.observe(time.Now())
	return ts.s.Record(ctx, o)
}

func (ts *timedState) Reset(ctx context.Context) error {
	defer ts.observe(time.Now())
	return ts.s.Reset(ctx)
}

func (ts *timedState) observe(start time.Time) {
	d := time.Since(start)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.calls++
	ts.longest = max(ts.longest, d)
}

func (ts *timedState) stats() (int, time.Duration) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.calls, ts.longest
}

// TestFaultWaits serves waits: one of an hour is a legitimate gate, which
// the Limiter obeys (it refuses the call as over its wait budget and never
// calls the provider); one of 365 days is a corrupt state, which the State
// refuses and the Limiter answers locally.
func TestFaultWaits(t *testing.T) {
	for _, ctxAware := range []bool{true, false} {
		t.Run("1h/"+mode(ctxAware), func(t *testing.T) {
			f := fault{name: "wait 1h", reply: "*3\r\n:3600000000\r\n:0\r\n:0\r\n"}
			res := runFault(t, f, ctxAware, NewClient)
			if res.stateErrors != 0 || res.providerCalls != 0 {
				t.Errorf("%d state errors and %d provider calls, want none: the wait was not obeyed", res.stateErrors, res.providerCalls)
			}
			for _, err := range res.generate {
				if !errors.Is(err, llmlimit.ErrCooldown) {
					t.Errorf("Generate: %v, want ErrCooldown", err)
				}
			}
			for i, err := range res.admit {
				if err != nil || res.waits[i] != time.Hour {
					t.Errorf("Admit = %v, %v; want 1h, nil", res.waits[i], err)
				}
			}
			overran(t, res, func() faultResult { return runFault(t, f, ctxAware, NewClient) })
		})
		t.Run("365d/"+mode(ctxAware), func(t *testing.T) {
			f := fault{name: "wait 365d", reply: "*3\r\n:31536000000000\r\n:0\r\n:0\r\n"}
			res := runFault(t, f, ctxAware, NewClient)
			overran(t, res, func() faultResult { return runFault(t, f, ctxAware, NewClient) })
			if res.stateErrors == 0 || res.providerCalls != len(res.generate) {
				t.Errorf("%d state errors and %d provider calls of %d Generates: the wait was not refused",
					res.stateErrors, res.providerCalls, len(res.generate))
			}
			for _, err := range res.admit {
				if err == nil || !strings.Contains(err.Error(), "out of range") {
					t.Errorf("Admit: %v, want a wait out of range", err)
				}
			}
		})
	}
}

// TestFaultPanics serves the lengths that make go-redis panic to a State
// on a client the caller built and may share (go-redis's own, without the
// bounds of NewClient): the panic is the State call's error, with its
// value, on both the direct and the guarded path; the process goes on and
// every goroutine ends.
func TestFaultPanics(t *testing.T) {
	for _, f := range faults[:3] {
		for _, ctxAware := range []bool{true, false} {
			t.Run(f.name+"/"+mode(ctxAware), func(t *testing.T) {
				res := runFault(t, f, ctxAware, redis.NewClient)
				if res.stateErrors == 0 {
					t.Errorf("the Limiter counted no state error")
				}
				for _, err := range res.generate {
					if err != nil {
						t.Errorf("Generate: %v, want the provider's reply", err)
					}
				}
				for _, err := range append(res.admit, res.record...) {
					if err == nil || !strings.Contains(err.Error(), "panic") || !strings.Contains(err.Error(), "makeslice") {
						t.Errorf("State call: %v, want the client's panic", err)
					}
				}
				overran(t, res, func() faultResult { return runFault(t, f, ctxAware, redis.NewClient) })
			})
		}
	}
}
