package llmlimit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/llmlimit/llmlimit"
)

// compat is a Provider for a server that speaks OpenAI's chat completions
// format, called with net/http alone: the exported parsers give its
// failures the same classification, hints and quotas as the built-in
// OpenAI provider's, so a Limiter paces and retries it the same way.
type compat struct {
	client *http.Client
	url    string
}

func (c *compat) Name() string { return "compat" }

func (c *compat) Generate(ctx context.Context, req *llmlimit.Request) (*llmlimit.Response, error) {
	payload, err := json.Marshal(map[string]any{"model": req.Model, "messages": []map[string]string{{"role": "user", "content": req.Prompt}}})
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(hr)
	if err != nil {
		return nil, err // KindOf classifies transport errors
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return nil, llmlimit.ParseOpenAIError(c.Name(), resp.StatusCode, resp.Header, body)
	}
	if err != nil {
		return nil, err
	}
	var cc struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(body, &cc); err != nil || len(cc.Choices) == 0 {
		return nil, &llmlimit.ProviderError{Provider: c.Name(), StatusCode: resp.StatusCode, Err: fmt.Errorf("compat: bad reply: %w", err)}
	}
	return &llmlimit.Response{Text: cc.Choices[0].Message.Content, Provider: c.Name(), Quotas: llmlimit.ParseOpenAIQuotas(resp.Header)}, nil
}

// stubTransport answers every request with one canned reply.
type stubTransport struct {
	status int
	header http.Header
	body   string
}

func (s stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: s.status, Header: s.header, Body: io.NopCloser(strings.NewReader(s.body)), Request: r}, nil
}

// A custom provider classifies an OpenAI-format 429 with ParseOpenAIError:
// here Groq's answer once the day's tokens are spent, whose only retry
// hint is in its message.
func ExampleParseOpenAIError() {
	stub := stubTransport{status: 429, header: http.Header{"Content-Type": {"application/json"}}, body: `{"error":{
		"message":"Rate limit reached for model llama-3.3-70b-versatile on tokens per day (TPD): Limit 100000, Used 97050, Requested 3619. Please try again in 9m38.016s.",
		"type":"tokens","code":"rate_limit_exceeded"}}`}
	p := &compat{client: &http.Client{Transport: stub}, url: "http://compat.example/v1/chat/completions"}

	_, err := p.Generate(context.Background(), &llmlimit.Request{Model: "llama-3.3-70b-versatile", Prompt: "hi"})
	var pe *llmlimit.ProviderError
	if errors.As(err, &pe) {
		fmt.Println(pe.Kind, pe.RetryAfter)
		for _, q := range pe.Quotas {
			fmt.Println(q.Unit, q.Limit, q.Remaining, q.Window, q.Exceeded)
		}
	}
	fmt.Println(errors.Is(err, llmlimit.ErrQuotaExhausted))
	// Output:
	// quota_exhausted 9m38.016s
	// tokens 100000 2950 24h0m0s true
	// true
}
