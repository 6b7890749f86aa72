package sim

import (
	"fmt"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// PolicyKind selects how the providers are wrapped.
type PolicyKind int

const (
	// KindSeedV2 wraps Gemini in [SeedV2] and calls OpenAI bare, as the
	// seed's pipeline did: the patch touched only the Gemini client.
	KindSeedV2 PolicyKind = iota
	// KindLimiter wraps each provider in an llmlimit.Limiter.
	KindLimiter
	// KindOracle wraps Gemini in an [Oracle] and calls OpenAI bare.
	KindOracle
)

// defaultWait is the wait budget of the llmlimit policies whose name
// doesn't say otherwise, and the oracle's.
const defaultWait = 30 * time.Second

// Policy is how a pipeline treats its providers.
type Policy struct {
	// Name is the policy's label in tables and JSON.
	Name string
	Kind PolicyKind
	// MaxWait is the Limiters' wait budget (llmlimit.WithMaxWait), or the
	// oracle's.
	MaxWait time.Duration
	// Told returns what the Gemini Limiter is told about Gemini's quotas
	// in a scenario, as options (llmlimit.WithRequestsPerMinute, …). nil
	// tells it nothing: it learns what the replies say.
	Told func(Scenario) []llmlimit.Option
	// NoSuccessCooldown turns the seed's success cooldown off
	// (llmlimit.WithSuccessCooldown(0, 0)), to measure what it costs.
	NoSuccessCooldown bool
	// Concurrency is the Limiters' initial concurrency
	// (llmlimit.WithConcurrency); 0 keeps the default.
	Concurrency int
}

// requestsPerMinute tells a Limiter Gemini's request quota.
func requestsPerMinute(s Scenario) []llmlimit.Option {
	return []llmlimit.Option{llmlimit.WithRequestsPerMinute(s.GeminiRPM)}
}

// tokensPerMinute tells the Limiter Gemini's input-token quota.
func tokensPerMinute(s Scenario) []llmlimit.Option {
	return []llmlimit.Option{llmlimit.WithTokensPerMinute(s.GeminiTPM)}
}

// Policies returns the policies that apply to s: seed-v2, llmlimit with
// and without the success cooldown, and the oracle everywhere (seed-v2 and
// the oracle only in the twin of a scenario that has one: seed-v2 reads
// only a 429's status and the oracle never gets one); llmlimit
// told the quota where that quota binds; on the fixed-window request-bound
// scenarios, two more wait budgets to trace the frontier; and in the
// outage, llmlimit starting both Limiters at six slots without the success
// cooldown, which shows what the slow start costs when the fallback
// carries the run.
func Policies(s Scenario) []Policy {
	var ps []Policy
	if s.Twin == "" {
		ps = append(ps, Policy{Name: "seed-v2", Kind: KindSeedV2})
	}
	ps = append(ps,
		Policy{Name: "llmlimit", Kind: KindLimiter, MaxWait: defaultWait},
		Policy{Name: "llmlimit-nosc", Kind: KindLimiter, MaxWait: defaultWait, NoSuccessCooldown: true})
	// Policies told the quota that binds.
	if s.requestBound() {
		ps = append(ps, Policy{Name: "llmlimit-rpm", Kind: KindLimiter, MaxWait: defaultWait, Told: requestsPerMinute})
	}
	if s.tokenBound() {
		ps = append(ps, Policy{Name: "llmlimit-tpm", Kind: KindLimiter, MaxWait: defaultWait, Told: tokensPerMinute})
	}
	// One shape shows which way the wait budget moves along the frontier;
	// more would not fit the matrix's minute.
	if s.requestBound() && s.Shape == llmtest.FixedWindow && !s.Opaque {
		ps = append(ps,
			Policy{Name: "llmlimit-wait10s", Kind: KindLimiter, MaxWait: 10 * time.Second},
			Policy{Name: "llmlimit-wait60s", Kind: KindLimiter, MaxWait: 60 * time.Second})
	}
	if s.Outage > 0 {
		ps = append(ps, Policy{Name: "llmlimit-c6-nosc", Kind: KindLimiter, MaxWait: defaultWait,
			NoSuccessCooldown: true, Concurrency: seedConcurrency})
	}
	if s.Twin == "" {
		ps = append(ps, Policy{Name: "oracle", Kind: KindOracle, MaxWait: defaultWait})
	}
	return ps
}

// policyOf returns the policy of s named name.
func policyOf(s Scenario, name string) (Policy, bool) {
	for _, p := range Policies(s) {
		if p.Name == name {
			return p, true
		}
	}
	return Policy{}, false
}

// limiter reports whether p is one of llmlimit's.
func (p Policy) limiter() bool { return p.Kind == KindLimiter }

// wrap puts gemini and openai under p and returns the Fallback of the two,
// and what p put around gemini. The oracle knows Gemini as f says, from
// start, the emulator's start.
func (p Policy) wrap(s Scenario, gemini, openai llmlimit.Provider, start time.Time, f Frame, seed uint64) (fb, primary llmlimit.Provider, err error) {
	switch p.Kind {
	case KindSeedV2:
		sv := NewSeedV2(gemini, seed)
		fb, err := llmlimit.Fallback(sv, openai)
		return fb, sv, err
	case KindOracle:
		o := NewOracle(gemini, start, f, p.MaxWait)
		fb, err := llmlimit.Fallback(o, openai)
		return fb, o, err
	case KindLimiter:
		opts := []llmlimit.Option{llmlimit.WithMaxWait(p.MaxWait)}
		if p.Concurrency > 0 {
			opts = append(opts, llmlimit.WithConcurrency(p.Concurrency))
		}
		if p.NoSuccessCooldown {
			opts = append(opts, llmlimit.WithSuccessCooldown(0, 0))
		}
		gopts := opts
		if p.Told != nil {
			gopts = append(gopts[:len(opts):len(opts)], p.Told(s)...)
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
		return fb, gl, err
	}
	return nil, nil, fmt.Errorf("llmlimit: sim: policy %s: unknown kind %d", p.Name, p.Kind)
}
