package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/llmlimit/llmlimit/llmtest"
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

// Mean is the distribution's mean, Median·e^(Sigma²/2).
func (l LogNormal) Mean() time.Duration {
	return time.Duration(float64(l.Median) * math.Exp(l.Sigma*l.Sigma/2))
}

// Scenario is one workload and the emulated APIs it meets.
type Scenario struct {
	// Name is the scenario's label in tables and JSON.
	Name string
	// Items is the number of items to tag, BatchSize the items per call.
	Items, BatchSize int
	// ItemBytes, when positive, pads every item's text to exactly this
	// many bytes, so that every batch costs the same input tokens.
	ItemBytes int
	// GeminiRPM and GeminiTPM are Gemini's per-minute quotas of requests
	// and of input tokens; 0 is none.
	GeminiRPM, GeminiTPM int
	// Shape is how both per-minute quotas refill: llmtest.FixedWindow with
	// boundaries at a random phase drawn from the run's seed,
	// llmtest.RollingWindow, or llmtest.TokenBucket holding a quarter of
	// the quota (see [Scenario.Burst]).
	Shape llmtest.Shape
	// Opaque makes Gemini's 429s carry no quota and no retry hint.
	Opaque bool
	// GeminiPerDay is Gemini's per-day cap as a share of the operations
	// (items / batch size); 0 is none.
	GeminiPerDay float64
	// Outage makes Gemini answer 503 for this long from the start.
	Outage time.Duration
	// OpenAIRPM is OpenAI's per-minute request quota.
	OpenAIRPM int
	// GeminiLatency and OpenAILatency are the servers' reply times.
	GeminiLatency, OpenAILatency LogNormal
	// QuotaBound marks scenarios where Gemini's per-minute quota, not
	// demand, bounds the primary share: the frontier goals apply to them.
	QuotaBound bool
	// Twin names a scenario that differs only in what Gemini's 429s say;
	// policies that never read a 429's body run the same there, so they
	// run only in the twin, and seed-v2's row there is this one's
	// reference.
	Twin string
}

// reference is the scenario whose seed-v2 row s is compared with.
func (s Scenario) reference() string {
	if s.Twin != "" {
		return s.Twin
	}
	return s.Name
}

// Operations is the number of batch calls the scenario needs.
func (s Scenario) Operations() int { return (s.Items + s.BatchSize - 1) / s.BatchSize }

// PerDayCap is Gemini's per-day cap in requests, or 0.
func (s Scenario) PerDayCap() int {
	return int(math.Round(s.GeminiPerDay * float64(s.Operations())))
}

// Burst is a token bucket's capacity for a per-minute quota of limit: a
// quarter of it, rounded, and at least 1.
func Burst(limit int) int { return max(1, int(math.Round(float64(limit)/4))) }

// requestBound reports whether Gemini's request quota is what binds.
func (s Scenario) requestBound() bool { return s.QuotaBound && s.GeminiTPM == 0 && s.GeminiRPM > 0 }

// tokenBound reports whether Gemini's input-token quota is what binds.
func (s Scenario) tokenBound() bool { return s.QuotaBound && s.GeminiTPM > 0 }

// reportsQuota reports whether Gemini's 429s say which quota they hit.
func (s Scenario) reportsQuota() bool { return !s.Opaque }

// quota returns a per-minute quota of limit in the scenario's shape, at
// phase for a fixed window; the zero Quota when limit is 0.
func (s Scenario) quota(limit int, phase time.Duration) llmtest.Quota {
	if limit <= 0 {
		return llmtest.Quota{}
	}
	q := llmtest.Quota{Limit: limit, Window: window, Shape: s.Shape}
	switch s.Shape {
	case llmtest.FixedWindow:
		q.Phase = phase
	case llmtest.TokenBucket:
		q.Burst = Burst(limit)
	}
	return q
}

// RequestQuota and TokenQuota are Gemini's per-minute quotas in a run
// whose fixed windows start at phase; the zero Quota when there is none.
func (s Scenario) RequestQuota(phase time.Duration) llmtest.Quota { return s.quota(s.GeminiRPM, phase) }

// TokenQuota: see [Scenario.RequestQuota].
func (s Scenario) TokenQuota(phase time.Duration) llmtest.Quota { return s.quota(s.GeminiTPM, phase) }

