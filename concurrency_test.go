package llmlimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func newTestLimiter(t *testing.T, p Provider, opts ...Option) *Limiter {
	t.Helper()
	l, err := New(p, append([]Option{withRand(zeroRand)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func call(t *testing.T, l *Limiter) error {
	t.Helper()
	_, err := l.Generate(t.Context(), &Request{Prompt: "p"})
	return err
}

func TestSuccessCooldownPausesEveryCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &stubProvider{}
		l := newTestLimiter(t, p)
		start := time.Now()
		for i := 0; i < 12; i++ {
			if err := call(t, l); err != nil {
				t.Fatal(err)
			}
		}
		if got := l.local.PausedUntil().Sub(start); got != 5*time.Second {
			t.Fatalf("gate after 12 successes: %v ahead, want 5s", got)
		}
		if ok := runCallers(t, l, 3); ok != 3 {
			t.Fatalf("%d of 3 callers succeeded", ok)
		}
		starts := p.startTimes()
		for i, s := range starts[12:] {
			if d := s.Sub(start); d != 5*time.Second {
				t.Errorf("caller %d started after %v, want exactly 5s", i, d)
			}
		}
		if got := l.Stats().Cooldowns.Successes; got != 1 {
			t.Errorf("success cooldowns = %d, want 1", got)
		}
	})
}

func TestRateLimitCooldown(t *testing.T) {
	tests := []struct {
		name     string
		outcomes []bool // true = 429
		wantGate time.Duration
	}{
		{"three in a row pause 10s", []bool{true, true, true}, 10 * time.Second},
		{"a success resets the count", []bool{true, true, false, true, true}, 0},
		{"two are not enough", []bool{true, true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := &stubProvider{next: func(n int) error {
					if tt.outcomes[n-1] {
						return rateLimited(0)
					}
					return nil
				}}
				l := newTestLimiter(t, p, WithMaxRetries(0))
				start := time.Now()
				for range tt.outcomes {
					call(t, l)
				}
				got := l.local.PausedUntil().Sub(start)
				if tt.wantGate == 0 && got > 0 || tt.wantGate > 0 && got != tt.wantGate {
					t.Fatalf("gate %v ahead, want %v", got, tt.wantGate)
				}
				// The next caller waits exactly for the gate.
				p.next = nil
				before := time.Now()
				if err := call(t, l); err != nil {
					t.Fatal(err)
				}
				if waited := time.Since(before); waited != max(tt.wantGate, 0) {
					t.Fatalf("next call waited %v, want %v", waited, tt.wantGate)
				}
			})
		})
	}
}

func TestServerHintDelaysAllCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &stubProvider{next: func(n int) error {
			if n == 1 {
				return rateLimited(26 * time.Second)
			}
			return nil
		}}
		l := newTestLimiter(t, p)
		start := time.Now()
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := call(t, l); err != nil {
				t.Error(err)
			}
		})
		synctest.Wait() // the first call has its 429 and sleeps
		for i := 0; i < 4; i++ {
			wg.Go(func() {
				if err := call(t, l); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		starts := p.startTimes()
		if len(starts) != 6 {
			t.Fatalf("%d attempts, want 6", len(starts))
		}
		for i, s := range starts[1:] {
			if d := s.Sub(start); d < 26*time.Second {
				t.Errorf("attempt %d started after %v, want >= 26s", i+2, d)
			}
		}
		if got := l.Stats().Cooldowns.ServerHint; got != 1 {
			t.Errorf("server-hint cooldowns = %d, want 1", got)
		}
	})
}

func TestNotRetried(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind Kind
	}{
		{"per-day quota", &ProviderError{Provider: "stub", StatusCode: 429, Kind: KindQuotaExhausted, RetryAfter: 20 * time.Second, QuotaID: "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}, KindQuotaExhausted},
		{"insufficient_quota", &ProviderError{Provider: "stub", StatusCode: 429, Kind: KindQuotaExhausted}, KindQuotaExhausted},
		{"400", &ProviderError{Provider: "stub", StatusCode: 400, Kind: KindPermanent}, KindPermanent},
		{"401", &ProviderError{Provider: "stub", StatusCode: 401, Kind: KindPermanent}, KindPermanent},
		{"unknown error", errors.New("boom"), KindPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := &stubProvider{next: func(int) error { return tt.err }}
				l := newTestLimiter(t, p)
				err := call(t, l)
				if !errors.Is(err, tt.err) || KindOf(err) != tt.kind {
					t.Fatalf("err = %v (kind %v), want %v", err, KindOf(err), tt.err)
				}
				if n := p.calls.Load(); n != 1 {
					t.Fatalf("%d attempts, want 1", n)
				}
				if tt.kind == KindQuotaExhausted {
					// Fails fast without sending until the reset.
					err := call(t, l)
					if !errors.Is(err, ErrQuotaExhausted) || p.calls.Load() != 1 {
						t.Fatalf("second call: err %v, attempts %d; want fast ErrQuotaExhausted", err, p.calls.Load())
					}
					time.Sleep(max(providerErrorOf(tt.err).RetryAfter, quotaRecheck))
					p.next = nil
					if err := call(t, l); err != nil || p.calls.Load() != 2 {
						t.Fatalf("after reset: err %v, attempts %d", err, p.calls.Load())
					}
				}
			})
		})
	}
}

func TestRetriesWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &stubProvider{next: func(n int) error {
			if n <= 3 {
				return serverError()
			}
			return nil
		}}
		l := newTestLimiter(t, p)
		start := time.Now()
		if err := call(t, l); err != nil {
			t.Fatal(err)
		}
		// Delays 1.1s, 2.1s, 4.1s with jitter pinned at its minimum.
		want := []time.Duration{0, 1100 * time.Millisecond, 3200 * time.Millisecond, 7300 * time.Millisecond}
		for i, s := range p.startTimes() {
			if d := s.Sub(start); d != want[i] {
				t.Errorf("attempt %d at %v, want %v", i+1, d, want[i])
			}
		}
		st := l.Stats()
		if st.Calls != 4 || st.Retries != 3 || st.Transient != 3 || st.Successes != 1 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestRetriesSpent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &stubProvider{next: func(int) error { return serverError() }}
		l := newTestLimiter(t, p, WithMaxRetries(2))
		err := call(t, l)
		if KindOf(err) != KindTransient || p.calls.Load() != 3 {
			t.Fatalf("err %v after %d attempts, want transient after 3", err, p.calls.Load())
		}
	})
}

func TestMaxWait(t *testing.T) {
	t.Run("gate", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := &stubProvider{}
			l := newTestLimiter(t, p, WithMaxWait(4*time.Second))
			for i := 0; i < 12; i++ {
				call(t, l)
			}
			l.local.mu.Lock()
			l.local.extendGate(time.Now().Add(10 * time.Second))
			l.local.mu.Unlock()
			start := time.Now()
			err := call(t, l)
			if !errors.Is(err, ErrCooldown) || time.Since(start) != 0 {
				t.Fatalf("err %v after %v, want ErrCooldown at once", err, time.Since(start))
			}
			if p.calls.Load() != 12 || l.Stats().Rejected != 1 {
				t.Fatalf("calls %d rejected %d", p.calls.Load(), l.Stats().Rejected)
			}
		})
	})
	t.Run("hint", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := &stubProvider{next: func(int) error { return rateLimited(26 * time.Second) }}
			l := newTestLimiter(t, p, WithMaxWait(10*time.Second))
			start := time.Now()
			err := call(t, l)
			if !errors.Is(err, ErrCooldown) || !errors.Is(err, ErrRateLimited) || time.Since(start) != 0 {
				t.Fatalf("err %v after %v, want ErrCooldown wrapping the 429 at once", err, time.Since(start))
			}
		})
	})
	t.Run("within budget waits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := &stubProvider{next: func(n int) error {
				if n == 1 {
					return rateLimited(3 * time.Second)
				}
				return nil
			}}
			l := newTestLimiter(t, p, WithMaxWait(10*time.Second))
			start := time.Now()
			if err := call(t, l); err != nil || time.Since(start) != 3*time.Second {
				t.Fatalf("err %v after %v, want success after 3s", err, time.Since(start))
			}
		})
	})
}

func TestSlotsBoundInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &stubProvider{latency: time.Second}
		l := newTestLimiter(t, p, WithSuccessCooldown(0, 0))
		if ok := runCallers(t, l, 100); ok != 100 {
			t.Fatalf("%d of 100 callers succeeded", ok)
		}
		if got := p.maxInFlight(); got > DefaultMaxConcurrency {
			t.Fatalf("max in flight %d > %d", got, DefaultMaxConcurrency)
		}
		if got := l.Stats().ConcurrencyLimit; got != DefaultMaxConcurrency {
			t.Fatalf("limit after 100 successes = %d, want %d", got, DefaultMaxConcurrency)
		}
		// 100 calls of 1s: 3 at a time for the first 10, growing to 6.
		if p.maxInFlight() != DefaultMaxConcurrency {
			t.Fatalf("max in flight %d, want it to reach %d", p.maxInFlight(), DefaultMaxConcurrency)
		}
		p.next = func(int) error { return rateLimited(0) }
		call(t, l)
		if got := l.Stats().ConcurrencyLimit; got != 1 {
			// 6 → 3 → 1 → 1 → 1 over the four attempts.
			t.Fatalf("limit after 429s = %d, want 1", got)
		}
	})
}

