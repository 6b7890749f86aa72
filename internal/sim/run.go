package sim

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// Metrics are one run's figures; see the package doc for definitions. JSON
// keys are those of the summary rows.
type Metrics struct {
	Scenario          string  `json:"scenario"`
	Policy            string  `json:"policy"`
	Seed              uint64  `json:"seed"`
	Operations        int     `json:"operations"`
	QuotaPerWindow    int     `json:"quota_per_window"`
	WindowSeconds     float64 `json:"window_seconds"`
	MakespanSeconds   float64 `json:"makespan_seconds"`
	PrimaryBoundShare float64 `json:"primary_bound_share"`
	PrimaryShare      float64 `json:"primary_share"`
	FallbackShare     float64 `json:"fallback_share"`
	RateLimitedPerOp  float64 `json:"rate_limited_per_op"`
	GoodputShare      float64 `json:"goodput_share"`
	// GoodputAttainable is Gemini successes over the bound: what the run
	// could use of the quota, min(N, windows, per-day cap).
	GoodputAttainable float64 `json:"goodput_attainable_share"`
	// TokenGoodput is Gemini's input tokens admitted over what the token
	// quota's windows could admit ([Frame.TokenCapacity]); NaN without a
	// token quota.
	TokenGoodput float64 `json:"token_goodput_share"`
	// FirstWindowUse is the share of the first quota window's bound (what
	// could start in its part inside the run) that Gemini served; NaN
	// without a windowed request quota.
	FirstWindowUse   float64 `json:"first_window_use"`
	OpSeconds        float64 `json:"op_seconds"`
	P50Seconds       float64 `json:"p50_seconds"`
	P99Seconds       float64 `json:"p99_seconds"`
	CostPer100OpsUSD float64 `json:"cost_per_100_ops_usd"`
	ItemsLost        int     `json:"items_lost"`

	// Checks and diagnostics beyond the summary's figures.

	// PerDayViolations counts Gemini attempts sent after a per-day 429
	// despite it (see [PerDayViolations]).
	PerDayViolations int `json:"per_day_violations"`
	// Mistagged counts items whose tags differ from the emulator's tagger's.
	Mistagged int `json:"mistagged"`
	// SuccessCooldowns counts the pauses the success cooldown took on
	// Gemini: the Limiter's, or seed-v2's.
	SuccessCooldowns int `json:"success_cooldowns"`
	// HeldSeconds is how long TagSpace held the run's tail for the primary.
	HeldSeconds float64 `json:"held_seconds"`
	// Gemini and OpenAI are the emulator's counters.
	Gemini llmtest.APICounters `json:"-"`
	OpenAI llmtest.APICounters `json:"-"`
}

const (
	geminiKey = "sim-gemini-key"
	openaiKey = "sim-openai-key"
	window    = time.Minute
)

// Phase returns the offset of Gemini's fixed quota windows for seed:
// uniform in [0, 1 min), so that a run starts anywhere inside a window.
func Phase(seed uint64) time.Duration {
	r := rand.New(rand.NewPCG(seed, 0x9a5e))
	return time.Duration(r.Float64() * float64(window))
}

