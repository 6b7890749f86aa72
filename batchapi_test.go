package llmlimit

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/genai"

	"github.com/openai/openai-go/v3"
)

func TestCombineStatus(t *testing.T) {
	p := func(n int) batchPart { return batchPart{name: "j", n: n} }
	s := func(st BatchState, done, failed int) partStatus {
		return partStatus{state: st, done: done, failed: failed}
	}
	for _, tc := range []struct {
		name  string
		parts []batchPart
		ss    []partStatus
		want  BatchStatus
	}{
		{"one running", []batchPart{p(10)}, []partStatus{s(BatchRunning, 4, 1)}, BatchStatus{BatchRunning, 10, 4, 1}},
		{"pending and running", []batchPart{p(10), p(5)}, []partStatus{s(BatchPending, 0, 0), s(BatchRunning, 2, 0)}, BatchStatus{BatchPending, 15, 2, 0}},
		{"pending beside an ended part is progress", []batchPart{p(10), p(5)}, []partStatus{s(BatchCompleted, 10, 0), s(BatchPending, 0, 0)}, BatchStatus{BatchRunning, 15, 10, 0}},
		{"cancelling beside cancelled", []batchPart{p(1), p(1)}, []partStatus{s(BatchCancelled, 0, 0), s(BatchCancelling, 0, 0)}, BatchStatus{BatchCancelling, 2, 0, 0}},
		{"unknown counts", []batchPart{p(3), p(3)}, []partStatus{s(BatchRunning, -1, -1), s(BatchCompleted, 3, 1)}, BatchStatus{BatchRunning, 6, -1, -1}},
		{"all completed", []batchPart{p(3), p(3)}, []partStatus{s(BatchCompleted, 3, 0), s(BatchCompleted, 3, 2)}, BatchStatus{BatchCompleted, 6, 6, 2}},
		{"failed is the worst ending", []batchPart{p(1), p(1), p(1), p(1)},
			[]partStatus{s(BatchCompleted, 1, 0), s(BatchFailed, 0, 0), s(BatchExpired, 0, 0), s(BatchCancelled, 0, 0)}, BatchStatus{BatchFailed, 4, 1, 0}},
		{"expired before cancelled", []batchPart{p(1), p(1)}, []partStatus{s(BatchCancelled, 0, 0), s(BatchExpired, 1, 0)}, BatchStatus{BatchExpired, 2, 1, 0}},
	} {
		if got := combineStatus(tc.parts, tc.ss); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestBatchStatusProgress(t *testing.T) {
	for _, tc := range []struct {
		s    BatchStatus
		want float64
	}{
		{BatchStatus{BatchRunning, 10, 4, 0}, 0.4},
		{BatchStatus{BatchRunning, 10, -1, -1}, 0},
		{BatchStatus{BatchCompleted, 10, -1, -1}, 1},
		{BatchStatus{BatchPending, 0, 0, 0}, 0},
		{BatchStatus{BatchExpired, 10, 8, 0}, 0.8},
		{BatchStatus{BatchCompleted, 10, 12, 0}, 1},
	} {
		if got := tc.s.Progress(); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.s, got, tc.want)
		}
	}
	if s := BatchState(99).String(); s != "batchstate(99)" || BatchState(99).Final() || !BatchCancelled.Final() || BatchCancelling.Final() {
		t.Errorf("states: %s", s)
	}
}

func TestGeminiState(t *testing.T) {
	want := map[genai.JobState]BatchState{
		genai.JobStateUnspecified: BatchPending, genai.JobStateQueued: BatchPending, genai.JobStatePending: BatchPending,
		genai.JobStateRunning: BatchRunning, genai.JobStateUpdating: BatchRunning, genai.JobStatePaused: BatchRunning,
		genai.JobStateCancelling: BatchCancelling, genai.JobStateSucceeded: BatchCompleted,
		genai.JobStatePartiallySucceeded: BatchCompleted, genai.JobStateFailed: BatchFailed,
		genai.JobStateCancelled: BatchCancelled, genai.JobStateExpired: BatchExpired,
		"BATCH_STATE_SUCCEEDED": BatchCompleted, "BATCH_STATE_PENDING": BatchPending, "": BatchPending,
		"JOB_STATE_SOMETHING_NEW": BatchRunning,
	}
	for s, w := range want {
		if got := geminiState(s); got != w {
			t.Errorf("%q: %v, want %v", s, got, w)
		}
	}
}

func TestOpenAIState(t *testing.T) {
	want := map[openai.BatchStatus]BatchState{
		openai.BatchStatusValidating: BatchPending, openai.BatchStatusInProgress: BatchRunning,
		openai.BatchStatusFinalizing: BatchRunning, openai.BatchStatusCancelling: BatchCancelling,
		openai.BatchStatusCompleted: BatchCompleted, openai.BatchStatusFailed: BatchFailed,
		openai.BatchStatusExpired: BatchExpired, openai.BatchStatusCancelled: BatchCancelled, "paused": BatchRunning,
	}
	for s, w := range want {
		if got := openaiState(s); got != w {
			t.Errorf("%q: %v, want %v", s, got, w)
		}
	}
}

