package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// pipeline is the provider TagSpace calls and what it is made of.
type pipeline struct {
	provider llmlimit.Provider
	// names lists the members in fallback order, for the summary.
	names []string
	// emulator is the built-in emulator when no key was set, else nil.
	emulator *llmtest.Emulator
	// batchPoll is the polling cadence of batch mode on the emulator,
	// scaled to its job time; nil off the emulator.
	batchPoll llmlimit.Option
	close     func()
}

// Emulator keys: the emulator checks them like the real APIs do, so the
// clients are exercised exactly as with real keys.
const (
	emulatorGeminiKey = "emulator-gemini-key"
	emulatorOpenAIKey = "emulator-openai-key"
)

// emulatorConfig is the built-in emulator's setup: a Gemini free tier
// scaled from minutes to seconds (10 requests per 6 s window, so a run of a
// few hundred items hits it repeatedly and shows 429s with retry hints,
// cooldowns and fallback) and a generous OpenAI. Tests replace it.
var emulatorConfig = func() llmtest.Config {
	return llmtest.Config{
		Gemini: llmtest.API{
			Key:               emulatorGeminiKey,
			RequestsPerWindow: 10,
			Window:            6 * time.Second,
			Latency:           uniform(100*time.Millisecond, 300*time.Millisecond),
			Batch:             llmtest.BatchConfig{Latency: emulatorJobTime},
		},
		OpenAI: llmtest.API{
			Key:               emulatorOpenAIKey,
			RequestsPerWindow: 500,
			Window:            time.Minute,
			Latency:           uniform(200*time.Millisecond, 500*time.Millisecond),
			Batch:             llmtest.BatchConfig{Latency: emulatorJobTime, OutOfOrder: true},
		},
		Seed: 1,
	}
}

// emulatorJobTime is how long an emulated batch job takes: real ones take
// minutes to a day, which a demo scales down to seconds.
const emulatorJobTime = 20 * time.Second

// emulatorBatchPoll is the polling cadence for an emulator whose jobs take
// d, scaled from the real cadence (30 s to 5 min, for jobs of minutes to
// hours) as the job time is.
func emulatorBatchPoll(d time.Duration) (first, last time.Duration) {
	return max(d/20, time.Millisecond), max(d/4, time.Millisecond)
}

// onEmulator is told about every emulator the command starts; tests read
// its counters through it.
var onEmulator = func(*llmtest.Emulator) {}

// emulatorMaxWait is the wait budget in emulator mode unless TAG_SPACE_MAX_WAIT
// or -max-wait says otherwise: short, so that a Gemini cooldown sends work
// to OpenAI instead of stalling the demo.
const emulatorMaxWait = 3 * time.Second

func uniform(lo, hi time.Duration) func(*rand.Rand) time.Duration {
	return func(r *rand.Rand) time.Duration { return lo + time.Duration(r.Int64N(int64(hi-lo))) }
}

// buildPipeline makes Gemini (primary) and OpenAI (fallback) providers,
// each behind its own Limiter, from the keys in env; with no key, or with
// -emulate, both talk to the built-in emulator over loopback. Only providers
// with a key take part.
func buildPipeline(ctx context.Context, c *cli, env func(string) string, opts []llmlimit.Option, stderr io.Writer) (*pipeline, error) {
	geminiKey := firstNonEmpty(env("GEMINI_API_KEY"), env("GOOGLE_API_KEY"))
	openaiKey := env("OPENAI_API_KEY")
	geminiBase := env("GOOGLE_GEMINI_BASE_URL")
	openaiBase := env("OPENAI_BASE_URL")
	pl := &pipeline{close: func() {}}
	if c.emulate || (geminiKey == "" && openaiKey == "") {
		cfg := emulatorConfig()
		pl.emulator = llmtest.NewEmulator(cfg)
		onEmulator(pl.emulator)
		srv := httptest.NewServer(pl.emulator)
		pl.close = srv.Close
		geminiKey, openaiKey = cfg.Gemini.Key, cfg.OpenAI.Key
		geminiBase, openaiBase = srv.URL+"/", srv.URL+"/v1/"
		why := "no API key set (GEMINI_API_KEY, GOOGLE_API_KEY, OPENAI_API_KEY)"
		if c.emulate {
			why = "-emulate"
		}
		fmt.Fprintf(stderr, "tagspace: %s: using the built-in emulator of Gemini and OpenAI at %s\n", why, srv.URL)
		fmt.Fprintf(stderr, "tagspace: emulated Gemini quota: %s; OpenAI: %s\n", describeQuota(cfg.Gemini), describeQuota(cfg.OpenAI))
		if c.mode != "" && c.mode != llmlimit.ModeSync.String() {
			job := max(cfg.Gemini.Batch.Latency, cfg.OpenAI.Batch.Latency)
			first, last := emulatorBatchPoll(job)
			pl.batchPoll = llmlimit.WithBatchPoll(first, last)
			fmt.Fprintf(stderr, "tagspace: emulated batch jobs take %s (real ones: minutes to 24 hours); polling every %s growing to %s\n",
				job, first, last)
		}
	}
	// The wait budget only helps a provider that has somewhere to fall back
	// to, so the emulator's default applies to Gemini alone; OpenAI, last in
	// line, waits out its cooldowns.
	geminiOpts := opts
	if pl.emulator != nil && !c.maxWaitSet && openaiKey != "" {
		geminiOpts = append([]llmlimit.Option{llmlimit.WithMaxWait(emulatorMaxWait)}, opts...)
	}
	var members []llmlimit.Provider
	if geminiKey != "" {
		cc := &genai.ClientConfig{APIKey: geminiKey, Backend: genai.BackendGeminiAPI}
		if geminiBase != "" {
			cc.HTTPOptions.BaseURL = geminiBase
		}
		gc, err := genai.NewClient(ctx, cc)
		if err != nil {
			pl.close()
			return nil, fmt.Errorf("gemini client: %w", err)
		}
		l, err := llmlimit.New(llmlimit.NewGemini(gc, c.geminiModel), geminiOpts...)
		if err != nil {
			pl.close()
			return nil, usageError{err}
		}
		members = append(members, l)
	}
	if openaiKey != "" {
		ro := []option.RequestOption{option.WithAPIKey(openaiKey), option.WithMaxRetries(0)}
		if openaiBase != "" {
			ro = append(ro, option.WithBaseURL(openaiBase))
		}
		l, err := llmlimit.New(llmlimit.NewOpenAI(openai.NewClient(ro...), c.openaiModel), opts...)
		if err != nil {
			pl.close()
			return nil, usageError{err}
		}
		members = append(members, l)
	}
	for _, m := range members {
		pl.names = append(pl.names, m.Name())
	}
	if len(members) == 1 {
		pl.provider = members[0]
		return pl, nil
	}
	p, err := llmlimit.NewFallback(members, opts...)
	if err != nil {
		pl.close()
		return nil, usageError{err}
	}
	pl.provider = p
	return pl, nil
}

func describeQuota(a llmtest.API) string {
	if a.RequestsPerWindow == 0 {
		return "unlimited"
	}
	w := a.Window
	if w == 0 {
		w = time.Minute
	}
	return fmt.Sprintf("%d requests per %s", a.RequestsPerWindow, w)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
