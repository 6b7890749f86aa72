package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// command returns the command as a process of its own: this test binary,
// which TestMain turns into the command, with env as its whole environment.
func command(t *testing.T, env map[string]string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{"TAGSPACE_TEST_MAIN=1", "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	return cmd, &stderr
}

func manyItems(prefix string, n int) []llmlimit.Item {
	items := make([]llmlimit.Item, n)
	for i := range items {
		items[i] = llmlimit.Item{ID: fmt.Sprintf("%s-%d", prefix, i), Text: fmt.Sprintf("%s item %d: cancer screening and vaccination.", prefix, i)}
	}
	return items
}

// TestTwoProcessesShareAStore runs two processes at once on one store,
// each tagging its own 500 items: no result is lost, and a third run of
// both spaces is served entirely from the store. (Real processes against a
// loopback emulator: the bounds are generous, nothing is timed.)
func TestTwoProcessesShareAStore(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "results.db")
	emu := llmtest.NewEmulator(llmtest.Config{Gemini: llmtest.API{Key: "gk",
		Latency: func(*rand.Rand) time.Duration { return 20 * time.Millisecond }}})
	env, _ := realEnvWith(t, emu, map[string]string{"GEMINI_API_KEY": "gk", "TAG_SPACE_COOLDOWN_AFTER_SUCCESSES": "0"})
	var cmds []*exec.Cmd
	var errs []*bytes.Buffer
	var spaces [][2]string
	for _, name := range []string{"a", "b"} {
		sub := filepath.Join(dir, name)
		os.Mkdir(sub, 0o700)
		items, tags := writeSpace(t, sub, manyItems(name, 500), smallTags)
		spaces = append(spaces, [2]string{items, tags})
		cmd, stderr := command(t, env, "-in", items, "-tags", tags, "-cache-file", store, "-out", filepath.Join(sub, "out.jsonl"))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, errs = append(cmds, cmd), append(errs, stderr)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, errs[i])
		}
	}
	s, err := llmlimit.OpenStore(store)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Len(); err != nil || n != 1000 {
		t.Fatalf("store holds %d results, want 1000 (%v)", n, err)
	}
	before := emu.Counters().Gemini.Requests
	for _, sp := range spaces {
		out := filepath.Join(dir, "again.jsonl")
		if r := runCLI(t, env, nil, "-in", sp[0], "-tags", sp[1], "-cache-file", store, "-out", out); r.code != exitOK || countCached(t, out) != 500 {
			t.Errorf("third run: exit %d, %d cached\n%s", r.code, countCached(t, out), r.stderr)
		}
	}
	if n := emu.Counters().Gemini.Requests - before; n != 0 {
		t.Errorf("third run made %d calls", n)
	}
}

// TestKilledRunResumes kills a run with SIGKILL once four batches were
// answered and their results reached the store, while the next batches
// hang: a rerun is served those 20 results from the store and tags only
// the rest.
func TestKilledRunResumes(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "results.db")
	items, tags := writeSpace(t, dir, manyItems("k", 60), smallTags)
	held := make(chan struct{})
	emu := llmtest.NewEmulator(llmtest.Config{Gemini: llmtest.API{Key: "gk"}})
	url := gate(t, emu, 4, func() { close(held) })
	env := map[string]string{"GEMINI_API_KEY": "gk", "GOOGLE_GEMINI_BASE_URL": url + "/"}
	cmd, stderr := command(t, env, "-in", items, "-tags", tags, "-cache-file", store, "-out", filepath.Join(dir, "out.jsonl"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	select {
	case <-held:
	case <-time.After(time.Minute):
		t.Fatalf("the run never sent a fifth batch\n%s", stderr)
	}
	// The four answered batches reach the store within the writer's
	// interval; wait for them, generously, then kill.
	s, err := llmlimit.OpenStore(store)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for n, _ := s.Len(); n < 20; n, _ = s.Len() {
		if time.Now().After(deadline) {
			t.Fatalf("the store holds %d results 30 s after four batches were answered", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	env2, emu2 := realEnv(t, map[string]string{"GEMINI_API_KEY": "gk"})
	out := filepath.Join(dir, "out.jsonl")
	r := runCLI(t, env2, nil, "-in", items, "-tags", tags, "-cache-file", store, "-out", out)
	if r.code != exitOK || countCached(t, out) != 20 {
		t.Fatalf("rerun: exit %d, %d cached, want 20\n%s", r.code, countCached(t, out), r.stderr)
	}
	if n := emu2.Counters().Gemini.Successes; n != 8 {
		t.Errorf("rerun made %d calls, want 8 for the 40 items left", n)
	}
}
