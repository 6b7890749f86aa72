package llmlimit_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// TestTagSpaceOutageEndsMidRun takes both providers down for the first
// 20 s of a run that lasts longer: batches that failed while they were
// down are sent again once they answer, and every item is tagged.
func TestTagSpaceOutageEndsMidRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := llmtest.NewEmulator(llmtest.Config{
			Gemini: llmtest.API{Key: "gemini-key", UnavailableUntil: 20 * time.Second, Latency: fixedLatency(time.Second)},
			OpenAI: llmtest.API{Key: "openai-key", UnavailableUntil: 20 * time.Second, Latency: fixedLatency(time.Second)},
			Seed:   1,
		})
		s := e2eSpace(600)
		ts, err := llmlimit.NewTagSpace(pipeline(t, e))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		rep, err := ts.Run(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		c := e.Counters()
		if c.Gemini.ServerErrors+c.OpenAI.ServerErrors == 0 {
			t.Fatalf("no outage seen: %+v, run of %v", c, time.Since(start))
		}
		if n := checkTags(t, s, rep); n != len(s.Items) || rep.Failed != 0 || rep.NotAttempted != 0 {
			t.Errorf("tagged %d of %d, failed %d, not attempted %d", n, len(s.Items), rep.Failed, rep.NotAttempted)
		}
		t.Logf("%v virtual; emulator %+v", time.Since(start), c)
	})
}

// TestTagSpaceOutageProbes takes the only provider down for 45 s while a
// small run has nothing else to send: it probes with one batch at a time,
// backing off, and tags everything once the provider is back. With an
// outage of an hour and an outage wait of 30 s, the run fails its items
// with the provider's error instead of waiting for ever.
func TestTagSpaceOutageProbes(t *testing.T) {
	for _, tt := range []struct {
		name         string
		outage, wait time.Duration
		wantFailed   int
	}{
		{"outage within the wait", 45 * time.Second, 10 * time.Minute, 0},
		{"outage longer than the wait", time.Hour, 30 * time.Second, 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := llmtest.NewEmulator(llmtest.Config{
					Gemini: llmtest.API{Key: "k", UnavailableUntil: tt.outage, Latency: fixedLatency(100 * time.Millisecond)},
				})
				gc, err := e.GeminiClient(t.Context(), "k")
				if err != nil {
					t.Fatal(err)
				}
				l, err := llmlimit.New(llmlimit.NewGemini(gc, ""))
				if err != nil {
					t.Fatal(err)
				}
				ts, err := llmlimit.NewTagSpace(l, llmlimit.WithOutageWait(tt.wait))
				if err != nil {
					t.Fatal(err)
				}
				s := e2eSpace(20)
				start := time.Now()
				rep, err := ts.Run(t.Context(), s)
				if err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); tt.wantFailed > 0 && d > 5*time.Minute {
					t.Errorf("gave up after %v, with an outage wait of %v", d, tt.wait)
				}
				n := checkTags(t, s, rep)
				if rep.Failed != tt.wantFailed || n != len(s.Items)-tt.wantFailed {
					t.Errorf("tagged %d, failed %d; want %d failed", n, rep.Failed, tt.wantFailed)
				}
				for _, r := range rep.Results {
					if r.Err != nil && llmlimit.KindOf(r.Err) != llmlimit.KindTransient {
						t.Errorf("item %s: %v, want the provider's 503", r.ID, r.Err)
					}
				}
				// Probes are one batch at a time: far fewer requests than
				// batches times retries times the seconds of the outage.
				if c := e.Counters(); c.Gemini.ServerErrors > 60 {
					t.Errorf("%d requests during the outage", c.Gemini.ServerErrors)
				}
				t.Logf("emulator %+v", e.Counters().Gemini)
			})
		})
	}
}
