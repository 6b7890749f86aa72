package llmlimit

import (
	"context"
	"fmt"
	"time"
)

// findBatcher returns the first provider in p's tree, depth first, that
// has a batch API, or nil: the one a batch-mode run submits to. Its
// calls go around the Limiters, since a batch API has a quota of its own.
func findBatcher(p Provider) (Batcher, Provider) {
	var b Batcher
	var bp Provider
	walk(p, func(q Provider) bool {
		if b != nil {
			return false
		}
		if qb, ok := q.(Batcher); ok {
			b, bp = qb, q
			return false
		}
		return true
	})
	return b, bp
}

// syncCapacity is how many calls the synchronous quotas in p's tree start
// in d: the sum, over every [AvailabilityReporter] that knows its request
// quota, of that quota's rate over d. known is false when none does.
func syncCapacity(p Provider, d time.Duration) (calls int, known bool) {
	total := 0.0
	walk(p, func(q Provider) bool {
		ar, ok := q.(AvailabilityReporter)
		if !ok {
			return true
		}
		if a := ar.Availability(); a.Limit > 0 && a.Window > 0 {
			total += float64(a.Limit) * float64(max(d-a.Wait, 0)) / float64(a.Window)
			known = true
		}
		return false
	})
	return int(total), known
}

// chooseMode decides how the run sends its calls, ops of them uncached,
// resumed of those in jobs an earlier run submitted, and says why.
func (r *run) chooseMode(ctx context.Context, ops, resumed int) (Mode, string) {
	cfg := &r.t.cfg
	switch cfg.mode {
	case ModeSync:
		return ModeSync, "sync mode (the default)"
	case ModeBatch:
		return ModeBatch, "batch mode asked for"
	}
	b, _ := findBatcher(r.t.p)
	switch {
	case b == nil:
		return ModeSync, "auto: no provider has a batch API"
	case resumed > 0:
		return ModeBatch, fmt.Sprintf("auto: %d calls already in batch jobs of an earlier run", resumed)
	case ops == 0:
		return ModeSync, "auto: nothing to send"
	case cfg.batchThreshold > 0 && ops > cfg.batchThreshold:
		return ModeBatch, fmt.Sprintf("auto: %d calls, above the batch threshold of %d", ops, cfg.batchThreshold)
	}
	left, ok := deadlineLeft(ctx)
	if !ok {
		return ModeSync, fmt.Sprintf("auto: %d calls, within the batch threshold, and no deadline", ops)
	}
	capacity, known := syncCapacity(r.t.p, left)
	switch {
	case !known:
		return ModeSync, fmt.Sprintf("auto: %d calls, within the batch threshold; the sync quotas are not known", ops)
	case ops > capacity:
		return ModeBatch, fmt.Sprintf("auto: %d calls, more than the %d the sync quotas serve in the %s to the deadline",
			ops, capacity, left.Round(time.Second))
	}
	return ModeSync, fmt.Sprintf("auto: %d calls, which the sync quotas serve (%d) in the %s to the deadline",
		ops, capacity, left.Round(time.Second))
}

// deadlineLeft is the time to ctx's deadline, if it has one.
func deadlineLeft(ctx context.Context) (time.Duration, bool) {
	d, ok := ctx.Deadline()
	if !ok {
		return 0, false
	}
	return time.Until(d), true
}
