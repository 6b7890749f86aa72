package llmlimit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// These tests drive the real SDK clients against the emulator's quotas of
// each kind in virtual time, and check what the Limiter reads from the
// replies by what it does next.

// longSpace is n items of about 2,000 tokens each (the emulator counts four
// bytes a token), so that a batch of five is about 10,000 input tokens.
func longSpace(n int) llmlimit.Space {
	s := e2eSpace(n)
	for i := range s.Items {
		s.Items[i].Text = fmt.Sprintf("%s %d %s", s.Items[i].Text, i, strings.Repeat("The ward reported another case of measles among unvaccinated children. ", 110))
	}
	return s
}

// TestTokenBoundRun tags long items through Gemini alone under a quota of
// 250,000 input tokens a minute and no request quota: the first 429 teaches
// the Limiter the token quota, and from then on it paces to it, using nearly
// all of every window with next to no 429s.
func TestTokenBoundRun(t *testing.T) {
	const tpm = 250_000
	inBubble(t, llmtest.Config{Gemini: llmtest.API{
		Tokens:  llmtest.Quota{Limit: tpm},
		Latency: fixedLatency(1200 * time.Millisecond),
	}}, func(t *testing.T, x e2e) {
		g, err := llmlimit.New(x.gemini, llmlimit.WithMaxWait(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		ts, err := llmlimit.NewTagSpace(g, llmlimit.WithCacheEnabled(false))
		if err != nil {
			t.Fatal(err)
		}
		// Sample what the server admitted at every window's end.
		var (
			mu       sync.Mutex
			admitted []int
			stop     = make(chan struct{})
			sampled  sync.WaitGroup
		)
		sampled.Go(func() {
			tick := time.NewTicker(time.Minute)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					mu.Lock()
					admitted = append(admitted, x.emu.Counters().Gemini.TokensAdmitted)
					mu.Unlock()
				case <-stop:
					return
				}
			}
		})
		s := longSpace(1500)
		rep, err := ts.Run(t.Context(), s)
		close(stop)
		sampled.Wait()
		if err != nil || rep.Tagged != len(s.Items) {
			t.Fatalf("tagged %d of %d: %v", rep.Tagged, len(s.Items), err)
		}
		c := x.emu.Counters().Gemini
		perOp := float64(c.RateLimited) / float64(rep.Operations)
		// Windows after the first, which teaches the quota, and before the
		// last, which the run ends in: each used in full?
		var used []float64
		for i := 2; i < len(admitted); i++ {
			used = append(used, float64(admitted[i]-admitted[i-1])/tpm)
		}
		mean := 0.0
		for _, u := range used {
			mean += u / float64(len(used))
		}
		t.Logf("%d operations, %d 429s (%.4f per operation), %d tokens over %d windows; share of each full window used: %.3f",
			rep.Operations, c.RateLimited, perOp, c.TokensAdmitted, len(admitted), used)
		if perOp > 0.01 {
			t.Errorf("%.4f 429s per operation, want at most 0.01", perOp)
		}
		if st := g.Stats(); st.HeldForTokens == 0 || st.RateLimitedTokens != int64(c.RateLimited) || st.HeldForRequests != 0 {
			t.Errorf("stats %+v: want starts held for tokens, none for requests, every 429 a token one", st)
		}
		if len(used) < 5 || mean < 0.95 {
			t.Errorf("mean use %.3f of the token quota over %d learned windows, want >= 0.95", mean, len(used))
		}
	})
}

// TestRetryDelayRoundedUpByTheMessage: Gemini truncates retryDelay ("58s")
// and says the exact delay in the message ("Please retry in
// 58.217843437s."). The Limiter waits the longer, and its retry lands after
// the window has reopened.
func TestRetryDelayRoundedUpByTheMessage(t *testing.T) {
	const left = 58217843437 * time.Nanosecond // to the window's end
	inBubble(t, llmtest.Config{Gemini: llmtest.API{Requests: llmtest.Quota{Limit: 1, Phase: time.Minute - left}}}, func(t *testing.T, x e2e) {
		g, err := llmlimit.New(x.gemini, llmlimit.WithMaxRetries(1))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Generate(t.Context(), oneItem()); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := g.Generate(t.Context(), oneItem()); err != nil {
			t.Fatalf("after a 429 and one retry: %v", err)
		}
		c := x.emu.Counters().Gemini
		if waited := time.Since(start); waited != left || c.RateLimited != 1 {
			t.Fatalf("retried after %v with %d 429s, want %v and one 429", waited, c.RateLimited, left)
		}
	})
}

