package redisstate

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit"
)

// TestHintPausesEveryReplica: one replica's 429 with a retryDelay closes the
// gate of every replica sharing the quota, so none sends before the hint is
// over. With private states the others send at once and are refused: the
// contrast shows the test can tell the two apart.
func TestHintPausesEveryReplica(t *testing.T) {
	redisAddr(t)
	// Measured on two clocks (Redis's and the test's): allow for rounding.
	const tolerance = 10 * time.Millisecond
	for _, shared := range []bool{true, false} {
		name := map[bool]string{true: "shared", false: "memory"}[shared]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, url := emulator(t, 2, 3*time.Second, 10*time.Millisecond)
			addr, key := "", ""
			if shared {
				addr = redisAddr(t)
				key = uniqueKey(t, newClient(t, addr))
			}
			var rs []*replica
			for range 3 {
				rs = append(rs, newReplica(t, url, addr, key, llmlimit.WithMaxRetries(0), llmlimit.WithStateTimeout(time.Second)))
			}
			a := rs[0]
			for range 2 {
				if _, err := a.lim.Generate(t.Context(), request); err != nil {
					t.Fatal(err)
				}
			}
			_, err := a.lim.Generate(t.Context(), request)
			var pe *llmlimit.ProviderError
			if !errors.As(err, &pe) || pe.StatusCode != 429 || pe.RetryAfter <= 0 {
				t.Fatalf("third call: %v, want a 429 with a retry hint", err)
			}
			_, replied, _ := a.sends.log()
			hintEnd := replied[len(replied)-1].Add(pe.RetryAfter)

			var wg sync.WaitGroup
			errs := make([]error, len(rs))
			for i, r := range rs[1:] {
				wg.Go(func() { _, errs[i+1] = r.lim.Generate(t.Context(), request) })
			}
			wg.Wait()
			for i, r := range rs[1:] {
				at, _, codes := r.sends.log()
				if len(at) != 1 {
					t.Fatalf("replica %d sent %d requests, want 1", i+1, len(at))
				}
				early := hintEnd.Sub(at[0])
				t.Logf("replica %d sent %v before the end of replica 0's %v hint: status %d", i+1, early, pe.RetryAfter, codes[0])
				switch {
				case shared && (early > tolerance || errs[i+1] != nil):
					t.Errorf("replica %d sent %v before the hint's end (err %v): the hint did not pause it", i+1, early, errs[i+1])
				case !shared && (early < pe.RetryAfter/2 || codes[0] != 429):
					t.Errorf("replica %d with its own state sent %v before the hint's end, status %d: want at once, refused", i+1, early, codes[0])
				}
			}
		})
	}
}
