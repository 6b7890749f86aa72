package llmlimit

import "time"

// Availability is what a provider knows about when it can start its next
// call and the quota it paces to.
type Availability struct {
	// Wait is how long until the provider expects to start a call: until
	// its cooldown gate or its quota opens, or 0 when neither is known to
	// be closed.
	Wait time.Duration
	// Limit is the number of calls its request quota allows per Window,
	// told ([WithRequestsPerMinute], [WithQuota]) or learned from the
	// server; 0 when none is known.
	Limit int
	// Window is the quota's window, or 0 when none is known.
	Window time.Duration
	// MaxWait is the longest a call waits for the provider before failing
	// with [ErrCooldown] ([WithMaxWait]); 0 means no limit.
	MaxWait time.Duration
	// Binding is the unit of the quota that last held a call back: which
	// of the provider's quotas is the one that runs out.
	Binding Unit
}

// AvailabilityReporter is implemented by providers that know when they can
// next start a call, such as [*Limiter]. [TagSpace] asks the primary — the
// provider itself, or else the first provider each [Wrapper] down the tree wraps —
// so that it can keep the last calls of a run for the primary's next quota
// window instead of sending them to a fallback.
type AvailabilityReporter interface {
	Availability() Availability
}

// Availability implements [AvailabilityReporter].
func (l *Limiter) Availability() Availability {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := Availability{Wait: max(0, time.Until(l.openAt)), MaxWait: l.cfg.maxWait, Binding: l.holdUnit}
	for _, q := range l.cfg.quotas {
		if q.Unit == UnitRequests {
			a.Limit, a.Window = q.Limit, q.Window
			return a
		}
	}
	if l.learned.Limit > 0 && l.learned.Window > 0 {
		a.Limit, a.Window = l.learned.Limit, l.learned.Window
	}
	return a
}

// primaryAvailability returns the AvailabilityReporter that serves p's calls
// first: p itself, or the first provider each Wrapper down from p wraps; nil when
// there is none.
func primaryAvailability(p Provider) AvailabilityReporter {
	for q := range firstMembers(p) {
		if ar, ok := q.(AvailabilityReporter); ok {
			return ar
		}
	}
	return nil
}

// tailHold returns how long a run should hold its next batch, with batches
// still to send (this one included), perOp the time the fallback takes to
// serve one and slots the calls the run keeps in flight, so that the rest of
// the run goes to the primary's next quota window rather than to a fallback.
//
// It holds only when all three are true: the primary's quota is spent for
// a while (a.Wait > 0 with a known Limit); what is left fits in the next
// window, together with the calls in flight that may be waiting for it; and
// the run would reach that window anyway — sending the rest to a fallback
// now (batches × perOp / slots) would not finish before calls start waiting
// for the primary (a.Wait − a.MaxWait). Holding then costs the run no more
// than the primary takes to serve the tail, and moves it from the fallback
// to the primary.
func tailHold(a Availability, batches int, perOp time.Duration, slots int) time.Duration {
	if a.Limit == 0 || a.Wait <= 0 || perOp <= 0 || slots < 1 {
		return 0
	}
	// Calls in flight may be waiting for the same window, unless the wait
	// is past their budget: then every one of them was turned away.
	waiting := slots
	if a.MaxWait > 0 && a.Wait > a.MaxWait {
		waiting = 0
	}
	if batches+waiting > a.Limit {
		return 0 // more than the next window holds: the surplus goes on
	}
	finishOnFallback := time.Duration(batches) * perOp / time.Duration(slots)
	if a.MaxWait > 0 && finishOnFallback < a.Wait-a.MaxWait {
		return 0 // the run can end before anyone would wait for the primary
	}
	return a.Wait
}
