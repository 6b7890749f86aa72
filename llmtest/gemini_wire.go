package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// geminiWire reads and writes the Gemini API's generateContent wire format.
type geminiWire struct {
	model string
}

type geminiContent struct {
	Role  string `json:"role,omitempty"`
	Parts []struct {
		Text string `json:"text"`
	} `json:"parts"`
}

type geminiRequest struct {
	Contents          []geminiContent `json:"contents"`
	SystemInstruction *geminiContent  `json:"systemInstruction"`
	GenerationConfig  *struct {
		ResponseMimeType   string         `json:"responseMimeType"`
		ResponseJSONSchema map[string]any `json:"responseJsonSchema"`
		ResponseSchema     map[string]any `json:"responseSchema"`
		MaxOutputTokens    int            `json:"maxOutputTokens"`
		Temperature        *float64       `json:"temperature"`
	} `json:"generationConfig"`
}

func (g *geminiWire) name() string { return "gemini" }

// apiKey reads the key where Google's front end looks for it: the
// x-goog-api-key header (what genai sends) or the key query parameter.
func (g *geminiWire) apiKey(r *http.Request) (string, bool) {
	if k := r.Header.Get("x-goog-api-key"); k != "" {
		return k, true
	}
	k := r.URL.Query().Get("key")
	return k, k != ""
}

func (g *geminiWire) parse(body []byte) (Received, error) {
	rec := Received{API: "gemini", Model: g.model}
	var req geminiRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return rec, badRequest("Invalid JSON payload received.")
	}
	if len(req.Contents) == 0 {
		return rec, badRequest("* GenerateContentRequest.contents: contents is not specified\n")
	}
	var user []string
	for _, c := range req.Contents {
		if c.Role == "" || c.Role == "user" {
			for _, p := range c.Parts {
				user = append(user, p.Text)
			}
		}
	}
	rec.Prompt = strings.Join(user, "\n")
	if si := req.SystemInstruction; si != nil {
		var sys []string
		for _, p := range si.Parts {
			sys = append(sys, p.Text)
		}
		rec.System = strings.Join(sys, "\n")
	}
	if gc := req.GenerationConfig; gc != nil {
		rec.ResponseFormat = gc.ResponseMimeType
		rec.Schema = gc.ResponseJSONSchema
		if rec.Schema == nil {
			rec.Schema = gc.ResponseSchema
		}
		rec.MaxOutputTokens = gc.MaxOutputTokens
		rec.Temperature = gc.Temperature
	}
	return rec, nil
}

// badRequest is a request body the API would refuse with a 400; its text is
// the API's own message, which goes into the reply body, never to a caller.
type badRequest string

func (b badRequest) Error() string { return string(b) }

// geminiErrorBody is google.rpc.Status as the JSON API writes it.
type geminiErrorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []any  `json:"details,omitempty"`
	} `json:"error"`
}

func writeGeminiError(w http.ResponseWriter, code int, status, msg string, details ...any) {
	var b geminiErrorBody
	b.Error.Code, b.Error.Status, b.Error.Message, b.Error.Details = code, status, msg, details
	writeJSON(w, "application/json; charset=UTF-8", code, b)
}

func (g *geminiWire) writeBadRequest(w http.ResponseWriter, status int, msg string) {
	s := "INVALID_ARGUMENT"
	if status == http.StatusMethodNotAllowed {
		s = "UNIMPLEMENTED"
	}
	writeGeminiError(w, status, s, msg)
}

const geminiBadKeyMessage = "API key not valid. Please pass a valid API key."

// geminiInternalMessage is the message of Gemini's 500s.
const geminiInternalMessage = "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"

func (g *geminiWire) writeRefusal(w http.ResponseWriter, d decision) {
	switch d.outcome {
	case outBadRequest:
		writeGeminiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", d.message)
	case outNoKey:
		writeGeminiError(w, http.StatusForbidden, "PERMISSION_DENIED",
			"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
	case outBadKey:
		writeGeminiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", geminiBadKeyMessage,
			map[string]any{
				"@type":    "type.googleapis.com/google.rpc.ErrorInfo",
				"reason":   "API_KEY_INVALID",
				"domain":   "googleapis.com",
				"metadata": map[string]string{"service": "generativelanguage.googleapis.com"},
			},
			map[string]any{
				"@type":   "type.googleapis.com/google.rpc.LocalizedMessage",
				"locale":  "en-US",
				"message": geminiBadKeyMessage,
			})
	case outUnavailable:
		writeGeminiError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "The model is overloaded. Please try again later.")
	case outServerError:
		writeGeminiError(w, http.StatusInternalServerError, "INTERNAL", geminiInternalMessage)
	case outPerDay, outRateLimited:
		g.writeQuota(w, d)
	}
}

type geminiSuccess struct {
	Candidates []geminiCandidate `json:"candidates"`
	Usage      struct {
		Prompt     int `json:"promptTokenCount"`
		Candidates int `json:"candidatesTokenCount"`
		Total      int `json:"totalTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
	ResponseID   string `json:"responseId"`
}

type geminiCandidate struct {
	Content struct {
		Parts []struct {
			Text string `json:"text"`
		} `json:"parts"`
		Role string `json:"role"`
	} `json:"content"`
	FinishReason string `json:"finishReason"`
	Index        int    `json:"index"`
}

func (g *geminiWire) writeSuccess(w http.ResponseWriter, d decision, text string, in, out int) {
	writeJSON(w, "application/json; charset=UTF-8", http.StatusOK, geminiReply(d.model, d.seq, text, in, out))
}

// geminiReply is the generateContent reply of model with text, the seq-th
// response, with its token usage.
func geminiReply(model string, seq int, text string, in, out int) geminiSuccess {
	var c geminiCandidate
	c.Content.Parts = []struct {
		Text string `json:"text"`
	}{{Text: text}}
	c.Content.Role, c.FinishReason = "model", "STOP"
	b := geminiSuccess{Candidates: []geminiCandidate{c}, ModelVersion: model, ResponseID: responseID(seq)}
	b.Usage.Prompt, b.Usage.Candidates, b.Usage.Total = in, out, in+out
	return b
}

// responseID makes a stable, id-looking string from a request's sequence
// number.
func responseID(seq int) string {
	return fmt.Sprintf("emu%019d", seq)
}

func writeJSON(w http.ResponseWriter, contentType string, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "llmtest: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(b)
}
