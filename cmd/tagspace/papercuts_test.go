package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmlimit/llmlimit"
)

// TestInputMistakes gives the command inputs people get wrong: each is
// refused with exit 2 and a message that says what to do, naming the line
// and not a Go type.
func TestInputMistakes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.jsonl", `{"id":"a","text":"air quality"}`+"\n")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"comma-separated tags", []string{"-in", good, "-tags", write("c.tags", "cancer, tobacco, vaccination\n")},
			`c.tags: line 1: "cancer, tobacco, vaccination" has commas: give one tag a line`},
		{"JSON array", []string{"-in", write("a.json", `[{"id":"a","text":"x"},{"id":"b","text":"y"}]`)},
			`a.json: line 1: this is a JSON array; give JSONL, one {"id","text"} object a line`},
		{"numeric id", []string{"-in", write("n.jsonl", `{"id":"a","text":"x"}`+"\n"+`{"id":12,"text":"y"}`+"\n")},
			`n.jsonl: line 2: "id" is a JSON number; it must be a string (in quotes)`},
		{"unknown flag", []string{"-in", good, "-cach-file", "x"}, "flag provided but not defined: -cach-file; did you mean -cache-file?"},
		{"unknown flag after a value", []string{"-out", "-weird.jsonl", "-in", good, "-bach-size=3"}, "did you mean -batch-size?"},
		{"bad max item bytes", []string{"-in", good, "-max-item-bytes", "0"}, `-max-item-bytes="0": must be at least 1`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, nil, tt.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, want %d with %q; stderr:\n%s", r.code, exitUsage, tt.want, r.stderr)
			}
			if strings.Contains(r.stderr, "Go struct") || strings.Contains(r.stderr, "of type string") {
				t.Errorf("message names a Go type:\n%s", r.stderr)
			}
		})
	}
}

// TestLongLineFailsAlone puts a line over the reader's limit and an item
// over -max-item-bytes among good items: each fails on its own result
// line, in input order, and the rest are tagged.
func TestLongLineFailsAlone(t *testing.T) {
	dir := t.TempDir()
	lines := []string{
		`{"id":"a","text":"A vaccination campaign against measles starts."}`,
		`{"id":"huge","text":"` + strings.Repeat("cancer screening ", 200_000) + `"}`, // 3.4 MB
		`{"id":"b","text":"` + strings.Repeat("tobacco ", 100) + `"}`,                 // 800 bytes
		`{"id":"c","text":"New limits tighten air quality standards."}`,
	}
	in := filepath.Join(dir, "items.jsonl")
	os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	out := filepath.Join(dir, "out.jsonl")
	r := runCLI(t, nil, nil, "-in", in, "-no-cache", "-out", out, "-max-item-bytes", "500")
	if r.code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s", r.code, exitFailed, r.stderr)
	}
	res := readResults(t, out)
	if len(res) != 4 {
		t.Fatalf("%d results", len(res))
	}
	for i, want := range []struct{ id, err string }{
		{"a", ""}, {"huge", "line 2: longer than 1048576 bytes"}, {"b", "text of 800 bytes exceeds the limit of 500"}, {"c", ""},
	} {
		got, _ := res[i]["error"].(string)
		if res[i]["id"] != want.id || (want.err == "") != (got == "") || !strings.Contains(got, want.err) {
			t.Errorf("result %d: %v, want %s with error %q", i, res[i], want.id, want.err)
		}
	}
	if !strings.Contains(r.stderr, "2 failed of 4 items") {
		t.Errorf("summary:\n%s", r.stderr)
	}
}

// TestHelpShowsEveryDefault checks -h gives every flag its default,
// tuning flags their variable too.
func TestHelpShowsEveryDefault(t *testing.T) {
	r := runCLI(t, nil, nil, "-h")
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	fs := newFlagSet(&cli{}, new(strings.Builder))
	fs.VisitAll(func(f *flag.Flag) {
		i := strings.Index(r.stderr, "  -"+f.Name+"\n")
		if i < 0 {
			i = strings.Index(r.stderr, "  -"+f.Name+" value\n")
		}
		if i < 0 {
			t.Errorf("-h doesn't list -%s", f.Name)
			return
		}
		entry := r.stderr[i:]
		if end := strings.Index(entry[3:], "\n  -"); end >= 0 {
			entry = entry[:end+3]
		}
		if !strings.Contains(entry, "(default ") || strings.Contains(entry, "(default )") || strings.Contains(entry, "(default ; ") {
			t.Errorf("-%s shows no default:\n%s", f.Name, entry)
		}
	})
	for _, want := range []string{"(default 5; or $TAG_SPACE_BATCH_SIZE)", "(default stdout)", "(default " + llmlimit.DefaultGeminiModel + ")", "(default 10m0s; or $TAG_SPACE_OUTAGE_WAIT)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("-h lacks %q", want)
		}
	}
}

// TestSummaryNamesStoreAndEmulatedCost checks the summary names the store
// file, and that an emulated run shows no dollar cost as if it were spent.
func TestSummaryNamesStoreAndEmulatedCost(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems, smallTags)
	store := filepath.Join(dir, "results.db")
	r := runCLI(t, nil, nil, "-in", items, "-tags", tags, "-cache-file", store, "-out", filepath.Join(dir, "out.jsonl"))
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "store                 "+store+" (11 results written)") {
		t.Errorf("summary doesn't name the store:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "cost                  none: emulated (at list prices these tokens would be $") ||
		!strings.Contains(r.stderr, "cost (emulated)") {
		t.Errorf("emulated cost shown as real:\n%s", r.stderr)
	}
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(line, "cost") && strings.Contains(line, "  $") {
			t.Errorf("dollar cost as if real: %q", line)
		}
	}
}
