package llmlimit

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// windowServer is a provider with a fixed-window request quota, counting
// each request at arrival like Gemini does, and answering 429s with the
// quota and the time to the window's end (rounded up to whole seconds, as
// Gemini's retryDelay is).
type windowServer struct {
	limit  int
	window time.Duration
	start  time.Time // first window starts here (phase)

	mu        sync.Mutex
	counts    map[int64]int
	limited   int
	limitedIn map[int64]int // 429s by window
	successes int
}

func (w *windowServer) Name() string { return "window" }

func (w *windowServer) Generate(ctx context.Context, req *Request) (*Response, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	k := int64(now.Sub(w.start) / w.window)
	if w.counts[k] >= w.limit {
		w.limited++
		if w.limitedIn == nil {
			w.limitedIn = map[int64]int{}
		}
		w.limitedIn[k]++
		end := w.start.Add(time.Duration(k+1) * w.window)
		reset := (end.Sub(now) + time.Second - 1).Truncate(time.Second)
		return nil, &ProviderError{Provider: "window", StatusCode: 429, Kind: KindRateLimited, RetryAfter: reset,
			Quotas: []Quota{{Limit: w.limit, Remaining: 0, Reset: reset, Window: w.window, Exceeded: true}}}
	}
	w.counts[k]++
	w.successes++
	return &Response{Text: "ok"}, nil
}

func (w *windowServer) maxPerWindow() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := 0
	for _, c := range w.counts {
		m = max(m, c)
	}
	return m
}

func TestRequestsPerMinuteNeverExceedsAFixedWindow(t *testing.T) {
	for _, phase := range []time.Duration{0, 1 * time.Second, 17 * time.Second, 59 * time.Second} {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			srv := &windowServer{limit: 15, window: time.Minute, start: start.Add(-phase), counts: map[int64]int{}}
			l := newTestLimiter(t, srv, WithRequestsPerMinute(15), WithSuccessCooldown(0, 0))
			if ok := runCallers(t, l, 40); ok != 40 {
				t.Fatalf("phase %v: %d of 40 succeeded", phase, ok)
			}
			if srv.limited != 0 || srv.maxPerWindow() > 15 {
				t.Fatalf("phase %v: %d 429s, %d in one window", phase, srv.limited, srv.maxPerWindow())
			}
			// 15 at once, then 15 a minute later, then 10.
			if got := time.Since(start); got != 2*time.Minute {
				t.Fatalf("phase %v: 40 calls took %v, want 2m", phase, got)
			}
		})
	}
}

func TestLearnedWindowAvoids429s(t *testing.T) {
	for _, phase := range []time.Duration{0, 13 * time.Second, 42 * time.Second} {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			srv := &windowServer{limit: 15, window: time.Minute, start: start.Add(-phase), counts: map[int64]int{}}
			l := newTestLimiter(t, srv, WithSuccessCooldown(0, 0), WithRateLimitCooldown(0, 0))
			if ok := runCallers(t, l, 100); ok != 100 {
				t.Fatalf("%d of 100 succeeded", ok)
			}
			// The first 429 teaches the Limiter the window; only attempts
			// already admitted before it was recorded (at most one per
			// slot) can meet a 429 too, all in the first window. After
			// that every window is used in full and never overrun.
			if srv.limited < 1 || srv.limited > 1+defaultConcurrency || len(srv.limitedIn) != 1 || srv.limitedIn[0] != srv.limited {
				t.Fatalf("phase %v: 429s by window %v, want 1 to %d, all in the first window", phase, srv.limitedIn, 1+defaultConcurrency)
			}
			windows := int((time.Since(start)+phase)/time.Minute) + 1
			if used := srv.successes; used != 100 || windows != 7 {
				t.Fatalf("phase %v: %d successes over %d windows, want 100 over 7 (15 a window)", phase, used, windows)
			}
		})
	}
}

func TestLearnedWindowMakesLongWaitsFailFast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &windowServer{limit: 2, window: time.Minute, start: time.Now(), counts: map[int64]int{}}
		l := newTestLimiter(t, srv, WithMaxWait(10*time.Second), WithMaxRetries(0))
		l.local.mu.Lock()
		l.local.learned[UnitRequests].learn(time.Now(), Quota{Limit: 2, Remaining: 2, Reset: time.Minute, Window: time.Minute}, false, time.Time{}, 0)
		l.local.mu.Unlock()
		call(t, l)
		call(t, l)
		start := time.Now()
		err := call(t, l)
		if KindOf(err) == KindRateLimited || time.Since(start) != 0 || srv.limited != 0 {
			t.Fatalf("third call: %v after %v, %d 429s; want ErrCooldown at once without sending", err, time.Since(start), srv.limited)
		}
	})
}

func TestLearnedWindow(t *testing.T) {
	now := time.Now()
	var q learnedQuota
	q.learn(now, Quota{Limit: 500, Remaining: 499, Reset: 120 * time.Millisecond, Window: time.Minute}, false, time.Time{}, 0)
	if q.wait(now, 1) != 0 || q.used != 1 {
		t.Fatalf("after remaining 499: wait %v used %d", q.wait(now, 1), q.used)
	}
	// An older reply from the same window can't lower the count.
	q.learn(now.Add(10*time.Millisecond), Quota{Limit: 500, Remaining: 0, Reset: 110 * time.Millisecond, Window: time.Minute}, false, time.Time{}, 0)
	q.learn(now.Add(20*time.Millisecond), Quota{Limit: 500, Remaining: 300, Reset: 100 * time.Millisecond, Window: time.Minute}, false, time.Time{}, 0)
	if got := q.wait(now.Add(20*time.Millisecond), 1); got != 100*time.Millisecond {
		t.Fatalf("wait %v, want 100ms to the window's end", got)
	}
	if got := q.wait(now.Add(130*time.Millisecond), 1); got != 0 || q.used != 0 {
		t.Fatalf("next window: wait %v used %d", got, q.used)
	}
	for _, r := range []Quota{{Limit: 0, Reset: time.Second}, {Limit: 5, Reset: 0}} {
		var q learnedQuota
		q.learn(now, r, false, time.Time{}, 0)
		if q.known() {
			t.Errorf("learned from %+v", r)
		}
	}
	// A window too short to roll over is forgotten at its end.
	q = learnedQuota{}
	q.learn(now, Quota{Limit: 1, Remaining: 0, Reset: time.Second}, false, time.Time{}, 0)
	if q.wait(now, 1) != time.Second || q.wait(now.Add(time.Second), 1) != 0 || q.known() {
		t.Fatalf("unknown-length window not forgotten: %+v", q)
	}
}
