package sim

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

var req = &llmlimit.Request{Prompt: "p"}

// newSeed returns a SeedV2 around a fake whose jitter draw is pinned to 0.5,
// so every backoff is its delay + 0.25 s.
func newSeed() (*SeedV2, *llmtest.Fake) {
	f := llmtest.NewFake("gemini")
	s := NewSeedV2(f, 1)
	s.draw = func() float64 { return 0.5 }
	return s, f
}

func ok() llmtest.Step { return llmtest.Reply(`{"results":[]}`) }

func TestSeedV2Retries(t *testing.T) {
	r429 := llmtest.Fail(llmtest.RateLimited("gemini", 30*time.Second))
	day := llmtest.Fail(llmtest.QuotaExhausted("gemini", 30*time.Second))
	tests := []struct {
		name    string
		steps   []llmtest.Step
		wantErr error
		calls   int
		took    time.Duration
	}{
		// 1.25 + 2.25, then the third 429 pauses 10 s before 4.25; the
		// fourth 429 goes up.
		{"429s exhaust the retries", []llmtest.Step{r429, r429, r429, r429}, llmlimit.ErrRateLimited, 4, 17750 * time.Millisecond},
		{"per-day 429s are retried alike", []llmtest.Step{day, day, day, day}, llmlimit.ErrQuotaExhausted, 4, 17750 * time.Millisecond},
		{"recovers on the third attempt", []llmtest.Step{r429, r429, ok()}, nil, 3, 3500 * time.Millisecond},
		{"server hint ignored", []llmtest.Step{r429, ok()}, nil, 2, 1250 * time.Millisecond},
		{"503 not retried", []llmtest.Step{llmtest.Fail(llmtest.ServerError("gemini", 503))}, llmtest.ServerError("gemini", 503), 1, 0},
		{"400 not retried", []llmtest.Step{llmtest.Fail(llmtest.BadRequest("gemini"))}, llmtest.BadRequest("gemini"), 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, f := newSeed()
				f.Push(tt.steps...)
				start := time.Now()
				_, err := s.Generate(t.Context(), req)
				var pe *llmlimit.ProviderError
				switch {
				case tt.wantErr == nil && err != nil:
					t.Fatalf("err = %v, want nil", err)
				case tt.wantErr != nil && !errors.Is(err, tt.wantErr) && !(errors.As(err, &pe) && pe.Error() == tt.wantErr.Error()):
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if got := time.Since(start); got != tt.took {
					t.Errorf("took %v, want %v", got, tt.took)
				}
				if got := f.Calls(); got != tt.calls {
					t.Errorf("calls = %d, want %d", got, tt.calls)
				}
			})
		})
	}
}

// took returns how long one Generate takes.
func took(t *testing.T, s *SeedV2) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := s.Generate(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

func TestSeedV2SuccessPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newSeed()
		for i := 1; i <= 25; i++ {
			want := time.Duration(0)
			if i%12 == 0 {
				want = seedSuccessPause
			}
			if got := took(t, s); got != want {
				t.Errorf("success %d took %v, want %v", i, got, want)
			}
		}
		if got := s.Stats().SuccessPauses; got != 2 {
			t.Errorf("success pauses = %d, want 2", got)
		}
	})
}

func TestSeedV2SuccessResetsRateLimitCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newSeed()
		r429 := llmtest.Fail(llmtest.RateLimited("gemini", 0))
		f.Push(r429, r429, ok(), r429, ok())
		if got, want := took(t, s), 3500*time.Millisecond; got != want {
			t.Errorf("first call took %v, want %v", got, want)
		}
		// Without the reset, this 429 would be the third and pause 10 s.
		if got, want := took(t, s), 1250*time.Millisecond; got != want {
			t.Errorf("second call took %v, want %v", got, want)
		}
		if got := s.Stats().RateLimitPauses; got != 0 {
			t.Errorf("rate-limit pauses = %d, want 0", got)
		}
	})
}

// TestSeedV2PauseTakenByCaller shows the literal Python order: the caller
// that reaches 12 pauses alone while others keep calling, and a caller that
// succeeds during that pause, finding the count not yet reset, pauses too.
func TestSeedV2PauseTakenByCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newSeed()
		for range 11 {
			took(t, s)
		}
		f.Push(ok(), llmtest.Fail(llmtest.ServerError("gemini", 503)), ok(), ok())
		start := time.Now()
		ends := make([]time.Duration, 3)
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * time.Second)
				s.Generate(t.Context(), req)
				ends[i] = time.Since(start)
			})
		}
		wg.Wait()
		want := []time.Duration{5 * time.Second, time.Second, 7 * time.Second}
		for i := range want {
			if ends[i] != want[i] {
				t.Errorf("caller %d returned at %v, want %v", i, ends[i], want[i])
			}
		}
		if got := took(t, s); got != 0 {
			t.Errorf("after the pauses, a success took %v, want 0: the count was reset", got)
		}
	})
}

func TestSeedV2Semaphore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, f := newSeed()
		f.SetLatency(time.Second)
		start := time.Now()
		ends := make([]time.Duration, seedConcurrency+1)
		var wg sync.WaitGroup
		for i := range ends {
			wg.Go(func() {
				s.Generate(t.Context(), req)
				ends[i] = time.Since(start)
			})
			synctest.Wait() // arrival order = index order
		}
		wg.Wait()
		for i, e := range ends {
			want := time.Second
			if i == seedConcurrency {
				want = 2 * time.Second
			}
			if e != want {
				t.Errorf("call %d returned at %v, want %v", i, e, want)
			}
		}
	})
}

func TestSeedV2CancelDuringPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newSeed()
		for range 11 {
			took(t, s)
		}
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(2*time.Second, cancel)
		start := time.Now()
		_, err := s.Generate(ctx, req)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if got := time.Since(start); got != 2*time.Second {
			t.Errorf("returned after %v, want 2s", got)
		}
	})
}

func TestSeedV2Reset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newSeed()
		for range 11 {
			took(t, s)
		}
		s.Reset()
		if got := took(t, s); got != 0 {
			t.Errorf("first success after Reset took %v, want 0", got)
		}
	})
}
