package llmlimit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genai"
)

// Gemini Batch Mode, through genai's Batches and Files. A submission of
// up to geminiInlineLimit bytes goes inline in the create call; a larger
// one is uploaded as a JSONL file of {"key","request"} lines first. Each
// request carries its key: inlined as metadata {"key": ...}, which the
// inlined responses echo, in a file as the line's key, which the result
// file's lines repeat. Results are matched by key, never by position.

// geminiInlineLimit is the largest submission sent inline: the API takes
// create calls of up to 20 MB, and the envelope needs a little room.
// A submission is measured as its input file would be, plus
// geminiInlineOverhead a request for the inline envelope of each.
const (
	geminiInlineLimit    = 19 << 20
	geminiInlineOverhead = 128
)

// geminiBatchKey is the metadata field that carries a request's key.
const geminiBatchKey = "key"

var _ Batcher = (*Gemini)(nil)

// oneAttempt is the per-call HTTP option that keeps genai from retrying,
// whatever the client says; a fresh value each call, since the SDK
// writes to the one it is given.
func oneAttempt() *genai.HTTPOptions {
	return &genai.HTTPOptions{RetryOptions: &genai.HTTPRetryOptions{Attempts: genai.Ptr[int32](1)}}
}

// SubmitBatch starts one Gemini batch job per model among reqs, and
// returns their handle. See [Batcher]. Requests are sent as Generate
// would send them, except that genai's automatic continuation has no
// place in a batch.
func (g *Gemini) SubmitBatch(ctx context.Context, reqs []BatchRequest) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if g.c == nil {
		return "", errors.New("llmlimit: gemini: nil client")
	}
	groups, err := groupBatch(g.Name(), g.model, reqs)
	if err != nil {
		return "", err
	}
	var parts []batchPart
	for _, grp := range groups {
		name, err := g.submitGroup(ctx, grp)
		if err != nil {
			return abandon(g.Name(), parts, err, g.cancelParts(ctx, parts))
		}
		parts = append(parts, batchPart{name: name, n: len(grp.items)})
	}
	return encodeHandle(g.Name(), parts), nil
}

// submitGroup creates the job for one model's requests.
func (g *Gemini) submitGroup(ctx context.Context, grp batchGroup) (string, error) {
	lines, err := geminiBatchFile(grp.items)
	if err != nil {
		return "", err
	}
	limit := geminiInlineLimit
	if g.limits.bytes > 0 {
		limit = g.limits.bytes
	}
	src := &genai.BatchJobSource{}
	if len(lines)+geminiInlineOverhead*len(grp.items) <= limit {
		for _, it := range grp.items {
			src.InlinedRequests = append(src.InlinedRequests, &genai.InlinedRequest{
				Model:    grp.model,
				Contents: genai.Text(it.req.Prompt),
				Metadata: map[string]string{geminiBatchKey: it.key},
				Config:   geminiBatchConfig(it.req),
			})
		}
	} else {
		f, err := g.c.Files.Upload(ctx, bytes.NewReader(lines), &genai.UploadFileConfig{
			MIMEType: "application/jsonl", DisplayName: "llmlimit-batch", HTTPOptions: oneAttempt(),
		})
		if err != nil {
			return "", g.callError(ctx, err)
		}
		src.FileName = f.Name
	}
	job, err := g.c.Batches.Create(ctx, grp.model, src, &genai.CreateBatchJobConfig{
		DisplayName: fmt.Sprintf("llmlimit-%d", len(grp.items)), HTTPOptions: oneAttempt(),
	})
	if err != nil {
		return "", g.callError(ctx, err)
	}
	if job.Name == "" {
		return "", &ProviderError{Provider: g.Name(), StatusCode: 200, Kind: KindPermanent,
			Err: errors.New("llmlimit: gemini: batch created without a name")}
	}
	return job.Name, nil
}

