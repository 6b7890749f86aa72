package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

func TestHelp(t *testing.T) {
	r := runCLI(t, nil, nil, "-h")
	if r.code != exitOK || !strings.Contains(r.stderr, "usage: tagspace") || !strings.Contains(r.stderr, "TAG_SPACE_BATCH_SIZE") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// TestEmulatedRunAndCache runs a small space against the built-in emulator
// with -out and -report, checks the results line by line against the
// emulator's tagger and the report against the emulator's own counters,
// then runs again and checks the second run is served from the cache file.
func TestEmulatedRunAndCache(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems, smallTags)
	out, report, cache := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "report.json"), filepath.Join(dir, "c", "small.cache")
	args := []string{"-in", items, "-tags", tags, "-out", out, "-report", report, "-cache-file", cache}

	for run, wantCached := range []bool{false, true} {
		r := runCLI(t, nil, nil, args...)
		if r.code != exitOK {
			t.Fatalf("run %d: exit %d; stderr:\n%s", run, r.code, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("run %d: stdout %q, want results in -out only", run, r.stdout)
		}
		if r.emulator == nil || !strings.Contains(r.stderr, "no API key set") {
			t.Fatalf("run %d: emulator not started or not announced; stderr:\n%s", run, r.stderr)
		}
		for _, want := range []string{"space", "operations", "primary success rate", "fallback rate", "cache hit rate",
			"avg s/op", "cost/100 ops", "elapsed", "provider", "429s", "cooldowns: successes"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("run %d: summary lacks %q:\n%s", run, want, r.stderr)
			}
		}

		results := readResults(t, out)
		if len(results) != len(smallItems) {
			t.Fatalf("run %d: %d results, want %d", run, len(results), len(smallItems))
		}
		for i, res := range results {
			it := smallItems[i]
			if res["id"] != it.ID {
				t.Fatalf("run %d: result %d is %v, want %s: not in input order", run, i, res["id"], it.ID)
			}
			if res["error"] != nil {
				t.Fatalf("run %d: %s failed: %v", run, it.ID, res["error"])
			}
			got, want := strings.Join(tagsOf(res["tags"]), ","), strings.Join(llmtest.Tags(it.Text, smallTags), ",")
			if got != want {
				t.Errorf("run %d: %s tags %s, want the emulator's %s", run, it.ID, got, want)
			}
			if res["cached"] != wantCached {
				t.Errorf("run %d: %s cached = %v, want %v", run, it.ID, res["cached"], wantCached)
			}
			if p := res["provider"]; wantCached && p != "" || !wantCached && p != "gemini" && p != "openai" {
				t.Errorf("run %d: %s provider %q", run, it.ID, p)
			}
		}

		rep := readJSON(t, report)
		for _, key := range []string{"space", "items", "tagged", "failed", "cached", "operations",
			"primary_success_rate", "fallback_rate", "cache_hit_rate", "avg_op_seconds", "cost_usd",
			"cost_per_100_ops_usd", "elapsed_seconds", "held_seconds", "cooldowns", "providers"} {
			if _, ok := rep[key]; !ok {
				t.Errorf("run %d: report lacks %q", run, key)
			}
		}
		num := func(k string) float64 { return rep[k].(float64) }
		if rep["space"] != "small" || num("items") != 12 || num("tagged") != 12 || num("failed") != 0 {
			t.Errorf("run %d: report space %v items %v tagged %v failed %v", run, rep["space"], rep["items"], rep["tagged"], rep["failed"])
		}
		c := r.emulator.Counters()
		providers := rep["providers"].(map[string]any)
		served := 0.0
		for name, api := range map[string]llmtest.APICounters{"gemini": c.Gemini, "openai": c.OpenAI} {
			p, ok := providers[name].(map[string]any)
			if !ok {
				t.Fatalf("run %d: report has no provider %q: %v", run, name, providers)
			}
			for _, key := range []string{"calls", "successes", "rate_limited", "retries", "errors", "input_tokens", "output_tokens", "cost_usd"} {
				if _, ok := p[key]; !ok {
					t.Errorf("run %d: providers.%s lacks %q", run, name, key)
				}
			}
			if p["calls"] != float64(api.Requests) || p["rate_limited"] != float64(api.RateLimited) || p["successes"] != float64(api.Successes) {
				t.Errorf("run %d: %s report calls/429s/successes %v/%v/%v, emulator counted %d/%d/%d", run, name,
					p["calls"], p["rate_limited"], p["successes"], api.Requests, api.RateLimited, api.Successes)
			}
			served += p["successes"].(float64)
		}
		if wantCached {
			if c.Gemini.Requests+c.OpenAI.Requests != 0 || num("cached") != 12 || num("cache_hit_rate") != 1 || num("operations") != 0 {
				t.Errorf("second run: %d+%d calls, cached %v, hit rate %v, operations %v; want 0 calls, all cached",
					c.Gemini.Requests, c.OpenAI.Requests, rep["cached"], rep["cache_hit_rate"], rep["operations"])
			}
		} else {
			// 11 distinct texts in batches of 5: three operations, all
			// within Gemini's quota.
			if num("operations") != 3 || served != 3 || num("cached") != 0 || num("primary_success_rate") != 1 {
				t.Errorf("first run: operations %v, served %v, cached %v, primary rate %v; want 3, 3, 0, 1",
					rep["operations"], served, rep["cached"], rep["primary_success_rate"])
			}
			if _, err := os.Stat(cache); err != nil {
				t.Fatalf("cache file not written: %v", err)
			}
		}
	}
}

