package llmlimit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// The OpenAI Batch API, through openai-go's Files and Batches. A
// submission is written as JSONL input files of {"custom_id", "method",
// "url", "body"} lines for /v1/chat/completions, each file within the
// API's limits (openaiBatchMaxLines lines, openaiBatchMaxBytes bytes, one
// model), uploaded with purpose "batch" and run as one batch with the
// 24-hour completion window. The output file holds the answered lines and
// the error file the failed ones, in no particular order: lines are
// matched by custom_id.

const (
	// openaiBatchMaxLines is the most requests an input file may hold.
	openaiBatchMaxLines = 50_000
	// openaiBatchMaxBytes is the largest input file, 200 MB, counted in
	// the smaller of the units it might mean.
	openaiBatchMaxBytes = 200_000_000
	// openaiBatchEndpoint is where every line of our input files goes.
	openaiBatchEndpoint = "/v1/chat/completions"
	// maxResultLine bounds one line of a result file.
	maxResultLine = 32 << 20
)

var _ Batcher = (*OpenAI)(nil)

// SubmitBatch uploads reqs as input files and starts one batch per file,
// and returns their handle. See [Batcher]. Each line's body is the chat
// completion Generate would send.
func (o *OpenAI) SubmitBatch(ctx context.Context, reqs []BatchRequest) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	groups, err := groupBatch(o.Name(), o.model, reqs)
	if err != nil {
		return "", err
	}
	var parts []batchPart
	for _, grp := range groups {
		files, counts, err := o.batchFiles(grp)
		if err != nil {
			return abandon(o.Name(), parts, err, o.cancelParts(ctx, parts))
		}
		for i, f := range files {
			id, err := o.startBatch(ctx, f)
			if err != nil {
				return abandon(o.Name(), parts, err, o.cancelParts(ctx, parts))
			}
			parts = append(parts, batchPart{name: id, n: counts[i]})
		}
	}
	return encodeHandle(o.Name(), parts), nil
}

// batchFiles writes one model's requests as input files within the
// limits, and the number of lines of each.
func (o *OpenAI) batchFiles(grp batchGroup) (files [][]byte, counts []int, err error) {
	maxLines, maxBytes := openaiBatchMaxLines, openaiBatchMaxBytes
	if o.limits.lines > 0 {
		maxLines = o.limits.lines
	}
	if o.limits.bytes > 0 {
		maxBytes = o.limits.bytes
	}
	var cur bytes.Buffer
	n := 0
	for _, it := range grp.items {
		line, err := openaiBatchLine(it)
		if err != nil {
			return nil, nil, err
		}
		if len(line) > maxBytes {
			return nil, nil, fmt.Errorf("llmlimit: openai: batch request of %d bytes exceeds the input file limit of %d", len(line), maxBytes)
		}
		if n == maxLines || cur.Len()+len(line) > maxBytes {
			files, counts = append(files, bytes.Clone(cur.Bytes())), append(counts, n)
			cur.Reset()
			n = 0
		}
		cur.Write(line)
		n++
	}
	return append(files, cur.Bytes()), append(counts, n), nil
}

// openaiBatchLine is one line of an input file, newline included.
func openaiBatchLine(it batchItem) ([]byte, error) {
	line := struct {
		CustomID string                         `json:"custom_id"`
		Method   string                         `json:"method"`
		URL      string                         `json:"url"`
		Body     openai.ChatCompletionNewParams `json:"body"`
	}{it.key, http.MethodPost, openaiBatchEndpoint, openaiParams(it.req, it.model)}
	b, err := json.Marshal(line)
	if err != nil {
		return nil, fmt.Errorf("llmlimit: openai: batch request: %w", err)
	}
	return append(b, '\n'), nil
}

