package llmtest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// summarize is the user's own code under test: it asks once, and on a rate
// limit waits for the server's hint and asks once more.
func summarize(ctx context.Context, p llmlimit.Provider, text string) (string, error) {
	req := &llmlimit.Request{Prompt: "Summarize: " + text}
	resp, err := p.Generate(ctx, req)
	var pe *llmlimit.ProviderError
	if errors.Is(err, llmlimit.ErrRateLimited) && errors.As(err, &pe) {
		fmt.Println("rate limited, retrying after", pe.RetryAfter)
		resp, err = p.Generate(ctx, req)
	}
	if err != nil {
		return "", err
	}
	return resp.Text, nil
}

func ExampleFake() {
	f := llmtest.NewFake("gemini")
	f.Push(
		llmtest.Fail(llmtest.RateLimited("gemini", 2*time.Second)),
		llmtest.Reply("a short summary"),
	)
	got, err := summarize(context.Background(), f, "a long text")
	fmt.Println(got, err)
	fmt.Println("calls:", f.Calls())
	fmt.Println("prompt:", f.Requests()[1].Prompt)
	// Output:
	// rate limited, retrying after 2s
	// a short summary <nil>
	// calls: 2
	// prompt: Summarize: a long text
}

func ExampleEmulator() {
	e := llmtest.NewEmulator(llmtest.Config{OpenAI: llmtest.API{Key: "test-key", RequestsPerWindow: 60}})
	client := e.OpenAIClient("test-key")

	// A batch in the protocol TagSpace speaks: one line of vocabulary, one
	// line of items.
	batch := "Use only tags from VOCABULARY.\n" +
		`VOCABULARY: ["energy","transport","housing"]` + "\n" +
		`ITEMS: [{"id":"1","text":"Heat pumps cut household energy bills"},{"id":"2","text":"Bus lanes speed up transport in town"}]` + "\n"
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(batch)},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Choices[0].Message.Content)
	fmt.Println("served:", e.Counters().OpenAI.Successes)
	// Output:
	// {"results":[{"id":"1","tags":["energy"]},{"id":"2","tags":["transport"]}]}
	// served: 1
}

// A scenario describes each quota by its size and shape: here Gemini's 300
// requests a minute as a token bucket that holds 75, and its 250,000 input
// tokens a minute as a rolling window, beside OpenAI's buckets, which is
// how OpenAI refills.
func ExampleQuota() {
	e := llmtest.NewEmulator(llmtest.Config{
		Gemini: llmtest.API{
			Requests: llmtest.Quota{Limit: 300, Shape: llmtest.TokenBucket, Burst: 75},
			Tokens:   llmtest.Quota{Limit: 250_000, Shape: llmtest.RollingWindow},
		},
		OpenAI: llmtest.API{
			Requests:       llmtest.Quota{Limit: 500, Shape: llmtest.TokenBucket},
			Tokens:         llmtest.Quota{Limit: 200_000, Shape: llmtest.TokenBucket},
			RequestsPerDay: llmtest.Quota{Limit: 10_000, Shape: llmtest.TokenBucket},
		},
	})
	client := e.OpenAIClient("any-key")
	_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:               "gpt-4o-mini",
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
		MaxCompletionTokens: openai.Int(100),
	})
	fmt.Println(err)
	fmt.Println("tokens counted:", e.Counters().OpenAI.TokensAdmitted)
	// Output:
	// <nil>
	// tokens counted: 102
}
