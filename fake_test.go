package llmlimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit/internal/wait"
)

// stubProvider is the root package's in-package fake: llmtest imports this
// package, so in-package tests can't use it.
type stubProvider struct {
	name    string
	latency time.Duration
	// next decides each attempt's outcome; nil means success.
	next func(n int) error

	calls    atomic.Int64
	inFlight atomic.Int64
	mu       sync.Mutex
	maxSeen  int64
	starts   []time.Time
}

func (s *stubProvider) Name() string {
	if s.name == "" {
		return "stub"
	}
	return s.name
}

func (s *stubProvider) Generate(ctx context.Context, req *Request) (*Response, error) {
	n := int(s.calls.Add(1))
	cur := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	s.mu.Lock()
	s.maxSeen = max(s.maxSeen, cur)
	s.starts = append(s.starts, time.Now())
	s.mu.Unlock()
	if s.latency > 0 {
		if err := wait.Sleep(ctx, s.latency); err != nil {
			return nil, err
		}
	}
	if s.next != nil {
		if err := s.next(n); err != nil {
			return nil, err
		}
	}
	return &Response{Text: "ok", Model: "stub-model", Usage: Usage{InputTokens: 3, OutputTokens: 2}}, nil
}

func (s *stubProvider) startTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.starts...)
}

func (s *stubProvider) maxInFlight() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxSeen
}

func rateLimited(hint time.Duration) error {
	return &ProviderError{Provider: "stub", StatusCode: 429, Kind: KindRateLimited, RetryAfter: hint}
}

func serverError() error {
	return &ProviderError{Provider: "stub", StatusCode: 500, Kind: KindTransient}
}

// zeroRand pins every jitter draw to its minimum, so virtual-time
// assertions can be exact.
func zeroRand() float64 { return 0 }

// runCallers sends n concurrent calls through l and returns how many
// succeeded, once all have returned.
func runCallers(t *testing.T, l *Limiter, n int) (ok int) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 0; i < n; i++ {
		wg.Go(func() {
			if _, err := l.Generate(t.Context(), &Request{}); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ok
}