// TestResultsOnStdout checks results go to stdout without -out, and that
// -no-cache leaves no cache file behind.
func TestResultsOnStdout(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems[:3], smallTags)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg"))
	t.Setenv("HOME", filepath.Join(dir, "home"))
	r := runCLI(t, nil, nil, "-in", items, "-tags", tags, "-no-cache")
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], `{"id":"s-01","tags":["vaccination"],"provider":"gemini","cached":false}`) {
		t.Fatalf("stdout:\n%s", r.stdout)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, "*", "*", "llmlimit")); len(entries) > 0 {
		t.Errorf("-no-cache wrote %v", entries)
	}
}

// TestEmulateOverridesKeys checks -emulate uses the built-in emulator even
// with keys set, and that no request reaches the real base URLs.
func TestEmulateOverridesKeys(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems, smallTags)
	gURL, gHits := tripwire(t)
	oURL, oHits := tripwire(t)
	env := map[string]string{"GEMINI_API_KEY": "g", "OPENAI_API_KEY": "o", "GOOGLE_GEMINI_BASE_URL": gURL, "OPENAI_BASE_URL": oURL}
	r := runCLI(t, env, nil, "-in", items, "-tags", tags, "-no-cache", "-emulate")
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if r.emulator == nil || !strings.Contains(r.stderr, "-emulate: using the built-in emulator") {
		t.Fatalf("emulator not used or not announced:\n%s", r.stderr)
	}
	if c := r.emulator.Counters(); c.Gemini.Requests == 0 {
		t.Errorf("emulator saw no Gemini request: %+v", c)
	}
	if gHits.Load()+oHits.Load() != 0 {
		t.Errorf("%d+%d requests reached the real base URLs", gHits.Load(), oHits.Load())
	}
}

// TestRealProviders checks keys select real providers and the SDKs' base
// URL variables are honoured: the base URLs point at an emulator the test
// owns, which must see every call under the key it was given.
func TestRealProviders(t *testing.T) {
	tests := []struct {
		name                   string
		env                    map[string]string
		wantGemini, wantOpenAI bool
	}{
		{"both", map[string]string{"GEMINI_API_KEY": "gk", "OPENAI_API_KEY": "ok"}, true, true},
		{"google key", map[string]string{"GOOGLE_API_KEY": "gk"}, true, false},
		{"gemini wins over google", map[string]string{"GEMINI_API_KEY": "gk", "GOOGLE_API_KEY": "wrong"}, true, false},
		{"openai only", map[string]string{"OPENAI_API_KEY": "ok"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			items, tags := writeSpace(t, dir, smallItems, smallTags)
			emu := llmtest.NewEmulator(llmtest.Config{Gemini: llmtest.API{Key: "gk"}, OpenAI: llmtest.API{Key: "ok"}})
			srv := httptest.NewServer(emu)
			defer srv.Close()
			tt.env["GOOGLE_GEMINI_BASE_URL"] = srv.URL + "/"
			tt.env["OPENAI_BASE_URL"] = srv.URL + "/v1/"
			report := filepath.Join(dir, "report.json")
			r := runCLI(t, tt.env, nil, "-in", items, "-tags", tags, "-no-cache", "-out", filepath.Join(dir, "out.jsonl"), "-report", report)
			if r.code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
			}
			if r.emulator != nil || strings.Contains(r.stderr, "using the built-in emulator") {
				t.Fatalf("built-in emulator used despite keys:\n%s", r.stderr)
			}
			c := emu.Counters()
			if c.Gemini.Unauthorized+c.OpenAI.Unauthorized != 0 {
				t.Errorf("requests with the wrong key: %+v", c)
			}
			// Gemini is primary whenever it has a key; OpenAI serves only
			// as the sole provider, since nothing here fails.
			if want := 3 * b2i(tt.wantGemini); c.Gemini.Successes != want {
				t.Errorf("gemini served %d calls, want %d", c.Gemini.Successes, want)
			}
			if want := 3 * b2i(tt.wantOpenAI && !tt.wantGemini); c.OpenAI.Successes != want {
				t.Errorf("openai served %d calls, want %d", c.OpenAI.Successes, want)
			}
			providers := readJSON(t, report)["providers"].(map[string]any)
			if _, ok := providers["gemini"]; ok != tt.wantGemini {
				t.Errorf("report providers %v", providers)
			}
			if _, ok := providers["openai"]; ok != tt.wantOpenAI {
				t.Errorf("report providers %v", providers)
			}
		})
	}
}

