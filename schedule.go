package llmlimit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// schedule is the run's queue of batches. A batch whose call failed while
// the providers were down (see outage) waits in later, and goes back to
// the queue as soon as any call of the run succeeds after it failed: the
// providers answer again. When no batch is left in flight to show that,
// the run probes: it sends the waiting batches one at a time, after a
// backoff that doubles with each failed probe (base·2^k, capped at max).
// Once the providers have been down for the outage wait, a failed batch
// fails for good, with every batch still waiting. It is safe for
// simultaneous use by the run's batches.
type schedule struct {
	base, max  time.Duration
	outageWait time.Duration

	mu        sync.Mutex
	queue     [][]*group
	later     []waiting
	ups       int       // successful calls so far
	downSince time.Time // first failure since the last success; zero while up
	probes    int       // failed calls since the last success
	inFlight  int
	wake      chan struct{}
}

// waiting is a batch deferred by an outage.
type waiting struct {
	groups []*group
	ups    int // successes seen when it failed
}

func newSchedule(batches [][]*group, base, max, outageWait time.Duration) *schedule {
	return &schedule{queue: batches, base: base, max: max, outageWait: outageWait, wake: make(chan struct{}, 1)}
}

func (s *schedule) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// up records a successful call: the providers answer, and every batch
// deferred before it is ready.
func (s *schedule) up() {
	s.mu.Lock()
	s.ups++
	s.downSince, s.probes = time.Time{}, 0
	moved := len(s.later) > 0
	for _, w := range s.later {
		s.queue = append(s.queue, w.groups)
	}
	clear(s.later)
	s.later = s.later[:0]
	s.mu.Unlock()
	if moved {
		s.signal()
	}
}

// deferBatch puts groups aside until the providers answer again. When
// they have been down for the outage wait, it doesn't, and returns them
// with every batch still waiting, for the caller to fail.
func (s *schedule) deferBatch(groups []*group) (failed []*group) {
	s.mu.Lock()
	defer s.signal()
	defer s.mu.Unlock()
	now := time.Now()
	if s.downSince.IsZero() {
		s.downSince = now
	}
	s.probes++
	if now.Sub(s.downSince) >= s.outageWait {
		for _, w := range s.later {
			groups = append(groups, w.groups...)
		}
		clear(s.later)
		s.later = s.later[:0]
		return groups
	}
	s.later = append(s.later, waiting{groups: groups, ups: s.ups})
	return nil
}

// done records that a started batch returned.
func (s *schedule) done() {
	s.mu.Lock()
	s.inFlight--
	s.mu.Unlock()
	s.signal()
}

// backoff is the wait before the next probe. s.mu must be held.
func (s *schedule) backoff() time.Duration {
	d := s.base << min(max(s.probes-1, 0), 30)
	if d <= 0 || d > s.max {
		d = s.max
	}
	return d
}

var errScheduleDone = errors.New("llmlimit: no batch left")

// next returns the next batch to send, marked in flight, and how many
// batches are left including it. While only deferred batches remain it
// waits for a batch in flight to succeed or to defer more, or, with none
// in flight, for the backoff before a probe. It returns errScheduleDone
// when nothing is left, or ctx's error.
func (s *schedule) next(ctx context.Context) ([]*group, int, error) {
	var probeAt time.Time
	for {
		s.mu.Lock()
		if len(s.queue) == 0 && len(s.later) > 0 && s.inFlight == 0 {
			if probeAt.IsZero() {
				probeAt = time.Now().Add(s.backoff())
			}
			if !time.Now().Before(probeAt) {
				s.queue = append(s.queue, s.later[0].groups)
				s.later[0] = waiting{}
				s.later = s.later[1:]
			}
		}
		if len(s.queue) > 0 {
			b := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.inFlight++
			left := 1 + len(s.queue) + len(s.later)
			s.mu.Unlock()
			return b, left, nil
		}
		if len(s.later) == 0 && s.inFlight == 0 {
			s.mu.Unlock()
			return nil, 0, errScheduleDone
		}
		var timer <-chan time.Time
		if !probeAt.IsZero() && s.inFlight == 0 {
			t := time.NewTimer(time.Until(probeAt))
			defer t.Stop()
			timer = t.C
		} else {
			probeAt = time.Time{}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-s.wake:
		case <-timer:
		}
	}
}

// outage reports whether err says that the providers the call tried were
// down for now (5xx, timeouts, rate limits, cooldowns) rather than that
// the request was bad: a batch failing so is tried again later instead of
// failed. At least one of them must be able to recover within the run; a
// per-day quota or an account without credit can't, but doesn't stop
// another provider's outage from counting.
func outage(err error) bool {
	var pes []*ProviderError
	collectProviderErrors(err, &pes, 0)
	if len(pes) == 0 {
		k := KindOf(err)
		return k == KindTransient || k == KindRateLimited || errors.Is(err, ErrCooldown)
	}
	recoverable := errors.Is(err, ErrCooldown)
	for _, pe := range pes {
		switch pe.Kind {
		case KindPermanent, KindCanceled:
			return false
		case KindTransient, KindRateLimited:
			recoverable = true
		}
	}
	return recoverable
}
