package llmlimit

import (
	"context"
	"fmt"
	"time"
)

// Slots bound a Limiter's attempts in flight. Callers that find none free
// queue in arrival order; a slot freed by a finished attempt, or by a limit
// that grew, goes to the longest waiting caller. See [Limiter] for how the
// limit moves.

// slotWaiter is a caller queued for a slot. granted is set, and ready closed,
// by the goroutine that hands it a slot.
type slotWaiter struct {
	ready   chan struct{}
	granted bool
}

// takeSlot fails fast on an exhausted quota, then waits for a slot.
func (l *Limiter) takeSlot(ctx context.Context) error {
	l.mu.Lock()
	if !l.exhaustedUntil.IsZero() {
		if now := time.Now(); now.Before(l.exhaustedUntil) {
			l.stats.Rejected++
			until, cause := l.exhaustedUntil, l.exhaustedErr
			l.mu.Unlock()
			return fmt.Errorf("llmlimit: %s: not sent, quota exhausted for another %s: %w",
				l.p.Name(), until.Sub(now).Round(time.Millisecond), cause)
		}
	}
	if l.inFlight < l.limit && l.waiters.Len() == 0 {
		l.inFlight++
		l.mu.Unlock()
		return nil
	}
	w := &slotWaiter{ready: make(chan struct{})}
	elem := l.waiters.PushBack(w)
	l.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		if w.granted {
			l.inFlight--
			l.grantLocked()
		} else {
			l.waiters.Remove(elem)
		}
		l.stats.Canceled++
		l.mu.Unlock()
		return ctx.Err()
	}
}

func (l *Limiter) releaseSlot() {
	l.mu.Lock()
	l.inFlight--
	l.grantLocked()
	l.mu.Unlock()
}

// grantLocked hands free slots to waiters in arrival order.
func (l *Limiter) grantLocked() {
	for l.inFlight < l.limit && l.waiters.Len() > 0 {
		w := l.waiters.Remove(l.waiters.Front()).(*slotWaiter)
		w.granted = true
		l.inFlight++
		close(w.ready)
	}
}
