package redisstate

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit"
)

// TestRedisOutage cuts Redis in the middle of a run, through a proxy, and
// restores it: calls go on under each replica's local limits, with no hang
// and no panic, and sharing resumes once Redis answers again.
func TestRedisOutage(t *testing.T) {
	target := redisAddr(t)
	rate := llmlimit.Quota{Unit: llmlimit.UnitRequests, Limit: 5, Window: time.Second}
	// Sends are timed by the test after the start was counted on Redis's
	// clock; allow for the difference.
	const tolerance = 20 * time.Millisecond
	for _, mode := range []proxyMode{modeRefuse, modeHang} {
		name := map[proxyMode]string{modeRefuse: "refused", modeHang: "hung"}[mode]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, target)
			key := uniqueKey(t, newClient(t, target))
			_, url := emulator(t, 0, 0, 20*time.Millisecond)
			rs := []*replica{
				newReplica(t, url, p.addr(), key, llmlimit.WithQuota(rate)),
				newReplica(t, url, p.addr(), key, llmlimit.WithQuota(rate)),
			}

			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			for _, r := range rs {
				for range workers {
					wg.Go(func() {
						for ctx.Err() == nil {
							_, err := r.lim.Generate(ctx, request)
							if err != nil && ctx.Err() == nil {
								t.Errorf("call failed: %v", err)
							}
						}
					})
				}
			}

			start := time.Now()
			time.Sleep(1500 * time.Millisecond)
			cut := time.Now()
			p.set(mode)
			time.Sleep(2 * time.Second)
			restored := time.Now()
			p.set(modeUp)
			// Each replica retries Redis a second after its last failure.
			deadline := time.Now().Add(5 * time.Second)
			for !recovered(rs) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			shared := time.Now()
			time.Sleep(2 * time.Second)
			end := time.Now()
			cancel()
			wg.Wait()
			// Every caller, whatever it was waiting for, returns promptly.
			if stop := time.Since(end); stop > 500*time.Millisecond {
				t.Errorf("callers took %v to return after cancellation", stop)
			}

			if !recovered(rs) {
				t.Fatalf("sharing did not resume within 5 s of Redis's return")
			}
			var all []time.Time
			for i, r := range rs {
				at, _, _ := r.sends.log()
				all = append(all, at...)
				during := between(at, cut, restored)
				st := r.lim.Stats()
				t.Logf("replica %d: %d sends, %d during the %v outage, %d state errors",
					i, len(at), len(during), restored.Sub(cut).Round(time.Millisecond), st.StateErrors)
				// Local limits: the replica alone keeps to the rate...
				if n := maxIn(during, rate.Window-tolerance); n > rate.Limit {
					t.Errorf("replica %d sent %d in %v during the outage, over its local limit of %d", i, n, rate.Window, rate.Limit)
				}
				// ...and goes on calling: no hang at the cut or after.
				if gap := maxGap(append(append([]time.Time{cut}, during...), restored)); gap > rate.Window+stateTimeout+stagger {
					t.Errorf("replica %d sent nothing for %v during the outage: calls hung", i, gap)
				}
				if st.StateErrors == 0 || !strings.Contains(r.logs.String(), "shared state failed") {
					t.Errorf("replica %d: no state error or warning logged:\n%s", i, r.logs)
				}
			}
			sortTimes(all)
			for _, phase := range []struct {
				name     string
				from, to time.Time
			}{{"before the outage", start, cut}, {"after recovery", shared, end}} {
				got := between(all, phase.from, phase.to)
				n := maxIn(got, rate.Window-tolerance)
				t.Logf("%s: %d sends, at most %d in %v by both replicas together", phase.name, len(got), n, rate.Window)
				if n > rate.Limit {
					t.Errorf("%s: %d sends in %v by both replicas, want at most %d: not shared", phase.name, n, rate.Window, rate.Limit)
				}
			}
			// The limits during the outage were local, not still shared:
			// the two replicas together went over the shared rate.
			n := maxIn(between(all, cut, restored), rate.Window)
			t.Logf("during the outage: at most %d in %v by both replicas together", n, rate.Window)
			if n <= rate.Limit {
				t.Errorf("during the outage both replicas together sent at most %d per %v: still limited as one", n, rate.Window)
			}
		})
	}
}

// Bounds of the Limiter's behaviour, from package llmlimit: its timeout on a
// shared State and the jitter it adds to a wait.
const (
	stateTimeout = 250 * time.Millisecond
	stagger      = 250 * time.Millisecond
)

// maxGap returns the longest interval between consecutive sorted times.
func maxGap(at []time.Time) time.Duration {
	var gap time.Duration
	for i := 1; i < len(at); i++ {
		gap = max(gap, at[i].Sub(at[i-1]))
	}
	return gap
}

func recovered(rs []*replica) bool {
	for _, r := range rs {
		if !strings.Contains(r.logs.String(), "shared state recovered") {
			return false
		}
	}
	return true
}

// between returns the times in [from, to) of the sorted times at.
func between(at []time.Time, from, to time.Time) []time.Time {
	var out []time.Time
	for _, x := range at {
		if !x.Before(from) && x.Before(to) {
			out = append(out, x)
		}
	}
	return out
}

// maxIn returns the most times of the sorted at within any interval of
// length d.
func maxIn(at []time.Time, d time.Duration) int {
	best, j := 0, 0
	for i := range at {
		for at[i].Sub(at[j]) >= d {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

func sortTimes(at []time.Time) {
	for i := 1; i < len(at); i++ {
		for j := i; j > 0 && at[j].Before(at[j-1]); j-- {
			at[j], at[j-1] = at[j-1], at[j]
		}
	}
}
