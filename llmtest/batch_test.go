package llmtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/openai/openai-go/v3"
	"google.golang.org/genai"
)

// TestBatchJobSchedule walks a job's state through virtual time.
func TestBatchJobSchedule(t *testing.T) {
	t0 := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	job := func(latency time.Duration, fail ...int) *batchJob {
		j := &batchJob{created: t0, latency: latency, window: 24 * time.Hour, cancelLatency: 10 * time.Minute,
			lines: make([]batchLine, 10), order: []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}}
		for _, i := range fail {
			j.lines[i].fail = true
		}
		return j
	}
	type at struct {
		after time.Duration
		want  snapshot
	}
	for _, tc := range []struct {
		name string
		j    *batchJob
		ats  []at
	}{
		{"completes", job(time.Hour, 9, 0), []at{
			{0, snapshot{state: jobPending}},
			{5 * time.Minute, snapshot{state: jobPending}}, // 0.83 of a request: none answered yet
			{30 * time.Minute, snapshot{state: jobRunning, done: 5, failed: 1}},
			{time.Hour, snapshot{state: jobCompleted, done: 10, failed: 2, ended: t0.Add(time.Hour)}},
			{48 * time.Hour, snapshot{state: jobCompleted, done: 10, failed: 2, ended: t0.Add(time.Hour)}},
		}},
		{"at once", job(0), []at{{0, snapshot{state: jobCompleted, done: 10, ended: t0}}}},
		{"expires", job(30 * time.Hour), []at{
			{12 * time.Hour, snapshot{state: jobRunning, done: 4}},
			{24 * time.Hour, snapshot{state: jobExpired, done: 8, ended: t0.Add(24 * time.Hour)}},
			{30 * time.Hour, snapshot{state: jobExpired, done: 8, ended: t0.Add(24 * time.Hour)}},
		}},
	} {
		for _, a := range tc.ats {
			if got := tc.j.at(t0.Add(a.after)); got != a.want {
				t.Errorf("%s after %v: %+v, want %+v", tc.name, a.after, got, a.want)
			}
		}
	}
	j := job(time.Hour)
	j.cancelled = t0.Add(30 * time.Minute)
	for _, a := range []at{
		{35 * time.Minute, snapshot{state: jobCancelling, done: 5}},
		{40 * time.Minute, snapshot{state: jobCancelled, done: 5, ended: t0.Add(40 * time.Minute)}},
		{2 * time.Hour, snapshot{state: jobCancelled, done: 5, ended: t0.Add(40 * time.Minute)}},
	} {
		if got := j.at(t0.Add(a.after)); got != a.want {
			t.Errorf("cancelled, after %v: %+v, want %+v", a.after, got, a.want)
		}
	}
	j = job(time.Hour)
	j.invalid = []jobError{{Code: "x"}}
	if got := j.at(t0.Add(time.Hour)); got.state != jobFailed {
		t.Errorf("invalid: %+v", got)
	}
}

