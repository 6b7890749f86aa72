package llmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The OpenAI Batch API: POST /v1/batches, GET /v1/batches/{id} and POST
// /v1/batches/{id}/cancel, over input files uploaded to /v1/files. Only
// the /v1/chat/completions endpoint is emulated.

const openaiChatEndpoint = "/v1/chat/completions"

// openaiBatchJSON is a batch object as the API returns it.
type openaiBatchJSON struct {
	ID               string         `json:"id"`
	Object           string         `json:"object"`
	Endpoint         string         `json:"endpoint"`
	Model            string         `json:"model,omitempty"`
	Errors           *openaiErrList `json:"errors"`
	InputFileID      string         `json:"input_file_id"`
	CompletionWindow string         `json:"completion_window"`
	Status           string         `json:"status"`
	OutputFileID     *string        `json:"output_file_id"`
	ErrorFileID      *string        `json:"error_file_id"`
	CreatedAt        int64          `json:"created_at"`
	InProgressAt     *int64         `json:"in_progress_at"`
	ExpiresAt        int64          `json:"expires_at"`
	FinalizingAt     *int64         `json:"finalizing_at"`
	CompletedAt      *int64         `json:"completed_at"`
	FailedAt         *int64         `json:"failed_at"`
	ExpiredAt        *int64         `json:"expired_at"`
	CancellingAt     *int64         `json:"cancelling_at"`
	CancelledAt      *int64         `json:"cancelled_at"`
	RequestCounts    struct {
		Total     int `json:"total"`
		Completed int `json:"completed"`
		Failed    int `json:"failed"`
	} `json:"request_counts"`
	Metadata map[string]string `json:"metadata"`
}

type openaiErrList struct {
	Object string     `json:"object"`
	Data   []jobError `json:"data"`
}

var openaiStatus = [...]string{jobPending: "validating", jobRunning: "in_progress", jobCancelling: "cancelling",
	jobCompleted: "completed", jobFailed: "failed", jobExpired: "expired", jobCancelled: "cancelled"}

func openaiBatchID(j *batchJob) string { return "batch_" + j.id }

func (e *Emulator) createOpenAIBatch(w http.ResponseWriter, r *http.Request, cfg BatchConfig) {
	wire := &openaiWire{}
	var req struct {
		InputFileID      string            `json:"input_file_id"`
		Endpoint         string            `json:"endpoint"`
		CompletionWindow string            `json:"completion_window"`
		Metadata         map[string]string `json:"metadata"`
	}
	body, err := readBody(r, 1<<20)
	if err != nil || json.Unmarshal(body, &req) != nil {
		wire.writeBadRequest(w, http.StatusBadRequest, "We could not parse the JSON body of your request.")
		return
	}
	switch {
	case req.Endpoint != openaiChatEndpoint:
		wire.writeBadRequest(w, http.StatusBadRequest, "The emulator's batches support only "+openaiChatEndpoint+".")
		return
	case req.CompletionWindow != "24h":
		wire.writeBadRequest(w, http.StatusBadRequest, "Invalid completion_window: only '24h' is supported.")
		return
	}
	b := &e.batch
	b.mu.Lock()
	f := b.files[strings.TrimPrefix(req.InputFileID, "file-")]
	b.mu.Unlock()
	if f == nil || f.api != "openai" || f.download {
		writeOpenAIError(w, http.StatusNotFound, "invalid_request_error", "", "No such File object: "+req.InputFileID)
		return
	}
	if f.purpose != "batch" {
		wire.writeBadRequest(w, http.StatusBadRequest, "The input file must be uploaded with purpose 'batch'.")
		return
	}
	j := &batchJob{api: "openai", inputFile: req.InputFileID}
	// A stored file's data never changes: it is parsed outside the lock.
	j.lines, j.model, j.invalid = parseOpenAIInput(f.data, cfg.MaxLines)
	b.mu.Lock()
	b.newJob(j, cfg, openaiBatchWindow)
	o := b.openaiBatch(j, j.at(time.Now()))
	b.mu.Unlock()
	writeJSON(w, "application/json", http.StatusOK, o)
}

