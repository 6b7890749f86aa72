package llmtest

import (
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
)

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
		want := d / time.Second // truncated, as the real API writes it
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
		if !errors.As(err, &pe) || len(pe.Quotas) == 0 {
			t.Fatalf("error %v, want a ProviderError with the quota", err)
		}
		if rl := pe.Quotas[0]; rl.Limit != 2 || rl.Window != 0 || rl.Reset != 6*time.Second {
			t.Fatalf("learned %+v, want limit 2, no window, reset in 6s", rl)
		}
	})
}
