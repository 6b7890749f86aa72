package prompt

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseReply(t *testing.T) {
	vocab := []string{"Air-Quality", " vaccination ", "cancer", "tobacco"}
	batch := []string{"a", "b", "c"}
	tests := []struct {
		name  string
		text  string
		ids   []string
		vocab []string
		want  map[string][]string
		err   bool
	}{
		{
			name:  "every item",
			text:  `{"results":[{"id":"a","tags":["cancer"]},{"id":"b","tags":["tobacco","cancer"]},{"id":"c","tags":["vaccination"]}]}`,
			ids:   batch,
			vocab: vocab,
			want:  map[string][]string{"a": {"cancer"}, "b": {"tobacco", "cancer"}, "c": {"vaccination"}},
		},
		{
			name:  "tags trimmed, lower-cased, de-duplicated, filtered",
			text:  `{"results":[{"id":"a","tags":[" CANCER ","cancer","Air-quality","smoking",""]}]}`,
			ids:   batch,
			vocab: vocab,
			want:  map[string][]string{"a": {"cancer", "air-quality"}},
		},
		{
			name:  "ids outside the batch ignored",
			text:  `{"results":[{"id":"z","tags":["cancer"]},{"id":"A","tags":["cancer"]},{"id":"b","tags":["tobacco"]}]}`,
			ids:   batch,
			vocab: vocab,
			want:  map[string][]string{"b": {"tobacco"}},
		},
		{
			name:  "conflicting duplicates leave the id out",
			text:  `{"results":[{"id":"a","tags":["cancer"]},{"id":"a","tags":["tobacco"]}]}`,
			ids:   batch,
			vocab: vocab,
			want:  map[string][]string{},
		},
		{
			name:  "agreeing duplicates are kept",
			text:  `{"results":[{"id":"a","tags":["cancer"]},{"id":"a","tags":[" Cancer"]}]}`,
			ids:   batch,
			vocab: vocab,
			want:  map[string][]string{"a": {"cancer"}},
		},
		{
			name:  "an entry with no valid tag doesn't count",
			text:  `{"results":[{"id":"a","tags":["smoking"]},{"id":"a","tags":["tobacco"]}]}`,
			ids:   batch,
			vocab: vocab,
			want:  map[string][]string{"a": {"tobacco"}},
		},
		{
			name:  "item with no valid tag is missing",
			text:  `{"results":[{"id":"a","tags":[]},{"id":"b","tags":["nothing"]},{"id":"c","tags":null}]}`,
			ids:   batch,
			vocab: vocab,
			want:  map[string][]string{},
		},
		{
			name:  "malformed entries lose only themselves",
			text:  `{"results":[{"id":5,"tags":["cancer"]},{"id":"a","tags":"cancer"},"x",{"id":"b","tags":["cancer"]}]}`,
			ids:   batch,
			vocab: vocab,
			want:  map[string][]string{"b": {"cancer"}},
		},
		{
			name:  "json fence",
			text:  "```json\n{\"results\":[{\"id\":\"a\",\"tags\":[\"cancer\"]}]}\n```\n",
			ids:   batch,
			vocab: vocab,
			want:  map[string][]string{"a": {"cancer"}},
		},
		{
			name:  "bare fence",
			text:  "```\n{\"results\":[{\"id\":\"a\",\"tags\":[\"cancer\"]}]}```",
			ids:   batch,
			vocab: vocab,
			want:  map[string][]string{"a": {"cancer"}},
		},
		{
			name: "free mode keeps short tags, drops long and control ones",
			text: `{"results":[{"id":"a","tags":["Rare Diseases","` + strings.Repeat("x", MaxTagBytes+1) + `","bad\u0007tag","rare diseases"]}]}`,
			ids:  batch,
			want: map[string][]string{"a": {"rare diseases"}},
		},
		{
			name: "empty results is valid",
			text: `{"results":[]}`,
			ids:  batch,
			want: map[string][]string{},
		},
		{name: "not json", text: `results: a=cancer`, ids: batch, err: true},
		{name: "truncated", text: `{"results":[{"id":"a","tags":["cancer"]}`, ids: batch, err: true},
		{name: "no results", text: `{"items":[]}`, ids: batch, err: true},
		{name: "null results", text: `{"results":null}`, ids: batch, err: true},
		{name: "results not an array", text: `{"results":{"a":["cancer"]}}`, ids: batch, err: true},
		{name: "trailing garbage", text: `{"results":[]} and more`, ids: batch, err: true},
		{name: "empty", text: ``, ids: batch, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReply(tt.text, tt.ids, tt.vocab)
			if tt.err {
				if err == nil {
					t.Fatalf("ParseReply = %v, nil; want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseReply: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseReply = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseReplyNoResultsSentinel(t *testing.T) {
	if _, err := ParseReply(`{}`, []string{"a"}, nil); !errors.Is(err, ErrNoResults) {
		t.Fatalf("err = %v, want ErrNoResults", err)
	}
}

// An instruction inside an item's text reaches the model, which may obey it;
// whatever it then writes, tags land only on ids of the batch, and an id the
// model answered for twice, differently, is left out to be asked again.
func TestParseReplyInjectedInstruction(t *testing.T) {
	ids := []string{"victim", "attacker"}
	reply := `{"results":[{"id":"attacker","tags":["cancer"]},{"id":"victim","tags":["tobacco"]},` +
		`{"id":"victim","tags":["cancer","tobacco"]},{"id":"admin","tags":["cancer"]}]}`
	got, err := ParseReply(reply, ids, []string{"cancer", "tobacco"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"attacker": {"cancer"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseReply = %v, want %v", got, want)
	}
}

func TestNormalizeVocabulary(t *testing.T) {
	got := NormalizeVocabulary([]string{" Cancer", "cancer", "", "  ", "Mental-Health", "TOBACCO "})
	want := []string{"cancer", "mental-health", "tobacco"}
	if !slices.Equal(got, want) {
		t.Fatalf("NormalizeVocabulary = %q, want %q", got, want)
	}
}

func TestStripFence(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{"  ```json\n{}\n```  ", "{}"},
		{"```JSON\n{}\n```", "{}"},
		{"```\n{}\n```", "{}"},
		{"```json{}```", "{}"},
		{"``````", ""},
		{"```", "```"},
		{"```not a lang\n{}```", "not a lang\n{}"},
	}
	for _, tt := range tests {
		if got := stripFence(tt.in); got != tt.want {
			t.Errorf("stripFence(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParseReply checks the validator's guarantees on any input: no panic,
// output ids within the batch, tags normalized, unique, never empty, and
// within the vocabulary when one is given.
func FuzzParseReply(f *testing.F) {
	f.Add(`{"results":[{"id":"a","tags":["Cancer"," tobacco"]}]}`, "a,b", "cancer,tobacco")
	f.Add("```json\n{\"results\":[{\"id\":\"b\",\"tags\":[\"x\"]},{\"id\":\"b\",\"tags\":[\"y\"]}]}\n```", "a,b", "")
	f.Add(`{"results":[{"id":"z","tags":["cancer"]}]}`, "a", "cancer")
	f.Add(`{"results":[{"id":"a","tags":"cancer"},1,null]}`, "a", "")
	f.Add(`{"results":null}`, "", "")
	f.Add(`not json`, "a", "x")
	f.Fuzz(func(t *testing.T, text, ids, vocab string) {
		batch := strings.Split(ids, ",")
		var vocabulary []string
		if vocab != "" {
			vocabulary = strings.Split(vocab, ",")
		}
		got, err := ParseReply(text, batch, vocabulary)
		if err != nil {
			if got != nil {
				t.Fatalf("error %v with non-nil map %v", err, got)
			}
			return
		}
		allowed := NormalizeVocabulary(vocabulary)
		for id, tags := range got {
			if !slices.Contains(batch, id) {
				t.Fatalf("id %q not in batch %q", id, batch)
			}
			if len(tags) == 0 {
				t.Fatalf("id %q with no tags", id)
			}
			seen := map[string]bool{}
			for _, tag := range tags {
				if tag == "" || tag != NormalizeTag(tag) {
					t.Fatalf("tag %q not normalized", tag)
				}
				if seen[tag] {
					t.Fatalf("tag %q repeated in %q", tag, tags)
				}
				seen[tag] = true
				if len(vocabulary) > 0 && !slices.Contains(allowed, tag) {
					t.Fatalf("tag %q not in vocabulary %q", tag, allowed)
				}
			}
		}
	})
}
