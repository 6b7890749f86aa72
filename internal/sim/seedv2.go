package sim

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/internal/wait"
)

// The seed patch's settings (unified-optimization-patch-v2: .env and the
// Python fragments it quotes).
const (
	seedConcurrency       = 6                // TAG_SPACE_MAX_AI_CONCURRENCY=6
	seedSuccessesPerPause = 12               // "if self.success_counter >= 12"
	seedSuccessPause      = 5 * time.Second  // "await asyncio.sleep(5)"
	seedRateLimitsPerStop = 3                // "if self.rate_limit_counter >= 3"
	seedRateLimitPause    = 10 * time.Second // "await asyncio.sleep(10)"
	seedMaxRetries        = 3                // retries 1, 2, 4 s
	seedFirstDelay        = time.Second      // "delay" before "delay *= 2"
	seedJitterMin         = 100 * time.Millisecond
	seedJitterMax         = 400 * time.Millisecond // random.uniform(0.1, 0.4)
)

// SeedV2 reproduces the seed patch (v2, "unified optimization") around one
// provider, so the benchmark can measure it beside llmlimit. It is a
// [llmlimit.Provider], a [llmlimit.Resetter] (reset_counters) and a
// [llmlimit.Wrapper]; it is safe for simultaneous use by multiple goroutines.
//
// What the patch's Python does, and the choices made where it is silent:
//
//   - Concurrency: an asyncio semaphore of TAG_SPACE_MAX_AI_CONCURRENCY=6.
//     The patch does not show where it is taken; we hold it for the whole
//     call, retries, backoff sleeps and pauses included, as an
//     `async with semaphore:` around the client call would.
//   - Success pause: a success increments the shared success_counter; the
//     caller that then sees it >= 12 sleeps 5 s and only afterwards sets it
//     to 0. Other callers go on meanwhile, and because the reset comes after
//     the await, a caller that succeeds during someone's pause also sees a
//     count >= 12 and pauses too. That is the quoted code, taken literally.
//     The pausing caller's reply is returned after its pause.
//   - 429 pause: every 429 increments rate_limit_counter; the caller that sees
//     it >= 3 sleeps 10 s, then sets it to 0, with the same await-before-reset
//     order. The patch calls the counter "consecutive 429 errors", so a
//     success sets it to 0; the quoted fragment does not show the reset, but
//     without it the count would not be of consecutive errors.
//   - Retries: only 429s are retried ("[BACKOFF] 429 detected"), up to 3
//     times, after delay + U(0.1, 0.4) s with delay 1, 2, 4 s. Server hints
//     (RetryInfo) are ignored and any 429 is retried, per-day ones included:
//     the seed cannot tell them apart. The 429 pause, when due, comes before
//     the backoff sleep, and also after the last attempt's 429.
//   - Any other error, or the last 429, goes up at once, so that a
//     [llmlimit.Fallback] serves the call with the next provider.
//
// Every sleep returns early with the context's error when ctx is done.
type SeedV2 struct {
	p   llmlimit.Provider
	sem chan struct{}

	mu  sync.Mutex
	rng *rand.Rand
	// draw, when set, replaces rng in tests to pin the jitter.
	draw       func() float64
	successes  int // success_counter
	rateLimits int // rate_limit_counter
	stats      SeedV2Stats
}

// SeedV2Stats counts what a [SeedV2] did.
type SeedV2Stats struct {
	// Attempts counts calls to the wrapped provider.
	Attempts int
	// RateLimited counts 429s seen, per-day ones included.
	RateLimited int
	// SuccessPauses and RateLimitPauses count the 5 s and 10 s pauses taken.
	SuccessPauses, RateLimitPauses int
}

// NewSeedV2 wraps p in the seed patch's policy. seed drives the backoff
// jitter, so that runs are reproducible given the order of events.
func NewSeedV2(p llmlimit.Provider, seed uint64) *SeedV2 {
	return &SeedV2{
		p:   p,
		sem: make(chan struct{}, seedConcurrency),
		rng: rand.New(rand.NewPCG(seed, seed^0x5eed)),
	}
}

// Name returns the wrapped provider's name, so replies keep naming it.
func (s *SeedV2) Name() string { return s.p.Name() }

// A provider tree walk must see through it, or TagSpace finds no primary.
var _ llmlimit.Wrapper = (*SeedV2)(nil)

// Unwrap returns the wrapped provider.
func (s *SeedV2) Unwrap() []llmlimit.Provider { return []llmlimit.Provider{s.p} }

// Reset is the patch's reset_counters(), called at the start of every run.
func (s *SeedV2) Reset() {
	s.mu.Lock()
	s.successes, s.rateLimits = 0, 0
	s.mu.Unlock()
	if r, ok := s.p.(llmlimit.Resetter); ok {
		r.Reset()
	}
}

// Stats returns the counts so far.
func (s *SeedV2) Stats() SeedV2Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Generate calls the wrapped provider under the seed's rules (see [SeedV2]).
func (s *SeedV2) Generate(ctx context.Context, req *llmlimit.Request) (*llmlimit.Response, error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.sem }()

	delay := seedFirstDelay
	for attempt := 0; ; attempt++ {
		s.count(func(st *SeedV2Stats) { st.Attempts++ })
		resp, err := s.p.Generate(ctx, req)
		if err == nil {
			if err := s.recordSuccess(ctx); err != nil {
				return nil, err
			}
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !is429(err) {
			return nil, err
		}
		if err := s.recordRateLimit(ctx); err != nil {
			return nil, err
		}
		if attempt >= seedMaxRetries {
			return nil, err
		}
		if err := wait.Sleep(ctx, delay+s.jitter()); err != nil {
			return nil, err
		}
		delay *= 2
	}
}

// recordSuccess is the patch's record_success: count, and pause the caller
// that finds the count at 12 or more before resetting it.
func (s *SeedV2) recordSuccess(ctx context.Context) error {
	s.mu.Lock()
	s.rateLimits = 0
	s.successes++
	pause := s.successes >= seedSuccessesPerPause
	if pause {
		s.stats.SuccessPauses++
	}
	s.mu.Unlock()
	if !pause {
		return nil
	}
	if err := wait.Sleep(ctx, seedSuccessPause); err != nil {
		return err
	}
	s.mu.Lock()
	s.successes = 0
	s.mu.Unlock()
	return nil
}

// recordRateLimit is the patch's record_rate_limit_error.
func (s *SeedV2) recordRateLimit(ctx context.Context) error {
	s.mu.Lock()
	s.stats.RateLimited++
	s.rateLimits++
	pause := s.rateLimits >= seedRateLimitsPerStop
	if pause {
		s.stats.RateLimitPauses++
	}
	s.mu.Unlock()
	if !pause {
		return nil
	}
	if err := wait.Sleep(ctx, seedRateLimitPause); err != nil {
		return err
	}
	s.mu.Lock()
	s.rateLimits = 0
	s.mu.Unlock()
	return nil
}

func (s *SeedV2) jitter() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rng.Float64()
	if s.draw != nil {
		r = s.draw()
	}
	return seedJitterMin + time.Duration(r*float64(seedJitterMax-seedJitterMin))
}

func (s *SeedV2) count(f func(*SeedV2Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// is429 reports whether err is an HTTP 429 of any kind: the seed's Gemini
// client matched the status, not the quota.
func is429(err error) bool {
	var pe *llmlimit.ProviderError
	if errors.As(err, &pe) {
		return pe.StatusCode == 429
	}
	return errors.Is(err, llmlimit.ErrRateLimited) || errors.Is(err, llmlimit.ErrQuotaExhausted)
}