// RunOnce runs scenario s under policy p with seed: it builds the emulator,
// the real SDK clients, the policy, a Fallback and a TagSpace (cache off,
// six batches in flight), tags a space generated from seed, and measures.
//
// Run it inside a testing/synctest bubble: the emulator's quota windows,
// latencies and every wait then run in virtual time, and a run of many
// virtual minutes takes milliseconds. Outside a bubble it runs in real time.
func RunOnce(ctx context.Context, s Scenario, p Policy, seed uint64) (Metrics, error) {
	phase := Phase(seed)
	em := llmtest.NewEmulator(llmtest.Config{
		Gemini: s.geminiAPI(phase),
		OpenAI: llmtest.API{
			Key: openaiKey, Requests: llmtest.Quota{Limit: s.OpenAIRPM}, Latency: s.OpenAILatency.Draw,
		},
		Seed: int64(seed),
	})
	emStart := time.Now()
	gc, err := em.GeminiClient(ctx, geminiKey)
	if err != nil {
		return Metrics{}, fmt.Errorf("llmlimit: sim: gemini client: %w", err)
	}
	tap := NewTap(llmlimit.NewGemini(gc, ""))
	openai := llmlimit.NewOpenAI(em.OpenAIClient(openaiKey), "")
	fb, primary, err := p.wrap(s, tap, openai, emStart, s.frame(phase, 0), seed)
	if err != nil {
		return Metrics{}, err
	}
	rec := NewRecorder(fb)
	ts, err := llmlimit.NewTagSpace(rec, llmlimit.WithCacheEnabled(false), llmlimit.WithMaxConcurrency(seedConcurrency))
	if err != nil {
		return Metrics{}, err
	}
	space := NewSpace(s.Items, s.ItemBytes, seed)

	start := time.Now()
	rep, err := ts.Run(ctx, space)
	if err != nil {
		return Metrics{}, fmt.Errorf("llmlimit: sim: %s/%s seed %d: %w", s.Name, p.Name, seed, err)
	}
	makespan := time.Since(start)

	m := Metrics{
		Scenario: s.Name, Policy: p.Name, Seed: seed,
		MakespanSeconds:  makespan.Seconds(),
		PerDayViolations: PerDayViolations(tap.Attempts()),
		HeldSeconds:      rep.HeldSeconds,
		SuccessCooldowns: successCooldowns(primary),
	}
	m.ItemsLost, m.Mistagged = checkResults(space, expectedTags(s.Items, s.ItemBytes, seed), rep.Results)
	c := em.Counters()
	m.Gemini, m.OpenAI = c.Gemini, c.OpenAI
	m.measureOps(rec.Ops(), tap.Name(), openai.Name())
	f := s.frame(phase, minTokens(tap.Attempts()))
	m.measureQuota(s, f, makespan)
	m.measureFirstWindow(s, f, start, makespan, tap.Attempts())
	m.measureCost()
	return m, nil
}

// frame is what bounds Gemini in a run of s at phase whose operations
// take at least opTokens input tokens each.
func (s Scenario) frame(phase time.Duration, opTokens int) Frame {
	return Frame{
		Requests: s.RequestQuota(phase), Tokens: s.TokenQuota(phase), OpTokens: opTokens,
		PerDay: s.PerDayCap(), Slots: seedConcurrency, Latency: s.GeminiLatency.Mean(), From: s.Outage,
	}
}

// successCooldowns returns the success-cooldown pauses of the policy's
// wrapper around Gemini, or 0 when it has none.
func successCooldowns(p llmlimit.Provider) int {
	switch x := p.(type) {
	case *llmlimit.Limiter:
		return int(x.Stats().Cooldowns.Successes)
	case *SeedV2:
		return x.Stats().SuccessPauses
	}
	return 0
}

// minTokens is the fewest input tokens of the attempts, 0 for none.
func minTokens(attempts []Attempt) int {
	n := 0
	for _, a := range attempts {
		if n == 0 || a.Tokens < n {
			n = a.Tokens
		}
	}
	return n
}

// expected caches, per space, the emulator tagger's tags for each item,
// sorted: every scenario and policy tags the same spaces.
var expected sync.Map // of spaceKey → [][]string

type spaceKey struct {
	items, itemBytes int
	seed             uint64
}

func expectedTags(items, itemBytes int, seed uint64) [][]string {
	k := spaceKey{items, itemBytes, seed}
	if v, ok := expected.Load(k); ok {
		return v.([][]string)
	}
	s := NewSpace(items, itemBytes, seed)
	want := make([][]string, len(s.Items))
	for i, it := range s.Items {
		want[i] = slices.Sorted(slices.Values(llmtest.Tags(it.Text, s.Tags)))
	}
	v, _ := expected.LoadOrStore(k, want)
	return v.([][]string)
}

