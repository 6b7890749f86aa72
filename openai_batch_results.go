package llmlimit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Reading an OpenAI batch's results: its output file (answered lines) and
// error file (failed lines, and lines never run), in no particular order,
// matched to the caller's ids by custom_id.

// CollectBatch reads the output and error files of every batch of the
// handle. See [Batcher].
func (o *OpenAI) CollectBatch(ctx context.Context, handle string, ids []string) ([]BatchResult, error) {
	parts, err := o.parts(ctx, handle)
	if err != nil {
		return nil, err
	}
	found := map[string]lineResult{}
	ss := make([]partStatus, len(parts))
	why := ""
	for i, p := range parts {
		b, err := o.getBatch(ctx, p.name)
		if err != nil {
			return nil, err
		}
		ss[i].state = openaiState(b.Status)
		if !ss[i].state.Final() {
			return nil, fmt.Errorf("llmlimit: openai: batch %s is %s: %w", p.name, ss[i].state, ErrBatchRunning)
		}
		if len(b.Errors.Data) > 0 && why == "" {
			e := b.Errors.Data[0]
			var s secrets
			why = clipMessage(s.redact(e.Code + ": " + e.Message))
		}
		for _, id := range [...]string{b.OutputFileID, b.ErrorFileID} {
			if id == "" {
				continue
			}
			if err := o.readResults(ctx, id, found); err != nil {
				return nil, err
			}
		}
	}
	state := combineStatus(parts, ss).State
	return assemble(ids, found, func(string) error { return notRun(o.Name(), state, why) }), nil
}

// readResults adds the lines of one result file to found; the first line
// for a custom_id wins, and unreadable lines are skipped.
func (o *OpenAI) readResults(ctx context.Context, fileID string, found map[string]lineResult) error {
	var resp *http.Response
	var req0 sent
	err := o.callSent(ctx, &req0, func(opts ...option.RequestOption) (err error) {
		resp, err = o.c.Files.Content(ctx, fileID, opts...)
		return err
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var s secrets
	s.add(req0.key)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxResultLine)
	for sc.Scan() {
		l, err := parseOpenAIResultLine(sc.Bytes())
		if err != nil {
			continue
		}
		if _, dup := found[l.customID]; !dup {
			found[l.customID] = o.lineResult(l, &s)
		}
	}
	if err := sc.Err(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return &ProviderError{Provider: o.Name(), StatusCode: resp.StatusCode, Kind: KindOf(err),
			Err: s.sanitize(fmt.Errorf("llmlimit: openai: reading batch file %s: %w", fileID, err), nil, nil)}
	}
	return nil
}

// openaiResultLine is one line of an output or error file.
type openaiResultLine struct {
	customID string
	status   int             // the line's response.status_code, or 0
	body     json.RawMessage // the line's response.body
	code     string          // the line's error.code, when it has no response
	message  string
}

// parseOpenAIResultLine reads one line of a batch's output or error file:
// {"id", "custom_id", "response": {"status_code", "request_id", "body"},
// "error": null} for a request that was run, {"custom_id", "response":
// null, "error": {"code", "message"}} for one that wasn't (batch_expired,
// batch_cancelled). A line with no custom_id, or neither a response nor an
// error, is an error.
func parseOpenAIResultLine(line []byte) (openaiResultLine, error) {
	var raw struct {
		CustomID string `json:"custom_id"`
		Response *struct {
			StatusCode int             `json:"status_code"`
			Body       json.RawMessage `json:"body"`
		} `json:"response"`
		Error *struct {
			Code    any    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return openaiResultLine{}, fmt.Errorf("llmlimit: openai: batch result line: %w", err)
	}
	if raw.CustomID == "" {
		return openaiResultLine{}, errors.New("llmlimit: openai: batch result line without a custom_id")
	}
	l := openaiResultLine{customID: raw.CustomID}
	switch {
	case raw.Response != nil:
		l.status, l.body = raw.Response.StatusCode, raw.Response.Body
	case raw.Error != nil:
		l.code, l.message = jsonText(raw.Error.Code), raw.Error.Message
	default:
		return openaiResultLine{}, errors.New("llmlimit: openai: batch result line with neither response nor error")
	}
	return l, nil
}

// lineResult turns one result line into a Response or an error, as
// Generate would read the same reply.
func (o *OpenAI) lineResult(l openaiResultLine, s *secrets) lineResult {
	if l.status == 0 {
		switch l.code {
		case "batch_expired":
			return lineResult{err: notRun(o.Name(), BatchExpired, "")}
		case "batch_cancelled":
			return lineResult{err: notRun(o.Name(), BatchCancelled, "")}
		}
		return lineResult{err: &ProviderError{Provider: o.Name(), Kind: KindPermanent,
			Err: &replyError{msg: openaiMessage(openaiReply{code: l.code, message: l.message}, s)}}}
	}
	if l.status != http.StatusOK {
		r := decodeOpenAIBody(l.body)
		r.status = l.status
		pe := classifyOpenAI(o.Name(), r, s, time.Now())
		pe.Err = &replyError{msg: openaiMessage(r, s)}
		return lineResult{err: pe}
	}
	var cc openai.ChatCompletion
	if err := json.Unmarshal(l.body, &cc); err != nil {
		return lineResult{err: &ProviderError{Provider: o.Name(), StatusCode: l.status, Kind: KindPermanent,
			Err: errors.New("llmlimit: openai: batch result is not a chat completion")}}
	}
	text, err := openaiText(&cc)
	if err != nil {
		return lineResult{err: &ProviderError{Provider: o.Name(), StatusCode: l.status, Kind: KindPermanent, Err: err}}
	}
	return lineResult{resp: &Response{
		Text: text, Provider: o.Name(), Model: cc.Model,
		Usage: Usage{InputTokens: int(cc.Usage.PromptTokens), OutputTokens: int(cc.Usage.CompletionTokens)},
	}}
}
