package llmlimit_test

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

// TestReliabilityCancelCall cancels one Generate call at each place it can
// wait: at the cooldown gate, in the queue for a slot, holding a slot in the
// middle of an HTTP request through the real SDKs, and in a backoff sleep.
// The call returns in the same instant of virtual time with the context's
// error, is counted as canceled rather than as a provider failure, and
// leaves no goroutine behind (synctest.Test fails on a goroutine still
// blocked at the end; goleak checks the package in TestMain).
func TestReliabilityCancelCall(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the Limiter under test after putting it in the
		// state where the canceled call will wait; its own calls run in
		// bg, whose goroutines wg waits for.
		setup func(t *testing.T, bg context.Context, wg *sync.WaitGroup) *llmlimit.Limiter
	}{
		{"waiting at the gate", func(t *testing.T, bg context.Context, wg *sync.WaitGroup) *llmlimit.Limiter {
			f := llmtest.NewFake("fake")
			f.Push(llmtest.Fail(llmtest.RateLimited("fake", time.Minute)))
			l := relLimiter(t, f)
			wg.Go(func() { l.Generate(bg, &llmlimit.Request{}) }) // closes the gate, then backs off
			synctest.Wait()
			return l
		}},
		{"waiting for a slot", func(t *testing.T, bg context.Context, wg *sync.WaitGroup) *llmlimit.Limiter {
			f := llmtest.NewFake("fake")
			f.SetLatency(time.Minute)
			l := relLimiter(t, f, llmlimit.WithConcurrency(1), llmlimit.WithMaxConcurrency(1))
			wg.Go(func() { l.Generate(bg, &llmlimit.Request{}) }) // holds the only slot
			synctest.Wait()
			return l
		}},
		{"mid-HTTP gemini", func(t *testing.T, bg context.Context, wg *sync.WaitGroup) *llmlimit.Limiter {
			e := llmtest.NewEmulator(llmtest.Config{Gemini: llmtest.API{Latency: fixedLatency(time.Minute)}})
			gc, err := e.GeminiClient(t.Context(), relGeminiKey)
			if err != nil {
				t.Fatal(err)
			}
			return relLimiter(t, llmlimit.NewGemini(gc, ""))
		}},
		{"mid-HTTP openai", func(t *testing.T, bg context.Context, wg *sync.WaitGroup) *llmlimit.Limiter {
			e := llmtest.NewEmulator(llmtest.Config{OpenAI: llmtest.API{Latency: fixedLatency(time.Minute)}})
			return relLimiter(t, llmlimit.NewOpenAI(e.OpenAIClient(relOpenAIKey), ""))
		}},
		{"in backoff", func(t *testing.T, bg context.Context, wg *sync.WaitGroup) *llmlimit.Limiter {
			e := llmtest.NewEmulator(llmtest.Config{Gemini: llmtest.API{ServerErrorRate: 1}})
			gc, err := e.GeminiClient(t.Context(), relGeminiKey)
			if err != nil {
				t.Fatal(err)
			}
			return relLimiter(t, llmlimit.NewGemini(gc, ""), llmlimit.WithBackoff(time.Minute, time.Hour))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				bg, stop := context.WithCancel(t.Context())
				var wg sync.WaitGroup
				defer wg.Wait()
				defer stop()
				l := tt.setup(t, bg, &wg)
				before := l.Stats()
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() {
					_, err := l.Generate(ctx, batchRequest(e2eItems, e2eVocab))
					done <- err
				}()
				time.Sleep(time.Second) // well inside the wait
				synctest.Wait()
				select {
				case err := <-done:
					t.Fatalf("returned before the cancel: %v", err)
				default:
				}
				cancel()
				at := time.Now()
				err := <-done
				if d := time.Since(at); d != 0 {
					t.Errorf("returned %v of virtual time after the cancel, want at once", d)
				}
				if err != context.Canceled {
					t.Errorf("err = %v, want exactly context.Canceled", err)
				}
				d := l.Stats().Sub(before)
				if d.Canceled != 1 || d.Errors() != 0 && tt.name != "in backoff" || d.Successes != 0 {
					t.Errorf("stats of the canceled call %+v", d)
				}
			})
		})
	}
}

