package llmlimit_test

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/genai"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// Keys of the reliability suite: distinctive, so a leak shows in any string.
const (
	relGeminiKey = "AIza-RELIABILITY-gemini-secret-7f3a9c"
	relOpenAIKey = "sk-RELIABILITY-openai-secret-7f3a9c"
)

// relClientTimeout is the caller's deadline for one HTTP attempt; the
// emulator's slowest replies take longer.
const relClientTimeout = 20 * time.Second

// relPipeline is what a production caller builds: Fallback(Limiter(Gemini)
// with a wait budget, Limiter(OpenAI)), both on the real SDK clients talking
// to e in-process. The Gemini client gives up on an attempt after
// relClientTimeout, as a caller with a per-request deadline would.
func relPipeline(t *testing.T, e *llmtest.Emulator, opts ...llmlimit.Option) (llmlimit.Provider, *llmlimit.Limiter, *llmlimit.Limiter) {
	t.Helper()
	gc, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		APIKey:      relGeminiKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  &http.Client{Transport: e.Transport(), Timeout: relClientTimeout},
		HTTPOptions: genai.HTTPOptions{BaseURL: llmtest.GeminiBaseURL},
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := llmlimit.New(llmlimit.NewGemini(gc, ""), append([]llmlimit.Option{llmlimit.WithMaxWait(3 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	o, err := llmlimit.New(llmlimit.NewOpenAI(e.OpenAIClient(relOpenAIKey), ""), opts...)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := llmlimit.NewFallback([]llmlimit.Provider{g, o}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return fb, g, o
}

// slowSometimes is a latency of lo..hi, except for a share slow of replies
// that take 45 s, longer than relClientTimeout.
func slowSometimes(lo, hi time.Duration, slow float64) func(*rand.Rand) time.Duration {
	return func(r *rand.Rand) time.Duration {
		if r.Float64() < slow {
			return 45 * time.Second
		}
		return lo + time.Duration(r.Int64N(int64(hi-lo)))
	}
}

// apiFigures is one provider's counts as the emulator saw them, with the
// requests it admitted but never answered because the client gave up.
type apiFigures struct {
	calls, successes, rateLimited, errors, abandoned int64
}

func figures(c llmtest.APICounters) apiFigures {
	answeredErr := c.ServerErrors + c.Unauthorized
	refused := c.RateLimited + c.QuotaExceeded // every 429
	abandoned := c.Requests - c.Successes - refused - answeredErr
	return apiFigures{
		calls: int64(c.Requests), successes: int64(c.Successes), rateLimited: int64(refused),
		errors: int64(answeredErr + abandoned), abandoned: int64(abandoned),
	}
}

// TestReliabilityFaultMatrix runs 2,000 items through both real SDKs against
// an emulator that fails in every way the issue lists, in phases: Gemini
// with 15% 500s, 10% malformed and 10% incomplete replies, 2% replies slower
// than the client's deadline, a per-minute quota whose 429s carry RetryInfo
// and then, for a while, don't; OpenAI with 5% 500s and a phase of
// insufficient_quota. Every item gets exactly one result, every tagged item
// its own tags, at most 2% fail, each with a cause a caller can branch on,
// and the report's counts are the emulator's.
func TestReliabilityFaultMatrix(t *testing.T) {
	for _, tt := range []struct {
		name       string
		quotaPhase bool // OpenAI's insufficient_quota phase
		seed       int64
	}{
		{"gemini faults, openai 500s", false, 20},
		{"and an openai insufficient_quota phase", true, 20},
	} {
		t.Run(tt.name, func(t *testing.T) { faultMatrix(t, tt.quotaPhase, tt.seed) })
	}
}

func faultMatrix(t *testing.T, withQuotaPhase bool, seed int64) {
	synctest.Test(t, func(t *testing.T) {
		e := llmtest.NewEmulator(llmtest.Config{
			Gemini: llmtest.API{
				Key: relGeminiKey, RequestsPerWindow: 60,
				ServerErrorRate: 0.15, MalformedRate: 0.10, DropRate: 0.10,
				Latency: slowSometimes(200*time.Millisecond, 800*time.Millisecond, 0.02),
			},
			OpenAI: llmtest.API{
				Key: relOpenAIKey, ServerErrorRate: 0.05,
				Latency: slowSometimes(300*time.Millisecond, 900*time.Millisecond, 0),
			},
			Seed: seed,
		})
		const n = 2000
		s := e2eSpace(n)
		p, g, o := relPipeline(t, e, llmlimit.WithSuccessCooldown(0, 0))

		// Phases, by progress. The run starts with 429s without RetryInfo
		// (the first window's quota runs out); at 800 items the hints come
		// back with a quota cut the Limiter has not learned yet, a second
		// burst; at 1,200 OpenAI's account runs dry for 10 s of virtual time.
		e.Update(func(c *llmtest.Config) { c.Gemini.NoRetryHint = true })
		var hintsOn, quotaOff sync.Once
		var quotaPhase atomic.Bool
		var noHint429 atomic.Int64 // Gemini's 429s before the hints came back
		progress := func(pr llmlimit.Progress) {
			if pr.Done >= 800 {
				hintsOn.Do(func() {
					noHint429.Store(int64(e.Counters().Gemini.RateLimited))
					e.Update(func(c *llmtest.Config) { c.Gemini.NoRetryHint, c.Gemini.RequestsPerWindow = false, 5 })
				})
			}
			if pr.Done >= 1200 && withQuotaPhase {
				quotaOff.Do(func() {
					quotaPhase.Store(true)
					e.Update(func(c *llmtest.Config) { c.OpenAI.InsufficientQuota = true })
					time.AfterFunc(10*time.Second, func() {
						e.Update(func(c *llmtest.Config) { c.OpenAI.InsufficientQuota = false })
					})
				})
			}
		}
		ts, err := llmlimit.NewTagSpace(p, llmlimit.WithCacheEnabled(false), llmlimit.WithProgress(progress))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := ts.Run(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		c := e.Counters()
		if quotaPhase.Load() != withQuotaPhase || withQuotaPhase && c.OpenAI.QuotaExceeded == 0 || c.Gemini.RateLimited == 0 ||
			c.Gemini.ServerErrors == 0 || c.Gemini.Malformed == 0 || c.Gemini.Dropped == 0 || c.OpenAI.ServerErrors == 0 {
			t.Fatalf("a fault was never injected: %+v", c)
		}

		withoutHint := noHint429.Load()
		withHint := int64(c.Gemini.RateLimited) - withoutHint
		if withHint == 0 || withoutHint == 0 {
			t.Errorf("429s with RetryInfo %d, without %d: want both", withHint, withoutHint)
		}
		t.Logf("gemini 429s: %d with RetryInfo, %d without", withHint, withoutHint)

		tagged := checkTags(t, s, rep) // one result per item, in order, own tags
		failed := 0
		causes := map[string]int{}
		for _, res := range rep.Results {
			if res.Err == nil {
				continue
			}
			failed++
			switch {
			case errors.Is(res.Err, llmlimit.ErrBadReply):
				causes["bad reply"]++
			case errors.Is(res.Err, llmlimit.ErrQuotaExhausted):
				causes["quota exhausted"]++
			case errors.Is(res.Err, llmlimit.ErrCooldown):
				causes["cooldown"]++
			case errors.Is(res.Err, llmlimit.ErrRateLimited):
				causes["rate limited"]++
			case llmlimit.KindOf(res.Err) == llmlimit.KindTransient:
				causes["transient"]++
			default:
				t.Errorf("item %s failed without a cause a caller can branch on: %v", res.ID, res.Err)
			}
		}
		if tagged+failed != n || rep.Tagged != tagged || rep.Failed != failed {
			t.Errorf("tagged %d + failed %d != %d; report tagged %d failed %d", tagged, failed, n, rep.Tagged, rep.Failed)
		}
		if failed > n*2/100 {
			t.Errorf("%d of %d items failed (%.1f%%), want at most 2%%; causes %v", failed, n, 100*float64(failed)/n, causes)
		}

		// The report's counts are the emulator's.
		for name, c := range map[string]llmtest.APICounters{"gemini": c.Gemini, "openai": c.OpenAI} {
			f, pr := figures(c), rep.Providers[name]
			if pr == nil {
				t.Fatalf("no report for %s", name)
			}
			if pr.Calls != f.calls || pr.Successes != f.successes || pr.RateLimited != f.rateLimited || pr.Errors != f.errors {
				t.Errorf("%s: report %+v, emulator %+v", name, *pr, f)
			}
		}
		if served := c.Gemini.Successes + c.OpenAI.Successes; rep.Operations != served {
			t.Errorf("operations %d, emulator served %d", rep.Operations, served)
		}
		gs, os := g.Stats(), o.Stats()
		t.Logf("fault matrix: %d items, %d tagged, %d failed %v, %d ops, %.0f s virtual", n, tagged, failed, causes, rep.Operations, rep.ElapsedSeconds)
		t.Logf("gemini %+v abandoned %d; stats %+v", c.Gemini, figures(c.Gemini).abandoned, gs)
		t.Logf("openai %+v; stats %+v", c.OpenAI, os)
	})
}

// TestReliabilityRetryAmplification sends operations through the whole
// stack while Gemini answers every request 500: after the first few
// seconds, the retry budget holds requests sent to at most 1.2 times the
// operations attempted; when the outage ends, successes refill the budget
// and retries come back.
func TestReliabilityRetryAmplification(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := llmtest.NewEmulator(llmtest.Config{
			Gemini: llmtest.API{Key: relGeminiKey, ServerErrorRate: 1, Latency: fixedLatency(100 * time.Millisecond)},
			Seed:   5,
		})
		gc, err := e.GeminiClient(t.Context(), relGeminiKey)
		if err != nil {
			t.Fatal(err)
		}
		l, err := llmlimit.New(llmlimit.NewGemini(gc, ""), llmlimit.WithSuccessCooldown(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		req := batchRequest(e2eItems, e2eVocab)
		ops := func(k int) (sent int, failed int) {
			before := e.Counters().Gemini.Requests
			var wg sync.WaitGroup
			var fails atomic.Int64
			for range k {
				wg.Go(func() {
					if _, err := l.Generate(t.Context(), req); err != nil {
						fails.Add(1)
					}
				})
				time.Sleep(50 * time.Millisecond)
			}
			wg.Wait()
			return e.Counters().Gemini.Requests - before, int(fails.Load())
		}

		warm, _ := ops(10) // the first few seconds: the budget is spent
		const outageOps = 500
		sent, failed := ops(outageOps)
		ratio := float64(sent) / outageOps
		if failed != outageOps || ratio > 1.2 {
			t.Errorf("outage: %d requests for %d operations (%.3fx, want <= 1.2), %d failed", sent, outageOps, ratio, failed)
		}
		t.Logf("outage: warm-up %d requests for 10 ops; then %d requests for %d ops = %.3fx", warm, sent, outageOps, ratio)

		// Recovery: successes refill the budget; then a 500 is retried again.
		e.Update(func(c *llmtest.Config) { c.Gemini.ServerErrorRate = 0 })
		if _, failed := ops(100); failed != 0 {
			t.Fatalf("%d operations failed after the outage", failed)
		}
		e.Update(func(c *llmtest.Config) { c.Gemini.ServerErrorRate = 1 })
		before := l.Stats()
		if _, err := l.Generate(t.Context(), req); err == nil {
			t.Fatal("a 100% outage served a call")
		}
		if d := l.Stats().Sub(before); d.Retries == 0 {
			t.Errorf("after 100 successes a 500 was not retried: %+v", d)
		}
	})
}
