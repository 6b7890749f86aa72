package llmtest

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/internal/prompt"
)

func batch(n int) string {
	items := make([]prompt.Item, n)
	for i := range items {
		items[i] = prompt.Item{ID: string(rune('a' + i)), Text: "water and noise item " + string(rune('a'+i))}
	}
	return prompt.Build(items, []string{"water", "noise", "air"})
}

func TestRoundTrip(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := NewEmulator(only(api, API{Key: goodKey}))
				p := batch(3)
				want, _ := Answer(p)
				r := call(t.Context(), t, e, api, goodKey, p)
				if r.err != nil || r.text != want {
					t.Fatalf("reply %q, %v; want %q", r.text, r.err, want)
				}
				c := counters(e, api)
				if c.Requests != 1 || c.Successes != 1 || c.InputTokens != r.in || c.OutputTokens != r.out || r.in == 0 || r.out != tokens(want) {
					t.Errorf("counters %+v, reply usage in %d out %d", c, r.in, r.out)
				}
				rec := e.Received()
				if len(rec) != 1 {
					t.Fatalf("Received() = %d requests", len(rec))
				}
				got := rec[0]
				wantFormat := map[string]string{"gemini": "application/json", "openai": "json_schema"}[api]
				wantModel := map[string]string{"gemini": geminiModel, "openai": openaiModel}[api]
				if got.API != api || got.Model != wantModel || got.System != prompt.System || got.Prompt != p ||
					got.ResponseFormat != wantFormat || got.Schema["type"] != "object" || got.MaxOutputTokens != 512 ||
					got.Temperature == nil || *got.Temperature < 0.19 || *got.Temperature > 0.21 {
					t.Errorf("Received %+v", got)
				}
			})
		})
	}
}

func TestWindowQuota(t *testing.T) {
	tests := []struct {
		phase     time.Duration
		wantRetry time.Duration // at t=0
	}{
		{0, time.Minute},
		{20 * time.Second, 40 * time.Second},
		{59500 * time.Millisecond, 500 * time.Millisecond},
	}
	for _, api := range apis {
		for _, tt := range tests {
			t.Run(api+"/phase="+tt.phase.String(), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					e := NewEmulator(only(api, API{RequestsPerWindow: 3, Phase: tt.phase}))
					var statuses []int
					var limited callResult
					for range 5 {
						r := call(t.Context(), t, e, api, goodKey, batch(1))
						statuses = append(statuses, r.status)
						if r.status == 429 {
							limited = r
						}
					}
					if !slices.Equal(statuses, []int{200, 200, 200, 429, 429}) {
						t.Fatalf("statuses %v", statuses)
					}
					checkRetryHint(t, api, limited, tt.wantRetry)

					time.Sleep(tt.wantRetry) // the next window
					for i := range 4 {
						r := call(t.Context(), t, e, api, goodKey, batch(1))
						if want := []int{200, 200, 200, 429}[i]; r.status != want {
							t.Fatalf("after the window, call %d: status %d, want %d", i, r.status, want)
						}
					}
					// One HTTP request per SDK call: the SDKs retry nothing.
					if c := counters(e, api); c.Requests != 9 || c.Successes != 6 || c.RateLimited != 3 || c.QuotaExceeded != 0 {
						t.Errorf("counters %+v", c)
					}
				})
			})
		}
	}
}