func relLimiter(t *testing.T, p llmlimit.Provider, opts ...llmlimit.Option) *llmlimit.Limiter {
	t.Helper()
	l, err := llmlimit.New(p, append([]llmlimit.Option{llmlimit.WithSuccessCooldown(0, 0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestReliabilityCancelRun cancels a TagSpace run of 200 items through the
// real SDKs at several points: before it starts, with batches at the gate,
// mid-HTTP, in backoff, and halfway. Run returns at once with the context's
// error, one result per item in order, every finished item with its own
// tags, every other item with context.Canceled.
func TestReliabilityCancelRun(t *testing.T) {
	tests := []struct {
		name   string
		gemini llmtest.API
		after  time.Duration // when to cancel; -1: before Run
	}{
		{"before the run", llmtest.API{}, -1},
		{"at the gate", llmtest.API{RequestsPerWindow: 10, Latency: fixedLatency(100 * time.Millisecond)}, 5 * time.Second},
		{"mid-HTTP", llmtest.API{Latency: fixedLatency(10 * time.Second)}, 15 * time.Second},
		// Every first attempt fails at 100 ms; those the retry budget lets
		// retry are in backoff (at least 1.1 s) when the cancel comes.
		{"in backoff", llmtest.API{ServerErrorRate: 1, Latency: fixedLatency(100 * time.Millisecond)}, 500 * time.Millisecond},
		{"halfway", llmtest.API{Latency: fixedLatency(time.Second)}, 4 * time.Second},
	}
	const n = 200
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tt.gemini.Key = relGeminiKey
				e := llmtest.NewEmulator(llmtest.Config{Gemini: tt.gemini, Seed: 11})
				gc, err := e.GeminiClient(t.Context(), relGeminiKey)
				if err != nil {
					t.Fatal(err)
				}
				ts, err := llmlimit.NewTagSpace(relLimiter(t, llmlimit.NewGemini(gc, "")), llmlimit.WithCacheEnabled(false))
				if err != nil {
					t.Fatal(err)
				}
				s := e2eSpace(n)
				ctx, cancel := context.WithCancel(t.Context())
				var at time.Time
				if tt.after < 0 {
					cancel()
					at = time.Now()
				} else {
					time.AfterFunc(tt.after, func() { at = time.Now(); cancel() })
				}
				rep, err := ts.Run(ctx, s)
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Run error %v, want context.Canceled", err)
				}
				if d := time.Since(at); d != 0 {
					t.Errorf("Run returned %v of virtual time after the cancel", d)
				}
				tagged := checkTags(t, s, rep)
				canceled := 0
				for _, res := range rep.Results {
					switch {
					case res.Err == nil:
					case errors.Is(res.Err, context.Canceled):
						canceled++
					case llmlimit.KindOf(res.Err) == llmlimit.KindTransient:
						// Settled before the cancel: 500s the retry budget
						// would not retry.
					default:
						t.Errorf("item %s: %v, want context.Canceled", res.ID, res.Err)
					}
				}
				if canceled == 0 {
					t.Errorf("no item carries context.Canceled")
				}
				if tagged == n && tt.name != "in backoff" || rep.Tagged != tagged || rep.Failed+rep.NotAttempted != n-tagged || rep.NotAttempted != canceled {
					t.Errorf("tagged %d of %d; report tagged %d failed %d not attempted %d (%d canceled)", tagged, n, rep.Tagged, rep.Failed, rep.NotAttempted, canceled)
				}
				if tt.after < 0 && e.Counters().Gemini.Requests != 0 {
					t.Errorf("a canceled run sent %d requests", e.Counters().Gemini.Requests)
				}
				t.Logf("%s: %d of %d tagged when canceled", tt.name, tagged, n)
			})
		})
	}
}
