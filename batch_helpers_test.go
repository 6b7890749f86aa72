package llmlimit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/internal/prompt"
)

var batchTopics = []string{"air quality in the city", "hospital waiting times", "school meals", "noise at night",
	"bus lanes and transport", "housing costs", "heat pumps and energy bills", "river water quality"}

// batchOf makes n TagSpace-style requests of five items each, under ids
// "req-0" to "req-<n-1>", every prompt different.
func batchOf(n int) []llmlimit.BatchRequest {
	reqs := make([]llmlimit.BatchRequest, n)
	for i := range reqs {
		items := make([]prompt.Item, 5)
		for k := range items {
			items[k] = prompt.Item{ID: fmt.Sprintf("%d-%d", i, k), Text: fmt.Sprintf("Report %d on %s", i*5+k, batchTopics[(i+k)%len(batchTopics)])}
		}
		reqs[i] = llmlimit.BatchRequest{ID: fmt.Sprintf("req-%d", i), Request: batchRequest(items, e2eVocab)}
	}
	return reqs
}

func idsOf(reqs []llmlimit.BatchRequest) []string {
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		ids[i] = r.ID
	}
	return ids
}

func (x e2e) batcher(name string) llmlimit.Batcher {
	return x.provider(name).(llmlimit.Batcher)
}

// pollDelays is TagSpace's cadence: 30 s, growing by half, to 5 minutes.
func pollDelay(i int) time.Duration {
	d := 30 * time.Second
	for range i {
		d = d * 3 / 2
		if d >= 5*time.Minute {
			return 5 * time.Minute
		}
	}
	return d
}

// pollUntilFinal polls b at the cadence until the job ends and returns
// every status seen, the last one final.
func pollUntilFinal(t *testing.T, ctx context.Context, b llmlimit.Batcher, handle string) []llmlimit.BatchStatus {
	t.Helper()
	var seen []llmlimit.BatchStatus
	start := time.Now()
	for i := 0; ; i++ {
		st, err := b.PollBatch(ctx, handle)
		if err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		seen = append(seen, st)
		if st.State.Final() {
			return seen
		}
		if time.Since(start) > 60*time.Hour {
			t.Fatalf("job still %v after %d polls", st.State, i)
		}
		select {
		case <-time.After(pollDelay(i)):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}

// resultKind is what a BatchResult says: "ok", or the error's kind, with
// "not-run" for a request the job never ran.
func resultKind(r llmlimit.BatchResult) string {
	switch {
	case r.Err == nil && r.Response != nil:
		return "ok"
	case errors.Is(r.Err, llmlimit.ErrBatchNotRun):
		return "not-run"
	case r.Err != nil:
		return llmlimit.KindOf(r.Err).String()
	}
	return "empty"
}

// jobNames reads the provider job names out of a handle, which tests may
// know the format of.
func jobNames(t *testing.T, h string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(h, ":v1:")
	if !ok {
		t.Fatalf("handle %q", h)
	}
	var names []string
	for _, p := range strings.Split(rest, ",") {
		names = append(names, p[:strings.LastIndexByte(p, '=')])
	}
	return names
}

// resultOrder reads the keys of a finished job's results in the order the
// emulator wrote them, through the SDKs, as a check on the emulator.
func resultOrder(t *testing.T, x e2e, c batchCase, h string) []string {
	t.Helper()
	ctx := t.Context()
	var keys []string
	for _, name := range jobNames(t, h) {
		if c.api == "openai" {
			oc := x.emu.OpenAIClient(e2eOpenAIKey)
			b, err := oc.Batches.Get(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{b.OutputFileID, b.ErrorFileID} {
				if id == "" {
					continue
				}
				resp, err := oc.Files.Content(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				keys = append(keys, lineKeys(t, data, "custom_id")...)
			}
			continue
		}
		gc, err := x.emu.GeminiClient(ctx, e2eGeminiKey)
		if err != nil {
			t.Fatal(err)
		}
		job, err := gc.Batches.Get(ctx, name, nil)
		if err != nil || job.Dest == nil {
			t.Fatalf("%+v %v", job, err)
		}
		for _, r := range job.Dest.InlinedResponses {
			keys = append(keys, r.Metadata["key"])
		}
		if job.Dest.FileName != "" {
			data, err := gc.Files.Download(ctx, &genai.File{DownloadURI: job.Dest.FileName}, nil)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, lineKeys(t, data, "key")...)
		}
	}
	return keys
}

func lineKeys(t *testing.T, data []byte, field string) []string {
	t.Helper()
	var keys []string
	for line := range bytes.Lines(data) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("result line %q: %v", line, err)
		}
		k, _ := m[field].(string)
		keys = append(keys, k)
	}
	return keys
}

// isInputOrder reports whether the keys follow the requests' order.
func isInputOrder(keys []string, reqs []llmlimit.BatchRequest) bool {
	for i, r := range reqs {
		if i >= len(keys) || keys[i] != llmlimit.BatchKey(r.ID) {
			return false
		}
	}
	return true
}

var batchAPIs = []string{"gemini", "openai"}
