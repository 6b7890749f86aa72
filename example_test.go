package llmlimit_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

func ExampleNew() {
	// In production the provider is llmlimit.NewGemini or llmlimit.NewOpenAI.
	gemini := llmtest.NewFake("gemini")
	gemini.Push(llmtest.Reply(`{"answer":42}`))

	l, err := llmlimit.New(gemini,
		llmlimit.WithConcurrency(3),
		llmlimit.WithMaxConcurrency(6),
		llmlimit.WithSuccessCooldown(12, 5*time.Second),
		llmlimit.WithRateLimitCooldown(3, 10*time.Second),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := l.Generate(context.Background(), &llmlimit.Request{Prompt: "What is the answer?"})
	if err != nil {
		fmt.Println(err)
		return
	}
	st := l.Stats()
	fmt.Println(resp.Provider, resp.Text)
	fmt.Println("calls:", st.Calls, "successes:", st.Successes, "slot limit:", st.ConcurrencyLimit)
	// Output:
	// gemini {"answer":42}
	// calls: 1 successes: 1 slot limit: 4
}

func ExampleFallback() {
	gemini := llmtest.NewFake("gemini")
	gemini.Push(llmtest.Fail(llmtest.QuotaExhausted("gemini", 0))) // per-day quota spent
	openai := llmtest.NewFake("openai")
	openai.Push(llmtest.Reply("served"))

	// A wait budget makes a Limiter in a long cooldown fail fast, so the
	// fallback serves the call instead of waiting.
	primary, _ := llmlimit.New(gemini, llmlimit.WithMaxWait(30*time.Second))
	secondary, _ := llmlimit.New(openai)
	p, err := llmlimit.Fallback(primary, secondary)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := p.Generate(context.Background(), &llmlimit.Request{Prompt: "hi"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Provider, resp.Text)
	fmt.Println("gemini calls:", gemini.Calls(), "openai calls:", openai.Calls())
	// Output:
	// openai served
	// gemini calls: 1 openai calls: 1
}

func ExampleOptionsFromEnv() {
	os.Setenv("TAG_SPACE_AI_CONCURRENCY", "2")
	os.Setenv("TAG_SPACE_RATE_LIMIT_COOLDOWN", "15s")
	defer os.Unsetenv("TAG_SPACE_AI_CONCURRENCY")
	defer os.Unsetenv("TAG_SPACE_RATE_LIMIT_COOLDOWN")

	opts, err := llmlimit.OptionsFromEnv()
	if err != nil {
		fmt.Println(err)
		return
	}
	l, _ := llmlimit.New(llmtest.NewFake("gemini"), opts...)
	fmt.Println("slot limit:", l.Stats().ConcurrencyLimit)

	os.Setenv("TAG_SPACE_AI_CONCURRENCY", "lots")
	_, err = llmlimit.OptionsFromEnv()
	fmt.Println(err)
	// Output:
	// slot limit: 2
	// llmlimit: TAG_SPACE_AI_CONCURRENCY="lots": not an integer
}

func ExampleOptionsFromLookup() {
	// Settings kept elsewhere than the environment, such as a config file,
	// under the TAG_SPACE_* names.
	settings := map[string]string{
		"TAG_SPACE_AI_CONCURRENCY":   "2",
		"TAG_SPACE_SUCCESS_COOLDOWN": "1s", // the count stays at its default
	}
	lookup := func(name string) (string, bool) { v, ok := settings[name]; return v, ok }

	opts, err := llmlimit.OptionsFromLookup(lookup)
	if err != nil {
		fmt.Println(err)
		return
	}
	l, _ := llmlimit.New(llmtest.NewFake("gemini"), opts...)
	fmt.Println("slot limit:", l.Stats().ConcurrencyLimit)

	settings["TAG_SPACE_MAX_WAIT"] = "soon"
	_, err = llmlimit.OptionsFromLookup(lookup)
	fmt.Println(err)
	// Output:
	// slot limit: 2
	// llmlimit: TAG_SPACE_MAX_WAIT="soon": not a duration
}