// TestBodyOnlyHintObeyed: an OpenAI 429 whose only hint is the message's
// "Please try again in 1m0s." (no retry-after, no x-ratelimit-*) holds the
// retry until then, instead of the default backoff of about a second. The
// quota is spent by another process first, so this Limiter has learned
// nothing from replies when it meets the 429.
func TestBodyOnlyHintObeyed(t *testing.T) {
	inBubble(t, llmtest.Config{OpenAI: llmtest.API{HintsInBodyOnly: true, Requests: llmtest.Quota{Limit: 1}}}, func(t *testing.T, x e2e) {
		other, _ := llmlimit.New(x.openai)
		if _, err := other.Generate(t.Context(), oneItem()); err != nil {
			t.Fatal(err)
		}
		o, err := llmlimit.New(x.openai, llmlimit.WithMaxRetries(1))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := o.Generate(t.Context(), oneItem()); err != nil {
			t.Fatalf("after a 429 and one retry: %v", err)
		}
		c := x.emu.Counters().OpenAI
		if waited := time.Since(start); waited != time.Minute || c.RateLimited != 1 {
			t.Fatalf("retried after %v with %d 429s, want 1m (the body's hint) and one 429", waited, c.RateLimited)
		}
	})
}

// TestPerDayNotResentBeforeReset: a per-day 429 carries a short hint, but
// the quota resets at midnight Pacific time (8 h into a synctest bubble,
// which starts at midnight UTC). Until then nothing is sent, and the error
// says when.
func TestPerDayNotResentBeforeReset(t *testing.T) {
	inBubble(t, llmtest.Config{Gemini: llmtest.API{RequestsPerDay: llmtest.Quota{Limit: 2}}}, func(t *testing.T, x e2e) {
		start := time.Now()
		g, err := llmlimit.New(x.gemini)
		if err != nil {
			t.Fatal(err)
		}
		call := func() error {
			_, err := g.Generate(t.Context(), oneItem())
			return err
		}
		for range 2 {
			if err := call(); err != nil {
				t.Fatal(err)
			}
		}
		if err := call(); !errors.Is(err, llmlimit.ErrQuotaExhausted) {
			t.Fatalf("third call: %v, want ErrQuotaExhausted", err)
		}
		for _, d := range []time.Duration{time.Minute, time.Hour, 7*time.Hour + 58*time.Minute} {
			time.Sleep(d - time.Since(start))
			err := call()
			if !errors.Is(err, llmlimit.ErrQuotaExhausted) || !strings.Contains(err.Error(), "until 2000-01-01T08:00:00Z") {
				t.Fatalf("at %v: %v, want a fail-fast naming the reset", d, err)
			}
		}
		if n := x.emu.Counters().Gemini.Requests; n != 3 {
			t.Fatalf("%d requests sent, want 3: none after the per-day 429", n)
		}
		time.Sleep(8*time.Hour - time.Since(start))
		if err := call(); err != nil {
			t.Fatalf("after the reset: %v", err)
		}
	})
}

// TestExhaustedQuotaOneRound: with 3 slots and a per-day quota already
// spent, 30 concurrent callers send at most the 3 requests already in
// flight when the first per-day 429 arrives; every other caller fails fast.
func TestExhaustedQuotaOneRound(t *testing.T) {
	inBubble(t, llmtest.Config{Gemini: llmtest.API{RequestsPerDay: llmtest.Quota{Limit: 1}, Latency: fixedLatency(time.Second)}}, func(t *testing.T, x e2e) {
		g, err := llmlimit.New(x.gemini, llmlimit.WithConcurrency(3), llmlimit.WithMaxConcurrency(3))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Generate(t.Context(), oneItem()); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 30 {
			wg.Go(func() {
				if _, err := g.Generate(t.Context(), oneItem()); !errors.Is(err, llmlimit.ErrQuotaExhausted) {
					t.Errorf("err %v, want ErrQuotaExhausted", err)
				}
			})
		}
		wg.Wait()
		if sent := x.emu.Counters().Gemini.Requests - 1; sent > 3 {
			t.Fatalf("%d requests sent to a spent quota, want at most 3 (one round of slots)", sent)
		}
	})
}

