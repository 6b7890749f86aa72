package prompt

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTagBytes bounds one tag in free mode (no vocabulary). A longer "tag" is
// a sentence, not a tag, most likely an item text echoed back or a model
// following an instruction it found in an item; it is dropped.
const MaxTagBytes = 64

// ErrNoResults is returned by [ParseReply] for JSON that has no "results"
// array. It is a failed attempt, like any other invalid reply.
var ErrNoResults = errors.New("prompt: reply has no results array")

// NormalizeTag is how every tag is compared: trimmed and lower-cased.
func NormalizeTag(tag string) string { return strings.ToLower(strings.TrimSpace(tag)) }

// NormalizeVocabulary returns the vocabulary as tags are compared against it:
// each tag normalized with [NormalizeTag], empty ones dropped, duplicates
// removed, first occurrence kept, order preserved.
func NormalizeVocabulary(vocabulary []string) []string {
	out := make([]string, 0, len(vocabulary))
	seen := make(map[string]bool, len(vocabulary))
	for _, t := range vocabulary {
		t = NormalizeTag(t)
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
}

// ParseReply reads a model's reply to a batch and returns the valid tags of
// each item, by id. It owns the id→tags mapping, so that nothing a model
// writes can put tags on an item that was not asked about:
//
//   - ids not in batchIDs are ignored;
//   - when an id appears more than once with different tags, the id is
//     left out, as if the model had skipped it, so that the caller asks
//     again in a smaller batch. DESIGN.md said "duplicates keep the first";
//     but a model obeying an instruction in one item's text ("tag item 2 as
//     X") answers for item 2 twice, and keeping the first lets that text
//     decide another item's tags. Repeats with the same tags are harmless
//     and kept, and entries with no valid tag don't count;
//   - tags are normalized with [NormalizeTag], de-duplicated in order, and
//     filtered to the normalized vocabulary when it is not empty; in free
//     mode empty tags, tags over [MaxTagBytes] and tags with control
//     characters are dropped;
//   - an item left with no valid tag is omitted from the map: to the caller
//     it is missing, like an item the model skipped, and is asked again.
//
// The reply may be wrapped in a Markdown code fence (```json ... ```), as
// models without structured output tend to do. Invalid JSON, JSON of another
// shape, or JSON without a "results" array is an error; a valid reply that
// yields no item is not (the map is empty and the caller decides).
func ParseReply(text string, batchIDs []string, vocabulary []string) (map[string][]string, error) {
	return parseReply(text, batchIDs, nil, vocabulary)
}

// parseReply is ParseReply, and with starts (one per batch id) also checks
// each entry's "start" against its id's: an entry whose start is not its
// item's says nothing about the item, as if absent.
func parseReply(text string, batchIDs, starts []string, vocabulary []string) (map[string][]string, error) {
	body := stripFence(text)
	var r struct {
		Results *[]json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, fmt.Errorf("prompt: invalid reply: %w", err)
	}
	if r.Results == nil {
		return nil, ErrNoResults
	}

	inBatch := make(map[string]bool, len(batchIDs))
	for _, id := range batchIDs {
		inBatch[id] = true
	}
	var startOf map[string]string
	if starts != nil {
		startOf = make(map[string]string, len(batchIDs))
		for i, id := range batchIDs {
			if i < len(starts) {
				startOf[id] = starts[i]
			}
		}
	}
	var allowed map[string]bool
	if len(vocabulary) > 0 {
		v := NormalizeVocabulary(vocabulary)
		allowed = make(map[string]bool, len(v))
		for _, t := range v {
			allowed[t] = true
		}
	}

	out := make(map[string][]string, len(batchIDs))
	decided := make(map[string]bool, len(batchIDs))
	conflicted := map[string]bool{}
	for _, entry := range *r.Results {
		// Entries are decoded one by one so that a malformed entry (a
		// number for an id, a string for the tags) only loses itself.
		var res struct {
			ID    string          `json:"id"`
			Start json.RawMessage `json:"start"`
			Tags  json.RawMessage `json:"tags"`
		}
		if json.Unmarshal(entry, &res) != nil || !inBatch[res.ID] {
			continue
		}
		if startOf != nil && !startMatches(res.Start, startOf[res.ID]) {
			// Another item's start under this id: the model mixed up
			// ids, and these tags may be the other item's.
			continue
		}
		var raw []string
		if len(res.Tags) > 0 && json.Unmarshal(res.Tags, &raw) != nil {
			raw = nil
		}
		tags := cleanTags(raw, allowed)
		if len(tags) == 0 {
			// Says nothing valid about the item (an injected tag outside
			// the vocabulary, say): as if the entry were absent.
			continue
		}
		if decided[res.ID] {
			if !slices.Equal(tags, out[res.ID]) {
				conflicted[res.ID] = true
			}
			continue
		}
		decided[res.ID] = true
		out[res.ID] = tags
	}
	for id := range conflicted {
		delete(out, id)
	}
	return out, nil
}

// cleanTags normalizes, filters and de-duplicates tags; allowed nil means
// free mode.
func cleanTags(raw []string, allowed map[string]bool) []string {
	var tags []string
	for _, t := range raw {
		t = NormalizeTag(t)
		if t == "" {
			continue
		}
		if allowed != nil {
			if !allowed[t] {
				continue
			}
		} else if !freeTagOK(t) {
			continue
		}
		dup := false
		for _, u := range tags {
			if u == t {
				dup = true
				break
			}
		}
		if !dup {
			tags = append(tags, t)
		}
	}
	return tags
}

func freeTagOK(t string) bool {
	if len(t) > MaxTagBytes || !utf8.ValidString(t) {
		return false
	}
	for _, r := range t {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// stripFence removes surrounding whitespace and one Markdown code fence,
// with or without a language tag.
func stripFence(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "```") || !strings.HasSuffix(s, "```") || len(s) < 6 {
		return s
	}
	inner := s[3 : len(s)-3]
	// The opening fence's info string ("json") runs to the first newline.
	if i := strings.IndexByte(inner, '\n'); i >= 0 {
		if info := strings.TrimSpace(inner[:i]); info == "" || isWord(info) {
			inner = inner[i+1:]
		}
	} else {
		inner = strings.TrimPrefix(inner, "json")
	}
	return strings.TrimSpace(inner)
}

func isWord(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}
