package llmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Gemini Batch Mode: POST /v1beta/models/{model}:batchGenerateContent
// with inlined requests or an uploaded JSONL file, GET
// /v1beta/batches/{id} and POST /v1beta/batches/{id}:cancel, answered as
// the long-running operations genai's Batches reads: the job in the
// operation's metadata, its results under metadata.output.

// geminiInlineMax is the largest create call with inlined requests.
const geminiInlineMax = 20 << 20

type geminiBatchOp struct {
	Name     string          `json:"name"`
	Metadata geminiBatchMeta `json:"metadata"`
	Done     bool            `json:"done,omitempty"`
}

type geminiBatchMeta struct {
	Type        string `json:"@type"`
	Model       string `json:"model"`
	DisplayName string `json:"displayName"`
	Name        string `json:"name"`
	CreateTime  string `json:"createTime"`
	UpdateTime  string `json:"updateTime"`
	EndTime     string `json:"endTime,omitempty"`
	State       string `json:"state"`
	BatchStats  struct {
		RequestCount           string `json:"requestCount"`
		SuccessfulRequestCount string `json:"successfulRequestCount"`
		FailedRequestCount     string `json:"failedRequestCount"`
		PendingRequestCount    string `json:"pendingRequestCount"`
	} `json:"batchStats"`
	Output *geminiBatchOutput `json:"output,omitempty"`
}

type geminiBatchOutput struct {
	ResponsesFile    string             `json:"responsesFile,omitempty"`
	InlinedResponses *geminiInlinedList `json:"inlinedResponses,omitempty"`
}

type geminiInlinedList struct {
	InlinedResponses []geminiInlined `json:"inlinedResponses"`
}

type geminiInlined struct {
	Response *geminiSuccess    `json:"response,omitempty"`
	Error    *geminiLineError  `json:"error,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

type geminiLineError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status,omitempty"`
}

var geminiStates = [...]string{jobPending: "BATCH_STATE_PENDING", jobRunning: "BATCH_STATE_RUNNING", jobCancelling: "BATCH_STATE_RUNNING",
	jobCompleted: "BATCH_STATE_SUCCEEDED", jobFailed: "BATCH_STATE_FAILED", jobExpired: "BATCH_STATE_EXPIRED", jobCancelled: "BATCH_STATE_CANCELLED"}

func geminiBatchName(j *batchJob) string { return "batches/" + j.id }

// createGeminiBatch answers :batchGenerateContent.
func (e *Emulator) createGeminiBatch(w http.ResponseWriter, r *http.Request, model string, cfg BatchConfig) {
	wire := &geminiWire{model: model}
	body, err := readBody(r, geminiInlineMax)
	if err != nil {
		wire.writeBadRequest(w, http.StatusBadRequest, fmt.Sprintf("Request payload size exceeds the limit: %d bytes.", geminiInlineMax))
		return
	}
	var req struct {
		Batch struct {
			DisplayName string `json:"displayName"`
			InputConfig struct {
				FileName string `json:"fileName"`
				Requests *struct {
					Requests []struct {
						Request  json.RawMessage   `json:"request"`
						Metadata map[string]string `json:"metadata"`
					} `json:"requests"`
				} `json:"requests"`
			} `json:"inputConfig"`
		} `json:"batch"`
	}
	if json.Unmarshal(body, &req) != nil {
		wire.writeBadRequest(w, http.StatusBadRequest, "Invalid JSON payload received.")
		return
	}
	in := req.Batch.InputConfig
	if (in.FileName == "") == (in.Requests == nil || len(in.Requests.Requests) == 0) {
		wire.writeBadRequest(w, http.StatusBadRequest, "* BatchGenerateContentRequest.batch.input_config: exactly one of file_name and requests must be set\n")
		return
	}
	b := &e.batch
	j := &batchJob{api: "gemini", model: model, display: req.Batch.DisplayName}
	if in.Requests != nil {
		j.inline = true
		for _, ir := range in.Requests.Requests {
			j.lines = append(j.lines, geminiLine(wire, ir.Metadata[geminiKey], ir.Request, ir.Metadata))
		}
	} else {
		// A stored file's data never changes: it is read outside the lock.
		b.mu.Lock()
		f := b.files[strings.TrimPrefix(in.FileName, "files/")]
		b.mu.Unlock()
		if f == nil || !f.gemini || f.download {
			writeGeminiError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
			return
		}
		err := eachJSONL(f.data, maxUpload, func(_ int, raw []byte) {
			var l struct {
				Key     string          `json:"key"`
				Request json.RawMessage `json:"request"`
			}
			if json.Unmarshal(raw, &l) != nil {
				j.lines = append(j.lines, batchLine{bad: "Invalid JSON payload received."})
				return
			}
			j.lines = append(j.lines, geminiLine(wire, l.Key, l.Request, nil))
		})
		if err != nil || len(j.lines) == 0 {
			wire.writeBadRequest(w, http.StatusBadRequest, "The input file holds no readable request.")
			return
		}
	}
	b.mu.Lock()
	b.newJob(j, cfg, geminiBatchWindow)
	op := b.geminiBatch(j, j.at(time.Now()))
	b.mu.Unlock()
	writeJSON(w, "application/json; charset=UTF-8", http.StatusOK, op)
}

