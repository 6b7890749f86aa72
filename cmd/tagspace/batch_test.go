package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit/llmtest"
)

// TestBatchMode runs a small space with -mode batch on the emulator, its
// jobs shortened: the job time is announced, the summary says which mode
// and why and compares the cost with sync, and the report has the batch
// figures.
func TestBatchMode(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems, smallTags)
	out, report := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "report.json")
	prev := testEmulatorConfig
	cfg := func() llmtest.Config {
		c := prev()
		c.Gemini.Batch.Latency, c.OpenAI.Batch.Latency = 200*time.Millisecond, 200*time.Millisecond
		return c
	}
	r := runCLIWith(t, cfg, map[string]string{"TAG_SPACE_MODE": "batch"}, "-in", items, "-tags", tags, "-out", out, "-report", report, "-no-cache")
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"emulated batch jobs take 200ms", "batch job completed: 3/3 requests answered",
		"mode                  batch (batch mode asked for)", "batch jobs            1: 12 items tagged from them, 0 synchronously",
		"the same in sync mode", "50% saved", "batch requests"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if c := r.emulator.Counters(); c.Gemini.Requests+c.OpenAI.Requests != 0 {
		t.Errorf("sync requests sent: %+v", c)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep["mode"] != "batch" || rep["batch_jobs"] != 1.0 || rep["batch_items"] != 12.0 || rep["batch_cost_usd"].(float64) <= 0 ||
		rep["mode_reason"] != "batch mode asked for" {
		t.Errorf("report: %s", data)
	}
	if len(readResults(t, out)) != len(smallItems) {
		t.Errorf("results: %s", out)
	}
}

// TestAutoMode lets auto mode pick: batch above the threshold, said in
// the summary; sync below it, with no batch figures.
func TestAutoMode(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems, smallTags)
	for _, c := range []struct{ threshold, want string }{
		{"2", "mode                  batch (auto: 3 calls, above the batch threshold of 2)"},
		{"3", "mode                  sync (auto: 3 calls, within the batch threshold, and no deadline)"},
	} {
		r := runCLI(t, nil, nil, "-in", items, "-tags", tags, "-out", filepath.Join(dir, "out.jsonl"), "-no-cache",
			"-mode", "auto", "-batch-threshold", c.threshold)
		if r.code != exitOK || !strings.Contains(r.stderr, c.want) {
			t.Errorf("threshold %s: exit %d, want %q in:\n%s", c.threshold, r.code, c.want, r.stderr)
		}
		if batch := strings.Contains(r.stderr, "batch jobs  "); batch != strings.Contains(c.want, "batch (") {
			t.Errorf("threshold %s: batch figures shown: %v", c.threshold, batch)
		}
	}
	r := runCLI(t, nil, nil, "-in", items, "-tags", tags, "-mode", "fast")
	if r.code != exitUsage || !strings.Contains(r.stderr, "-mode=") {
		t.Errorf("-mode fast: exit %d:\n%s", r.code, r.stderr)
	}
}