// geminiAPI is the emulated Gemini API of a run at phase.
func (s Scenario) geminiAPI(phase time.Duration) llmtest.API {
	return llmtest.API{
		Key: geminiKey, Requests: s.RequestQuota(phase), Tokens: s.TokenQuota(phase),
		RequestsPerDay: llmtest.Quota{Limit: s.PerDayCap()}, Opaque: s.Opaque,
		UnavailableUntil: s.Outage, Latency: s.GeminiLatency.Draw,
	}
}

// scenarioOf returns the scenario named name.
func scenarioOf(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// describe says what Gemini enforces in s, for table headings.
func (s Scenario) describe() string {
	var parts []string
	if s.GeminiRPM > 0 {
		parts = append(parts, fmt.Sprintf("%d requests", s.GeminiRPM))
	}
	if s.GeminiTPM > 0 {
		parts = append(parts, fmt.Sprintf("%d input tokens", s.GeminiTPM))
	}
	var d string
	if len(parts) > 0 {
		d = "Gemini " + strings.Join(parts, " and ") + " a minute"
		switch {
		case s.Shape == llmtest.RollingWindow:
			d += " in a rolling window"
		case s.Shape == llmtest.TokenBucket:
			d += fmt.Sprintf(" as a token bucket of %d", Burst(s.GeminiRPM))
		case s.Opaque:
			d += " in fixed windows, 429s without details or hint"
		default:
			d += " in fixed windows at a random phase"
		}
	}
	if c := s.PerDayCap(); c > 0 {
		d += fmt.Sprintf(", %d a day", c)
	}
	if s.Outage > 0 {
		d = fmt.Sprintf("Gemini answers 503 for %s", s.Outage)
	}
	return strings.TrimPrefix(d, ", ")
}

// The latencies of every scenario: Gemini median 1.2 s, OpenAI median 2 s.
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

// serverShapes are the ways a per-minute quota is enforced, each with the
// suffix of its scenarios' names: fixed windows at a random phase, a
// rolling window, a token bucket, and fixed windows whose 429s say nothing
// (no quota, no retry hint), as some proxies and Vertex endpoints answer.
var serverShapes = []struct {
	suffix string
	shape  llmtest.Shape
	opaque bool
}{
	{"fixed", llmtest.FixedWindow, false},
	{"rolling", llmtest.RollingWindow, false},
	{"bucket", llmtest.TokenBucket, false},
	{"opaque", llmtest.FixedWindow, true},
}

// Scenarios returns the scenarios, in order: 15 and 60 requests a minute
// on each server shape, demand under quota, a daily cap, an outage, and a
// token-bound batch.
func Scenarios() []Scenario {
	var ss []Scenario
	for i, rpm := range []int{15, 60} {
		name := func(suffix string) string { return fmt.Sprintf("%d-%drpm-%s", i+1, rpm, suffix) }
		for _, sh := range serverShapes {
			s := baseScenario(name(sh.suffix), rpm)
			s.Shape, s.Opaque, s.QuotaBound = sh.shape, sh.opaque, true
			if sh.opaque {
				s.Twin = name("fixed")
			}
			ss = append(ss, s)
		}
	}
	s3 := baseScenario("3-under-quota", 1000)
	// The daily cap is met after 40% of the operations; the per-minute
	// quota is high enough not to matter, so the cap is the only limit.
	s4 := baseScenario("4-daily-cap", 1000)
	s4.GeminiPerDay = 0.4
	s5 := baseScenario("5-outage-60s", 0)
	s5.Outage = 60 * time.Second
	return append(ss, s3, s4, s5, tokenScenario())
}

// tokenScenario is a batch whose items are long enough that Gemini's
// input tokens bind before its requests: items of about 2,000 tokens, so a
// batch of 5 is about 10,000 and 250,000 a minute admit 24 batches, far
// below 1,000 requests a minute. 100 operations span a few windows and keep
// the matrix fast: a 40 KB batch costs the SDKs and the emulator several
// times what a short one does.
func tokenScenario() Scenario {
	s := baseScenario("6-250ktpm", 1000)
	s.Items, s.ItemBytes, s.GeminiTPM, s.QuotaBound = 500, 8000, 250_000, true
	return s
}
