package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/llmlimit/llmlimit"
)

// LogNormal is a latency distribution: Median·e^(Sigma·Z), Z standard normal.
type LogNormal struct {
	Median time.Duration
	Sigma  float64
}

// Draw returns one latency drawn with r.
func (l LogNormal) Draw(r *rand.Rand) time.Duration {
	return time.Duration(float64(l.Median) * math.Exp(l.Sigma*r.NormFloat64()))
}

// Scenario is one workload and the emulated APIs it meets.
type Scenario struct {
	// Name is the scenario's label in tables and JSON.
	Name string
	// Items is the number of items to tag, BatchSize the items per call.
	Items, BatchSize int
	// GeminiRPM is Gemini's per-minute request quota; 0 is none. The quota
	// windows start at a random phase drawn from the run's seed.
	GeminiRPM int
	// GeminiPerDay is Gemini's per-day cap as a share of the operations
	// (items / batch size); 0 is none.
	GeminiPerDay float64
	// Outage makes Gemini answer 503 for this long from the start.
	Outage time.Duration
	// OpenAIRPM is OpenAI's per-minute request quota.
	OpenAIRPM int
	// GeminiLatency and OpenAILatency are the servers' reply times.
	GeminiLatency, OpenAILatency LogNormal
	// QuotaBound marks scenarios where Gemini's window quota, not demand,
	// bounds the primary share: the frontier goals apply to them.
	QuotaBound bool
}

// Operations is the number of batch calls the scenario needs.
func (s Scenario) Operations() int { return (s.Items + s.BatchSize - 1) / s.BatchSize }

// PerDayCap is Gemini's per-day cap in requests, or 0.
func (s Scenario) PerDayCap() int {
	return int(math.Round(s.GeminiPerDay * float64(s.Operations())))
}

// The latencies of issue 5: Gemini median 1.2 s, OpenAI median 2 s.
var (
	geminiLatency = LogNormal{Median: 1200 * time.Millisecond, Sigma: 0.5}
	openaiLatency = LogNormal{Median: 2 * time.Second, Sigma: 0.5}
)

func baseScenario(name string, rpm int) Scenario {
	return Scenario{
		Name: name, Items: 1500, BatchSize: 5, GeminiRPM: rpm, OpenAIRPM: 500,
		GeminiLatency: geminiLatency, OpenAILatency: openaiLatency,
	}
}

// Scenarios returns the five scenarios of issue 5, in order.
func Scenarios() []Scenario {
	s1 := baseScenario("1-15rpm", 15)
	s1.QuotaBound = true
	s2 := baseScenario("2-60rpm", 60)
	s2.QuotaBound = true
	s3 := baseScenario("3-under-quota", 1000)
	// The daily cap is met after 40% of the operations; the per-minute
	// quota is high enough not to matter, so the cap is the only limit.
	s4 := baseScenario("4-daily-cap", 1000)
	s4.GeminiPerDay = 0.4
	s5 := baseScenario("5-outage-60s", 0)
	s5.Outage = 60 * time.Second
	return []Scenario{s1, s2, s3, s4, s5}
}

// PolicyKind selects how the providers are wrapped.
type PolicyKind int

const (
	// KindSeedV2 wraps Gemini in [SeedV2] and calls OpenAI bare, as the
	// seed's pipeline did: the patch touched only the Gemini client.
	KindSeedV2 PolicyKind = iota
	// KindLimiter wraps each provider in an llmlimit.Limiter.
	KindLimiter
)

// Policy is how a pipeline treats its providers.
type Policy struct {
	// Name is the policy's label in tables and JSON.
	Name string
	Kind PolicyKind
	// MaxWait is the Limiters' wait budget (llmlimit.WithMaxWait).
	MaxWait time.Duration
	// PaceToQuota adds llmlimit.WithRequestsPerMinute(GeminiRPM) to the
	// Gemini Limiter.
	PaceToQuota bool
	// NoSuccessCooldown turns the seed's success cooldown off
	// (llmlimit.WithSuccessCooldown(0, 0)), to measure what it costs.
	NoSuccessCooldown bool
	// Concurrency is the Limiters' initial concurrency
	// (llmlimit.WithConcurrency); 0 keeps the default.
	Concurrency int
}

// Policies returns the policies that apply to s: seed-v2 and llmlimit
// everywhere, with and without the success cooldown; llmlimit paced to the
// quota where Gemini has one; and, on the quota-bound scenarios, two more
// wait budgets to trace the frontier and llmlimit starting at full
// concurrency without the success cooldown, to show what the defaults cost
// in the run's first quota window.
func Policies(s Scenario) []Policy {
	ps := []Policy{
		{Name: "seed-v2", Kind: KindSeedV2},
		{Name: "llmlimit", Kind: KindLimiter, MaxWait: 30 * time.Second},
		{Name: "llmlimit-nosc", Kind: KindLimiter, MaxWait: 30 * time.Second, NoSuccessCooldown: true},
	}
	if s.GeminiRPM > 0 {
		ps = append(ps, Policy{Name: "llmlimit-rpm", Kind: KindLimiter, MaxWait: 30 * time.Second, PaceToQuota: true})
	}
	if s.QuotaBound {
		ps = append(ps,
			Policy{Name: "llmlimit-wait10s", Kind: KindLimiter, MaxWait: 10 * time.Second},
			Policy{Name: "llmlimit-wait60s", Kind: KindLimiter, MaxWait: 60 * time.Second},
			Policy{Name: "llmlimit-c6-nosc", Kind: KindLimiter, MaxWait: 30 * time.Second, NoSuccessCooldown: true, Concurrency: seedConcurrency})
	}
	return ps
}

// wrap puts gemini and openai under p and returns the Fallback of the two.
func (p Policy) wrap(s Scenario, gemini, openai llmlimit.Provider, seed uint64) (llmlimit.Provider, *SeedV2, error) {
	switch p.Kind {
	case KindSeedV2:
		sv := NewSeedV2(gemini, seed)
		fb, err := llmlimit.Fallback(sv, openai)
		return fb, sv, err
	case KindLimiter:
		opts := []llmlimit.Option{llmlimit.WithMaxWait(p.MaxWait)}
		if p.Concurrency > 0 {
			opts = append(opts, llmlimit.WithConcurrency(p.Concurrency))
		}
		if p.NoSuccessCooldown {
			opts = append(opts, llmlimit.WithSuccessCooldown(0, 0))
		}
		gopts := opts
		if p.PaceToQuota && s.GeminiRPM > 0 {
			gopts = append(gopts[:len(opts):len(opts)], llmlimit.WithRequestsPerMinute(s.GeminiRPM))
		}
		gl, err := llmlimit.New(gemini, gopts...)
		if err != nil {
			return nil, nil, err
		}
		ol, err := llmlimit.New(openai, opts...)
		if err != nil {
			return nil, nil, err
		}
		fb, err := llmlimit.Fallback(gl, ol)
		return fb, nil, err
	}
	return nil, nil, fmt.Errorf("llmlimit: sim: policy %s: unknown kind %d", p.Name, p.Kind)
}
