package llmlimit

import (
	"container/list"
	"errors"
	"fmt"
	"time"
)

// The line. A caller that can't start at once — no free slot, the gate or
// the quota closed, or others already waiting — joins one line in arrival
// order. Only its head acts: it waits for the gate to open, then for a slot,
// then asks the state to count its start; once it has started it leaves and
// the next caller becomes head. So a gate that closes again costs one check
// of the head, not one per waiter, and the starts after an opening go out
// in order. Everyone else in line waits on a channel, with a timer at the
// end of its wait budget.
//
// A caller is refused (a *WaitError) as soon as its wait is known to be
// longer than its budget: on joining, from the known opening of the gate and
// an estimate of the wait for a slot (the callers ahead, the slot limit and
// the provider's recent latency); whenever the gate moves past the end of
// its budget; and at checks it makes itself, each halfway through what is
// left of its budget, so that a caller that joined before the latency was
// known, or while it grew, leaves while a fallback still has time.
//
// Rejected: each waiter sleeping until the gate's opening and trying again,
// as before. Every closure then woke every waiter to find the gate closed
// again: with 20,000 waiters each closure cost about 18,000 checks.

// waiter is a caller in line.
type waiter struct {
	// wake nudges the waiter to look again: it became head, a slot came
	// free, or it was refused. One nudge pending is enough.
	wake     chan struct{}
	elem     *list.Element
	ticket   uint64 // its place in arrival order
	joined   time.Time
	deadline time.Time // the end of its wait budget; zero when unbounded
	refusal  error     // why it was taken out of line, set under l.mu
	cause    error     // the failure that made the call wait
	budget   time.Duration
}