func TestConcurrencyHalvesOn429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &stubProvider{next: func(n int) error {
			if n == 1 {
				return rateLimited(0)
			}
			return nil
		}}
		l := newTestLimiter(t, p, WithConcurrency(6), WithMaxRetries(0))
		call(t, l)
		if got := l.Stats().ConcurrencyLimit; got != 3 {
			t.Fatalf("limit = %d, want 3", got)
		}
	})
}

func TestCancellation(t *testing.T) {
	tests := []struct {
		name  string
		setup func(l *Limiter, p *stubProvider)
	}{
		{"at the gate", func(l *Limiter, p *stubProvider) {
			l.local.mu.Lock()
			l.local.extendGate(time.Now().Add(time.Hour))
			l.local.mu.Unlock()
		}},
		{"waiting for a slot", func(l *Limiter, p *stubProvider) {
			l.mu.Lock()
			l.inFlight = l.limit
			l.mu.Unlock()
		}},
		{"in backoff", func(l *Limiter, p *stubProvider) {
			p.next = func(int) error { return rateLimited(time.Hour) }
		}},
		{"in the provider", func(l *Limiter, p *stubProvider) { p.latency = time.Hour }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := &stubProvider{}
				l := newTestLimiter(t, p)
				tt.setup(l, p)
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error)
				go func() {
					_, err := l.Generate(ctx, &Request{})
					done <- err
				}()
				synctest.Wait()
				canceledAt := time.Now()
				cancel()
				err := <-done
				if !errors.Is(err, context.Canceled) || err != context.Canceled {
					t.Fatalf("err = %v, want context.Canceled itself", err)
				}
				if d := time.Since(canceledAt); d != 0 {
					t.Fatalf("returned %v after cancel", d)
				}
				st := l.Stats()
				if st.Errors() != 0 || st.Canceled != 1 {
					t.Fatalf("stats %+v: want no failures and one cancellation", st)
				}
				l.mu.Lock()
				defer l.mu.Unlock()
				if tt.name != "waiting for a slot" && l.inFlight != 0 || l.waiters.Len() != 0 {
					t.Fatalf("in flight %d, waiters %d after cancel", l.inFlight, l.waiters.Len())
				}
			})
		})
	}
}

func TestResetZeroesCounters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		p := &stubProvider{}
		l := newTestLimiter(t, p, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		for i := 0; i < 11; i++ {
			call(t, l)
		}
		l.Reset()
		for i := 0; i < 11; i++ {
			call(t, l)
		}
		if got := l.Stats().Cooldowns.Successes; got != 0 {
			t.Fatalf("cooldowns = %d after 11+reset+11 successes, want 0", got)
		}
		call(t, l)
		if got := l.Stats().Cooldowns.Successes; got != 1 {
			t.Fatalf("cooldowns = %d after the 12th since reset, want 1", got)
		}
		if !strings.Contains(logs.String(), `msg="counters reset"`) {
			t.Fatalf("no counters reset log in %q", logs.String())
		}
		if st := l.Stats(); st.Successes != 23 {
			t.Fatalf("cumulative successes %d, want 23 (Reset keeps Stats)", st.Successes)
		}
	})
}

func TestLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		p := &stubProvider{next: func(n int) error {
			if n <= 3 {
				return rateLimited(2 * time.Second)
			}
			return nil
		}}
		l := newTestLimiter(t, p, WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
		if err := call(t, l); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`msg=cooldown provider=stub cause=server_hint pause=2s`,
			`msg=cooldown provider=stub cause=rate_limit pause=10s`,
			`msg=backoff provider=stub status=429 kind=rate_limited attempt=1 wait=2s`,
			`msg=concurrency provider=stub limit=1`,
		} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("logs lack %q:\n%s", want, logs.String())
			}
		}
	})
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		opt  Option
		want string
	}{
		{WithConcurrency(0), "concurrency 0"},
		{WithMaxConcurrency(2), "max concurrency 2"},
		{WithSuccessCooldown(-1, time.Second), "successes per cooldown -1"},
		{WithSuccessCooldown(1, -time.Second), "success cooldown -1s"},
		{WithRateLimitCooldown(-1, time.Second), "rate limits per cooldown -1"},
		{WithRateLimitCooldown(1, -time.Second), "rate-limit cooldown -1s"},
		{WithMaxRetries(-1), "max retries -1"},
		{WithBackoff(0, time.Second), "backoff base 0s"},
		{WithBackoff(2*time.Second, time.Second), "backoff max 1s"},
		{WithJitter(7), "jitter 7"},
		{WithMaxWait(-1), "max wait -1ns"},
		{WithRequestsPerMinute(-5), "requests per minute -5"},
	}
	for _, tt := range tests {
		_, err := New(&stubProvider{}, tt.opt)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "llmlimit: ") {
			t.Errorf("New(%s): err %v, want it to name %q", tt.want, err, tt.want)
		}
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}
