package main

import (
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmlimit/llmlimit/llmtest"
)

// Distinctive keys: a leak of either, or of its middle, shows in any output.
const (
	secretGeminiKey = "AIza-CLI-SECRET-gemini-9d41be"
	secretOpenAIKey = "sk-CLI-SECRET-openai-9d41be"
)

var secretFragments = []string{secretGeminiKey, secretOpenAIKey, "CLI-SECRET-gemini", "CLI-SECRET-openai"}

// TestSecretsNeverWritten runs the command with distinctive keys against an
// emulator the test owns (through the SDKs' base URL variables), with
// -debug logs, -out, -report and a cache file, in runs where the keys are
// accepted, one is refused and both are: no key appears on stdout, stderr
// or in any file, and the files that hold user data are 0600 in a 0700
// cache directory.
func TestSecretsNeverWritten(t *testing.T) {
	tests := []struct {
		name           string
		gemini, openai llmtest.API
		code           int
	}{
		{"keys accepted, 500s", llmtest.API{Key: secretGeminiKey, ServerErrorRate: 0.3}, llmtest.API{Key: secretOpenAIKey}, exitOK},
		{"gemini key refused", llmtest.API{Key: "AIza-other"}, llmtest.API{Key: secretOpenAIKey}, exitOK},
		{"both keys refused", llmtest.API{Key: "AIza-other"}, llmtest.API{Key: "sk-other"}, exitFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			items, tags := writeSpace(t, dir, smallItems, smallTags)
			emu := llmtest.NewEmulator(llmtest.Config{Gemini: tt.gemini, OpenAI: tt.openai, Seed: 2})
			srv := httptest.NewServer(emu)
			defer srv.Close()
			env := map[string]string{
				"GEMINI_API_KEY": secretGeminiKey, "OPENAI_API_KEY": secretOpenAIKey,
				"GOOGLE_GEMINI_BASE_URL": srv.URL + "/", "OPENAI_BASE_URL": srv.URL + "/v1/",
			}
			out, report := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "report.json")
			cacheDir := filepath.Join(dir, "cache", "llmlimit")
			cache := filepath.Join(cacheDir, "small.cache")
			r := runCLI(t, env, nil, "-in", items, "-tags", tags, "-debug", "-out", out, "-report", report, "-cache-file", cache)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "level=") {
				t.Errorf("-debug printed no logs:\n%s", r.stderr)
			}
			check := func(where, s string) {
				t.Helper()
				for _, k := range secretFragments {
					if i := strings.Index(s, k); i >= 0 {
						t.Errorf("%s: key fragment %q leaked: ...%s...", where, k, s[max(0, i-80):min(len(s), i+len(k)+40)])
					}
				}
			}
			check("stdout", r.stdout)
			check("stderr", r.stderr)
			files := map[string]fs.FileMode{out: 0o600, report: 0o600}
			if tt.code == exitOK {
				files[cache] = 0o600
			}
			for path, mode := range files {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				check(filepath.Base(path), string(data))
				fi, _ := os.Stat(path)
				if fi.Mode().Perm() != mode {
					t.Errorf("%s: mode %v, want %v: it holds user data (ids, tags, the run's figures)", filepath.Base(path), fi.Mode().Perm(), mode)
				}
			}
			if tt.code == exitOK {
				if fi, err := os.Stat(cacheDir); err != nil || fi.Mode().Perm() != 0o700 {
					t.Errorf("cache directory: %v %v, want mode 0700", fi.Mode().Perm(), err)
				}
				data, _ := os.ReadFile(cache)
				for _, it := range smallItems {
					if strings.Contains(string(data), it.Text) || strings.Contains(string(data), it.ID) {
						t.Errorf("cache file holds item %s's text or id", it.ID)
					}
				}
			}
		})
	}
}
