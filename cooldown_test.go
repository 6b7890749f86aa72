package llmlimit

import (
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestSuccessCooldownPausesEveryCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &stubProvider{}
		l := newTestLimiter(t, p, WithSuccessCooldownAlways(true))
		start := time.Now()
		for i := 0; i < 12; i++ {
			if err := call(t, l); err != nil {
				t.Fatal(err)
			}
		}
		if got := pausedUntil(l).Sub(start); got != 5*time.Second {
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
				got := pausedUntil(l).Sub(start)
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

// pausedUntil is when l's private gate opens.
func pausedUntil(l *Limiter) time.Time {
	l.local.mu.Lock()
	defer l.local.mu.Unlock()
	return l.local.pausedUntil
}
