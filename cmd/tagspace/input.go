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

// minLineBytes is the least line limit: JSON escaping can make a line of
// an item within the item-size limit up to six times longer (\uXXXX), so
// the limit is six times the item limit, and at least this.
const minLineBytes = 1 << 20

// lineLimit is the longest JSONL line read whole for an item limit of
// maxItemBytes.
func lineLimit(maxItemBytes int) int { return max(minLineBytes, 6*maxItemBytes+4096) }

// idPrefixBytes is how much of a line over the limit is kept to find its
// id.
const idPrefixBytes = 64 << 10

// itemLine is one input line. Pointers tell a missing key from an empty
// value: a line without "text" is malformed, a line with "text":"" is an
// item the library will fail on its own.
type itemLine struct {
	ID   *string `json:"id"`
	Text *string `json:"text"`
}

// longLine is a line over the line limit: it fails on its own, with its
// result at position pos among the items.
type longLine struct {
	pos, line int
	id        string
}

// readItems reads JSONL, one {"id","text"} object per line; other keys are
// ignored, blank lines skipped, a UTF-8 byte-order mark and CRLF endings
// tolerated. Every error names its 1-based line. Empty and duplicate ids are
// rejected here, before any provider is built, so bad input costs no call.
// A line longer than limit is not read whole: its id is taken from its
// start and it is returned in long, to fail alone.
func readItems(r io.Reader, limit int) (items []llmlimit.Item, long []longLine, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	firstLine := map[string]int{}
	for n := 1; ; n++ {
		line, tooLong, rerr := readLine(br, limit)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, nil, fmt.Errorf("after line %d: %w", n-1, rerr)
		}
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			id, item, err := parseLine(line, n, tooLong, limit, len(items)+len(long) == 0)
			if err != nil {
				return nil, nil, err
			}
			if first, dup := firstLine[id]; dup {
				return nil, nil, fmt.Errorf("line %d: duplicate id %q (first on line %d)", n, id, first)
			}
			firstLine[id] = n
			if tooLong {
				long = append(long, longLine{pos: len(items) + len(long), line: n, id: id})
			} else {
				items = append(items, item)
			}
		}
		if rerr != nil {
			break
		}
	}
	if len(items)+len(long) == 0 {
		return nil, nil, errors.New("no items")
	}
	return items, long, nil
}

// parseLine reads one non-blank line; of a line over the limit, only the
// id.
func parseLine(line []byte, n int, tooLong bool, limit int, first bool) (string, llmlimit.Item, error) {
	if first && line[0] == '[' {
		return "", llmlimit.Item{}, fmt.Errorf("line %d: this is a JSON array; give JSONL, one {\"id\",\"text\"} object a line", n)
	}
	if tooLong {
		id, ok := leadingID(line)
		if !ok {
			return "", llmlimit.Item{}, fmt.Errorf("line %d: longer than %d bytes, and no \"id\" in its first %d", n, limit, idPrefixBytes)
		}
		return id, llmlimit.Item{}, nil
	}
	var l itemLine
	if err := json.Unmarshal(line, &l); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && (te.Field == "id" || te.Field == "text") {
			return "", llmlimit.Item{}, fmt.Errorf("line %d: %q is a JSON %s; it must be a string (in quotes)", n, te.Field, te.Value)
		}
		return "", llmlimit.Item{}, fmt.Errorf("line %d: not a JSON object with string \"id\" and \"text\": %w", n, err)
	}
	switch {
	case l.ID == nil:
		return "", llmlimit.Item{}, fmt.Errorf("line %d: missing \"id\"", n)
	case strings.TrimSpace(*l.ID) == "":
		return "", llmlimit.Item{}, fmt.Errorf("line %d: empty id", n)
	case l.Text == nil:
		return "", llmlimit.Item{}, fmt.Errorf("line %d: item %q: missing \"text\"", n, *l.ID)
	}
	return *l.ID, llmlimit.Item{ID: *l.ID, Text: *l.Text}, nil
}

// readLine reads one line without its newline. A line longer than limit
// is cut to its first idPrefixBytes and the rest discarded: tooLong.
func readLine(br *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			line = append(line, chunk...)
			if len(line) > limit {
				tooLong = true
				n := min(len(line), idPrefixBytes)
				line = line[:n:n]
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(line, []byte("\n")), tooLong, err
	}
}

// leadingID finds the "id" of a JSON object from the start of its line,
// for a line too long to read whole: it reads keys in order and stops at
// the first value it can't read.
func leadingID(prefix []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(prefix))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return "", false
		}
		if key == "id" {
			var id string
			if dec.Decode(&id) != nil || strings.TrimSpace(id) == "" {
				return "", false
			}
			return id, true
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return "", false
		}
	}
	return "", false
}

// readTags reads a vocabulary, one tag a line. A line with a comma is an
// error: it is a list of tags on one line, and splitting it would guess.
// Blank lines and lines starting with # are skipped; tags are trimmed and repeats (ignoring case)
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
		if strings.Contains(t, ",") {
			return nil, fmt.Errorf("line %d: %q has commas: give one tag a line", n, t)
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