// TestReportCountsEvery429: the report's rate_limited is every 429 the
// providers sent, per-day and insufficient_quota ones included, and
// quota_exhausted the part of them no retry soon can fix.
func TestReportCountsEvery429(t *testing.T) {
	inBubble(t, llmtest.Config{
		Gemini: llmtest.API{RequestsPerDay: llmtest.Quota{Limit: 6}},
		OpenAI: llmtest.API{InsufficientQuota: true},
	}, func(t *testing.T, x e2e) {
		g, _ := llmlimit.New(x.gemini)
		o, _ := llmlimit.New(x.openai)
		fb, _ := llmlimit.Fallback(g, o)
		ts, _ := llmlimit.NewTagSpace(fb, llmlimit.WithCacheEnabled(false))
		rep, err := ts.Run(context.Background(), e2eSpace(100))
		if err != nil {
			t.Fatal(err)
		}
		c := x.emu.Counters()
		for name, a := range map[string]llmtest.APICounters{"gemini": c.Gemini, "openai": c.OpenAI} {
			pr := rep.Providers[name]
			wire := int64(a.RateLimited + a.QuotaExceeded)
			t.Logf("%s: report rate_limited %d (quota_exhausted %d), wire 429s %d", name, pr.RateLimited, pr.QuotaExhausted, wire)
			if wire == 0 || pr.RateLimited != wire || pr.QuotaExhausted != int64(a.QuotaExceeded) {
				t.Errorf("%s: report rate_limited %d, quota_exhausted %d; the wire had %d 429s, %d of them quota",
					name, pr.RateLimited, pr.QuotaExhausted, wire, a.QuotaExceeded)
			}
		}
	})
}

// oneItem is a batch request of one item.
func oneItem() *llmlimit.Request { return batchRequest(e2eItems[:1], nil) }

// TestRequestTooLargeSplits: OpenAI answers a batch larger than its whole
// tokens-per-minute quota "Request too large" (a 429 no wait can get
// past). The Limiter sends it once, and TagSpace splits the batch until
// its parts fit, without spending the batch's re-asks.
func TestRequestTooLargeSplits(t *testing.T) {
	// A batch of five long items is about 10,000 tokens; two fit in 6,000.
	inBubble(t, llmtest.Config{OpenAI: llmtest.API{Tokens: llmtest.Quota{Limit: 6000}}}, func(t *testing.T, x e2e) {
		o, err := llmlimit.New(x.openai, llmlimit.WithMaxWait(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		ts, err := llmlimit.NewTagSpace(o, llmlimit.WithCacheEnabled(false))
		if err != nil {
			t.Fatal(err)
		}
		s := longSpace(10)
		rep, err := ts.Run(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		c := x.emu.Counters().OpenAI
		t.Logf("%d requests: %d too large, %d 429s in all, %d successes; %d of %d items tagged", c.Requests, c.TooLarge,
			c.RateLimited+c.QuotaExceeded, c.Successes, rep.Tagged, len(s.Items))
		if rep.Tagged != len(s.Items) {
			t.Fatalf("tagged %d of %d: %v", rep.Tagged, len(s.Items), rep.Results)
		}
		// Each too-large batch was sent once, then split: 2 batches of 5,
		// each split 2+3, each 3 split 1+2. (The parts that fit still wait
		// for the token window: those 429s teach it.)
		if c.TooLarge != 4 || o.Stats().TooLarge != 4 {
			t.Fatalf("%d too-large replies, stats %+v: want 4, each batch sent once", c.TooLarge, o.Stats())
		}
	})
}
