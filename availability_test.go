package llmlimit

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestTailHold(t *testing.T) {
	quota := Availability{Wait: 40 * time.Second, Limit: 10, Window: time.Minute, MaxWait: 30 * time.Second}
	with := func(f func(*Availability)) Availability { a := quota; f(&a); return a }
	tests := []struct {
		name    string
		a       Availability
		batches int
		perOp   time.Duration
		want    time.Duration
	}{
		{"tail fits and the fallback would not finish first", quota, 4, 6 * time.Second, 40 * time.Second},
		{"the whole next window", quota, 10, 6 * time.Second, 40 * time.Second},
		{"more than the next window", quota, 11, 6 * time.Second, 0},
		{"the fallback finishes before anyone waits", quota, 4, 4 * time.Second, 0},
		{"no quota known", with(func(a *Availability) { a.Limit, a.Window = 0, 0 }), 4, 6 * time.Second, 0},
		{"no pause pending", with(func(a *Availability) { a.Wait = 0 }), 4, 6 * time.Second, 0},
		{"no operation timed yet", quota, 4, 0, 0},
		// Within the budget, calls in flight may be waiting for the same
		// window: they count against it.
		{"within budget, room for those waiting", with(func(a *Availability) { a.Wait = 20 * time.Second }), 8, time.Second, 20 * time.Second},
		{"within budget, no room for those waiting", with(func(a *Availability) { a.Wait = 20 * time.Second }), 9, time.Second, 0},
		{"no budget: every call would wait", with(func(a *Availability) { a.MaxWait = 0 }), 8, time.Millisecond, 40 * time.Second},
	}
	for _, tt := range tests {
		if got := tailHold(tt.a, tt.batches, tt.perOp, 2); got != tt.want {
			t.Errorf("%s: tailHold(%+v, %d batches, %v per operation, 2 slots) = %v, want %v", tt.name, tt.a, tt.batches, tt.perOp, got, tt.want)
		}
	}
}

func TestLimiterAvailability(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &windowServer{limit: 2, window: time.Minute, start: time.Now(), counts: map[int64]int{}}
		l := newTestLimiter(t, srv, WithMaxWait(10*time.Second), WithMaxRetries(0), WithRateLimitCooldown(0, 0))
		if got, want := l.Availability(), (Availability{MaxWait: 10 * time.Second}); got != want {
			t.Fatalf("before any call: %+v, want %+v", got, want)
		}
		call(t, l)
		call(t, l)
		time.Sleep(5 * time.Second)
		// The third call meets the spent window: its 429 teaches the
		// quota. The fourth is told to wait for the next window, 55 s,
		// past its budget.
		call(t, l)
		call(t, l)
		want := Availability{Wait: 55 * time.Second, Limit: 2, Window: time.Minute, MaxWait: 10 * time.Second}
		if got := l.Availability(); got != want {
			t.Fatalf("after the window is spent: %+v, want %+v", got, want)
		}
		time.Sleep(20 * time.Second)
		want.Wait = 35 * time.Second
		if got := l.Availability(); got != want {
			t.Fatalf("20 s later: %+v, want %+v", got, want)
		}
		time.Sleep(time.Minute)
		want.Wait = 0
		if got := l.Availability(); got != want {
			t.Fatalf("after the window opens: %+v, want %+v", got, want)
		}
	})
	paced, err := New(&stubProvider{}, WithRequestsPerMinute(30))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := paced.Availability(), (Availability{Limit: 30, Window: time.Minute}); got != want {
		t.Fatalf("with WithRequestsPerMinute(30): %+v, want %+v", got, want)
	}
}

// tailSetup is a run that reaches a tail hold: a primary paced to 10 calls
// a minute (1 s each) with a 30 s wait budget, a backup taking 20 s, two
// batches of one item in flight, 16 items.
func tailSetup(t *testing.T) (ts *TagSpace, primary, backup *fakeProvider) {
	t.Helper()
	primary = &fakeProvider{name: "primary", latency: time.Second}
	backup = &fakeProvider{name: "backup", latency: 20 * time.Second}
	pl := newTestLimiter(t, primary, WithRequestsPerMinute(10), WithMaxWait(30*time.Second), WithSuccessCooldown(0, 0))
	fb, err := Fallback(pl, backup)
	if err != nil {
		t.Fatal(err)
	}
	ts, err = NewTagSpace(fb, WithBatchSize(1), WithConcurrency(2), WithMaxConcurrency(2), WithCacheEnabled(false))
	if err != nil {
		t.Fatal(err)
	}
	return ts, primary, backup
}