func nudge(w *waiter) {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// acquire returns once the caller holds a slot and the state has counted
// its start. On failure it holds no slot.
func (l *Limiter) acquire(c *callBudget) error {
	now := time.Now()
	fast, err := l.enter(now)
	if err != nil {
		return err
	}
	if fast {
		h, err := l.admit(c.ctx, c.cost, now)
		if err != nil {
			l.releaseSlot()
			return l.admitFailed(c, err)
		}
		if h.Wait <= 0 {
			c.admitted = now
			return nil
		}
		l.releaseSlot()
		l.held(h)
		c.hold(h.cause())
	}
	w, err := l.join(c, time.Now())
	if err != nil {
		return err
	}
	c.hold("slot")
	return l.waitInLine(c, w)
}

// enter takes a slot at once when nobody waits, a slot is free and the gate
// is known to be open.
func (l *Limiter) enter(now time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.exhaustedLocked(now); err != nil {
		l.stats.Rejected++
		return false, err
	}
	if l.line.Len() == 0 && l.inFlight < l.limit && !now.Before(l.openAt) {
		l.inFlight++
		return true, nil
	}
	return false, nil
}

// join puts the caller at the end of the line, or refuses it when its wait
// is already known to exceed its budget.
func (l *Limiter) join(c *callBudget, now time.Time) (*waiter, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	budget, bounded := c.budget(now)
	if bounded {
		if wait, reason := l.expectedWaitLocked(now); wait > budget {
			l.stats.Rejected++
			return nil, &WaitError{Provider: l.p.Name(), Reason: reason, Wait: wait, Budget: budget, Cause: c.last}
		}
	}
	l.tickets++
	w := &waiter{wake: make(chan struct{}, 1), ticket: l.tickets, joined: now, cause: c.last, budget: budget}
	if bounded {
		w.deadline = now.Add(budget)
	}
	w.elem = l.line.PushBack(w)
	if l.line.Front() == w.elem {
		nudge(w)
	}
	return w, nil
}

// expectedWaitLocked estimates how long a caller joining now waits before
// it starts, and for what.
func (l *Limiter) expectedWaitLocked(now time.Time) (time.Duration, string) {
	return l.expectedLocked(now, l.line.Len())
}

// expectedLocked estimates how long a caller with ahead callers in front
// of it waits before it starts, and for what: the gate's known opening, or
// a slot. The slots free up in waves of the slot limit, one latency apart;
// the attempts in flight are half done on average.
func (l *Limiter) expectedLocked(now time.Time, ahead int) (time.Duration, string) {
	gate := max(l.openAt.Sub(now), 0)
	var slot time.Duration
	if need := ahead + 1 - (l.limit - l.inFlight); need > 0 && l.latency > 0 {
		waves := float64((need-1)/l.limit) + 0.5
		slot = time.Duration(waves * float64(l.latency))
	}
	if slot > gate {
		return slot, "slot"
	}
	return gate, l.openReason
}

// minCheck is the shortest interval between a waiter's own checks.
const minCheck = 10 * time.Millisecond

// nextCheck is when a waiter with the given deadline next checks whether
// it can still start in time: halfway through what is left, but no closer
// than minCheck to now or after the deadline.
func nextCheck(now, deadline time.Time) time.Duration {
	left := deadline.Sub(now)
	if left <= 2*minCheck {
		return max(left, 0)
	}
	return left / 2
}

// lateLocked reports whether w, still in line, can no longer expect to
// start before its deadline. Its place is estimated from the tickets of
// those ahead: callers who left are not subtracted, which errs toward
// leaving early, while a fallback still has time.
func (l *Limiter) lateLocked(w *waiter, now time.Time) bool {
	front := l.line.Front()
	if w.elem == nil || front == nil {
		return false
	}
	wait, _ := l.expectedLocked(now, int(w.ticket-front.Value.(*waiter).ticket))
	return now.Add(wait).After(w.deadline)
}

// step is what the head of the line does next.
type step int

const (
	stepWait  step = iota // not head, or no free slot: wait for a nudge
	stepGate              // head, gate closed: sleep until it opens
	stepStart             // head, holding a slot: ask the state
	stepOut               // taken out of line: return its refusal
)

// waitInLine waits until the caller is head, the gate is open and a slot is
// free, and its start is counted; or until its budget ends, ctx is done, or
// it is refused.
func (l *Limiter) waitInLine(c *callBudget, w *waiter) error {
	var check *time.Timer // the waiter's own checks of its budget
	var checkC <-chan time.Time
	if !w.deadline.IsZero() {
		check = time.NewTimer(nextCheck(time.Now(), w.deadline))
		defer check.Stop()
		checkC = check.C
	}
	var gate *time.Timer // armed while w, as head, sleeps for the gate
	defer func() {
		if gate != nil {
			gate.Stop()
		}
	}()
	for {
		s, opens, closed := l.headStep(w, time.Now())
		if closed != "" {
			c.hold(closed)
		}
		switch s {
		case stepOut:
			return w.refusal
		case stepStart:
			now := time.Now()
			h, err := l.admit(c.ctx, c.cost, now)
			if err != nil {
				l.releaseSlot()
				l.leave(w)
				return l.admitFailed(c, err)
			}
			if h.Wait <= 0 {
				l.leave(w)
				c.admitted = now
				return nil
			}
			l.releaseSlot()
			l.held(h)
			c.hold(h.cause())
			continue
		case stepGate:
			if gate == nil {
				gate = time.NewTimer(time.Until(opens) + time.Duration(l.cfg.rand()*float64(gateStagger)))
			}
		}
		var gateC <-chan time.Time
		if gate != nil {
			gateC = gate.C
		}
		select {
		case <-w.wake:
		case <-gateC:
			gate = nil
		case <-checkC:
			if err := l.checkBudget(w, time.Now()); err != nil {
				return err
			}
			check.Reset(nextCheck(time.Now(), w.deadline))
		case <-c.ctx.Done():
			l.leave(w)
			l.countCanceled()
			return c.ctx.Err()
		}
	}
}

// headStep decides w's next step, taking a slot for it when it may start.
// opens is when the gate opens, for stepGate. closed is, for telemetry,
// what keeps w waiting if the gate is closed: "gate" or "pacing" (a
// quota), whether w is head yet or behind the head that waits for it.
func (l *Limiter) headStep(w *waiter, now time.Time) (s step, opens time.Time, closed string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tel != nil && now.Before(l.openAt) {
		closed = "gate"
		if l.openReason == "quota" {
			closed = "pacing"
		}
	}
	switch {
	case w.refusal != nil:
		return stepOut, opens, closed
	case l.line.Front() != w.elem:
		return stepWait, opens, closed
	}
	if err := l.exhaustedLocked(now); err != nil {
		l.refuseLocked(w, err)
		return stepOut, opens, closed
	}
	if now.Before(l.openAt) {
		return stepGate, l.openAt, closed
	}
	if l.inFlight >= l.limit {
		return stepWait, opens, closed
	}
	l.inFlight++
	return stepStart, opens, closed
}

// leave takes w out of line if it is still there.
func (l *Limiter) leave(w *waiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removeLocked(w)
}

// checkBudget refuses w when its budget has ended or it can no longer
// expect to start within it.
func (l *Limiter) checkBudget(w *waiter, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.refusal != nil {
		return w.refusal
	}
	if !now.Before(w.deadline) || l.lateLocked(w, now) {
		l.refuseLocked(w, l.budgetSpent(w, now))
		return w.refusal
	}
	return nil
}

// budgetSpent is the refusal of a caller whose budget ended in line, or
// that can't expect to start within it: its wait is what it waited so far
// and what it can still expect.
func (l *Limiter) budgetSpent(w *waiter, now time.Time) error {
	ahead := 0
	if front := l.line.Front(); front != nil && w.elem != nil {
		ahead = int(w.ticket - front.Value.(*waiter).ticket)
	}
	more, reason := l.expectedLocked(now, ahead)
	return &WaitError{Provider: l.p.Name(), Reason: reason, Wait: now.Sub(w.joined) + more, Budget: w.budget, Cause: w.cause}
}

// refuseLocked takes w out of line with err.
func (l *Limiter) refuseLocked(w *waiter, err error) {
	l.removeLocked(w)
	w.refusal = err
	l.stats.Rejected++
	nudge(w)
}

// removeLocked takes w out of line and lets the next caller act.
func (l *Limiter) removeLocked(w *waiter) {
	if w.elem == nil {
		return
	}
	head := l.line.Front() == w.elem
	l.line.Remove(w.elem)
	w.elem = nil
	if head {
		l.nudgeHeadLocked()
	}
}

func (l *Limiter) nudgeHeadLocked() {
	if e := l.line.Front(); e != nil {
		nudge(e.Value.(*waiter))
	}
}

// cause names what held a start back, for llmlimit.wait.cause.
func (h Hold) cause() string {
	if h.Quota {
		return "pacing"
	}
	return "gate"
}

// held records that the state held a start back: the gate or a quota stays
// closed for h.Wait, and every caller in line whose budget ends before then
// is refused.
func (l *Limiter) held(h Hold) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h.Quota {
		l.holdUnit = h.Unit
		l.openReason = "quota"
		if h.Unit == UnitRequests {
			l.stats.HeldForRequests++
		} else {
			l.stats.HeldForTokens++
		}
	} else {
		l.openReason = "gate"
	}
	l.closeUntilLocked(time.Now().Add(h.Wait))
}

