package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/llmlimit/llmlimit/llmtest"
)

// TestOutputsNeverClobber gives the command outputs that would destroy a
// file: each is refused with exit 2 before any call, and every file is
// left as it was.
func TestOutputsNeverClobber(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems, smallTags)
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	results := `{"id":"s-01","tags":["vaccination"],"provider":"gemini","cached":false}` + "\n"
	prevOut := write("prev.jsonl", results, 0o600)
	readOnly := write("readonly.jsonl", results, 0o444)
	decoy := write("passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o644)
	linkToDecoy := filepath.Join(dir, "cache-link.db")
	if err := os.Symlink(decoy, linkToDecoy); err != nil {
		t.Fatal(err)
	}
	outLink := filepath.Join(dir, "out-link.jsonl")
	if err := os.Symlink(prevOut, outLink); err != nil {
		t.Fatal(err)
	}
	hardLink := filepath.Join(dir, "items-again.jsonl")
	if err := os.Link(items, hardLink); err != nil {
		t.Fatal(err)
	}
	notResults := write("notes.txt", "my notes, not results\n", 0o600)
	notReport := write("report.json", `{"something":"else"}`, 0o600)
	fresh := filepath.Join(dir, "fresh.jsonl")

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"cache file is a symlink", []string{"-cache-file", linkToDecoy}, "-cache-file " + linkToDecoy + " is a symlink"},
		{"out is a symlink", []string{"-out", outLink}, "-out " + outLink + " is a symlink"},
		{"out is in", []string{"-out", items}, "-out " + items + " is the same file as -in"},
		{"out is a hard link of in", []string{"-out", hardLink}, "is the same file as -in"},
		{"out is tags", []string{"-out", tags}, "is the same file as -tags"},
		{"out is report", []string{"-out", fresh, "-report", dir + "/./fresh.jsonl"}, "-report " + dir + "/./fresh.jsonl is the same file as -out"},
		{"cache file is in", []string{"-cache-file", items}, "-cache-file " + items + " is the same file as -in"},
		{"cache file is out", []string{"-out", fresh, "-cache-file", fresh}, "is the same file as -out"},
		{"read-only out", []string{"-out", readOnly}, "-out " + readOnly + " is read-only"},
		{"out holds something else", []string{"-out", notResults}, "-out " + notResults + " exists and is not a results file"},
		{"report holds something else", []string{"-report", notReport}, "-report " + notReport + " exists and is not a report"},
		{"previous results as cache file", []string{"-cache-file", prevOut}, "not a result store"},
	}
	snapshot := func() map[string]string {
		m := map[string]string{}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			m[e.Name()] = string(b)
		}
		return m
	}
	before := snapshot()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gURL, gHits := tripwire(t)
			env := map[string]string{"GEMINI_API_KEY": "g", "GOOGLE_GEMINI_BASE_URL": gURL}
			r := runCLI(t, env, nil, append([]string{"-in", items, "-tags", tags}, tt.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, want %d with %q; stderr:\n%s", r.code, exitUsage, tt.want, r.stderr)
			}
			if gHits.Load() != 0 {
				t.Errorf("%d calls made", gHits.Load())
			}
			after := snapshot()
			for name, content := range before {
				if after[name] != content {
					t.Errorf("%s changed", name)
				}
			}
			if len(after) != len(before) {
				t.Errorf("files appeared: %d, were %d", len(after), len(before))
			}
		})
	}

	// With -follow-symlinks, a symlinked -out is written through.
	r := runCLI(t, nil, nil, "-in", items, "-tags", tags, "-no-cache", "-out", outLink, "-follow-symlinks")
	if fi, err := os.Lstat(outLink); r.code != exitOK || err != nil || fi.Mode()&os.ModeSymlink == 0 || len(readResults(t, prevOut)) != len(smallItems) {
		t.Errorf("-follow-symlinks: exit %d, %v\n%s", r.code, err, r.stderr)
	}
}