// TestRunKeepsTheTailForThePrimary: once the rest of a run fits in the
// primary's next window and the fallback could not finish it before calls
// start waiting for the primary anyway, the run holds it for that window.
func TestRunKeepsTheTailForThePrimary(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts, primary, backup := tailSetup(t)
		// 0–5 s: ten calls spend the primary's minute. At 5 s two fall
		// back (the primary's pause, 55 s, is past the 30 s budget). At
		// 25 s four are left; sending them to the fallback would not end
		// before 30 s (wait 35 s − budget 30 s = 5 s < 4 × 20 s / 2), so
		// the run holds them until 60 s, and the primary serves them by
		// 62 s. Without the hold two more would fall back, two would wait
		// from 45 s, and the primary would serve 12, not 14.
		start := time.Now()
		s := makeSpace(16)
		rep, err := ts.Run(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		checkResults(t, s, rep)
		if got, want := time.Since(start), 62*time.Second; got != want {
			t.Errorf("run took %v, want %v", got, want)
		}
		if p, b := len(primary.calls()), len(backup.calls()); p != 14 || b != 2 {
			t.Errorf("primary served %d, backup %d; want 14 and 2", p, b)
		}
		if rep.HeldSeconds != 35 {
			t.Errorf("report: held %vs, want 35s (from 25 s to 60 s)", rep.HeldSeconds)
		}
	})
}

// TestRunCanceledDuringTailHold: a run canceled while it holds its tail
// returns at once, with what was done kept and the held items canceled.
func TestRunCanceledDuringTailHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts, primary, backup := tailSetup(t)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(40*time.Second, cancel) // the hold lasts from 25 s to 60 s
		start := time.Now()
		rep, err := ts.Run(ctx, makeSpace(16))
		if !errors.Is(err, context.Canceled) || rep == nil {
			t.Fatalf("Run = %v, %v; want a report and context.Canceled", rep, err)
		}
		if d := time.Since(start); d != 40*time.Second {
			t.Errorf("Run returned after %v, want 40s", d)
		}
		if rep.HeldSeconds != 15 {
			t.Errorf("report: held %vs, want 15s (from 25 s to the cancel at 40 s)", rep.HeldSeconds)
		}
		if rep.Tagged != 12 || rep.NotAttempted != 4 || rep.Failed != 0 {
			t.Errorf("tagged %d, not attempted %d, failed %d; want 12 and the 4 held", rep.Tagged, rep.NotAttempted, rep.Failed)
		}
		for _, r := range rep.Results[12:] {
			if !errors.Is(r.Err, context.Canceled) {
				t.Errorf("held item %s: error %v, want context.Canceled", r.ID, r.Err)
			}
		}
		if p, b := len(primary.calls()), len(backup.calls()); p != 10 || b != 2 {
			t.Errorf("primary got %d calls, backup %d; want 10 and 2", p, b)
		}
	})
}

func TestPrimaryAvailability(t *testing.T) {
	primary := newTestLimiter(t, &stubProvider{name: "primary"})
	backup := newTestLimiter(t, &stubProvider{name: "backup"})
	fb, err := Fallback(primary, backup)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		p    Provider
		want AvailabilityReporter
	}{
		{"a Limiter", primary, primary},
		{"a Fallback: its first member", fb, primary},
		{"a hand-written Chain around a Fallback", &plainChain{members: []Provider{fb}}, primary},
		{"a bare provider", &stubProvider{}, nil},
		{"a Fallback of bare providers", must(Fallback(&stubProvider{name: "a"}, &stubProvider{name: "b"})), nil},
	} {
		if got := primaryAvailability(tt.p); got != tt.want {
			t.Errorf("%s: primaryAvailability = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func must(p Provider, err error) Provider {
	if err != nil {
		panic(err)
	}
	return p
}