func TestHandle(t *testing.T) {
	parts := []batchPart{{"batch_abc", 50000}, {"batch_def", 3}}
	h := encodeHandle("openai", parts)
	if h != "openai:v1:batch_abc=50000,batch_def=3" {
		t.Errorf("handle %q", h)
	}
	got, err := decodeHandle("openai", h)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(parts) {
		t.Errorf("decoded %v %v", got, err)
	}
	for _, bad := range []string{"", "openai", "openai:v1:", "gemini:v1:x=1", "openai:v1:x=01", "openai:v1:x=-1", "openai:v1:x=1,", "openai:v1:a b=1", "openai:v1:x=1=2x"} {
		if _, err := decodeHandle("openai", bad); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func TestGroupBatch(t *testing.T) {
	r := func(model string) *Request { return &Request{Model: model, Prompt: "p"} }
	groups, err := groupBatch("openai", "m0", []BatchRequest{{"a", r("")}, {"b", r("m1")}, {"c", r("m0")}, {"d", r("m1")}})
	if err != nil || len(groups) != 2 || groups[0].model != "m0" || len(groups[0].items) != 2 || groups[1].model != "m1" ||
		groups[0].items[1].key != batchKey("c") {
		t.Errorf("%+v %v", groups, err)
	}
	if k := batchKey("any id at all, however long it is: ids longer than sixty-four characters are fine"); len(k) != 32 {
		t.Errorf("key %q", k)
	}
}

func TestOpenAIBatchFiles(t *testing.T) {
	items := make([]batchItem, 7)
	for i := range items {
		items[i] = batchItem{key: batchKey(fmt.Sprint(i)), model: "gpt-4o-mini", req: &Request{Prompt: strings.Repeat("x", 100)}}
	}
	grp := batchGroup{model: "gpt-4o-mini", items: items}
	o := &OpenAI{limits: batchLimits{lines: 3}}
	files, counts, err := o.batchFiles(grp)
	if err != nil || fmt.Sprint(counts) != "[3 3 1]" {
		t.Fatalf("%v %v", counts, err)
	}
	for i, f := range files {
		if n := bytes.Count(f, []byte("\n")); n != counts[i] {
			t.Errorf("file %d: %d lines, want %d", i, n, counts[i])
		}
	}
	line, _ := openaiBatchLine(items[0])
	o.limits = batchLimits{bytes: 2*len(line) + 1}
	if _, counts, _ := o.batchFiles(grp); fmt.Sprint(counts) != "[2 2 2 1]" {
		t.Errorf("by size: %v", counts)
	}
}

func TestPriceBatch(t *testing.T) {
	u := Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}
	p := Price{InputPerMillion: 0.30, OutputPerMillion: 2.50}
	if got := p.batchCost(u); got != 1.40 || got*2 != p.cost(u) {
		t.Errorf("default batch cost %v, want half of %v", got, p.cost(u))
	}
	p.BatchInputPerMillion = 0.2
	if got := p.batchCost(u); got != 0.2+1.25 {
		t.Errorf("with a batch input price: %v", got)
	}
}

var openaiLineSeeds = []string{
	`{"id":"batch_req_1","custom_id":"k1","response":{"status_code":200,"request_id":"req_1","body":{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"{\"results\":[]}","refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}}},"error":null}`,
	`{"id":"batch_req_2","custom_id":"k2","response":{"status_code":500,"request_id":"req_2","body":{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}},"error":null}`,
	`{"id":"batch_req_3","custom_id":"k3","response":{"status_code":429,"request_id":"req_3","body":{"error":{"message":"Rate limit reached for gpt-4o-mini on tokens per day (TPD): Limit 2000000, Used 1999000, Requested 3000. Please try again in 1m9.696s.","type":"tokens","code":"rate_limit_exceeded"}}},"error":null}`,
	`{"id":"batch_req_4","custom_id":"k4","response":null,"error":{"code":"batch_expired","message":"This request could not be executed before the completion window expired."}}`,
	`{"id":"batch_req_5","custom_id":"k5","response":null,"error":{"code":"batch_cancelled","message":"cancelled"}}`,
	`{"custom_id":"k6","response":{"status_code":200,"body":{"choices":[]}}}`,
	`{"custom_id":"k7","error":{"code":42,"message":"sk-abcdefghijklmnopqrstuvwxyz"}}`,
	`{"custom_id":"","response":{"status_code":200}}`, `{"custom_id":"k"}`, `[]`, `null`, ``, `{`,
}

// FuzzParseOpenAIResultLine feeds result lines to the parser and to what
// turns a line into a result: no panic, and a line gives exactly one of a
// response or an error, the error a *ProviderError without what looks
// like a key.
func FuzzParseOpenAIResultLine(f *testing.F) {
	for _, s := range openaiLineSeeds {
		f.Add([]byte(s))
	}
	o := &OpenAI{}
	f.Fuzz(func(t *testing.T, line []byte) {
		l, err := parseOpenAIResultLine(line)
		if err != nil {
			return
		}
		if l.customID == "" {
			t.Fatal("a parsed line without a custom_id")
		}
		var s secrets
		r := o.lineResult(l, &s)
		checkLineResult(t, r)
	})
}

var geminiLineSeeds = []string{
	`{"key":"k1","response":{"candidates":[{"content":{"parts":[{"text":"{\"results\":[]}"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":3,"totalTokenCount":13},"modelVersion":"gemini-2.5-flash"}}`,
	`{"key":"k2","error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`,
	`{"key":"k3","error":{"code":"429","message":"Quota exceeded. Please retry in 58.2s.","status":"RESOURCE_EXHAUSTED"}}`,
	`{"key":"k4","response":{"promptFeedback":{"blockReason":"SAFETY"}}}`,
	`{"key":"k5","response":{"candidates":[{"content":{"parts":[{"text":"x","thought":true}]},"finishReason":"MAX_TOKENS"}]}}`,
	`{"key":"k6","response":{"createTime":"not a time"}}`,
	`{"key":"","response":{}}`, `{"key":"k"}`, `{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}`, `[]`, ``, `{`,
}

// FuzzParseGeminiResultLine is FuzzParseOpenAIResultLine for Gemini's
// result files.
func FuzzParseGeminiResultLine(f *testing.F) {
	for _, s := range geminiLineSeeds {
		f.Add([]byte(s))
	}
	g := &Gemini{key: "AIzaSyD-fuzz-key-0123456789abcdefghij"}
	f.Fuzz(func(t *testing.T, line []byte) {
		if pe := g.downloadError(line); pe != nil && pe.Err == nil {
			t.Fatal("a download error without a message")
		}
		l, err := parseGeminiResultLine(line)
		if err != nil {
			return
		}
		if l.key == "" {
			t.Fatal("a parsed line without a key")
		}
		var r lineResult
		if l.response == nil {
			r = lineResult{err: g.lineError(l.code, l.status, l.message)}
		} else {
			r = g.lineResponse(l.response, "gemini-2.5-flash")
		}
		checkLineResult(t, r)
	})
}

func checkLineResult(t *testing.T, r lineResult) {
	t.Helper()
	if (r.resp == nil) == (r.err == nil) {
		t.Fatalf("result %+v: want exactly one of response and error", r)
	}
	if r.err == nil {
		return
	}
	var pe *ProviderError
	if !errors.As(r.err, &pe) {
		t.Fatalf("%T is not a *ProviderError", r.err)
	}
	var s secrets
	if msg := r.err.Error(); s.redact(msg) != msg {
		t.Fatalf("a key-shaped string in %q", msg)
	}
}

// FuzzDecodeHandle feeds persisted handles back: no panic, a bounded
// number of parts, and what decodes encodes back to the same string.
func FuzzDecodeHandle(f *testing.F) {
	for _, s := range []string{"openai:v1:batch_abc=50000,batch_def=3", "gemini:v1:batches/xyz=10", "openai:v1:=1", "openai:v1:a=1=2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		for _, p := range []string{"openai", "gemini"} {
			parts, err := decodeHandle(p, h)
			if err != nil {
				continue
			}
			if len(parts) == 0 || len(parts) > maxHandleParts {
				t.Fatalf("%d parts", len(parts))
			}
			if again := encodeHandle(p, parts); again != h {
				t.Fatalf("%q decodes to %v, which encodes to %q", h, parts, again)
			}
		}
	})
}

// TestGeminiDownloadError reads an error reply that genai's Download
// returns as if it were the file.
func TestGeminiDownloadError(t *testing.T) {
	g := &Gemini{key: "AIzaSyD-download-key-0123456789abcdef"}
	body := []byte("{\n  \"error\": {\n    \"code\": 404,\n    \"message\": \"File AIzaSyD-download-key-0123456789abcdef not found.\",\n    \"status\": \"NOT_FOUND\"\n  }\n}\n")
	pe := g.downloadError(body)
	if pe == nil || pe.StatusCode != 404 || pe.Kind != KindPermanent || strings.Contains(pe.Error(), g.key) {
		t.Fatalf("%v", pe)
	}
	for _, file := range []string{geminiLineSeeds[0], geminiLineSeeds[1], geminiLineSeeds[0] + "\n" + geminiLineSeeds[1]} {
		if pe := g.downloadError([]byte(file)); pe != nil {
			t.Errorf("a result file read as an error: %v", pe)
		}
	}
}
