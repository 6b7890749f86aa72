package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput checks every kind of bad usage exits 2 with a message that
// says what is wrong, writes no results, and makes no call: no emulator is
// started, and with keys set the real base URLs see no request.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.jsonl", `{"id":"a","text":"air quality"}`+"\n")
	dup := write("dup.jsonl", `{"id":"a","text":"x"}`+"\n"+`{"id":"b","text":"y"}`+"\n"+`{"id":"a","text":"z"}`+"\n")
	emptyID := write("emptyid.jsonl", `{"id":"a","text":"x"}`+"\n"+`{"id":"","text":"y"}`+"\n")
	malformed := write("malformed.jsonl", `{"id":"a","text":"x"}`+"\n"+`{"id":"b","text":"y"}`+"\n"+`{"id":"c", text: z}`+"\n")
	emptyTags := write("empty.tags", "# none\n")
	out := filepath.Join(dir, "out.jsonl")

	tests := []struct {
		name     string
		args     []string
		tagSpace map[string]string
		want     string
	}{
		{"duplicate id", []string{"-in", dup}, nil, `line 3: duplicate id "a" (first on line 1)`},
		{"empty id", []string{"-in", emptyID}, nil, "line 2: empty id"},
		{"malformed line", []string{"-in", malformed}, nil, "malformed.jsonl: line 3: not a JSON object"},
		{"missing items file", []string{"-in", filepath.Join(dir, "nope.jsonl")}, nil, "nope.jsonl: no such file"},
		{"unreadable tag file", []string{"-in", good, "-tags", filepath.Join(dir, "nope.tags")}, nil, "nope.tags: no such file"},
		{"tag file is a directory", []string{"-in", good, "-tags", dir}, nil, "is a directory"},
		{"empty tag file", []string{"-in", good, "-tags", emptyTags}, nil, "empty.tags: no tags"},
		{"invalid env value", []string{"-in", good}, map[string]string{"TAG_SPACE_BATCH_SIZE": "five"}, `TAG_SPACE_BATCH_SIZE="five"`},
		{"invalid env duration", []string{"-in", good}, map[string]string{"TAG_SPACE_MAX_WAIT": "soon"}, `TAG_SPACE_MAX_WAIT="soon"`},
		{"env concurrency above max", []string{"-in", good}, map[string]string{"TAG_SPACE_AI_CONCURRENCY": "8", "TAG_SPACE_MAX_AI_CONCURRENCY": "4"}, "TAG_SPACE_MAX_AI_CONCURRENCY=4"},
		{"invalid flag value", []string{"-in", good, "-batch-size", "0"}, nil, `-batch-size="0": must be at least 1`},
		{"invalid flag duration", []string{"-in", good, "-success-cooldown", "-1s"}, nil, `-success-cooldown="-1s": must not be negative`},
		{"flags concurrency above max", []string{"-in", good, "-concurrency", "5", "-max-concurrency", "2"}, nil, "-max-concurrency=2 is less than -concurrency=5"},
		{"flag concurrency above default max", []string{"-in", good, "-concurrency", "8"}, nil, "max concurrency 6: must be at least the initial concurrency 8"},
		{"invalid flag over valid env", []string{"-in", good, "-max-wait", "abc"}, map[string]string{"TAG_SPACE_MAX_WAIT": "2s"}, `tagspace: -max-wait="abc": not a duration`},
		{"empty flag value", []string{"-in", good, "-rpm", ""}, nil, "-rpm: empty value"},
		{"unknown flag", []string{"-in", good, "-fast"}, nil, "flag provided but not defined: -fast"},
		{"no space", nil, nil, "one of -space or -in is required"},
		{"space and in", []string{"-space", "euheals", "-in", good}, nil, "mutually exclusive"},
		{"unknown space", []string{"-space", "nope"}, nil, `unknown space "nope" (built-in: euheals)`},
		{"tags without in", []string{"-space", "euheals", "-tags", emptyTags}, nil, "-tags needs -in"},
		{"stray argument", []string{"-in", good, "extra"}, nil, `unexpected argument "extra"`},
		{"unwritable out", []string{"-in", good, "-out", filepath.Join(dir, "no", "such", "dir", "out.jsonl")}, nil, "cannot write"},
		{"cache file is a directory", []string{"-in", good, "-cache-file", dir}, nil, "not a regular file"},
		{"unwritable report", []string{"-in", good, "-out", out, "-report", filepath.Join(dir, "no", "report.json")}, nil, "cannot write"},
	}
	for _, keys := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/keys=%v", tt.name, keys), func(t *testing.T) {
				env := map[string]string{}
				var hits []func() int64
				if keys {
					gURL, gHits := tripwire(t)
					oURL, oHits := tripwire(t)
					env = map[string]string{"GEMINI_API_KEY": "g", "OPENAI_API_KEY": "o",
						"GOOGLE_GEMINI_BASE_URL": gURL, "OPENAI_BASE_URL": oURL}
					hits = append(hits, gHits.Load, oHits.Load)
				}
				r := runCLI(t, env, tt.tagSpace, tt.args...)
				if r.code != exitUsage {
					t.Errorf("exit %d, want %d; stderr:\n%s", r.code, exitUsage, r.stderr)
				}
				if !strings.Contains(r.stderr, tt.want) {
					t.Errorf("stderr %q does not say %q", r.stderr, tt.want)
				}
				if r.emulator != nil || strings.Contains(r.stderr, "using the built-in emulator") {
					t.Errorf("an emulator was started for bad input")
				}
				for _, h := range hits {
					if n := h(); n != 0 {
						t.Errorf("%d requests reached a provider", n)
					}
				}
				if r.stdout != "" {
					t.Errorf("stdout %q, want nothing", r.stdout)
				}
				if _, err := os.Stat(out); err == nil {
					t.Errorf("%s was written", out)
				}
				if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(leftovers) > 0 {
					t.Errorf("temporary files left: %v", leftovers)
				}
			})
		}
	}
}