// geminiBatchConfig is geminiConfig for a request inside a batch: no
// per-call HTTP options and no continuation, which belong to calls.
func geminiBatchConfig(req *Request) *genai.GenerateContentConfig {
	cfg := geminiConfig(req)
	cfg.HTTPOptions, cfg.AutomaticContinuation = nil, nil
	return cfg
}

// geminiRequestJSON is a GenerateContentRequest as the REST API reads it,
// for the lines of an input file.
type geminiRequestJSON struct {
	Contents          []geminiContentJSON   `json:"contents"`
	SystemInstruction *geminiContentJSON    `json:"systemInstruction,omitempty"`
	GenerationConfig  *geminiGenerationJSON `json:"generationConfig,omitempty"`
}

type geminiContentJSON struct {
	Role  string           `json:"role,omitempty"`
	Parts []geminiTextJSON `json:"parts"`
}

type geminiTextJSON struct {
	Text string `json:"text"`
}

type geminiGenerationJSON struct {
	ResponseMIMEType   string         `json:"responseMimeType,omitempty"`
	ResponseJSONSchema map[string]any `json:"responseJsonSchema,omitempty"`
	MaxOutputTokens    int            `json:"maxOutputTokens,omitempty"`
	Temperature        *float64       `json:"temperature,omitempty"`
}

// geminiBatchFile writes items as the JSONL input file Batch Mode reads:
// {"key": ..., "request": {...}} per line, the request as geminiConfig
// shapes it for Generate.
func geminiBatchFile(items []batchItem) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, it := range items {
		r := geminiRequestJSON{Contents: []geminiContentJSON{{Role: genai.RoleUser, Parts: []geminiTextJSON{{Text: it.req.Prompt}}}}}
		if it.req.System != "" {
			r.SystemInstruction = &geminiContentJSON{Parts: []geminiTextJSON{{Text: it.req.System}}}
		}
		gc := geminiGenerationJSON{Temperature: it.req.Temperature}
		if it.req.JSONSchema != nil {
			gc.ResponseMIMEType, gc.ResponseJSONSchema = "application/json", it.req.JSONSchema
		}
		if it.req.MaxOutputTokens > 0 {
			gc.MaxOutputTokens = it.req.MaxOutputTokens
		}
		if gc.Temperature != nil || gc.ResponseJSONSchema != nil || gc.MaxOutputTokens > 0 {
			r.GenerationConfig = &gc
		}
		line := struct {
			Key     string            `json:"key"`
			Request geminiRequestJSON `json:"request"`
		}{it.key, r}
		if err := enc.Encode(line); err != nil {
			return nil, fmt.Errorf("llmlimit: gemini: batch request: %w", err)
		}
	}
	return b.Bytes(), nil
}

// PollBatch sends one batches.get per job of the handle. See [Batcher]
// and [BatchStatus] for the counts Gemini can't give.
func (g *Gemini) PollBatch(ctx context.Context, handle string) (BatchStatus, error) {
	parts, err := g.parts(ctx, handle)
	if err != nil {
		return BatchStatus{}, err
	}
	ss := make([]partStatus, len(parts))
	for i, p := range parts {
		job, err := g.getJob(ctx, p.name)
		if err != nil {
			return BatchStatus{}, err
		}
		ss[i] = geminiPartStatus(job, p.n)
	}
	return combineStatus(parts, ss), nil
}

// geminiPartStatus reads a job's state and what its inlined results say.
func geminiPartStatus(job *genai.BatchJob, n int) partStatus {
	s := partStatus{state: geminiState(job.State), done: -1, failed: -1}
	switch {
	case s.state == BatchPending:
		s.done, s.failed = 0, 0
	case job.Dest != nil && len(job.Dest.InlinedResponses) > 0:
		s.done, s.failed = 0, 0
		for _, r := range job.Dest.InlinedResponses {
			if r == nil {
				continue
			}
			s.done++
			if r.Error != nil || r.Response == nil {
				s.failed++
			}
		}
		s.done = min(s.done, n)
	case s.state == BatchCompleted:
		s.done = n
	}
	return s
}

