package llmlimit

import (
	"context"
	"time"
)

const (
	// stateRetry is how long the Limiter keeps to its private state after
	// the shared one failed, before it tries the shared one again.
	stateRetry = time.Second
)

// admit asks the state whether an attempt of cost may start at now. It
// fails only when ctx is done or the state panicked.
func (l *Limiter) admit(ctx context.Context, cost Cost, now time.Time) (h Hold, err error) {
	a := Admission{Quotas: l.cfg.quotas, Cost: cost}
	if l.shared == nil {
		// The common case, without a closure, and on the clock the
		// caller read.
		defer func() {
			if v := recover(); v != nil {
				err = l.panicked("state", v)
			}
		}()
		return l.local.admitAt(now, a), nil
	}
	err = l.withState(ctx, func(ctx context.Context, s State) (err error) {
		h, err = s.Admit(ctx, a)
		return err
	})
	return h, err
}

// record applies an outcome to the state; the caller's cancellation does not
// stop it, since the outcome happened.
func (l *Limiter) record(ctx context.Context, o Outcome) (fired Cooldowns) {
	if l.shared == nil {
		// The private state ignores ctx: no need for WithoutCancel's
		// allocation.
		defer func() {
			if v := recover(); v != nil {
				l.panicked("state", v)
			}
		}()
		fired, _ = l.local.Record(ctx, o)
		return fired
	}
	l.withState(context.WithoutCancel(ctx), func(ctx context.Context, s State) (err error) {
		fired, err = s.Record(ctx, o)
		return err
	})
	return fired
}

// withState runs f on the shared state when there is one and it is
// healthy, and on the private state otherwise or when the shared one fails
// or panics. It fails only when ctx is done or the private state panicked.
func (l *Limiter) withState(ctx context.Context, f func(context.Context, State) error) error {
	if l.shared != nil && l.sharedUsable() {
		sctx, cancel := context.WithTimeout(ctx, l.cfg.stateTimeout)
		err := l.guardState(sctx, l.shared, f)
		cancel()
		if err == nil {
			l.sharedHealthy()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.sharedFailed(err)
	}
	return l.guardState(ctx, l.local, f)
}

// guardState runs f on s, turning a panic into an error.
func (l *Limiter) guardState(ctx context.Context, s State, f func(context.Context, State) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = l.panicked("state", v)
		}
	}()
	return f(ctx, s)
}

func (l *Limiter) sharedUsable() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sharedDownAt.IsZero() || time.Since(l.sharedDownAt) >= stateRetry
}

func (l *Limiter) sharedHealthy() {
	l.mu.Lock()
	recovered := !l.sharedDownAt.IsZero()
	l.sharedDownAt = time.Time{}
	l.mu.Unlock()
	if recovered {
		l.log.Info("shared state recovered")
	}
}

func (l *Limiter) sharedFailed(err error) {
	l.mu.Lock()
	first := l.sharedDownAt.IsZero()
	l.sharedDownAt = time.Now()
	l.stats.StateErrors++
	l.mu.Unlock()
	if first {
		l.log.Warn("shared state failed, limiting locally", "error", err.Error())
	}
}
