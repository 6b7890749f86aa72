package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

func TestMain(m *testing.M) {
	// Tests that need the command as a process of its own (killed, or two
	// at once) run this test binary with TAGSPACE_TEST_MAIN=1: it is then
	// the command.
	if os.Getenv("TAGSPACE_TEST_MAIN") == "1" {
		main()
	}
	// genai links go.opencensus.io, whose package init starts a worker
	// goroutine that never ends; it is not ours to leak.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// These tests run the command in-process over real loopback (the CLI
// serves its emulator with httptest.NewServer, which can't run inside a
// synctest bubble), so they use an emulator without latency, quotas the
// small spaces stay under, and no success cooldown: nothing waits on the
// wall clock.

// cliRun is one in-process run of the command.
type cliRun struct {
	code           int
	stdout, stderr string
	emulator       *llmtest.Emulator // the CLI's own emulator, nil if none was started
}

// runCLI runs the command with env (keys and base URLs) and tagSpace
// (TAG_SPACE_* settings) as its whole environment.
func runCLI(t *testing.T, env map[string]string, tagSpace map[string]string, args ...string) cliRun {
	t.Helper()
	return runCLIWith(t, testEmulatorConfig, mergeEnv(env, tagSpace), args...)
}

func mergeEnv(a, b map[string]string) map[string]string {
	m := map[string]string{}
	maps.Copy(m, a)
	maps.Copy(m, b)
	return m
}

// runCLIWith is runCLI on an emulator of cfg.
func runCLIWith(t *testing.T, cfg func() llmtest.Config, env map[string]string, args ...string) cliRun {
	t.Helper()
	var r cliRun
	prevCfg, prevHook := emulatorConfig, onEmulator
	t.Cleanup(func() { emulatorConfig, onEmulator = prevCfg, prevHook })
	emulatorConfig = cfg
	onEmulator = func(e *llmtest.Emulator) {
		if r.emulator != nil {
			t.Error("a second emulator was started")
		}
		r.emulator = e
	}
	var stdout, stderr bytes.Buffer
	r.code = run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	return r
}

func testEmulatorConfig() llmtest.Config {
	return llmtest.Config{
		Gemini: llmtest.API{Key: emulatorGeminiKey, RequestsPerWindow: 100},
		OpenAI: llmtest.API{Key: emulatorOpenAIKey, RequestsPerWindow: 100},
		Seed:   1,
	}
}

// writeSpace writes items as JSONL and a vocabulary into dir.
func writeSpace(t *testing.T, dir string, items []llmlimit.Item, tags []string) (itemsPath, tagsPath string) {
	t.Helper()
	var b bytes.Buffer
	for _, it := range items {
		line, _ := json.Marshal(map[string]string{"id": it.ID, "text": it.Text})
		b.Write(line)
		b.WriteByte('\n')
	}
	itemsPath = filepath.Join(dir, "small.jsonl")
	tagsPath = filepath.Join(dir, "small.tags")
	if err := os.WriteFile(itemsPath, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tagsPath, []byte(strings.Join(tags, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return itemsPath, tagsPath
}

var smallTags = []string{"vaccination", "air-quality", "cancer", "screening", "tobacco", "mental-health"}

// smallItems has 12 items, two of them with the same text, so 11 distinct
// texts make 3 batches of 5.
var smallItems = []llmlimit.Item{
	{ID: "s-01", Text: "A vaccination campaign against measles starts in schools."},
	{ID: "s-02", Text: "New limits tighten air quality standards in cities."},
	{ID: "s-03", Text: "Breast cancer screening reaches remote villages."},
	{ID: "s-04", Text: "Higher taxes on tobacco cut smoking among teenagers."},
	{ID: "s-05", Text: "A helpline for mental health support extends its hours."},
	{ID: "s-06", Text: "Blood donation rules were updated."},
	{ID: "s-07", Text: "A vaccination campaign against measles starts in schools."},
	{ID: "s-08", Text: "Lung cancer screening with low-dose CT is piloted."},
	{ID: "s-09", Text: "Indoor air quality in schools is monitored with sensors."},
	{ID: "s-10", Text: "Organ donation rates differ widely across the Union."},
	{ID: "s-11", Text: "Tobacco advertising near schools is banned."},
	{ID: "s-12", Text: "Mental health services for children have long waiting lists."},
}

// readResults parses a results JSONL file.
func readResults(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("results line %d: %v: %q", i+1, err, line)
		}
		out = append(out, m)
	}
	return out
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// tripwire is a server that counts requests and fails them: real-provider
// base URLs point at it to prove no call reached them.
func tripwire(t *testing.T) (url string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "tripwire", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, hits
}

func tagsOf(v any) []string {
	var tags []string
	for _, t := range v.([]any) {
		tags = append(tags, t.(string))
	}
	return tags
}