// checkRetryHint checks the 429's retry hint is d, in each API's own words.
func checkRetryHint(t *testing.T, api string, r callResult, d time.Duration) {
	t.Helper()
	if api == "gemini" {
		ri := geminiDetail(r, "type.googleapis.com/google.rpc.RetryInfo")
		want := (d + time.Second - 1) / time.Second
		if ri == nil || ri["retryDelay"] != itoa(int(want))+"s" {
			t.Errorf("RetryInfo %v, want retryDelay %ds", ri, want)
		}
		if geminiQuotaID(r) != QuotaIDPerMinute {
			t.Errorf("quota id %q", geminiQuotaID(r))
		}
		return
	}
	h := r.header
	if openaiCode(r) != "rate_limit_exceeded" || h.Get("retry-after-ms") != itoa(int(d/time.Millisecond)) ||
		h.Get("retry-after") != itoa(int((d+time.Second-1)/time.Second)) || h.Get("x-ratelimit-reset-requests") != d.String() ||
		h.Get("x-ratelimit-remaining-requests") != "0" || h.Get("x-ratelimit-limit-requests") != "3" {
		t.Errorf("429 code %q headers %v, want retry in %v", openaiCode(r), h, d)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestPerDayCap(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// The window would admit 2 a minute: the daily cap of 3 is
				// reached in the second minute, and a window 429 on the way
				// does not count against the day.
				e := NewEmulator(only(api, API{RequestsPerWindow: 2, PerDay: 3}))
				want := []int{200, 200, 429}
				for i, w := range want {
					if r := call(t.Context(), t, e, api, goodKey, batch(1)); r.status != w {
						t.Fatalf("call %d: %d, want %d", i, r.status, w)
					}
				}
				time.Sleep(time.Minute)
				if r := call(t.Context(), t, e, api, goodKey, batch(1)); r.status != 200 {
					t.Fatalf("third admitted call: %d", r.status)
				}
				r := call(t.Context(), t, e, api, goodKey, batch(1))
				if r.status != 429 {
					t.Fatalf("over the daily cap: %d", r.status)
				}
				if api == "gemini" {
					ri := geminiDetail(r, "type.googleapis.com/google.rpc.RetryInfo")
					if geminiQuotaID(r) != QuotaIDPerDay || ri == nil || ri["retryDelay"] != "60s" {
						t.Errorf("per-day 429: quota %q retry %v", geminiQuotaID(r), ri)
					}
				} else {
					msg, _ := json.Marshal(r.body)
					wantAfter := itoa(int((24*time.Hour - time.Minute) / time.Second))
					if r.header.Get("retry-after") != wantAfter || !strings.Contains(string(msg), "requests per day (RPD): Limit 3, Used 3") {
						t.Errorf("per-day 429: retry-after %q, body %s", r.header.Get("retry-after"), msg)
					}
				}
				if c := counters(e, api); c.Requests != 5 || c.Successes != 3 || c.RateLimited != 1 || c.QuotaExceeded != 1 {
					t.Errorf("counters %+v", c)
				}
				time.Sleep(24*time.Hour - time.Minute) // the next day
				if r := call(t.Context(), t, e, api, goodKey, batch(1)); r.status != 200 {
					t.Fatalf("next day: %d", r.status)
				}
			})
		})
	}
}

func TestServerErrors(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := NewEmulator(only(api, API{UnavailableUntil: 30 * time.Second, RequestsPerWindow: 10}))
				if r := call(t.Context(), t, e, api, goodKey, batch(1)); r.status != 503 {
					t.Fatalf("during outage: %d", r.status)
				}
				time.Sleep(30 * time.Second)
				if r := call(t.Context(), t, e, api, goodKey, batch(1)); r.status != 200 {
					t.Fatalf("after outage: %d", r.status)
				}
				e.Update(func(c *Config) { c.Gemini.ServerErrorRate, c.OpenAI.ServerErrorRate = 1, 1 })
				r := call(t.Context(), t, e, api, goodKey, batch(1))
				if r.status != 500 {
					t.Fatalf("injected: %d", r.status)
				}
				if api == "openai" && r.header.Get("retry-after") != "" {
					t.Errorf("500 carries retry-after")
				}
				// 5xx consume no quota: 1 admitted of 10.
				e.Update(func(c *Config) { c.Gemini.ServerErrorRate, c.OpenAI.ServerErrorRate = 0, 0 })
				for range 9 {
					if r := call(t.Context(), t, e, api, goodKey, batch(1)); r.status != 200 {
						t.Fatalf("quota after 5xx: %d", r.status)
					}
				}
				if c := counters(e, api); c.Requests != 12 || c.ServerErrors != 2 || c.Successes != 10 {
					t.Errorf("counters %+v", c)
				}
			})
		})
	}
}