// geminiState maps a job state, in genai's JOB_STATE_ names or the API's
// BATCH_STATE_ ones, to a BatchState. A state it doesn't know is running,
// so that a caller keeps polling rather than collect too early.
func geminiState(s genai.JobState) BatchState {
	name := string(s)
	for _, p := range [...]string{"JOB_STATE_", "BATCH_STATE_"} {
		name = strings.TrimPrefix(name, p)
	}
	switch name {
	case "UNSPECIFIED", "QUEUED", "PENDING", "":
		return BatchPending
	case "CANCELLING":
		return BatchCancelling
	case "SUCCEEDED", "PARTIALLY_SUCCEEDED":
		return BatchCompleted
	case "FAILED":
		return BatchFailed
	case "CANCELLED":
		return BatchCancelled
	case "EXPIRED":
		return BatchExpired
	}
	return BatchRunning
}

// CancelBatch sends batches.cancel for every job of the handle that has
// not ended, after a batches.get for each. See [Batcher].
func (g *Gemini) CancelBatch(ctx context.Context, handle string) error {
	parts, err := g.parts(ctx, handle)
	if err != nil {
		return err
	}
	var open []batchPart
	for _, p := range parts {
		job, err := g.getJob(ctx, p.name)
		if err != nil {
			return err
		}
		if !geminiState(job.State).Final() {
			open = append(open, p)
		}
	}
	return g.cancelParts(ctx, open)
}

// cancelParts cancels each job, going on past failures.
func (g *Gemini) cancelParts(ctx context.Context, parts []batchPart) error {
	var errs []error
	for _, p := range parts {
		if err := g.c.Batches.Cancel(ctx, p.name, &genai.CancelBatchJobConfig{HTTPOptions: oneAttempt()}); err != nil {
			errs = append(errs, fmt.Errorf("llmlimit: gemini: cancelling batch %s: %w", p.name, g.callError(ctx, err)))
		}
	}
	return errors.Join(errs...)
}

// parts checks the call and reads the handle.
func (g *Gemini) parts(ctx context.Context, handle string) ([]batchPart, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if g.c == nil {
		return nil, errors.New("llmlimit: gemini: nil client")
	}
	return decodeHandle(g.Name(), handle)
}

func (g *Gemini) getJob(ctx context.Context, name string) (*genai.BatchJob, error) {
	job, err := g.c.Batches.Get(ctx, name, &genai.GetBatchJobConfig{HTTPOptions: oneAttempt()})
	if err != nil {
		return nil, g.callError(ctx, err)
	}
	return job, nil
}

// callError is the error of a failed batch or file call: the context's
// when it ended, else the call's, classified and without secrets.
func (g *Gemini) callError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	// Files.Upload flattens the APIError of its first call into text;
	// what it said is read back from there.
	if _, ok := errorsAs[genai.APIError](err); !ok {
		if m := uploadError.FindStringSubmatch(err.Error()); m != nil {
			status, _ := strconv.Atoi(m[1])
			return g.replyError(geminiReply{status: status, name: m[3], message: m[2]}, "file upload: ")
		}
	}
	return g.classify(err)
}

// replyError classifies an error reply read from a batch or file call, as
// Generate classifies its own, its message after prefix.
func (g *Gemini) replyError(r geminiReply, prefix string) *ProviderError {
	s := g.secrets()
	pe := classifyGemini(g.Name(), r, &s, time.Now())
	pe.Err = &replyError{msg: prefix + geminiMessage(r.name, r.message, &s)}
	return pe
}

// uploadError reads what genai.APIError.Error writes.
var uploadError = regexp.MustCompile(`(?s)\bError ([1-5][0-9]{2}), Message: (.*), Status: ([A-Z_]*), Details: `)

func (g *Gemini) secrets() secrets {
	var s secrets
	s.add(g.key)
	s.addURL(g.baseURL)
	return s
}
