package llmtest

import (
	"errors"
	"io"
	"net/http"
	"strings"
)

// serveBatch answers the batch and file endpoints of both APIs and
// reports whether the request was one of them:
//
//	OpenAI  POST /v1/files                GET /v1/files/{id}/content
//	        POST /v1/batches              GET /v1/batches/{id}
//	        POST /v1/batches/{id}/cancel
//	Gemini  POST /v1beta/models/{model}:batchGenerateContent
//	        GET  /v1beta/batches/{id}     POST /v1beta/batches/{id}:cancel
//	        POST /upload/v1beta/files     GET /v1beta/files/{id}:download
//
// Each checks the API's key as generateContent and chat completions do,
// and counts against no quota.
func (e *Emulator) serveBatch(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	var name string
	var wire apiWire
	switch {
	case p == "/v1/files" || strings.HasPrefix(p, "/v1/files/") || p == "/v1/batches" || strings.HasPrefix(p, "/v1/batches/"):
		name, wire = "openai", &openaiWire{}
	case strings.HasPrefix(p, "/v1beta/models/") && strings.HasSuffix(p, ":batchGenerateContent"),
		strings.HasPrefix(p, "/v1beta/batches/"), strings.HasPrefix(p, "/upload/v1beta/files"), strings.HasPrefix(p, "/v1beta/files/"):
		name, wire = "gemini", &geminiWire{}
	default:
		return false
	}
	api, seed := e.apiConfig(name)
	b := &e.batch
	b.lock(seed)
	b.api(name).Requests++
	b.mu.Unlock()
	if !authorized(w, r, wire, api) {
		return true
	}
	if name == "openai" {
		e.routeOpenAI(w, r, api.Batch)
	} else {
		e.routeGemini(w, r, api.Batch)
	}
	return true
}

func (e *Emulator) routeOpenAI(w http.ResponseWriter, r *http.Request, cfg BatchConfig) {
	p, get, post := r.URL.Path, r.Method == http.MethodGet, r.Method == http.MethodPost
	if id, ok := pathID(p, "/v1/files/", "/content"); ok && get {
		e.serveOpenAIContent(w, id)
		return
	}
	if id, ok := pathID(p, "/v1/batches/", "/cancel"); ok && post {
		e.openaiBatchReply(w, id, true)
		return
	}
	if id, ok := pathID(p, "/v1/batches/", ""); ok && get {
		e.openaiBatchReply(w, id, false)
		return
	}
	switch {
	case p == "/v1/files" && post:
		e.serveOpenAIUpload(w, r)
	case p == "/v1/batches" && post:
		e.createOpenAIBatch(w, r, cfg)
	default:
		(&openaiWire{}).writeBadRequest(w, http.StatusNotFound, "Invalid URL ("+r.Method+" "+p+")")
	}
}

func (e *Emulator) routeGemini(w http.ResponseWriter, r *http.Request, cfg BatchConfig) {
	p, get, post := r.URL.Path, r.Method == http.MethodGet, r.Method == http.MethodPost
	if model, ok := pathID(p, "/v1beta/models/", ":batchGenerateContent"); ok && post {
		e.createGeminiBatch(w, r, model, cfg)
		return
	}
	if id, ok := pathID(p, "/v1beta/batches/", ":cancel"); ok && post {
		e.geminiBatchReply(w, id, true)
		return
	}
	if id, ok := pathID(p, "/v1beta/batches/", ""); ok && get && !strings.Contains(id, ":") {
		e.geminiBatchReply(w, id, false)
		return
	}
	if id, ok := pathID(p, "/v1beta/files/", ":download"); ok && get {
		e.serveGeminiDownload(w, r, id)
		return
	}
	if p == "/upload/v1beta/files" && post {
		e.serveGeminiUpload(w, r)
		return
	}
	writeGeminiError(w, http.StatusNotFound, "NOT_FOUND", "Method not found.")
}

// errTooLarge is a request body over its endpoint's limit.
var errTooLarge = errors.New("llmtest: request body too large")

// readBody reads r's body, failing when it holds more than limit bytes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}
