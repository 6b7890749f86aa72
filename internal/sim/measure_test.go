package sim

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

func TestPerDayViolations(t *testing.T) {
	t0 := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	day := func(op int, start, end float64, reset time.Duration) Attempt {
		return Attempt{Op: op, Start: at(start), End: at(end), Kind: llmlimit.KindQuotaExhausted, Status: 429,
			RetryAfter: reset, Err: errors.New("per day")}
	}
	okAt := func(op int, start float64) Attempt {
		return Attempt{Op: op, Start: at(start), End: at(start + 1)}
	}
	minute429 := Attempt{Op: 1, Start: at(0), End: at(0), Kind: llmlimit.KindRateLimited, Status: 429,
		RetryAfter: 30 * time.Second, Err: errors.New("per minute")}
	tests := []struct {
		name     string
		attempts []Attempt
		want     int
	}{
		{"none", []Attempt{okAt(0, 0), okAt(1, 1)}, 0},
		{"sent at the same instant is fine", []Attempt{day(0, 0, 5, 20*time.Second), okAt(1, 5)}, 0},
		{"sent before the reset", []Attempt{day(0, 0, 5, 20*time.Second), okAt(1, 6), okAt(2, 24)}, 2},
		{"sent after the reset is fine", []Attempt{day(0, 0, 5, 20*time.Second), okAt(1, 26)}, 0},
		{"no hint blocks a minute", []Attempt{day(0, 0, 5, 0), okAt(1, 64), okAt(2, 66)}, 1},
		{"a retry of the same operation, however late", []Attempt{day(0, 0, 5, 20*time.Second), okAt(0, 100)}, 1},
		{"per-minute 429s don't count", []Attempt{minute429, okAt(1, 1), okAt(1, 2)}, 0},
		{"every later attempt counts once", []Attempt{day(0, 0, 5, time.Hour), day(1, 6, 6, time.Hour), okAt(1, 7)}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PerDayViolations(tt.attempts); got != tt.want {
				t.Errorf("PerDayViolations = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestRecorderAndTap checks that the Recorder times each operation from the
// outside and the Tap ties each attempt to its operation, through a Limiter
// and a Fallback.
func TestRecorderAndTap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := llmtest.NewFake("gemini")
		g.Push(
			llmtest.Step{Err: llmtest.RateLimited("gemini", 0), Latency: time.Second},
			llmtest.Step{Text: "{}", Latency: time.Second},
			llmtest.Step{Err: llmtest.BadRequest("gemini")},
		)
		o := llmtest.NewFake("openai")
		o.SetLatency(2 * time.Second)
		tap := NewTap(g)
		lim, err := llmlimit.New(tap, llmlimit.WithMaxRetries(1), llmlimit.WithJitter(llmlimit.JitterFull),
			llmlimit.WithBackoff(time.Second, time.Second))
		if err != nil {
			t.Fatal(err)
		}
		fb, err := llmlimit.Fallback(lim, o)
		if err != nil {
			t.Fatal(err)
		}
		rec := NewRecorder(fb)
		for range 2 {
			if _, err := rec.Generate(t.Context(), req); err != nil {
				t.Fatal(err)
			}
		}
		ops := rec.Ops()
		if len(ops) != 2 || ops[0].Provider != "gemini" || ops[1].Provider != "openai" {
			t.Fatalf("ops = %+v, want one served by gemini then one by openai", ops)
		}
		if got := ops[1].Latency(); got != 2*time.Second {
			t.Errorf("fallback operation took %v, want 2s", got)
		}
		as := tap.Attempts()
		if len(as) != 3 {
			t.Fatalf("attempts = %+v, want 3", as)
		}
		for i, want := range []struct {
			op, status int
		}{{0, 429}, {0, 0}, {1, 400}} {
			if as[i].Op != want.op || as[i].Status != want.status {
				t.Errorf("attempt %d: op %d status %d, want op %d status %d", i, as[i].Op, as[i].Status, want.op, want.status)
			}
		}
	})
}
