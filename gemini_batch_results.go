package llmlimit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genai"
)

// Reading a Gemini batch job's results: the inlined responses of a job
// submitted inline, else the result file, one {"key", "response"} or
// {"key", "error"} line per request, matched to the caller's ids by key.

// CollectBatch reads the results of every job of the handle: the inlined
// responses, or the result file, one download per job. See [Batcher].
func (g *Gemini) CollectBatch(ctx context.Context, handle string, ids []string) ([]BatchResult, error) {
	parts, err := g.parts(ctx, handle)
	if err != nil {
		return nil, err
	}
	found := map[string]lineResult{}
	ss := make([]partStatus, len(parts))
	for i, p := range parts {
		job, err := g.getJob(ctx, p.name)
		if err != nil {
			return nil, err
		}
		ss[i] = geminiPartStatus(job, p.n)
		if !ss[i].state.Final() {
			return nil, fmt.Errorf("llmlimit: gemini: batch %s is %s: %w", p.name, ss[i].state, ErrBatchRunning)
		}
		if err := g.readResults(ctx, job, found); err != nil {
			return nil, err
		}
	}
	state := combineStatus(parts, ss).State
	return assemble(ids, found, func(string) error { return notRun(g.Name(), state, "") }), nil
}

// readResults adds a finished job's results to found.
func (g *Gemini) readResults(ctx context.Context, job *genai.BatchJob, found map[string]lineResult) error {
	d := job.Dest
	if d == nil {
		return nil
	}
	model := strings.TrimPrefix(job.Model, "models/")
	for _, r := range d.InlinedResponses {
		if r == nil || r.Metadata[geminiBatchKey] == "" {
			continue
		}
		k := r.Metadata[geminiBatchKey]
		if _, dup := found[k]; dup {
			continue
		}
		if r.Error != nil || r.Response == nil {
			var code int
			var msg string
			if r.Error != nil {
				msg = r.Error.Message
				if r.Error.Code != nil {
					code = int(*r.Error.Code)
				}
			}
			found[k] = lineResult{err: g.lineError(code, "", msg)}
			continue
		}
		found[k] = g.lineResponse(r.Response, model)
	}
	if d.FileName == "" {
		return nil
	}
	data, err := g.c.Files.Download(ctx, &genai.File{DownloadURI: d.FileName}, &genai.DownloadFileConfig{HTTPOptions: oneAttempt()})
	if err != nil {
		return g.callError(ctx, err)
	}
	// genai returns an error reply's body as the file's content.
	if pe := g.downloadError(data); pe != nil {
		return pe
	}
	for line := range bytes.Lines(data) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		l, err := parseGeminiResultLine(line)
		if err != nil {
			continue
		}
		if _, dup := found[l.key]; dup {
			continue
		}
		if l.response == nil {
			found[l.key] = lineResult{err: g.lineError(l.code, l.status, l.message)}
			continue
		}
		found[l.key] = g.lineResponse(l.response, model)
	}
	return nil
}

// lineResponse turns one result into a Response, as Generate would.
func (g *Gemini) lineResponse(resp *genai.GenerateContentResponse, model string) lineResult {
	out, err := g.response(resp, model)
	return lineResult{resp: out, err: err}
}

// lineError classifies the error of one request as Generate would
// classify the same reply.
func (g *Gemini) lineError(code int, status, message string) *ProviderError {
	return g.replyError(geminiReply{code: code, name: status, message: message}, "")
}

// downloadError returns the error a download's body holds, or nil when
// the body is a result file.
func (g *Gemini) downloadError(data []byte) *ProviderError {
	var env struct {
		Error json.RawMessage `json:"error"`
		Key   *string         `json:"key"`
	}
	if json.Unmarshal(data, &env) != nil || env.Error == nil || env.Key != nil {
		return nil
	}
	return g.replyError(decodeGeminiBody(data), "")
}

// geminiResultLine is one line of a result file: a response or an error.
type geminiResultLine struct {
	key      string
	response *genai.GenerateContentResponse
	code     int
	status   string
	message  string
}

// parseGeminiResultLine reads one line of a Batch Mode result file:
// {"key": ..., "response": {GenerateContentResponse}} or {"key": ...,
// "error": {"code", "message", "status"}}. A line with no key, or neither
// a response nor an error, is an error.
func parseGeminiResultLine(line []byte) (geminiResultLine, error) {
	var raw struct {
		Key      string                         `json:"key"`
		Response *genai.GenerateContentResponse `json:"response"`
		Error    *struct {
			Code    any    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return geminiResultLine{}, fmt.Errorf("llmlimit: gemini: batch result line: %w", err)
	}
	if raw.Key == "" {
		return geminiResultLine{}, errors.New("llmlimit: gemini: batch result line without a key")
	}
	l := geminiResultLine{key: raw.Key}
	switch {
	case raw.Error != nil:
		l.code, _ = jsonCount(raw.Error.Code)
		l.status, l.message = raw.Error.Status, raw.Error.Message
	case raw.Response != nil:
		l.response = raw.Response
	default:
		return geminiResultLine{}, errors.New("llmlimit: gemini: batch result line with neither response nor error")
	}
	return l, nil
}
