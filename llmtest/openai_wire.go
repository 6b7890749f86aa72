package llmtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// openaiWire reads and writes the OpenAI chat completions wire format.
type openaiWire struct{}

type openaiRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	ResponseFormat *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string         `json:"name"`
			Schema map[string]any `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
	MaxTokens           int      `json:"max_tokens"`
	MaxCompletionTokens int      `json:"max_completion_tokens"`
	Temperature         *float64 `json:"temperature"`
}

func (o *openaiWire) name() string { return "openai" }

func (o *openaiWire) apiKey(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	k, _ := strings.CutPrefix(h, "Bearer ")
	return k, h != ""
}

func (o *openaiWire) parse(body []byte) (Received, error) {
	rec := Received{API: "openai"}
	var req openaiRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return rec, badRequest("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")
	}
	if req.Model == "" {
		return rec, badRequest("you must provide a model parameter")
	}
	rec.Model = req.Model
	if len(req.Messages) == 0 {
		return rec, badRequest("[] is too short - 'messages'")
	}
	var sys, user []string
	for _, m := range req.Messages {
		text, err := messageText(m.Content)
		if err != nil {
			return rec, badRequest("Invalid type for 'messages.content'.")
		}
		switch m.Role {
		case "system", "developer":
			sys = append(sys, text)
		case "user":
			user = append(user, text)
		}
	}
	rec.System, rec.Prompt = strings.Join(sys, "\n"), strings.Join(user, "\n")
	if rf := req.ResponseFormat; rf != nil {
		rec.ResponseFormat = rf.Type
		if rf.JSONSchema != nil {
			rec.Schema = rf.JSONSchema.Schema
		}
	}
	rec.MaxOutputTokens = req.MaxCompletionTokens
	if rec.MaxOutputTokens == 0 {
		rec.MaxOutputTokens = req.MaxTokens
	}
	rec.Temperature = req.Temperature
	return rec, nil
}

// messageText reads a message's content: a string or an array of parts, of
// which the text parts count.
func messageText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", err
	}
	var texts []string
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// openaiErrorBody is the error object of every OpenAI failure; param and
// code are null when not set.
type openaiErrorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func writeOpenAIError(w http.ResponseWriter, status int, typ, code, msg string) {
	var b openaiErrorBody
	b.Error.Message, b.Error.Type = msg, typ
	if code != "" {
		b.Error.Code = &code
	}
	writeJSON(w, "application/json", status, b)
}

func (o *openaiWire) writeBadRequest(w http.ResponseWriter, status int, msg string) {
	writeOpenAIError(w, status, "invalid_request_error", "", msg)
}

const openaiKeysURL = "https://platform.openai.com/account/api-keys"

// openaiServerErrorMessage is the message of OpenAI's 500s.
const openaiServerErrorMessage = "The server had an error while processing your request. Sorry about that!"

func (o *openaiWire) writeRefusal(w http.ResponseWriter, d decision) {
	o.writeHeaders(w, d, true)
	switch d.outcome {
	case outBadRequest:
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "", d.message)
	case outNoKey:
		writeOpenAIError(w, http.StatusUnauthorized, "invalid_request_error", "",
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from "+openaiKeysURL+".")
	case outBadKey:
		// The real message shows a masked key; a test kit must not echo
		// any part of it.
		writeOpenAIError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
			"Incorrect API key provided. You can find your API key at "+openaiKeysURL+".")
	case outInsufficientQuota:
		writeOpenAIError(w, http.StatusTooManyRequests, "insufficient_quota", "insufficient_quota",
			"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.")
	case outUnavailable:
		writeOpenAIError(w, http.StatusServiceUnavailable, "server_error", "", "The server is overloaded or not ready yet.")
	case outServerError:
		writeOpenAIError(w, http.StatusInternalServerError, "server_error", "", openaiServerErrorMessage)
	case outPerDay, outRateLimited, outTooLarge:
		o.writeQuota(w, d)
	}
}

type openaiSuccess struct {
	ID      string         `json:"id"`
	Object  string         `json:"object"`
	Created int64          `json:"created"`
	Model   string         `json:"model"`
	Choices []openaiChoice `json:"choices"`
	Usage   struct {
		Prompt           int            `json:"prompt_tokens"`
		Completion       int            `json:"completion_tokens"`
		Total            int            `json:"total_tokens"`
		PromptDetails    map[string]int `json:"prompt_tokens_details"`
		CompletionDetail map[string]int `json:"completion_tokens_details"`
	} `json:"usage"`
	ServiceTier       string `json:"service_tier"`
	SystemFingerprint string `json:"system_fingerprint"`
}

type openaiChoice struct {
	Index   int `json:"index"`
	Message struct {
		Role        string   `json:"role"`
		Content     string   `json:"content"`
		Refusal     *string  `json:"refusal"`
		Annotations []string `json:"annotations"`
	} `json:"message"`
	Logprobs     *string `json:"logprobs"`
	FinishReason string  `json:"finish_reason"`
}

func (o *openaiWire) writeSuccess(w http.ResponseWriter, d decision, text string, in, out int) {
	o.writeHeaders(w, d, false)
	w.Header().Set("openai-processing-ms", strconv.FormatInt(d.latency.Milliseconds(), 10))
	writeJSON(w, "application/json", http.StatusOK, openaiReply(d.model, d.seq, time.Now(), text, in, out))
}

// openaiReply is the chat completion of model with text, the seq-th
// response, created at created, with its token usage.
func openaiReply(model string, seq int, created time.Time, text string, in, out int) openaiSuccess {
	var c openaiChoice
	c.Message.Role, c.Message.Content, c.Message.Annotations = "assistant", text, []string{}
	c.FinishReason = "stop"
	b := openaiSuccess{
		ID:                "chatcmpl-" + responseID(seq),
		Object:            "chat.completion",
		Created:           created.Unix(),
		Model:             model,
		Choices:           []openaiChoice{c},
		ServiceTier:       "default",
		SystemFingerprint: "fp_emulator",
	}
	b.Usage.Prompt, b.Usage.Completion, b.Usage.Total = in, out, in+out
	b.Usage.PromptDetails = map[string]int{"cached_tokens": 0, "audio_tokens": 0}
	b.Usage.CompletionDetail = map[string]int{"reasoning_tokens": 0, "audio_tokens": 0,
		"accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
	return b
}
