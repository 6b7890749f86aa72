package llmlimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// flakyState is a shared State that can be broken: failing at once, or
// hanging until its context ends.
type flakyState struct {
	MemoryState
	broken atomic.Bool
	hang   atomic.Bool
	calls  atomic.Int64
}

func (f *flakyState) fail(ctx context.Context) error {
	f.calls.Add(1)
	if f.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.broken.Load() {
		return errors.New("connection refused")
	}
	return nil
}

func (f *flakyState) Admit(ctx context.Context, a Admission) (Hold, error) {
	if err := f.fail(ctx); err != nil {
		return Hold{}, err
	}
	return f.MemoryState.Admit(ctx, a)
}

func (f *flakyState) Record(ctx context.Context, o Outcome) (Cooldowns, error) {
	if err := f.fail(ctx); err != nil {
		return Cooldowns{}, err
	}
	return f.MemoryState.Record(ctx, o)
}

func (f *flakyState) Reset(ctx context.Context) error {
	if err := f.fail(ctx); err != nil {
		return err
	}
	return f.MemoryState.Reset(ctx)
}

func TestSharedStateIsShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := new(MemoryState)
		a := newTestLimiter(t, &stubProvider{}, WithState(shared), WithSuccessCooldownAlways(true))
		b := newTestLimiter(t, &stubProvider{}, WithState(shared), WithSuccessCooldownAlways(true))
		for i := 0; i < 6; i++ {
			call(t, a)
			call(t, b)
		}
		// 12 successes between two Limiters close the gate for both.
		start := time.Now()
		call(t, b)
		if waited := time.Since(start); waited != 5*time.Second {
			t.Fatalf("waited %v, want the 5s pause set by the two Limiters' successes together", waited)
		}
	})
}

func TestSharedStateOutageDegradesToLocal(t *testing.T) {
	for _, mode := range []string{"refused", "hung"} {
		t.Run(mode, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var logs bytes.Buffer
				shared := &flakyState{}
				p := &stubProvider{}
				l := newTestLimiter(t, p, WithState(shared), WithSuccessCooldownAlways(true), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
				if mode == "hung" {
					shared.hang.Store(true)
				} else {
					shared.broken.Store(true)
				}
				start := time.Now()
				if ok := runCallers(t, l, 24); ok != 24 {
					t.Fatalf("%d of 24 callers succeeded", ok)
				}
				// Local limits still apply: 24 successes, two 5s pauses, and
				// one timeout (hung) or none (refused) before going local.
				if p.maxInFlight() > defaultConcurrency || l.Stats().Cooldowns.Successes != 2 {
					t.Fatalf("max in flight %d, cooldowns %d: local limits not applied", p.maxInFlight(), l.Stats().Cooldowns.Successes)
				}
				if elapsed := time.Since(start); elapsed > 10*time.Second+2*defaultStateTimeout+2*stateRetry {
					t.Fatalf("took %v", elapsed)
				}
				if n := strings.Count(logs.String(), "shared state failed"); n != 1 {
					t.Fatalf("%d warnings, want 1:\n%s", n, logs.String())
				}
				// The store comes back: after stateRetry the Limiter uses it again.
				shared.broken.Store(false)
				shared.hang.Store(false)
				time.Sleep(stateRetry)
				before := shared.calls.Load()
				call(t, l)
				if shared.calls.Load() == before || !strings.Contains(logs.String(), "shared state recovered") {
					t.Fatalf("shared state not used again after recovery:\n%s", logs.String())
				}
			})
		})
	}
}
