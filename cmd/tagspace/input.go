package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/llmlimit/llmlimit"
)

// maxLineBytes bounds one JSONL line. The library refuses items over 64 KiB
// by default; a line this long is a broken file, not a big item.
const maxLineBytes = 1 << 20

// itemLine is one input line. Pointers tell a missing key from an empty
// value: a line without "text" is malformed, a line with "text":"" is an
// item the library will fail on its own.
type itemLine struct {
	ID   *string `json:"id"`
	Text *string `json:"text"`
}

// readItems reads JSONL, one {"id","text"} object per line; other keys are
// ignored, blank lines skipped, a UTF-8 byte-order mark and CRLF endings
// tolerated. Every error names its 1-based line. Empty and duplicate ids are
// rejected here, before any provider is built, so bad input costs no call.
func readItems(r io.Reader) ([]llmlimit.Item, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	var items []llmlimit.Item
	firstLine := map[string]int{}
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var l itemLine
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, fmt.Errorf("line %d: not a JSON object with string \"id\" and \"text\": %w", n, err)
		}
		switch {
		case l.ID == nil:
			return nil, fmt.Errorf("line %d: missing \"id\"", n)
		case strings.TrimSpace(*l.ID) == "":
			return nil, fmt.Errorf("line %d: empty id", n)
		case l.Text == nil:
			return nil, fmt.Errorf("line %d: item %q: missing \"text\"", n, *l.ID)
		}
		if first, dup := firstLine[*l.ID]; dup {
			return nil, fmt.Errorf("line %d: duplicate id %q (first on line %d)", n, *l.ID, first)
		}
		firstLine[*l.ID] = n
		items = append(items, llmlimit.Item{ID: *l.ID, Text: *l.Text})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than %d bytes", n+1, maxLineBytes)
		}
		return nil, fmt.Errorf("after line %d: %w", n, err)
	}
	if len(items) == 0 {
		return nil, errors.New("no items")
	}
	return items, nil
}

// readTags reads a vocabulary, one tag a line. Blank lines and lines
// starting with # are skipped; tags are trimmed and repeats (ignoring case)
// dropped, keeping the first. An empty vocabulary is an error: a -tags file
// with nothing in it is a mistake, and free tagging is what omitting -tags
// asks for.
func readTags(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	var tags []string
	seen := map[string]bool{}
	for n := 1; sc.Scan(); n++ {
		t := strings.TrimSpace(sc.Text())
		if n == 1 {
			t = strings.TrimPrefix(t, "\ufeff")
		}
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if k := strings.ToLower(t); !seen[k] {
			seen[k] = true
			tags = append(tags, t)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, errors.New("no tags")
	}
	return tags, nil
}