func TestMalformedAndDropped(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := NewEmulator(only(api, API{MalformedRate: 1}))
				r := call(t.Context(), t, e, api, goodKey, batch(3))
				if r.status != 200 || json.Valid([]byte(r.text)) {
					t.Fatalf("malformed reply %q (%d) is valid JSON", r.text, r.status)
				}
				e.Update(func(c *Config) {
					c.Gemini.MalformedRate, c.OpenAI.MalformedRate = 0, 0
					c.Gemini.DropRate, c.OpenAI.DropRate = 1, 1
				})
				p := batch(3)
				r = call(t.Context(), t, e, api, goodKey, p)
				var reply, full prompt.Reply
				a, _ := Answer(p)
				if err := json.Unmarshal([]byte(r.text), &reply); err != nil || json.Unmarshal([]byte(a), &full) != nil {
					t.Fatalf("dropped reply %q: %v", r.text, err)
				}
				if len(reply.Results) != 2 {
					t.Fatalf("dropped reply has %d results, want 2", len(reply.Results))
				}
				// The rest keep their order and tags.
				kept := slices.DeleteFunc(slices.Clone(full.Results), func(it prompt.ReplyItem) bool {
					return !slices.ContainsFunc(reply.Results, func(x prompt.ReplyItem) bool { return x.ID == it.ID })
				})
				for i := range kept {
					if kept[i].ID != reply.Results[i].ID || !slices.Equal(kept[i].Tags, reply.Results[i].Tags) {
						t.Errorf("dropped reply %+v, want a subsequence of %+v", reply.Results, full.Results)
					}
				}
				if c := counters(e, api); c.Successes != 2 || c.Malformed != 1 || c.Dropped != 1 {
					t.Errorf("counters %+v", c)
				}
			})
		})
	}
}

func TestBadKey(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := NewEmulator(only(api, API{Key: goodKey, RequestsPerWindow: 1}))
				r := call(t.Context(), t, e, api, badKey, batch(1))
				want := map[string]int{"gemini": 400, "openai": 401}[api]
				if r.status != want || r.err == nil || strings.Contains(r.err.Error(), badKey) {
					t.Fatalf("bad key: status %d, err %v", r.status, r.err)
				}
				b, _ := json.Marshal(r.body)
				if strings.Contains(string(b), badKey) || strings.Contains(string(b), "WRONG") {
					t.Errorf("error body echoes the key: %s", b)
				}
				// A refused key consumes no quota.
				if r := call(t.Context(), t, e, api, goodKey, batch(1)); r.status != 200 {
					t.Errorf("good key after bad: %d", r.status)
				}
				if c := counters(e, api); c.Requests != 2 || c.Unauthorized != 1 || c.Successes != 1 {
					t.Errorf("counters %+v", c)
				}
			})
		})
	}
}

func TestInsufficientQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := NewEmulator(Config{OpenAI: API{InsufficientQuota: true}, Gemini: API{InsufficientQuota: true}})
		r := call(t.Context(), t, e, "openai", goodKey, batch(1))
		if r.status != 429 || openaiCode(r) != "insufficient_quota" || r.header.Get("retry-after") != "" || r.header.Get("retry-after-ms") != "" {
			t.Fatalf("insufficient_quota: %d %q %v", r.status, openaiCode(r), r.header)
		}
		if r := call(t.Context(), t, e, "gemini", goodKey, batch(1)); r.status != 200 {
			t.Errorf("Gemini must ignore InsufficientQuota: %d", r.status)
		}
		if c := e.Counters(); c.OpenAI.QuotaExceeded != 1 || c.OpenAI.Successes != 0 || c.Gemini.Successes != 1 {
			t.Errorf("counters %+v", c)
		}
	})
}

func TestNoRetryHint(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := NewEmulator(only(api, API{RequestsPerWindow: 1, NoRetryHint: true}))
				call(t.Context(), t, e, api, goodKey, batch(1))
				r := call(t.Context(), t, e, api, goodKey, batch(1))
				if r.status != 429 {
					t.Fatalf("status %d", r.status)
				}
				if api == "gemini" && (geminiDetail(r, "type.googleapis.com/google.rpc.RetryInfo") != nil || strings.Contains(r.err.Error(), "retry in")) {
					t.Errorf("hint in %v", r.err)
				}
				if api == "openai" && (r.header.Get("retry-after") != "" || r.header.Get("retry-after-ms") != "") {
					t.Errorf("hint headers %v", r.header)
				}
			})
		})
	}
}