// TestOutputErrorsNameTheUsersPath checks an -out that can't be written is
// reported under the name the user gave, not a temporary file's.
func TestOutputErrorsNameTheUsersPath(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems, smallTags)
	out := filepath.Join(dir, "missing", "out.jsonl")
	r := runCLI(t, nil, nil, "-in", items, "-tags", tags, "-no-cache", "-out", out)
	if r.code != exitUsage || !strings.Contains(r.stderr, "cannot write "+out+": no such file or directory") || strings.Contains(r.stderr, ".tmp") {
		t.Errorf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
}

// gate serves the first allow requests with emu and holds every later one
// until its client gives up, calling onHold once when the first is held.
func gate(t *testing.T, emu *llmtest.Emulator, allow int64, onHold func()) string {
	t.Helper()
	var n atomic.Int64
	var once sync.Once
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= allow {
			emu.ServeHTTP(w, r)
			return
		}
		// The server notices a client hanging up only once the body is
		// read.
		io.Copy(io.Discard, r.Body)
		once.Do(onHold)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv.URL
}

// TestInterruptKeepsPreviousResults interrupts a run (as Ctrl-C does)
// after two batches were answered, with a complete results file from an
// earlier run in -out: that file is left as it was, the run's results go
// to out.partial, and the command says how to resume.
func TestInterruptKeepsPreviousResults(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems, smallTags)
	out, report, store := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "report.json"), filepath.Join(dir, "results.db")
	if r := runCLI(t, nil, nil, "-in", items, "-tags", tags, "-no-cache", "-out", out, "-report", report); r.code != exitOK {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	prevOut, _ := os.ReadFile(out)
	prevReport, _ := os.ReadFile(report)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	emu := llmtest.NewEmulator(llmtest.Config{Gemini: llmtest.API{Key: "gk"}})
	url := gate(t, emu, 2, cancel)
	env := map[string]string{"GEMINI_API_KEY": "gk", "GOOGLE_GEMINI_BASE_URL": url + "/",
		"TAG_SPACE_BATCH_SIZE": "1", "TAG_SPACE_AI_CONCURRENCY": "1", "TAG_SPACE_MAX_AI_CONCURRENCY": "1"}
	r := runCLICtx(t, ctx, env, "-in", items, "-tags", tags, "-cache-file", store, "-out", out, "-report", report)
	if r.code != exitFailed {
		t.Fatalf("interrupted run: exit %d\n%s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(out); string(got) != string(prevOut) {
		t.Errorf("the complete results file was replaced:\n%s", got)
	}
	if got, _ := os.ReadFile(report); string(got) != string(prevReport) {
		t.Errorf("the report was replaced")
	}
	partial := readResults(t, out+".partial")
	if len(partial) != len(smallItems) || partial[0]["error"] != nil || partial[1]["error"] != nil {
		t.Errorf("partial results: %v", partial)
	}
	if !strings.Contains(r.stderr, out+".partial") || !strings.Contains(r.stderr, "left as it was") {
		t.Errorf("stderr doesn't say where the results went:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "9 not attempted of 12 items; run the same command again to resume: the 3 tagged are in "+store) {
		t.Errorf("stderr doesn't say how to resume:\n%s", r.stderr)
	}
	rep := readJSON(t, report+".partial")
	// Two batches answered: two texts, one of them shared by two items.
	if rep["not_attempted"] != 9.0 || rep["failed"] != 0.0 || rep["tagged"] != 3.0 {
		t.Errorf("report: tagged %v failed %v not attempted %v", rep["tagged"], rep["failed"], rep["not_attempted"])
	}
	// The rerun resumes: the three tagged come from the store.
	env2, _ := realEnv(t, map[string]string{"GEMINI_API_KEY": "gk"})
	r = runCLI(t, env2, nil, "-in", items, "-tags", tags, "-cache-file", store, "-out", out)
	if r.code != exitOK || countCached(t, out) != 3 {
		t.Fatalf("rerun: exit %d, %d cached\n%s", r.code, countCached(t, out), r.stderr)
	}
}

// runCLICtx is runCLI with a context of the test's.
func runCLICtx(t *testing.T, ctx context.Context, env map[string]string, args ...string) cliRun {
	t.Helper()
	var stdout, stderr strings.Builder
	code := run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr)
	return cliRun{code: code, stdout: stdout.String(), stderr: stderr.String()}
}
