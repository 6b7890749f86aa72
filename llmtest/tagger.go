package llmtest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

// maxTags bounds how many tags the tagger gives one item, like a model told
// to be brief.
const maxTags = 3

// freeWordLen is the shortest word the tagger uses as a tag when the request
// has no vocabulary: short words are mostly stop words.
const freeWordLen = 5

// Tags returns the tags the emulator and [Fake] give an item. The result is
// deterministic in (text, vocabulary), never empty, and every tag is
// lower-case, so tests can compute the expected tags of any item.
//
// With a vocabulary, an entry matches when each of its words (runs of letters
// and digits: "air-quality" has the words "air" and "quality") occurs as a
// whole word in the lower-cased text. Matching entries are returned
// lower-cased and trimmed, in vocabulary order, at most three. When none
// matches, exactly one entry is returned: the one at the FNV-1a (32-bit) hash
// of the text modulo the vocabulary's length. Blank entries are ignored (the
// length is that of the non-blank entries); a vocabulary of blank entries
// counts as none.
//
// Without a vocabulary, the result is up to three distinct lower-case words of
// at least five letters from the text, in text order, or ["misc"] if the text
// has none.
func Tags(text string, vocabulary []string) []string {
	vocab := normalizeVocabulary(vocabulary)
	lower := strings.ToLower(text)
	if len(vocab) == 0 {
		return freeTags(lower)
	}
	words := make(map[string]bool)
	for _, w := range splitWords(lower, isWordRune) {
		words[w] = true
	}
	var tags []string
	for _, tag := range vocab {
		parts := splitWords(tag, isWordRune)
		if len(parts) == 0 {
			continue
		}
		all := true
		for _, p := range parts {
			if !words[p] {
				all = false
				break
			}
		}
		if all {
			tags = append(tags, tag)
			if len(tags) == maxTags {
				break
			}
		}
	}
	if len(tags) > 0 {
		return tags
	}
	h := fnv.New32a()
	h.Write([]byte(text))
	return []string{vocab[h.Sum32()%uint32(len(vocab))]}
}

// normalizeVocabulary trims and lower-cases the entries, dropping blank ones
// and duplicates (which would otherwise give an item the same tag twice).
func normalizeVocabulary(vocabulary []string) []string {
	var out []string
	seen := make(map[string]bool, len(vocabulary))
	for _, v := range vocabulary {
		v = strings.ToLower(strings.TrimSpace(v))
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	return out
}

// freeTags picks the tags of an item when the model may choose freely.
func freeTags(lower string) []string {
	var tags []string
	seen := make(map[string]bool)
	for _, w := range splitWords(lower, unicode.IsLetter) {
		// A letter whose lower case is not itself lower-case (rare title-case
		// letters) would break the lower-case promise; such words are skipped.
		if utf8.RuneCountInString(w) < freeWordLen || seen[w] || strings.ToLower(w) != w {
			continue
		}
		seen[w] = true
		tags = append(tags, w)
		if len(tags) == maxTags {
			break
		}
	}
	if len(tags) == 0 {
		return []string{"misc"}
	}
	return tags
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// splitWords returns the maximal runs of runes for which in is true.
func splitWords(s string, in func(rune) bool) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !in(r) })
}

// Answer builds the JSON reply a well-behaved model gives a batch-protocol
// prompt (see internal/prompt): {"results":[{"id":..,"tags":[..]}]} with one
// entry per item, in item order, tags from [Tags]. A prompt of the checked
// protocol (tagspace/v2) gets each item's "start" too: its first three
// words, copied as they stand in the text. It fails when the prompt carries
// no batch.
func Answer(p string) (string, error) {
	items, vocabulary, err := prompt.ParseRequest(p)
	if err != nil {
		return "", fmt.Errorf("llmtest: not a batch prompt: %w", err)
	}
	checked := prompt.WantsStart(p)
	reply := prompt.Reply{Results: make([]prompt.ReplyItem, 0, len(items))}
	for _, it := range items {
		ri := prompt.ReplyItem{ID: it.ID, Tags: Tags(it.Text, vocabulary)}
		if checked {
			ri.Start = copiedStart(it.Text)
		}
		reply.Results = append(reply.Results, ri)
	}
	b, err := json.Marshal(reply)
	if err != nil {
		return "", fmt.Errorf("llmtest: %w", err)
	}
	return string(b), nil
}

// copiedStart is the text up to the end of its third word, as a model
// copies it: case, punctuation and spacing as they are.
func copiedStart(text string) string {
	words, in := 0, false
	for i, r := range text {
		w := isWordRune(r)
		if in && !w {
			if words++; words == prompt.StartWords {
				return text[:i]
			}
		}
		in = w
	}
	return text
}