func TestLatency(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := NewEmulator(only(api, API{RequestsPerWindow: 5, Latency: func(r *rand.Rand) time.Duration {
					return 2*time.Second + time.Duration(r.IntN(2))*time.Second
				}}))
				start := time.Now()
				if r := call(t.Context(), t, e, api, goodKey, batch(1)); r.status != 200 {
					t.Fatal(r.err)
				}
				if d := time.Since(start); d != 2*time.Second && d != 3*time.Second {
					t.Errorf("call took %v, want 2s or 3s", d)
				}
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				defer cancel()
				start = time.Now()
				r := call(ctx, t, e, api, goodKey, batch(1))
				if !errors.Is(r.err, context.DeadlineExceeded) || time.Since(start) != time.Second {
					t.Fatalf("canceled call: %v after %v", r.err, time.Since(start))
				}
				// Quota is counted at arrival, even when the caller gives up.
				if c := counters(e, api); c.Requests != 2 || c.Successes != 1 {
					t.Errorf("counters %+v", c)
				}
			})
		})
	}
}

func TestConcurrentQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := NewEmulator(Config{
			Gemini: API{RequestsPerWindow: 7, Latency: func(*rand.Rand) time.Duration { return time.Second }},
			OpenAI: API{RequestsPerWindow: 4},
		})
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() { call(t.Context(), t, e, apis[i%2], goodKey, batch(2)) })
		}
		wg.Wait()
		c := e.Counters()
		if c.Gemini.Successes != 7 || c.Gemini.RateLimited != 8 || c.OpenAI.Successes != 4 || c.OpenAI.RateLimited != 11 {
			t.Errorf("counters %+v", c)
		}
	})
}

func TestDeterministicInjection(t *testing.T) {
	run := func(seed int64) []int {
		var got []int
		synctest.Test(t, func(t *testing.T) {
			e := NewEmulator(Config{Seed: seed, Gemini: API{ServerErrorRate: 0.5}})
			for range 32 {
				got = append(got, call(t.Context(), t, e, "gemini", goodKey, batch(1)).status)
			}
		})
		return got
	}
	a, b, c := run(1), run(1), run(2)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different runs:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 1 and 2 gave the same run %v", a)
	}
	n := 0
	for _, s := range a {
		if s == 500 {
			n++
		}
	}
	if n < 8 || n > 24 {
		t.Errorf("%d of 32 injected at rate 0.5", n)
	}
}

// TestShortWindowNamesNoLength: a window that is not a minute is reported
// under an id that names no length, so a Limiter learns its limit and the
// time to its end but not a one-minute window it would then wait out.
func TestShortWindowNamesNoLength(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := NewEmulator(only("gemini", API{RequestsPerWindow: 2, Window: 6 * time.Second}))
		for range 2 {
			if r := call(t.Context(), t, e, "gemini", goodKey, batch(1)); r.status != 200 {
				t.Fatalf("status %d within the quota", r.status)
			}
		}
		if r := call(t.Context(), t, e, "gemini", goodKey, batch(1)); r.status != 429 || geminiQuotaID(r) != QuotaIDPerWindow {
			t.Fatalf("over the quota: status %d, quota id %q; want 429 with %q", r.status, geminiQuotaID(r), QuotaIDPerWindow)
		}
		c, err := e.GeminiClient(t.Context(), goodKey)
		if err != nil {
			t.Fatal(err)
		}
		_, err = llmlimit.NewGemini(c, "").Generate(t.Context(), &llmlimit.Request{Prompt: batch(1)})
		var pe *llmlimit.ProviderError
		if !errors.As(err, &pe) || pe.RateLimit == nil {
			t.Fatalf("error %v, want a ProviderError with the quota", err)
		}
		if rl := *pe.RateLimit; rl.Limit != 2 || rl.Window != 0 || rl.Reset != 6*time.Second {
			t.Fatalf("learned %+v, want limit 2, no window, reset in 6s", rl)
		}
	})
}