// TestSomeItemsFail checks exit 1 when some items fail, with each failure
// on its own line in input order and the rest tagged.
func TestSomeItemsFail(t *testing.T) {
	dir := t.TempDir()
	items := append([]llmlimit.Item{}, smallItems[:4]...)
	items[2].Text = "" // the library fails empty texts without a call
	itemsPath, tags := writeSpace(t, dir, items, smallTags)
	out := filepath.Join(dir, "out.jsonl")
	r := runCLI(t, nil, nil, "-in", itemsPath, "-tags", tags, "-no-cache", "-out", out)
	if r.code != exitFailed {
		t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, exitFailed, r.stderr)
	}
	results := readResults(t, out)
	for i, res := range results {
		if res["id"] != items[i].ID {
			t.Fatalf("result %d is %v, want %s", i, res["id"], items[i].ID)
		}
		failed := res["error"] != nil
		if failed != (i == 2) {
			t.Errorf("%s: error %v", items[i].ID, res["error"])
		}
		if failed && (res["tags"] != nil || res["provider"] != nil || res["cached"] != nil) {
			t.Errorf("failed result carries more than id and error: %v", res)
		}
	}
}

// TestAllItemsFail checks a provider that refuses every call (wrong key)
// ends with exit 1 and every item failed, not with a usage error.
func TestAllItemsFail(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems, smallTags)
	emu := llmtest.NewEmulator(llmtest.Config{OpenAI: llmtest.API{Key: "right"}})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	env := map[string]string{"OPENAI_API_KEY": "wrong", "OPENAI_BASE_URL": srv.URL + "/v1/"}
	out := filepath.Join(dir, "out.jsonl")
	r := runCLI(t, env, nil, "-in", items, "-tags", tags, "-no-cache", "-out", out)
	if r.code != exitFailed {
		t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, exitFailed, r.stderr)
	}
	for _, res := range readResults(t, out) {
		if msg, _ := res["error"].(string); !strings.Contains(msg, "401") || strings.Contains(msg, "wrong") {
			t.Errorf("%v: want a 401 error that doesn't show the key", res)
		}
	}
	if c := emu.Counters(); c.OpenAI.Unauthorized != 3 {
		t.Errorf("emulator counted %d unauthorized requests, want 3 (one per batch, no retries)", c.OpenAI.Unauthorized)
	}
}

// TestDebugLogs checks -debug prints the library's structured logs as
// slog text on stderr.
func TestDebugLogs(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems[:3], smallTags)
	r := runCLI(t, nil, nil, "-in", items, "-tags", tags, "-no-cache", "-debug", "-out", filepath.Join(dir, "out.jsonl"))
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{`level=INFO msg="run start"`, `msg="counters reset"`, `msg="run end"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %s:\n%s", want, r.stderr)
		}
	}
	quiet := runCLI(t, nil, nil, "-in", items, "-tags", tags, "-no-cache", "-out", filepath.Join(dir, "out.jsonl"))
	if strings.Contains(quiet.stderr, "msg=") {
		t.Errorf("logs printed without -debug:\n%s", quiet.stderr)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestCanceled checks an interrupted run still writes one line per item,
// in input order, to out.jsonl.partial, marks what was not done with the
// context's error, and exits 1.
func TestCanceled(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems, smallTags)
	out := filepath.Join(dir, "out.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr strings.Builder
	code := run(ctx, []string{"-in", items, "-tags", tags, "-no-cache", "-out", out, "-emulate"}, func(string) string { return "" }, &stdout, &stderr)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFailed, stderr.String())
	}
	results := readResults(t, out+".partial")
	if len(results) != len(smallItems) {
		t.Fatalf("%d results, want %d", len(results), len(smallItems))
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("an interrupted run wrote %s", out)
	}
	for i, res := range results {
		if res["id"] != smallItems[i].ID || !strings.Contains(fmt.Sprint(res["error"]), "context canceled") {
			t.Errorf("result %d = %v, want %s failed with context canceled", i, res, smallItems[i].ID)
		}
	}
	if !strings.Contains(stderr.String(), "run stopped: context canceled") {
		t.Errorf("stderr does not say the run stopped:\n%s", stderr.String())
	}
}