// parseOpenAIInput reads an input file, validating it as the API does
// before a batch starts: every line a request to the chat endpoint, with a
// unique custom_id, all for one model, within the line and size limits.
func parseOpenAIInput(data []byte, maxLines int) (lines []batchLine, model string, invalid []jobError) {
	if maxLines <= 0 {
		maxLines = openaiBatchMaxLines
	}
	if len(data) > openaiBatchMaxBytes {
		return nil, "", []jobError{{Code: "file_too_large", Message: "The input file exceeds the maximum size of 200 MB."}}
	}
	seen := map[string]bool{}
	err := eachJSONL(data, openaiBatchMaxBytes, func(n int, raw []byte) {
		bad := func(code, msg string) { invalid = append(invalid, jobError{Code: code, Message: msg, Line: n}) }
		var l struct {
			CustomID string          `json:"custom_id"`
			Method   string          `json:"method"`
			URL      string          `json:"url"`
			Body     json.RawMessage `json:"body"`
		}
		if json.Unmarshal(raw, &l) != nil {
			bad("invalid_json_line", "This line is not parseable as valid JSON.")
			return
		}
		rec, err := (&openaiWire{}).parse(l.Body)
		switch {
		case l.CustomID == "":
			bad("missing_custom_id", "The custom_id for this request is missing.")
		case seen[l.CustomID]:
			bad("duplicate_custom_id", "The custom_id for this request is a duplicate of another request.")
		case l.Method != http.MethodPost || l.URL != openaiChatEndpoint:
			bad("invalid_url", "The URL or method of this request does not match the batch's endpoint.")
		case err != nil:
			bad("invalid_request", err.Error())
		case model != "" && rec.Model != model:
			bad("mismatched_model", "All requests in a batch must use the same model.")
		}
		seen[l.CustomID] = true
		if model == "" {
			model = rec.Model
		}
		lines = append(lines, batchLine{key: l.CustomID, rec: rec})
	})
	switch {
	case err != nil:
		invalid = append(invalid, jobError{Code: "invalid_file", Message: "The input file could not be read."})
	case len(lines) == 0:
		invalid = append(invalid, jobError{Code: "empty_file", Message: "The input file is empty."})
	case len(lines) > maxLines:
		invalid = append(invalid, jobError{Code: "too_many_requests",
			Message: fmt.Sprintf("The input file has %d requests, more than the limit of %d.", len(lines), maxLines)})
	}
	return lines, model, invalid
}

// openaiBatchReply answers a retrieve or a cancel.
func (e *Emulator) openaiBatchReply(w http.ResponseWriter, id string, cancel bool) {
	b := &e.batch
	b.mu.Lock()
	j := b.jobs[strings.TrimPrefix(id, "batch_")]
	if j == nil || j.api != "openai" || !strings.HasPrefix(id, "batch_") {
		b.mu.Unlock()
		writeOpenAIError(w, http.StatusNotFound, "invalid_request_error", "", "No batch found with id '"+id+"'.")
		return
	}
	var s snapshot
	ok := true
	if cancel {
		s, ok = b.cancel(j, time.Now())
	} else {
		s = j.at(time.Now())
	}
	if !ok {
		b.mu.Unlock()
		(&openaiWire{}).writeBadRequest(w, http.StatusConflict,
			fmt.Sprintf("Cannot cancel a batch with status '%s'.", openaiStatus[s.state]))
		return
	}
	o := b.openaiBatch(j, s)
	b.mu.Unlock()
	writeJSON(w, "application/json", http.StatusOK, o)
}