// closeUntilLocked records that the gate or a quota stays closed until at,
// and refuses every caller in line whose budget ends before then.
func (l *Limiter) closeUntilLocked(at time.Time) {
	if !at.After(l.openAt) {
		return
	}
	l.openAt = at
	now := time.Now()
	for e := l.line.Front(); e != nil; {
		w := e.Value.(*waiter)
		e = e.Next()
		if !w.deadline.IsZero() && w.deadline.Before(at) {
			l.refuseLocked(w, &WaitError{Provider: l.p.Name(), Reason: l.openReason, Wait: at.Sub(now), Budget: max(w.deadline.Sub(now), 0), Cause: w.cause})
		}
	}
}

// releaseSlot gives back a slot taken by enter or headStep.
func (l *Limiter) releaseSlot() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	l.nudgeHeadLocked()
}

// exhaustedLocked returns the error of a call made while a quota is known
// to be exhausted, or nil.
func (l *Limiter) exhaustedLocked(now time.Time) error {
	if l.exhaustedUntil.IsZero() || !now.Before(l.exhaustedUntil) {
		return nil
	}
	return fmt.Errorf("llmlimit: %s: not sent, quota exhausted until %s (another %s): %w",
		l.p.Name(), l.exhaustedUntil.UTC().Format(time.RFC3339), l.exhaustedUntil.Sub(now).Round(time.Second), l.exhaustedErr)
}

// exhaustLocked makes the Limiter fail fast until until, and refuses every
// caller in line: none of them could be served.
func (l *Limiter) exhaustLocked(until time.Time, cause error) {
	if until.After(l.exhaustedUntil) {
		l.exhaustedUntil = until
	}
	l.exhaustedErr = cause
	now := time.Now()
	for e := l.line.Front(); e != nil; {
		w := e.Value.(*waiter)
		e = e.Next()
		l.refuseLocked(w, l.exhaustedLocked(now))
	}
}

// admitFailed turns a failed admission into the call's error: the caller's
// own cancellation, or the state's failure (a panic).
func (l *Limiter) admitFailed(c *callBudget, err error) error {
	if ctxErr := c.ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		l.countCanceled()
		return ctxErr
	}
	return err
}
