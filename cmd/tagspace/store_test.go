package main

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// realEnv points the command at an emulator the test owns, through the
// SDKs' base URL variables, with keys set: to the command that is a real
// run. Only the providers with a key in keys take part.
func realEnv(t *testing.T, keys map[string]string) (map[string]string, *llmtest.Emulator) {
	t.Helper()
	return realEnvWith(t, llmtest.NewEmulator(llmtest.Config{Gemini: llmtest.API{Key: "gk"}, OpenAI: llmtest.API{Key: "ok"}}), keys)
}

func realEnvWith(t *testing.T, emu *llmtest.Emulator, keys map[string]string) (map[string]string, *llmtest.Emulator) {
	t.Helper()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	env := map[string]string{"GOOGLE_GEMINI_BASE_URL": srv.URL + "/", "OPENAI_BASE_URL": srv.URL + "/v1/"}
	for k, v := range keys {
		env[k] = v
	}
	return env, emu
}

func countCached(t *testing.T, out string) int {
	t.Helper()
	n := 0
	for _, res := range readResults(t, out) {
		if res["error"] != nil {
			t.Fatalf("%v failed: %v", res["id"], res["error"])
		}
		if res["cached"] == true {
			n++
		}
	}
	return n
}

// TestEmulatorResultsNeverServedToRealRuns runs the demo on the built-in
// emulator, then with API keys on the same store: the real run must tag
// every item itself. A second real run is served from the store, and the
// emulator still gets its own results.
func TestEmulatorResultsNeverServedToRealRuns(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems, smallTags)
	store, out := filepath.Join(dir, "results.db"), filepath.Join(dir, "out.jsonl")
	args := []string{"-in", items, "-tags", tags, "-cache-file", store, "-out", out}

	if r := runCLI(t, nil, nil, args...); r.code != exitOK || r.emulator == nil {
		t.Fatalf("emulated run: exit %d\n%s", r.code, r.stderr)
	}
	env, emu := realEnv(t, map[string]string{"GEMINI_API_KEY": "gk"})
	r := runCLI(t, env, nil, args...)
	if r.code != exitOK || r.emulator != nil {
		t.Fatalf("real run: exit %d\n%s", r.code, r.stderr)
	}
	if n := countCached(t, out); n != 0 {
		t.Errorf("real run served %d emulator results", n)
	}
	if c := emu.Counters(); c.Gemini.Successes != 3 {
		t.Errorf("real run made %d calls, want 3", c.Gemini.Successes)
	}
	if !strings.Contains(r.stderr, "other model or emulator") {
		t.Errorf("summary doesn't say why the store wasn't used:\n%s", r.stderr)
	}
	if r := runCLI(t, env, nil, args...); r.code != exitOK || countCached(t, out) != len(smallItems) {
		t.Errorf("second real run: exit %d, %d cached\n%s", r.code, countCached(t, out), r.stderr)
	} else if !strings.Contains(r.stderr, "from gemini/"+llmlimit.DefaultGeminiModel) {
		t.Errorf("summary doesn't name the origin:\n%s", r.stderr)
	}
	if r := runCLI(t, nil, nil, args...); r.code != exitOK || countCached(t, out) != len(smallItems) {
		t.Errorf("emulated run again: exit %d, %d cached\n%s", r.code, countCached(t, out), r.stderr)
	}
}

// TestModelChangeIsACacheMiss tags with one Gemini model, then asks for
// another: nothing is served, unless -reuse-cache-from-any-model.
func TestModelChangeIsACacheMiss(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems, smallTags)
	store, out := filepath.Join(dir, "results.db"), filepath.Join(dir, "out.jsonl")
	args := []string{"-in", items, "-tags", tags, "-cache-file", store, "-out", out}
	env, emu := realEnv(t, map[string]string{"GEMINI_API_KEY": "gk"})

	for i, tt := range []struct {
		flags      []string
		wantCached int
		wantCalls  int
	}{
		{[]string{"-gemini-model", "gemini-2.5-flash"}, 0, 3},
		{[]string{"-gemini-model", "gemini-2.5-flash"}, 12, 0},
		{[]string{"-gemini-model", "gemini-2.5-pro"}, 0, 3},
		{[]string{"-gemini-model", "gemini-9-new"}, 0, 3},
		{[]string{"-gemini-model", "gemini-9-new", "-reuse-cache-from-any-model"}, 12, 0},
	} {
		before := emu.Counters().Gemini.Successes
		r := runCLI(t, env, nil, append(args, tt.flags...)...)
		if r.code != exitOK {
			t.Fatalf("run %d: exit %d\n%s", i, r.code, r.stderr)
		}
		calls := emu.Counters().Gemini.Successes - before
		if got := countCached(t, out); got != tt.wantCached || calls != tt.wantCalls {
			t.Errorf("run %d %v: %d cached, %d calls; want %d, %d", i, tt.flags, got, calls, tt.wantCached, tt.wantCalls)
		}
	}
}

// TestStoreKeepsLargeSpaces runs 1,000 items, then 2,000 (the first 1,000
// and 1,000 more), with the default in-memory cache of 1,000 entries: the
// second run tags only the new ones, and a third run tags nothing.
func TestStoreKeepsLargeSpaces(t *testing.T) {
	dir := t.TempDir()
	var all []llmlimit.Item
	for i := range 2000 {
		all = append(all, llmlimit.Item{ID: fmt.Sprint("i-", i), Text: fmt.Sprintf("Item %d is about vaccination and cancer screening.", i)})
	}
	store, out := filepath.Join(dir, "results.db"), filepath.Join(dir, "out.jsonl")
	for i, tt := range []struct{ items, wantCached int }{{1000, 0}, {2000, 1000}, {2000, 2000}} {
		items, tags := writeSpace(t, dir, all[:tt.items], smallTags)
		r := runCLI(t, nil, map[string]string{"TAG_SPACE_BATCH_SIZE": "50", "TAG_SPACE_COOLDOWN_AFTER_SUCCESSES": "0"},
			"-in", items, "-tags", tags, "-cache-file", store, "-out", out)
		if r.code != exitOK {
			t.Fatalf("run %d: exit %d\n%s", i, r.code, r.stderr)
		}
		if got := countCached(t, out); got != tt.wantCached {
			t.Errorf("run %d of %d items: %d cached, want %d", i, tt.items, got, tt.wantCached)
		}
	}
}