// openaiInput uploads lines as a batch input file and starts a batch.
func openaiInput(t *testing.T, c openai.Client, lines ...string) *openai.Batch {
	t.Helper()
	f, err := c.Files.New(t.Context(), openai.FileNewParams{
		File: openai.File(strings.NewReader(strings.Join(lines, "\n")), "in.jsonl", "application/jsonl"), Purpose: openai.FilePurposeBatch,
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Batches.New(t.Context(), openai.BatchNewParams{
		CompletionWindow: "24h", Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, InputFileID: f.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func chatLine(id, model, prompt string) string {
	b, _ := json.Marshal(map[string]any{"custom_id": id, "method": "POST", "url": "/v1/chat/completions",
		"body": map[string]any{"model": model, "messages": []any{map[string]any{"role": "user", "content": prompt}}}})
	return string(b)
}

// TestOpenAIBatchValidation fails jobs whose input the real API would
// refuse before running, naming the lines.
func TestOpenAIBatchValidation(t *testing.T) {
	e := NewEmulator(Config{OpenAI: API{Batch: BatchConfig{MaxLines: 3}}})
	c := e.OpenAIClient("k")
	ok := chatLine("a", openaiModel, batch(2))
	for _, tc := range []struct {
		name  string
		lines []string
		code  string
		line  int64
	}{
		{"duplicate custom_id", []string{ok, chatLine("a", openaiModel, "x")}, "duplicate_custom_id", 2},
		{"two models", []string{ok, chatLine("b", "gpt-4o", "x")}, "mismatched_model", 2},
		{"not JSON", []string{ok, "{"}, "invalid_json_line", 2},
		{"other endpoint", []string{strings.Replace(ok, "/v1/chat/completions", "/v1/embeddings", 1)}, "invalid_url", 1},
		{"too many lines", []string{ok, chatLine("b", openaiModel, "x"), chatLine("c", openaiModel, "x"), chatLine("d", openaiModel, "x")}, "too_many_requests", 0},
	} {
		b := openaiInput(t, c, tc.lines...)
		got, err := c.Batches.Get(t.Context(), b.ID)
		if err != nil || got.Status != openai.BatchStatusFailed || len(got.Errors.Data) == 0 ||
			got.Errors.Data[0].Code != tc.code || got.Errors.Data[0].Line != tc.line || got.OutputFileID != "" {
			t.Errorf("%s: %+v %v", tc.name, got.Errors, err)
		}
	}
	b := openaiInput(t, c, ok)
	got, err := c.Batches.Get(t.Context(), b.ID)
	if err != nil || got.Status != openai.BatchStatusCompleted || got.RequestCounts.Completed != 1 || got.OutputFileID == "" || got.ErrorFileID != "" {
		t.Errorf("valid input: %+v %v", got, err)
	}
	if _, err := c.Batches.Cancel(t.Context(), b.ID); statusOf(err) != http.StatusConflict {
		t.Errorf("cancelling a completed batch: %v", err)
	}
}

func statusOf(err error) int {
	var oe *openai.Error
	var ge genai.APIError
	switch {
	case err == nil:
		return 200
	case errors.As(err, &oe):
		return oe.StatusCode
	case errors.As(err, &ge):
		return ge.Code
	}
	return -1
}

// rawBatch sends one hand-written request to a batch endpoint.
func rawBatch(t *testing.T, e *Emulator, method, url string, header http.Header, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Transport: e.Transport()}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBatchEndpointsRefuse checks what the batch endpoints refuse, as the
// real APIs would.
func TestBatchEndpointsRefuse(t *testing.T) {
	e := NewEmulator(Config{Gemini: API{Key: "g-key"}, OpenAI: API{Key: "o-key"}})
	gk := http.Header{"X-Goog-Api-Key": {"g-key"}}
	ok := http.Header{"Authorization": {"Bearer o-key"}, "Content-Type": {"application/json"}}
	const g, o = "http://gemini.emulator", "http://openai.emulator"
	for _, tc := range []struct {
		name, method, url string
		header            http.Header
		body              string
		status            int
	}{
		{"openai without a key", "GET", o + "/v1/batches/batch_x", nil, "", 401},
		{"gemini without a key", "GET", g + "/v1beta/batches/x", nil, "", 403},
		{"gemini with a wrong key", "GET", g + "/v1beta/batches/x", http.Header{"X-Goog-Api-Key": {"nope"}}, "", 400},
		{"unknown batch", "GET", o + "/v1/batches/batch_x", ok, "", 404},
		{"unknown gemini batch", "GET", g + "/v1beta/batches/x", gk, "", 404},
		{"unknown input file", "POST", o + "/v1/batches", ok, `{"input_file_id":"file-x","endpoint":"/v1/chat/completions","completion_window":"24h"}`, 404},
		{"another endpoint", "POST", o + "/v1/batches", ok, `{"input_file_id":"file-x","endpoint":"/v1/embeddings","completion_window":"24h"}`, 400},
		{"another window", "POST", o + "/v1/batches", ok, `{"input_file_id":"file-x","endpoint":"/v1/chat/completions","completion_window":"1h"}`, 400},
		{"unknown file content", "GET", o + "/v1/files/file-x/content", ok, "", 404},
		{"not multipart", "POST", o + "/v1/files", ok, "{}", 400},
		{"gemini both sources", "POST", g + "/v1beta/models/m:batchGenerateContent", gk,
			`{"batch":{"inputConfig":{"fileName":"files/x","requests":{"requests":[{"request":{}}]}}}}`, 400},
		{"gemini no source", "POST", g + "/v1beta/models/m:batchGenerateContent", gk, `{"batch":{}}`, 400},
		{"gemini unknown input file", "POST", g + "/v1beta/models/m:batchGenerateContent", gk, `{"batch":{"inputConfig":{"fileName":"files/x"}}}`, 404},
		{"gemini inline over 20 MB", "POST", g + "/v1beta/models/m:batchGenerateContent", gk, strings.Repeat(" ", 20<<20+1), 400},
		{"unknown upload", "POST", g + "/upload/v1beta/files?upload_id=x", http.Header{"X-Goog-Api-Key": {"g-key"},
			"X-Goog-Upload-Command": {"upload, finalize"}, "X-Goog-Upload-Offset": {"0"}}, "data", 404},
		{"unknown download", "GET", g + "/v1beta/files/x:download?alt=media", gk, "", 404},
		{"unknown gemini method", "GET", g + "/v1beta/batches/x:frobnicate", gk, "", 404},
	} {
		if status, body := rawBatch(t, e, tc.method, tc.url, tc.header, tc.body); status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.status)
		}
	}

	// An upload chunk at the wrong offset ends the session.
	start := http.Header{"X-Goog-Api-Key": {"g-key"}, "X-Goog-Upload-Command": {"start"}, "X-Goog-Upload-Protocol": {"resumable"}}
	if status, _ := rawBatch(t, e, "POST", g+"/upload/v1beta/files", start, `{"file":{"mimeType":"application/jsonl"}}`); status != 200 {
		t.Fatal(status)
	}
	chunk := http.Header{"X-Goog-Api-Key": {"g-key"}, "X-Goog-Upload-Command": {"upload"}, "X-Goog-Upload-Offset": {"5"}}
	if status, _ := rawBatch(t, e, "POST", g+"/upload/v1beta/files?upload_id=up0000000001", chunk, "abc"); status != 400 {
		t.Errorf("wrong offset: %d", status)
	}
	if c := e.BatchCounters(); c.Gemini.Requests != 12 || c.OpenAI.Requests != 7 || c.Gemini.Jobs+c.OpenAI.Jobs != 0 {
		t.Errorf("counters %+v", c)
	}
	if c := e.Counters(); c.Gemini.Requests+c.OpenAI.Requests != 0 {
		t.Errorf("batch calls counted as synchronous ones: %+v", c)
	}
}

// TestGeminiBatchWire reads a Gemini job's reply as JSON: the operation
// genai reads, batch statistics as int64 strings, states by their API
// names, inlined responses echoing the request's metadata.
func TestGeminiBatchWire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := NewEmulator(Config{Gemini: API{Batch: BatchConfig{Latency: time.Hour, FailRate: 0.5}}})
		var reqs []string
		for i := range 4 {
			reqs = append(reqs, fmt.Sprintf(`{"request":{"contents":[{"parts":[{"text":%q}]}]},"metadata":{"key":"k%d","note":"n"}}`, batch(2), i))
		}
		status, body := rawBatch(t, e, "POST", "http://gemini.emulator/v1beta/models/"+geminiModel+":batchGenerateContent", nil,
			`{"batch":{"displayName":"d","inputConfig":{"requests":{"requests":[`+strings.Join(reqs, ",")+`]}}}}`)
		var op struct {
			Name     string
			Metadata map[string]any
		}
		if status != 200 || json.Unmarshal([]byte(body), &op) != nil || !strings.HasPrefix(op.Name, "batches/") ||
			op.Metadata["state"] != "BATCH_STATE_PENDING" || op.Metadata["model"] != "models/"+geminiModel {
			t.Fatalf("create: %d %s", status, body)
		}
		time.Sleep(time.Hour)
		_, body = rawBatch(t, e, "GET", "http://gemini.emulator/v1beta/"+op.Name, nil, "")
		var got struct {
			Done     bool
			Metadata struct {
				State      string
				BatchStats map[string]string
				Output     struct {
					InlinedResponses struct {
						InlinedResponses []struct {
							Response *json.RawMessage
							Error    *struct{ Code int }
							Metadata map[string]string
						}
					}
				}
			}
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		m := got.Metadata
		inl := m.Output.InlinedResponses.InlinedResponses
		if !got.Done || m.BatchStats["requestCount"] != "4" || m.BatchStats["pendingRequestCount"] != "0" || len(inl) != 4 {
			t.Fatalf("done: %s", body)
		}
		failed := 0
		for i, r := range inl {
			if r.Metadata["key"] != fmt.Sprintf("k%d", i) || r.Metadata["note"] != "n" || (r.Response == nil) == (r.Error == nil) {
				t.Errorf("inlined response %d: %+v", i, r)
			}
			if r.Error != nil {
				failed++
			}
		}
		// The seed fails some of the four; a job with none failed is
		// BATCH_STATE_SUCCEEDED, as the e2e tests' jobs are.
		const wantState = "JOB_STATE_PARTIALLY_SUCCEEDED"
		if failed == 0 || failed == 4 {
			t.Fatalf("%d of 4 failed: the test needs some of each", failed)
		}
		if m.State != wantState || m.BatchStats["failedRequestCount"] != fmt.Sprint(failed) {
			t.Errorf("state %s, stats %v with %d failed", m.State, m.BatchStats, failed)
		}
		// genai reads the same reply.
		gc, err := e.GeminiClient(t.Context(), "k")
		if err != nil {
			t.Fatal(err)
		}
		job, err := gc.Batches.Get(t.Context(), op.Name, nil)
		if err != nil || job.State != genai.JobState(wantState) || job.Dest == nil || len(job.Dest.InlinedResponses) != 4 ||
			job.Dest.InlinedResponses[0].Metadata["key"] != "k0" {
			t.Errorf("genai: %+v %v", job, err)
		}
		if err := gc.Batches.Cancel(t.Context(), op.Name, nil); statusOf(err) != 400 {
			t.Errorf("cancelling an ended job: %v", err)
		}
	})
}

// TestGeminiUploadChunks uploads a file larger than genai's 8 MB chunk
// and reads it back.
func TestGeminiUploadChunks(t *testing.T) {
	e := NewEmulator(Config{})
	gc, err := e.GeminiClient(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MB: two chunks and a last empty one
	data = append(data, "tail"...)
	f, err := gc.Files.Upload(t.Context(), bytes.NewReader(data), &genai.UploadFileConfig{MIMEType: "application/jsonl", DisplayName: "big"})
	if err != nil || f.SizeBytes == nil || *f.SizeBytes != int64(len(data)) || f.DisplayName != "big" || !strings.HasPrefix(f.Name, "files/") {
		t.Fatalf("%+v %v", f, err)
	}
	if c := e.BatchCounters().Gemini; c.Uploads != 1 || c.Requests != 4 {
		t.Errorf("counters %+v", c)
	}
	got, err := gc.Files.Download(t.Context(), &genai.File{DownloadURI: f.Name}, nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("download: %d bytes, %v", len(got), err)
	}
}

// TestBatchJobScheduleLarge checks the schedule of a job whose size times
// its duration overflows 64 bits.
func TestBatchJobScheduleLarge(t *testing.T) {
	t0 := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	j := &batchJob{created: t0, latency: 100 * time.Hour, window: 200 * time.Hour, lines: make([]batchLine, 1_000_000)}
	j.order = make([]int, len(j.lines))
	if s := j.at(t0.Add(75 * time.Hour)); s.done != 750_000 || s.state != jobRunning {
		t.Errorf("%+v", s)
	}
}
