package llmlimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
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
				if tt.name != "waiting for a slot" && l.inFlight != 0 || l.line.Len() != 0 {
					t.Fatalf("in flight %d, waiters %d after cancel", l.inFlight, l.line.Len())
				}
			})
		})
	}
}

func TestResetZeroesCounters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		p := &stubProvider{}
		l := newTestLimiter(t, p, WithSuccessCooldownAlways(true), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
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
		{WithRequestsPerMinute(-5), "requests per 1m0s: -5"},
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