// geminiKey is the metadata field genai-based clients key requests by.
const geminiKey = "key"

// geminiLine reads one request of a job as generateContent would.
func geminiLine(wire *geminiWire, key string, raw json.RawMessage, meta map[string]string) batchLine {
	rec, err := wire.parse(raw)
	l := batchLine{key: key, rec: rec, meta: meta}
	if err != nil {
		l.bad = err.Error()
	}
	return l
}

// geminiBatchReply answers a get or a cancel.
func (e *Emulator) geminiBatchReply(w http.ResponseWriter, id string, cancel bool) {
	b := &e.batch
	b.mu.Lock()
	j := b.jobs[id]
	if j == nil || j.api != "gemini" {
		b.mu.Unlock()
		writeGeminiError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
		return
	}
	if !cancel {
		op := b.geminiBatch(j, j.at(time.Now()))
		b.mu.Unlock()
		writeJSON(w, "application/json; charset=UTF-8", http.StatusOK, op)
		return
	}
	_, ok := b.cancel(j, time.Now())
	b.mu.Unlock()
	if !ok {
		writeGeminiError(w, http.StatusBadRequest, "FAILED_PRECONDITION", "The batch is in a final state and can't be cancelled.")
		return
	}
	writeJSON(w, "application/json; charset=UTF-8", http.StatusOK, map[string]any{})
}

// geminiBatch describes j in state s, with its results once it has
// completed; a result file is written the first time.
func (b *batchStore) geminiBatch(j *batchJob, s snapshot) geminiBatchOp {
	n := len(j.lines)
	m := geminiBatchMeta{
		Type:  "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
		Model: "models/" + j.model, DisplayName: j.display, Name: geminiBatchName(j),
		CreateTime: rfc3339(j.created), UpdateTime: rfc3339(j.created), State: geminiStates[s.state],
	}
	m.BatchStats.RequestCount = strconv.Itoa(n)
	m.BatchStats.SuccessfulRequestCount = strconv.Itoa(s.done - s.failed)
	m.BatchStats.FailedRequestCount = strconv.Itoa(s.failed)
	m.BatchStats.PendingRequestCount = strconv.Itoa(n - s.done)
	if s.state.final() {
		m.EndTime, m.UpdateTime = rfc3339(s.ended), rfc3339(s.ended)
		b.count(j, s)
	}
	if s.state == jobCompleted {
		if s.failed > 0 {
			m.State = "JOB_STATE_PARTIALLY_SUCCEEDED"
		}
		m.Output = b.geminiOutput(j, s)
	}
	return geminiBatchOp{Name: geminiBatchName(j), Metadata: m, Done: s.state.final()}
}

// geminiOutput is a completed job's results: inlined for inlined
// requests, else a result file; either is made the first time.
func (b *batchStore) geminiOutput(j *batchJob, s snapshot) *geminiBatchOutput {
	out := &geminiBatchOutput{}
	switch {
	case j.outputFile != "":
		out.ResponsesFile = j.outputFile
		return out
	case j.inlined != nil:
		out.InlinedResponses = &geminiInlinedList{j.inlined}
		return out
	}
	var results []geminiInlined
	stray := 0
	for _, i := range b.resultOrder(j, s) {
		var r geminiInlined
		if i < 0 {
			resp := geminiResponse(j, batchLine{}, 0)
			r = geminiInlined{Response: &resp, Metadata: map[string]string{geminiKey: strayKey(j, stray)}}
			stray++
		} else {
			r = geminiResult(j, i)
		}
		results = append(results, r)
	}
	if j.inline {
		j.inlined = results
		out.InlinedResponses = &geminiInlinedList{results}
		return out
	}
	var file bytes.Buffer
	for _, r := range results {
		line := map[string]any{geminiKey: r.Metadata[geminiKey]}
		if r.Error != nil {
			line["error"] = r.Error
		} else {
			line["response"] = r.Response
		}
		writeJSONL(&file, line)
	}
	f := b.addFile(&storedFile{api: "gemini", name: "batch-" + j.id + "-results", mime: "application/jsonl",
		data: file.Bytes(), gemini: true, download: true})
	j.outputFile = geminiFileName(f)
	out.ResponsesFile = j.outputFile
	return out
}

// geminiResult is request i's result, with its metadata (or, from a file,
// its key) to match it by.
func geminiResult(j *batchJob, i int) geminiInlined {
	l := j.lines[i]
	meta := l.meta
	if meta == nil {
		meta = map[string]string{geminiKey: l.key}
	}
	switch {
	case l.bad != "":
		return geminiInlined{Error: &geminiLineError{Code: 400, Message: l.bad, Status: "INVALID_ARGUMENT"}, Metadata: meta}
	case l.fail:
		return geminiInlined{Error: &geminiLineError{Code: 500, Status: "INTERNAL", Message: geminiInternalMessage}, Metadata: meta}
	}
	resp := geminiResponse(j, l, i+1)
	return geminiInlined{Response: &resp, Metadata: meta}
}

// geminiResponse is the generateContent reply the synchronous endpoint
// would send for l.
func geminiResponse(j *batchJob, l batchLine, seq int) geminiSuccess {
	text, in, out := l.reply()
	return geminiReply(j.model, seq, text, in, out)
}