// openaiBatch describes j in state s, writing its result files the first
// time it is seen ended.
func (b *batchStore) openaiBatch(j *batchJob, s snapshot) openaiBatchJSON {
	n := len(j.lines)
	o := openaiBatchJSON{
		ID: openaiBatchID(j), Object: "batch", Endpoint: openaiChatEndpoint, Model: j.model,
		InputFileID: j.inputFile, CompletionWindow: "24h", Status: openaiStatus[s.state],
		CreatedAt: j.created.Unix(), ExpiresAt: j.created.Add(j.window).Unix(),
	}
	o.RequestCounts.Total = n
	o.RequestCounts.Completed, o.RequestCounts.Failed = s.done-s.failed, s.failed
	at := func(t time.Time) *int64 { u := t.Unix(); return &u }
	if len(j.invalid) > 0 {
		o.Errors = &openaiErrList{Object: "list", Data: j.invalid}
		o.RequestCounts.Total, o.RequestCounts.Completed, o.RequestCounts.Failed = 0, 0, 0
		o.FailedAt = at(s.ended)
		return o
	}
	if s.state >= jobRunning {
		o.InProgressAt = at(j.created)
	}
	if !j.cancelled.IsZero() {
		o.CancellingAt = at(j.cancelled)
	}
	switch s.state {
	case jobCompleted:
		o.FinalizingAt, o.CompletedAt = at(s.ended), at(s.ended)
	case jobExpired:
		o.ExpiredAt = at(s.ended)
	case jobCancelled:
		o.CancelledAt = at(s.ended)
	}
	if s.state.final() {
		b.writeOpenAIResults(j, s)
		b.count(j, s)
		if out := j.outputFile; out != "" {
			o.OutputFileID = &out
		}
		if errs := j.errorFile; errs != "" {
			o.ErrorFileID = &errs
		}
	}
	return o
}

// writeOpenAIResults writes an ended job's output file (answered lines)
// and error file (failed lines, and lines never run), once.
func (b *batchStore) writeOpenAIResults(j *batchJob, s snapshot) {
	if j.outputFile != "" || j.errorFile != "" {
		return
	}
	var out, errs bytes.Buffer
	stray := 0
	for _, i := range b.resultOrder(j, s) {
		b.seq++
		reqID := fmt.Sprintf("req_%032x", b.seq)
		if i < 0 {
			writeJSONL(&out, map[string]any{"id": fmt.Sprintf("batch_req_%d", b.seq), "custom_id": strayKey(j, stray),
				"response": map[string]any{"status_code": 200, "request_id": reqID, "body": openaiCompletion(j, batchLine{}, b.seq)}, "error": nil})
			stray++
			continue
		}
		l := j.lines[i]
		entry := map[string]any{"id": fmt.Sprintf("batch_req_%d", b.seq), "custom_id": l.key, "error": nil}
		if l.fail {
			var eb openaiErrorBody
			eb.Error.Message, eb.Error.Type = openaiServerErrorMessage, "server_error"
			entry["response"] = map[string]any{"status_code": 500, "request_id": reqID, "body": eb}
			writeJSONL(&errs, entry)
			continue
		}
		entry["response"] = map[string]any{"status_code": 200, "request_id": reqID, "body": openaiCompletion(j, l, b.seq)}
		writeJSONL(&out, entry)
	}
	answered := j.answered(s)
	for i, l := range j.lines {
		if answered[i] {
			continue
		}
		code, msg := "batch_expired", "This request could not be executed before the completion window expired."
		if s.state == jobCancelled {
			code, msg = "batch_cancelled", "This request was not executed because the batch was cancelled."
		}
		b.seq++
		writeJSONL(&errs, map[string]any{"id": fmt.Sprintf("batch_req_%d", b.seq), "custom_id": l.key, "response": nil,
			"error": map[string]string{"code": code, "message": msg}})
	}
	for _, r := range [...]struct {
		buf  *bytes.Buffer
		id   *string
		name string
	}{{&out, &j.outputFile, "batch_" + j.id + "_output.jsonl"}, {&errs, &j.errorFile, "batch_" + j.id + "_error.jsonl"}} {
		if r.buf.Len() > 0 {
			f := b.addFile(&storedFile{api: "openai", name: r.name, purpose: "batch_output", data: r.buf.Bytes(), download: true})
			*r.id = openaiFileID(f)
		}
	}
}

// openaiCompletion is the chat completion the synchronous endpoint would
// send for l.
func openaiCompletion(j *batchJob, l batchLine, seq int) openaiSuccess {
	text, in, out := l.reply()
	model := l.rec.Model
	if model == "" {
		model = j.model
	}
	return openaiReply(model, seq, j.created, text, in, out)
}
