package llmlimit

import (
	"fmt"
	"strings"
	"time"
)

// Mode is how a [TagSpace] run sends its calls: through the providers'
// synchronous APIs, as one job of a provider's batch API ([Batcher]), or
// whichever suits the run.
type Mode uint8

const (
	// ModeSync sends every batch of items as a call of its own, through
	// the Limiters and the Fallback. It is the default.
	ModeSync Mode = iota
	// ModeBatch sends the run's uncached batches as one job of the first
	// provider in the tree that is a [Batcher], at that API's price (half
	// the synchronous one at both providers) and on its own quota, and
	// serves what the job fails to answer synchronously.
	ModeBatch
	// ModeAuto picks batch when the run's uncached calls are more than the
	// synchronous quotas can serve before the run's deadline
	// ([WithDeadline], or the context's), or more than the batch threshold
	// ([WithBatchThreshold]); sync otherwise.
	ModeAuto
)

var modeNames = [...]string{"sync", "batch", "auto"}

// String returns the mode's name: "sync", "batch" or "auto".
func (m Mode) String() string {
	if int(m) >= len(modeNames) {
		return fmt.Sprintf("mode(%d)", int(m))
	}
	return modeNames[m]
}

// ParseMode reads a mode's name, as String writes it, in any case.
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("llmlimit: mode %q: want sync, batch or auto", s)
}

// Defaults of batch mode.
const (
	defaultBatchThreshold = 1000 // calls: 5,000 items at the default batch size
	defaultPollFirst      = 30 * time.Second
	defaultPollMax        = 5 * time.Minute
)

// WithMode sets how a TagSpace run sends its calls (TAG_SPACE_MODE: sync,
// batch or auto; default sync). Batch mode needs a [Batcher] in the
// provider tree: NewTagSpace refuses ModeBatch without one, and ModeAuto
// without one always picks sync.
func WithMode(m Mode) Option { return func(c *config) { c.mode = m } }

// WithDeadline gives a TagSpace run d from its start to finish
// (TAG_SPACE_DEADLINE; 0, the default, sets none): the run then stops as
// when its context's deadline passes, items without an outcome not
// attempted, batch jobs left running for a rerun to collect. In
// [ModeAuto] the deadline, or the context's if sooner, is what the
// synchronous quotas are measured against.
func WithDeadline(d time.Duration) Option { return func(c *config) { c.deadline = d } }

// WithBatchThreshold sets the number of uncached calls above which
// [ModeAuto] sends a run to the batch API whatever the quotas
// (TAG_SPACE_BATCH_THRESHOLD, default 1000 calls). 0 leaves the choice to
// the quotas and the deadline alone.
func WithBatchThreshold(calls int) Option { return func(c *config) { c.batchThreshold = calls } }

// WithBatchPoll sets how often a batch-mode run asks the provider about
// its job: first after first, then each wait half as long again as the
// last, up to max (defaults 30 s and 5 minutes). Job turnaround is
// minutes to a day; a poll is one request per provider job.
func WithBatchPoll(first, max time.Duration) Option {
	return func(c *config) { c.pollFirst, c.pollMax = first, max }
}

// WithCancelJobs makes a batch-mode run whose context ends cancel the
// batch jobs it waits for (TAG_SPACE_CANCEL_JOBS, default false). By
// default the jobs run on, and a rerun on the same [Store] collects them
// instead of submitting again.
func WithCancelJobs(on bool) Option { return func(c *config) { c.cancelJobs = on } }

// validateMode checks the batch-mode settings.
func (c *config) validateMode() error {
	switch {
	case c.mode > ModeAuto:
		return fmt.Errorf("llmlimit: mode %d: unknown", c.mode)
	case c.deadline < 0 || c.deadline > maxDuration:
		return fmt.Errorf("llmlimit: deadline %s: must be between 0 and %s", c.deadline, maxDuration)
	case c.batchThreshold < 0 || c.batchThreshold > maxCount:
		return fmt.Errorf("llmlimit: batch threshold %d: must be between 0 and %d", c.batchThreshold, maxCount)
	case c.pollFirst <= 0 || c.pollMax < c.pollFirst || c.pollMax > maxDuration:
		return fmt.Errorf("llmlimit: batch poll %s to %s: the first must be positive and at most the max, the max at most %s",
			c.pollFirst, c.pollMax, maxDuration)
	}
	return nil
}

// pollDelay is the wait before poll i+1 (from 0): first·1.5^i, capped at
// max.
//
//	i      0    1    2       3          4           5           6...
//	delay  30s  45s  1m7.5s  1m41.25s   2m31.875s   3m47.8125s  5m
func pollDelay(first, max time.Duration, i int) time.Duration {
	d := first
	for range i {
		d = d * 3 / 2
		if d >= max {
			return max
		}
	}
	return min(d, max)
}
