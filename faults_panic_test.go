package llmlimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// panicky panics on every call while on is set, and otherwise replies.
type panicky struct {
	on    atomic.Bool
	value any
	calls atomic.Int64
}

func (p *panicky) Name() string { return "panicky" }

func (p *panicky) Generate(ctx context.Context, req *Request) (*Response, error) {
	p.calls.Add(1)
	if p.on.Load() {
		panic(p.value)
	}
	return &Response{Text: "ok"}, nil
}

// unprintable panics when printed, as a hostile panic value might.
type unprintable struct{}

func (unprintable) String() string { panic("and again") }

func TestProviderPanicsLeaveTheLimiterUsable(t *testing.T) {
	for _, value := range []any{"boom", errors.New("boom"), unprintable{}, nil} {
		synctest.Test(t, func(t *testing.T) {
			var logs bytes.Buffer
			p := &panicky{value: value}
			p.on.Store(true)
			l := newTestLimiter(t, p, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			var wg sync.WaitGroup
			var panicErrs atomic.Int64
			for range 1000 {
				wg.Go(func() {
					_, err := l.Generate(t.Context(), &Request{})
					var pe *ProviderError
					if errors.Is(err, ErrPanic) && errors.As(err, &pe) && pe.Kind == KindPermanent && pe.Provider == "panicky" {
						panicErrs.Add(1)
					}
				})
			}
			wg.Wait()
			if panicErrs.Load() != 1000 || p.calls.Load() != 1000 {
				t.Fatalf("%d ErrPanic errors from %d calls, want 1000 each (panics are not retried)", panicErrs.Load(), p.calls.Load())
			}
			p.on.Store(false)
			start := time.Now()
			if _, err := l.Generate(t.Context(), &Request{}); err != nil || time.Since(start) != 0 {
				t.Fatalf("after 1000 panics: %v after %v, want a reply at once", err, time.Since(start))
			}
			st := l.Stats()
			if st.Panics != 1000 || st.Permanent != 1000 || st.Successes != 1 {
				t.Fatalf("stats %+v", st)
			}
			l.mu.Lock()
			inFlight, line := l.inFlight, l.line.Len()
			l.mu.Unlock()
			if inFlight != 0 || line != 0 {
				t.Fatalf("in flight %d, in line %d after every call returned", inFlight, line)
			}
			if n := strings.Count(logs.String(), "msg=panic"); n != 1000 || !strings.Contains(logs.String(), "stack=") {
				t.Fatalf("%d panic logs with stacks, want 1000", n)
			}
		})
	}
}

func TestNilReplyIsAPermanentError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &stubProvider{name: "nilly"}
		l := newTestLimiter(t, nilReply{p})
		_, err := l.Generate(t.Context(), &Request{})
		var pe *ProviderError
		if !errors.As(err, &pe) || pe.Kind != KindPermanent || !strings.Contains(err.Error(), "nilly returned neither a reply nor an error") {
			t.Fatalf("err = %v, want a permanent error naming the provider", err)
		}
		done := make(chan Stats)
		go func() { done <- l.Stats() }()
		synctest.Wait()
		select {
		case st := <-done:
			if st.Permanent != 1 || st.Calls != 1 {
				t.Fatalf("stats %+v", st)
			}
		default:
			t.Fatal("Stats blocked after a (nil, nil) reply")
		}
	})
}

// nilReply answers (nil, nil).
type nilReply struct{ *stubProvider }

func (n nilReply) Generate(context.Context, *Request) (*Response, error) { return nil, nil }

// panicState is a State that panics while on is set.
type panicState struct {
	MemoryState
	on atomic.Bool
}

func (s *panicState) Admit(ctx context.Context, a Admission) (Hold, error) {
	if s.on.Load() {
		panic("admit")
	}
	return s.MemoryState.Admit(ctx, a)
}

func (s *panicState) Record(ctx context.Context, o Outcome) (Cooldowns, error) {
	if s.on.Load() {
		panic("record")
	}
	return s.MemoryState.Record(ctx, o)
}