// startBatch uploads one input file and starts its batch.
func (o *OpenAI) startBatch(ctx context.Context, file []byte) (string, error) {
	var f *openai.FileObject
	err := o.call(ctx, func(opts ...option.RequestOption) (err error) {
		f, err = o.c.Files.New(ctx, openai.FileNewParams{
			File:    openai.File(bytes.NewReader(file), "llmlimit-batch.jsonl", "application/jsonl"),
			Purpose: openai.FilePurposeBatch,
		}, opts...)
		return err
	})
	if err != nil {
		return "", err
	}
	var b *openai.Batch
	err = o.call(ctx, func(opts ...option.RequestOption) (err error) {
		b, err = o.c.Batches.New(ctx, openai.BatchNewParams{
			CompletionWindow: openai.BatchNewParamsCompletionWindow24h,
			Endpoint:         openai.BatchNewParamsEndpointV1ChatCompletions,
			InputFileID:      f.ID,
		}, opts...)
		return err
	})
	if err != nil {
		return "", err
	}
	return b.ID, nil
}

// PollBatch sends one batches.retrieve per batch of the handle. See
// [Batcher].
func (o *OpenAI) PollBatch(ctx context.Context, handle string) (BatchStatus, error) {
	parts, err := o.parts(ctx, handle)
	if err != nil {
		return BatchStatus{}, err
	}
	ss := make([]partStatus, len(parts))
	for i, p := range parts {
		b, err := o.getBatch(ctx, p.name)
		if err != nil {
			return BatchStatus{}, err
		}
		c := b.RequestCounts
		ss[i] = partStatus{state: openaiState(b.Status), done: int(c.Completed + c.Failed), failed: int(c.Failed)}
	}
	return combineStatus(parts, ss), nil
}

// openaiState maps a batch's status to a BatchState. A status it doesn't
// know is running, so that a caller keeps polling rather than collect too
// early.
func openaiState(s openai.BatchStatus) BatchState {
	switch s {
	case openai.BatchStatusValidating:
		return BatchPending
	case openai.BatchStatusCancelling:
		return BatchCancelling
	case openai.BatchStatusCompleted:
		return BatchCompleted
	case openai.BatchStatusFailed:
		return BatchFailed
	case openai.BatchStatusExpired:
		return BatchExpired
	case openai.BatchStatusCancelled:
		return BatchCancelled
	}
	return BatchRunning
}

// CancelBatch cancels every batch of the handle that has not ended, after
// a batches.retrieve for each. See [Batcher].
func (o *OpenAI) CancelBatch(ctx context.Context, handle string) error {
	parts, err := o.parts(ctx, handle)
	if err != nil {
		return err
	}
	var open []batchPart
	for _, p := range parts {
		b, err := o.getBatch(ctx, p.name)
		if err != nil {
			return err
		}
		if !openaiState(b.Status).Final() {
			open = append(open, p)
		}
	}
	return o.cancelParts(ctx, open)
}

// cancelParts cancels each batch, going on past failures.
func (o *OpenAI) cancelParts(ctx context.Context, parts []batchPart) error {
	var errs []error
	for _, p := range parts {
		err := o.call(ctx, func(opts ...option.RequestOption) error {
			_, err := o.c.Batches.Cancel(ctx, p.name, opts...)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("llmlimit: openai: cancelling batch %s: %w", p.name, err))
		}
	}
	return errors.Join(errs...)
}

func (o *OpenAI) parts(ctx context.Context, handle string) ([]batchPart, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return decodeHandle(o.Name(), handle)
}

func (o *OpenAI) getBatch(ctx context.Context, id string) (*openai.Batch, error) {
	var b *openai.Batch
	err := o.call(ctx, func(opts ...option.RequestOption) (err error) {
		b, err = o.c.Batches.Get(ctx, id, opts...)
		return err
	})
	return b, err
}

// call runs one SDK call with retries off, returning the context's error
// when it ended and otherwise the call's, classified and without secrets,
// as Generate does.
func (o *OpenAI) call(ctx context.Context, f func(opts ...option.RequestOption) error) error {
	var req0 sent
	return o.callSent(ctx, &req0, f)
}

// callSent is call that also tells what the request carried.
func (o *OpenAI) callSent(ctx context.Context, req0 *sent, f func(opts ...option.RequestOption) error) error {
	var httpResp *http.Response
	err := f(option.WithMaxRetries(0), option.WithResponseInto(&httpResp), option.WithMiddleware(req0.capture))
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return o.classify(err, httpResp, *req0)
}
