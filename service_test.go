package llmlimit

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestDeadlineIsTheWaitBudget: a caller with 5 s left meets a primary whose
// server asked for 60 s. The primary refuses at once with a *WaitError and
// the fallback serves, with no WithMaxWait anywhere.
func TestDeadlineIsTheWaitBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		first := true
		gemini := &replyFunc{f: func(int) (*Response, error) {
			if first {
				first = false
				return nil, rateLimited(60 * time.Second)
			}
			return &Response{Text: "gemini"}, nil
		}}
		primary := newTestLimiter(t, gemini, WithMaxRetries(0))
		primary.Generate(t.Context(), &Request{}) // the 429 closes the gate for 60 s
		backup := newTestLimiter(t, &stubProvider{name: "openai"})
		fb, err := Fallback(primary, backup)
		if err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		resp, err := fb.Generate(ctx, &Request{})
		if err != nil || resp.Provider != "openai" || time.Since(start) != 0 {
			t.Fatalf("got %+v, %v after %v; want openai at once", resp, err, time.Since(start))
		}
		_, err = primary.Generate(ctx, &Request{})
		var we *WaitError
		if !errors.As(err, &we) || !errors.Is(err, ErrCooldown) || we.Provider != "stub" || we.Reason != "gate" ||
			we.Wait != 60*time.Second || we.Budget != 5*time.Second {
			t.Fatalf("primary: %v (%+v), want a gate wait of 60s against a 5s budget", err, we)
		}
		if a := primary.Availability(); a.Wait != 60*time.Second {
			t.Fatalf("Availability().Wait = %v right after the 429, want 60s", a.Wait)
		}
	})
}

// TestSlotQueueHonoursTheBudget: 30 callers with a 100 ms budget meet a
// primary of 3 slots whose calls take 40 ms, a latency the Limiter doesn't
// know yet when they arrive. Those that can get a slot within 100 ms are
// served by it; the rest are told so by the first replies, which give the
// latency, and the fallback serves them then, with most of their time
// left. Nobody waits past the budget, nobody fails.
func TestSlotQueueHonoursTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		primary := newTestLimiter(t, &stubProvider{name: "gemini", latency: 40 * time.Millisecond},
			WithConcurrency(3), WithMaxConcurrency(3), WithMaxWait(100*time.Millisecond), WithSuccessCooldown(0, 0))
		fb, err := Fallback(primary, newTestLimiter(t, &stubProvider{name: "openai"}, WithSuccessCooldown(0, 0)))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			by       = map[string]int{}
			servedAt = map[string][]time.Duration{}
		)
		for range 30 {
			wg.Go(func() {
				resp, err := fb.Generate(t.Context(), &Request{})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				by[resp.Provider]++
				servedAt[resp.Provider] = append(servedAt[resp.Provider], time.Since(start))
			})
		}
		wg.Wait()
		// Starts at 0, 40 and 80 ms on the primary. At 40 ms the first
		// replies give the latency: the three next in line start then, the
		// three after them expect to at 80 ms and stay, and everyone
		// behind them, who would start at 120 ms, leaves.
		if by["gemini"] != 9 || by["openai"] != 21 {
			t.Fatalf("served by %v, want 9 by gemini and 21 by openai", by)
		}
		for _, d := range servedAt["openai"] {
			if d != 40*time.Millisecond {
				t.Fatalf("fallback served at %v, want at 40ms, with the first replies", d)
			}
		}
		if st := primary.Stats(); st.Rejected != 21 || st.Calls != 9 {
			t.Fatalf("primary stats %+v", st)
		}
	})
}

// TestSlotEstimateRefusesAtOnce: once the Limiter knows its latency, a
// caller whose place in line can't come within its deadline is refused on
// arrival, leaving the fallback the whole of its time.
func TestSlotEstimateRefusesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestLimiter(t, &stubProvider{latency: time.Second},
			WithConcurrency(1), WithMaxConcurrency(1), WithSuccessCooldown(0, 0))
		call(t, l) // learns the latency: 1 s
		var wg sync.WaitGroup
		// One in flight, two in line: the next starts after the one in
		// flight (half done, on average) and the two ahead: 2.5 s.
		for range 3 {
			wg.Go(func() { call(t, l) })
		}
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := l.Generate(ctx, &Request{})
		var we *WaitError
		if !errors.As(err, &we) || we.Reason != "slot" || we.Wait != 2500*time.Millisecond || time.Since(start) != 0 {
			t.Fatalf("err %v (%+v) after %v, want a slot wait of 2.5s refused at once", err, we, time.Since(start))
		}
		wg.Wait()
	})
}

func TestCancelInLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestLimiter(t, &stubProvider{latency: time.Hour}, WithConcurrency(1), WithMaxConcurrency(1))
		bg, stop := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() { l.Generate(bg, &Request{}) }) // holds the slot
		synctest.Wait()
		ctxs := make([]context.CancelFunc, 5)
		errs := make(chan error, 5)
		for i := range ctxs {
			ctx, cancel := context.WithCancel(t.Context())
			ctxs[i] = cancel
			go func() {
				_, err := l.Generate(ctx, &Request{})
				errs <- err
			}()
		}
		synctest.Wait()
		// Cancel from the middle, the head and the tail of the line.
		for _, i := range []int{2, 0, 4, 1, 3} {
			at := time.Now()
			ctxs[i]()
			if err := <-errs; err != context.Canceled || time.Since(at) != 0 {
				t.Fatalf("caller %d: %v after %v, want context.Canceled at once", i, err, time.Since(at))
			}
		}
		l.mu.Lock()
		line := l.line.Len()
		l.mu.Unlock()
		if line != 0 {
			t.Fatalf("%d callers still in line", line)
		}
		if st := l.Stats(); st.Canceled != 5 {
			t.Fatalf("canceled %d, want 5", st.Canceled)
		}
		stop()
		wg.Wait()
	})
}

// patient is a third-party limiting provider: it refuses calls for 2 s
// unless asked to wait, through the Waiter interface.
type patient struct {
	waited atomic.Int64
}

func (p *patient) Name() string { return "patient" }

func (p *patient) Generate(context.Context, *Request) (*Response, error) {
	return nil, &WaitError{Provider: "patient", Reason: "gate", Wait: 2 * time.Second, Budget: 0}
}

func (p *patient) GenerateWait(ctx context.Context, req *Request, maxWait time.Duration) (*Response, error) {
	p.waited.Add(1)
	select {
	case <-time.After(2 * time.Second):
		return &Response{Text: "late but served"}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestThirdPartyWaiterInTheLastResort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		first := true
		slow := newTestLimiter(t, &replyFunc{f: func(int) (*Response, error) {
			if first {
				first = false
				return nil, rateLimited(10 * time.Second)
			}
			return &Response{Text: "ok"}, nil
		}}, WithMaxRetries(0))
		slow.Generate(t.Context(), &Request{}) // closed for 10 s
		p := &patient{}
		fb, err := Fallback(p, slow)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		resp, err := fb.Generate(ctx, &Request{})
		if err != nil || resp.Provider != "patient" || time.Since(start) != 2*time.Second || p.waited.Load() != 1 {
			t.Fatalf("got %+v, %v after %v (waited %d); want patient after 2s", resp, err, time.Since(start), p.waited.Load())
		}

		// With only 1 s left, even the soonest is too late: a *WaitError
		// for it, at once, wrapping both refusals.
		ctx, cancel = context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start = time.Now()
		_, err = fb.Generate(ctx, &Request{})
		var we *WaitError
		if !errors.As(err, &we) || we.Wait != 2*time.Second || time.Since(start) != 0 || p.waited.Load() != 1 {
			t.Fatalf("err %v after %v, want a *WaitError of 2s at once", err, time.Since(start))
		}
	})
}

// TestStatsArithmeticCoversEveryField fails when a field is added to Stats
// (or Cooldowns) and Sub or Add leaves it out.
func TestStatsArithmeticCoversEveryField(t *testing.T) {
	var s Stats
	n := setEveryCount(t, &s, 1)
	if n < 18 {
		t.Fatalf("set only %d fields", n)
	}
	twice := s.Add(s)
	var want Stats
	setEveryCount(t, &want, 2)
	if twice != want {
		t.Errorf("Add missed a field:\n got %+v\nwant %+v", twice, want)
	}
	diff := twice.Sub(s)
	s.ConcurrencyLimit = twice.ConcurrencyLimit // Sub keeps the newer limit
	if diff != s {
		t.Errorf("Sub missed a field:\n got %+v\nwant %+v", diff, s)
	}
}

// setEveryCount sets the i-th integer field of *s, nested structs
// included, to mult·(i+1), and returns how many it set.
func setEveryCount(t *testing.T, s *Stats, mult int64) int {
	t.Helper()
	i := 0
	var set func(v reflect.Value)
	set = func(v reflect.Value) {
		for f := range v.NumField() {
			switch fv := v.Field(f); fv.Kind() {
			case reflect.Int, reflect.Int64:
				i++
				fv.SetInt(mult * int64(i))
			case reflect.Struct:
				set(fv)
			default:
				t.Fatalf("Stats field %s of kind %s: teach this test about it", v.Type().Field(f).Name, fv.Kind())
			}
		}
	}
	set(reflect.ValueOf(s).Elem())
	return i
}
