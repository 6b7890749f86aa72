package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/llmlimit/llmlimit/llmtest"
)

func TestBuiltinSpaces(t *testing.T) {
	if got := strings.Join(builtinSpaces(), ","); got != "euheals" {
		t.Fatalf("builtinSpaces() = %s, want euheals", got)
	}
	if _, err := builtinSpace("nope"); err == nil || !strings.Contains(err.Error(), "euheals") {
		t.Fatalf("unknown space: err = %v, want one listing the built-in spaces", err)
	}
}

// TestEuhealsSpace checks the sample space is what the demo needs: 200
// items in id order, a hyphenated lower-case vocabulary, most items matched
// by the emulator's whole-word rule, some matched by nothing (so they get a
// hash-chosen tag), and some exact repeats (so per-run de-duplication
// shows).
func TestEuhealsSpace(t *testing.T) {
	s, err := builtinSpace("euheals")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "euheals" || len(s.Items) != 200 {
		t.Fatalf("space %q has %d items, want euheals with 200", s.Name, len(s.Items))
	}
	for i, it := range s.Items {
		if want := fmt.Sprintf("eh-%03d", i+1); it.ID != want {
			t.Fatalf("item %d id %q, want %q", i, it.ID, want)
		}
		if len(it.Text) < 40 || len(it.Text) > 300 {
			t.Errorf("%s: text of %d bytes: want one or two sentences", it.ID, len(it.Text))
		}
	}
	if n := len(s.Tags); n < 20 || n > 30 {
		t.Fatalf("%d tags, want about 25", n)
	}
	tagRE := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	for _, tag := range s.Tags {
		if !tagRE.MatchString(tag) {
			t.Errorf("tag %q is not lower-case hyphenated words", tag)
		}
	}

	matched, unmatched := 0, 0
	perTag := map[string]int{}
	for _, it := range s.Items {
		words := map[string]bool{}
		for _, w := range strings.FieldsFunc(strings.ToLower(it.Text), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r)
		}) {
			words[w] = true
		}
		var hits []string
		for _, tag := range s.Tags {
			all := true
			for _, w := range strings.Split(tag, "-") {
				all = all && words[w]
			}
			if all {
				hits = append(hits, tag)
				perTag[tag]++
			}
		}
		// The emulator must see the space the way this test does.
		if want, got := strings.Join(hits[:min(3, len(hits))], ","), strings.Join(llmtest.Tags(it.Text, s.Tags), ","); len(hits) > 0 && got != want {
			t.Errorf("%s: emulator tags %s, want %s", it.ID, got, want)
		}
		if len(hits) > 0 {
			matched++
		} else {
			unmatched++
		}
	}
	if matched < 150 || unmatched < 10 {
		t.Errorf("%d items match a tag and %d match none; want most to match and some not", matched, unmatched)
	}
	for _, tag := range s.Tags {
		if perTag[tag] < 3 {
			t.Errorf("tag %q matches %d items; every tag should be used", tag, perTag[tag])
		}
	}

	texts := map[string]int{}
	repeats := 0
	for _, it := range s.Items {
		if texts[it.Text]++; texts[it.Text] == 2 {
			repeats++
		}
	}
	if repeats < 3 {
		t.Errorf("%d texts repeat exactly, want a few", repeats)
	}
}
