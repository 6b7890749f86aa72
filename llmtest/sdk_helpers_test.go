package llmtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
	"google.golang.org/genai"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

// outcome of one SDK call, reduced to what the tests compare.
type callResult struct {
	text   string
	status int         // 200, or the error's HTTP status
	body   any         // decoded error body (Gemini details or OpenAI error)
	header http.Header // OpenAI reply headers
	in     int
	out    int
	err    error
}

// call sends p through the real SDK of api and classifies the outcome.
func call(ctx context.Context, t *testing.T, e *Emulator, api, key, p string) callResult {
	t.Helper()
	if api == "gemini" {
		c, err := e.GeminiClient(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return geminiCall(ctx, c, p)
	}
	return openaiCall(ctx, e.OpenAIClient(key), p)
}

func geminiCall(ctx context.Context, c *genai.Client, p string) callResult {
	temp := float32(0.2)
	resp, err := c.Models.GenerateContent(ctx, geminiModel, genai.Text(p), &genai.GenerateContentConfig{
		SystemInstruction:  genai.NewContentFromText(prompt.System, genai.RoleUser),
		ResponseMIMEType:   "application/json",
		ResponseJsonSchema: prompt.Schema(),
		MaxOutputTokens:    512,
		Temperature:        &temp,
	})
	if err != nil {
		var ae genai.APIError
		if errors.As(err, &ae) {
			return callResult{status: ae.Code, body: ae.Details, err: err}
		}
		return callResult{err: err}
	}
	r := callResult{text: resp.Text(), status: 200}
	if u := resp.UsageMetadata; u != nil {
		r.in, r.out = int(u.PromptTokenCount), int(u.CandidatesTokenCount)
	}
	return r
}

func openaiCall(ctx context.Context, c openai.Client, p string) callResult {
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:               openaiModel,
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(prompt.System), openai.UserMessage(p)},
		MaxCompletionTokens: openai.Int(512),
		Temperature:         openai.Float(0.2),
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "tags", Schema: prompt.Schema(), Strict: openai.Bool(true)},
		}},
	})
	if err != nil {
		var oe *openai.Error
		if errors.As(err, &oe) {
			var body any
			_ = json.Unmarshal([]byte(oe.RawJSON()), &body)
			return callResult{status: oe.StatusCode, body: body, header: oe.Response.Header, err: err}
		}
		return callResult{err: err}
	}
	return callResult{text: resp.Choices[0].Message.Content, status: 200, in: int(resp.Usage.PromptTokens), out: int(resp.Usage.CompletionTokens)}
}

// geminiDetail returns the field of the error detail of type typ, e.g.
// ("type.googleapis.com/google.rpc.RetryInfo", "retryDelay").
func geminiDetail(r callResult, typ string) map[string]any {
	details, _ := r.body.([]map[string]any)
	for _, d := range details {
		if d["@type"] == typ {
			return d
		}
	}
	return nil
}

// geminiQuotaID returns the quotaId of a 429's QuotaFailure, or "".
func geminiQuotaID(r callResult) string {
	qf := geminiDetail(r, "type.googleapis.com/google.rpc.QuotaFailure")
	if qf == nil {
		return ""
	}
	v, _ := qf["violations"].([]any)
	if len(v) == 0 {
		return ""
	}
	m, _ := v[0].(map[string]any)
	id, _ := m["quotaId"].(string)
	return id
}

// openaiCode returns the code of an OpenAI error, or "".
func openaiCode(r callResult) string {
	m, _ := r.body.(map[string]any)
	if e, ok := m["error"].(map[string]any); ok { // RawJSON may be the whole body or the error object
		m = e
	}
	c, _ := m["code"].(string)
	return c
}

// counters returns the counters of api.
func counters(e *Emulator, api string) APICounters {
	if api == "gemini" {
		return e.Counters().Gemini
	}
	return e.Counters().OpenAI
}

// only returns a Config with a applied to api.
func only(api string, a API) Config {
	if api == "gemini" {
		return Config{Gemini: a}
	}
	return Config{OpenAI: a}
}

var apis = []string{"gemini", "openai"}

func batch(n int) string {
	items := make([]prompt.Item, n)
	for i := range items {
		items[i] = prompt.Item{ID: string(rune('a' + i)), Text: "water and noise item " + string(rune('a'+i))}
	}
	return prompt.Build(items, []string{"water", "noise", "air"})
}
