package main

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/llmlimit/llmlimit"
)

func TestReadItems(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []llmlimit.Item
		wantErr string // substring; "" = no error
	}{
		{"two lines", `{"id":"a","text":"x"}` + "\n" + `{"id":"b","text":"y"}` + "\n",
			[]llmlimit.Item{{ID: "a", Text: "x"}, {ID: "b", Text: "y"}}, ""},
		{"no final newline, CRLF, blank lines", "\r\n" + `{"id":"a","text":"x"}` + "\r\n\r\n" + `{"id":"b","text":"y"}`,
			[]llmlimit.Item{{ID: "a", Text: "x"}, {ID: "b", Text: "y"}}, ""},
		{"byte-order mark", "\ufeff" + `{"id":"a","text":"x"}`, []llmlimit.Item{{ID: "a", Text: "x"}}, ""},
		{"extra keys ignored", `{"id":"a","text":"x","lang":"en"}`, []llmlimit.Item{{ID: "a", Text: "x"}}, ""},
		{"empty text is the library's business", `{"id":"a","text":""}`, []llmlimit.Item{{ID: "a", Text: ""}}, ""},
		{"duplicate id", `{"id":"a","text":"x"}` + "\n\n" + `{"id":"a","text":"y"}`, nil, `line 3: duplicate id "a" (first on line 1)`},
		{"empty id", `{"id":"a","text":"x"}` + "\n" + `{"id":"","text":"y"}`, nil, "line 2: empty id"},
		{"blank id", `{"id":"  ","text":"y"}`, nil, "line 1: empty id"},
		{"missing id", `{"text":"y"}`, nil, `line 1: missing "id"`},
		{"missing text", `{"id":"a"}`, nil, `line 1: item "a": missing "text"`},
		{"malformed", `{"id":"a","text":"x"}` + "\n" + `{"id":"b","text":`, nil, "line 2: not a JSON object"},
		{"numeric id", `{"id":"a","text":"x"}` + "\n" + `{"id":7,"text":"x"}`, nil, `line 2: "id" is a JSON number; it must be a string (in quotes)`},
		{"numeric text", `{"id":"a","text":7}`, nil, `line 1: "text" is a JSON number; it must be a string`},
		{"two objects on a line", `{"id":"a","text":"x"}{"id":"b","text":"y"}`, nil, "line 1: not a JSON object"},
		{"JSON array", "\n  " + `[{"id":"a","text":"x"}]`, nil, `line 2: this is a JSON array; give JSONL, one {"id","text"} object a line`},
		{"array on a later line", `{"id":"a","text":"x"}` + "\n" + `[1,2]`, nil, "line 2: not a JSON object"},
		{"long line without an id up front", `{"text":"` + strings.Repeat("x", minLineBytes) + `","id":"a"}`, nil, "line 1: longer than"},
		{"empty input", "\n\n", nil, "no items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, long, err := readItems(strings.NewReader(tt.in), minLineBytes)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(long) != 0 {
				t.Fatalf("long lines %v", long)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d items %v, want %v", len(got), got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("item %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestReadItemsLongLine reads a line over the limit between two good ones:
// it is kept apart, with its id and place, and the others are read.
func TestReadItemsLongLine(t *testing.T) {
	in := `{"id":"a","text":"x"}` + "\n" + `{"id":"big","lang":"en","text":"` + strings.Repeat("y", 3*minLineBytes) + `"}` + "\n" + `{"id":"c","text":"z"}` + "\n"
	items, long, err := readItems(strings.NewReader(in), minLineBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].ID != "a" || items[1].ID != "c" || len(long) != 1 || long[0] != (longLine{pos: 1, line: 2, id: "big"}) {
		t.Fatalf("items %v, long %v", items, long)
	}
	// Its id still counts for duplicates.
	if _, _, err := readItems(strings.NewReader(in+`{"id":"big","text":"again"}`), minLineBytes); err == nil || !strings.Contains(err.Error(), `line 4: duplicate id "big" (first on line 2)`) {
		t.Fatalf("duplicate of a long line: %v", err)
	}
}

func TestReadTags(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{"plain", "a\nb-c\n", []string{"a", "b-c"}, false},
		{"trim, comments, blanks, repeats", "# vocabulary\n  a \n\nB\nb\na\r\n", []string{"a", "B"}, false},
		{"byte-order mark", "\ufeffa\n", []string{"a"}, false},
		{"empty", "# nothing\n\n", nil, true},
		{"comma-separated", "a\ncancer, tobacco\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readTags(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzReadItems checks the JSONL reader never panics, that what it accepts
// has unique, non-empty ids, one item per non-blank line, and that every
// error names a line or says there were no items.
func FuzzReadItems(f *testing.F) {
	f.Add(`{"id":"a","text":"x"}` + "\n" + `{"id":"b","text":"y"}`)
	f.Add(`{"id":"a","text":"x"}` + "\n" + `{"id":"a","text":"y"}`)
	f.Add("\ufeff" + `{"id":"","text":""}` + "\r\n")
	f.Add(`{"id":"a","text":"\u00e9\ud800"}` + "\n\n" + `{"id":"b"}`)
	f.Add(`{"id":"a","text":"x","id":"b"}`)
	f.Add("{\"id\":\"\xff\",\"text\":\"x\"}")
	f.Add(`{"id":"long","text":"more than sixty-four bytes of text, so that the line is too long"}`)
	f.Fuzz(func(t *testing.T, in string) {
		// A small limit, so that long lines come up too.
		items, long, err := readItems(strings.NewReader(in), 64)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "line ") && !strings.HasPrefix(msg, "after line ") && msg != "no items" {
				t.Fatalf("error without a line: %q", msg)
			}
			if items != nil || long != nil {
				t.Fatalf("items %v returned with error %v", items, err)
			}
			return
		}
		for _, l := range long {
			items = slices.Insert(items, l.pos, llmlimit.Item{ID: l.id})
		}
		if len(items) == 0 {
			t.Fatal("no items and no error")
		}
		nonBlank := 0
		for _, l := range strings.Split(in, "\n") {
			if strings.TrimSpace(strings.TrimPrefix(l, "\ufeff")) != "" {
				nonBlank++
			}
		}
		if len(items) != nonBlank {
			t.Fatalf("%d items from %d non-blank lines", len(items), nonBlank)
		}
		seen := map[string]bool{}
		for _, it := range items {
			if strings.TrimSpace(it.ID) == "" || seen[it.ID] {
				t.Fatalf("empty or repeated id %q in %v", it.ID, items)
			}
			seen[it.ID] = true
			if !utf8.ValidString(it.ID) || !utf8.ValidString(it.Text) {
				t.Fatalf("invalid UTF-8 passed through: %q", it)
			}
		}
	})
}