func TestStatePanicsFallBackToThePrivateState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &panicState{}
		s.on.Store(true)
		p := &stubProvider{}
		l := newTestLimiter(t, p, WithState(s), WithSuccessCooldown(0, 0))
		if ok := runCallers(t, l, 50); ok != 50 {
			t.Fatalf("%d of 50 calls succeeded with a panicking shared state", ok)
		}
		st := l.Stats()
		if st.Panics == 0 || st.StateErrors != st.Panics {
			t.Fatalf("stats %+v: want every panic counted as a state error", st)
		}
		s.on.Store(false)
		time.Sleep(stateRetry)
		if err := call(t, l); err != nil {
			t.Fatal(err)
		}
		if got := l.Stats().Panics; got != st.Panics {
			t.Fatalf("panics grew to %d after the state recovered", got)
		}
	})
}

// TestHostileHintsAreBounded sends one reply each with a retry hint or a
// quota reset no quota can justify, and checks how long the next call
// waits: at most two windows for a per-minute quota, the backoff cap when
// the reply names no window.
func TestHostileHintsAreBounded(t *testing.T) {
	perMinute := []Quota{{ID: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", Limit: 15, Remaining: 0, Window: time.Minute, Exceeded: true}}
	tests := []struct {
		name  string
		reply func(n int) (*Response, error)
		bound time.Duration
	}{
		{"retryDelay 99999999s on a per-minute quota", func(int) (*Response, error) {
			return nil, &ProviderError{Provider: "stub", StatusCode: 429, Kind: KindRateLimited, RetryAfter: 99999999 * time.Second, Quotas: perMinute}
		}, 2 * time.Minute},
		{"Retry-After in 2099, no quota", func(int) (*Response, error) {
			return nil, &ProviderError{Provider: "stub", StatusCode: 429, Kind: KindRateLimited, RetryAfter: 73 * 365 * day}
		}, time.Minute},
		{"retry-after-ms 1e30, no quota", func(int) (*Response, error) {
			return nil, &ProviderError{Provider: "stub", StatusCode: 429, Kind: KindRateLimited, RetryAfter: 1<<63 - 1}
		}, time.Minute},
		{"200 with limit 1, remaining 0, reset 999999h", func(int) (*Response, error) {
			return &Response{Text: "ok", Quotas: []Quota{{Limit: 1, Remaining: 0, Reset: 999999 * time.Hour, Refill: RefillContinuous}}}, nil
		}, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var logs bytes.Buffer
				first := true
				p := &replyFunc{f: func(n int) (*Response, error) {
					if first {
						first = false
						return tt.reply(n)
					}
					return &Response{Text: "ok"}, nil
				}}
				l := newTestLimiter(t, p, WithMaxRetries(0), WithSuccessCooldown(0, 0),
					WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
				l.Generate(t.Context(), &Request{})
				start := time.Now()
				// An hour is far past any bound: a Limiter that obeys the
				// hint fails here instead of parking the test.
				ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
				defer cancel()
				if _, err := l.Generate(ctx, &Request{}); err != nil {
					t.Fatalf("next call: %v after %v", err, time.Since(start))
				}
				if waited := time.Since(start); waited > tt.bound || waited == 0 {
					t.Fatalf("next call waited %v, want (0, %v]", waited, tt.bound)
				}
			})
		})
	}
}

// replyFunc answers each call with f.
type replyFunc struct {
	f func(n int) (*Response, error)
	n atomic.Int64
}

func (r *replyFunc) Name() string { return "stub" }

func (r *replyFunc) Generate(context.Context, *Request) (*Response, error) {
	return r.f(int(r.n.Add(1)))
}

func TestHintBound(t *testing.T) {
	tests := []struct {
		name   string
		quotas []Quota
		want   time.Duration
	}{
		{"no quota: the backoff cap", nil, time.Minute},
		{"a quota not exceeded says nothing", []Quota{{Window: time.Hour}}, time.Minute},
		{"per minute: two windows", []Quota{{Window: time.Minute, Exceeded: true}}, 2 * time.Minute},
		{"per 10 s: two windows", []Quota{{Window: 10 * time.Second, Exceeded: true}}, 20 * time.Second},
		{"per day: a day and an hour", []Quota{{Window: day, Exceeded: true}}, 25 * time.Hour},
		{"the longest exceeded", []Quota{{Window: time.Minute, Exceeded: true}, {Window: day, Exceeded: true}}, 25 * time.Hour},
	}
	for _, tt := range tests {
		if got := hintBound(tt.quotas, time.Minute); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
