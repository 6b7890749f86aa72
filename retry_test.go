package llmlimit

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestNotRetried(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind Kind
	}{
		{"per-day quota", &ProviderError{Provider: "stub", StatusCode: 429, Kind: KindQuotaExhausted, RetryAfter: 20 * time.Second, QuotaID: "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}, KindQuotaExhausted},
		{"insufficient_quota", &ProviderError{Provider: "stub", StatusCode: 429, Kind: KindQuotaExhausted}, KindQuotaExhausted},
		{"400", &ProviderError{Provider: "stub", StatusCode: 400, Kind: KindPermanent}, KindPermanent},
		{"401", &ProviderError{Provider: "stub", StatusCode: 401, Kind: KindPermanent}, KindPermanent},
		{"unknown error", errors.New("boom"), KindPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := &stubProvider{next: func(int) error { return tt.err }}
				l := newTestLimiter(t, p)
				err := call(t, l)
				if !errors.Is(err, tt.err) || KindOf(err) != tt.kind {
					t.Fatalf("err = %v (kind %v), want %v", err, KindOf(err), tt.err)
				}
				if n := p.calls.Load(); n != 1 {
					t.Fatalf("%d attempts, want 1", n)
				}
				if tt.kind == KindQuotaExhausted {
					// Fails fast without sending until the reset.
					err := call(t, l)
					if !errors.Is(err, ErrQuotaExhausted) || p.calls.Load() != 1 {
						t.Fatalf("second call: err %v, attempts %d; want fast ErrQuotaExhausted", err, p.calls.Load())
					}
					time.Sleep(max(providerErrorOf(tt.err).RetryAfter, quotaRecheck))
					p.next = nil
					if err := call(t, l); err != nil || p.calls.Load() != 2 {
						t.Fatalf("after reset: err %v, attempts %d", err, p.calls.Load())
					}
				}
			})
		})
	}
}

func TestRetriesWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &stubProvider{next: func(n int) error {
			if n <= 3 {
				return serverError()
			}
			return nil
		}}
		l := newTestLimiter(t, p)
		start := time.Now()
		if err := call(t, l); err != nil {
			t.Fatal(err)
		}
		// Delays 1.1s, 2.1s, 4.1s with jitter pinned at its minimum.
		want := []time.Duration{0, 1100 * time.Millisecond, 3200 * time.Millisecond, 7300 * time.Millisecond}
		for i, s := range p.startTimes() {
			if d := s.Sub(start); d != want[i] {
				t.Errorf("attempt %d at %v, want %v", i+1, d, want[i])
			}
		}
		st := l.Stats()
		if st.Calls != 4 || st.Retries != 3 || st.Transient != 3 || st.Successes != 1 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestRetriesSpent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &stubProvider{next: func(int) error { return serverError() }}
		l := newTestLimiter(t, p, WithMaxRetries(2))
		err := call(t, l)
		if KindOf(err) != KindTransient || p.calls.Load() != 3 {
			t.Fatalf("err %v after %d attempts, want transient after 3", err, p.calls.Load())
		}
	})
}