// checkResults counts items without tags (an error or no result at all) and
// items whose tags are not want, the emulator tagger's, sorted.
func checkResults(s llmlimit.Space, want [][]string, results []llmlimit.Result) (lost, mistagged int) {
	byID := make(map[string]llmlimit.Result, len(results))
	for _, r := range results {
		byID[r.ID] = r
	}
	for i, it := range s.Items {
		r, ok := byID[it.ID]
		if !ok || r.Err != nil {
			lost++
			continue
		}
		if !slices.Equal(slices.Sorted(slices.Values(r.Tags)), want[i]) {
			mistagged++
		}
	}
	return lost, mistagged
}

// measureOps fills the operation counts, shares and latency percentiles.
func (m *Metrics) measureOps(ops []Op, primary, secondary string) {
	m.Operations = len(ops)
	if len(ops) == 0 {
		return
	}
	n := float64(len(ops))
	lat := make([]float64, len(ops))
	var onPrimary, onSecondary int
	for i, op := range ops {
		lat[i] = op.Latency().Seconds()
		switch op.Provider {
		case primary:
			onPrimary++
		case secondary:
			onSecondary++
		}
	}
	m.PrimaryShare, m.FallbackShare = float64(onPrimary)/n, float64(onSecondary)/n
	m.RateLimitedPerOp = float64(m.Gemini.RateLimited+m.Gemini.QuotaExceeded) / n
	m.OpSeconds = m.MakespanSeconds / n
	slices.Sort(lat)
	m.P50Seconds, m.P99Seconds = Percentile(lat, 0.50), Percentile(lat, 0.99)
}

// measureQuota fills the quota fields, the bound and the goodputs from
// the run's frame f.
func (m *Metrics) measureQuota(s Scenario, f Frame, makespan time.Duration) {
	if s.GeminiRPM > 0 {
		m.QuotaPerWindow, m.WindowSeconds = s.GeminiRPM, window.Seconds()
	}
	m.TokenGoodput = math.NaN()
	m.PrimaryBoundShare = 1
	if m.Operations == 0 {
		return
	}
	bound := f.Bound(makespan, m.Operations)
	m.PrimaryBoundShare = bound / float64(m.Operations)
	if q := f.Quota(makespan); q > 0 {
		m.GoodputShare = float64(m.Gemini.Successes) / q
	}
	if bound > 0 {
		m.GoodputAttainable = float64(m.Gemini.Successes) / bound
	}
	if c := f.TokenCapacity(makespan); c > 0 {
		m.TokenGoodput = float64(m.Gemini.TokensAdmitted) / c
	}
}

// measureFirstWindow fills FirstWindowUse from the Gemini attempts that
// started in the first window of f and succeeded.
func (m *Metrics) measureFirstWindow(s Scenario, f Frame, start time.Time, makespan time.Duration, attempts []Attempt) {
	m.FirstWindowUse = math.NaN()
	ws := f.Windows(makespan)
	if s.GeminiRPM == 0 || s.Shape == llmtest.TokenBucket || len(ws) == 0 || ws[0].Ops <= 0 {
		return
	}
	from, end := start.Add(ws[0].Start), start.Add(ws[0].End)
	used := 0
	for _, a := range attempts {
		if a.Err == nil && !a.Start.Before(from) && a.Start.Before(end) {
			used++
		}
	}
	m.FirstWindowUse = float64(used) / ws[0].Ops
}

// measureCost prices the emulator's token counts at each provider's default
// model.
func (m *Metrics) measureCost() {
	if m.Operations == 0 {
		return
	}
	prices := llmlimit.DefaultPrices()
	g, o := prices[llmlimit.DefaultGeminiModel], prices[llmlimit.DefaultOpenAIModel]
	usd := (float64(m.Gemini.InputTokens)*g.InputPerMillion + float64(m.Gemini.OutputTokens)*g.OutputPerMillion +
		float64(m.OpenAI.InputTokens)*o.InputPerMillion + float64(m.OpenAI.OutputTokens)*o.OutputPerMillion) / 1e6
	m.CostPer100OpsUSD = usd / float64(m.Operations) * 100
}
