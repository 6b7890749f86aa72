package llmtest

import (
	"context"
	"net/http"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"
)

// Base URLs the SDK clients of the emulator use. The host names are never
// resolved: requests go through [Emulator.Transport].
const (
	GeminiBaseURL = "http://gemini.emulator/"
	OpenAIBaseURL = "http://openai.emulator/v1/"
)

// GeminiClient returns a real genai client for the Gemini API that talks to
// the emulator in-process. Its HTTPOptions.RetryOptions stay nil, so the SDK
// sends exactly one HTTP request per call, as llmlimit requires.
func (e *Emulator) GeminiClient(ctx context.Context, apiKey string) (*genai.Client, error) {
	return genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:      apiKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  &http.Client{Transport: e.Transport()},
		HTTPOptions: genai.HTTPOptions{BaseURL: GeminiBaseURL},
	})
}

// OpenAIClient returns a real openai-go client that talks to the emulator
// in-process, with SDK retries off (one HTTP request per call).
func (e *Emulator) OpenAIClient(apiKey string) openai.Client {
	return openai.NewClient(
		option.WithAPIKey(apiKey),
		option.WithBaseURL(OpenAIBaseURL),
		option.WithHTTPClient(&http.Client{Transport: e.Transport()}),
		option.WithMaxRetries(0),
	)
}
