package main

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/llmlimit/llmlimit"
)

// spaceFiles holds the built-in spaces: NAME.jsonl (items) and NAME.tags
// (vocabulary) under spaces/. They are embedded so that `go run
// ./cmd/tagspace -space euheals` works from any directory without files.
//
//go:embed spaces/*.jsonl spaces/*.tags
var spaceFiles embed.FS

// builtinSpaces returns the names of the embedded spaces, sorted.
func builtinSpaces() []string {
	entries, _ := fs.Glob(spaceFiles, "spaces/*.jsonl")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(path.Base(e), ".jsonl"))
	}
	slices.Sort(names)
	return names
}

// builtinSpace loads an embedded space by name. A space without a .tags file
// is tagged freely.
func builtinSpace(name string) (llmlimit.Space, error) {
	if !slices.Contains(builtinSpaces(), name) {
		return llmlimit.Space{}, fmt.Errorf("unknown space %q (built-in: %s)", name, strings.Join(builtinSpaces(), ", "))
	}
	data, err := spaceFiles.ReadFile("spaces/" + name + ".jsonl")
	if err != nil {
		return llmlimit.Space{}, err
	}
	items, _, err := readItems(bytes.NewReader(data), minLineBytes)
	if err != nil {
		return llmlimit.Space{}, fmt.Errorf("space %s: %w", name, err)
	}
	s := llmlimit.Space{Name: name, Items: items}
	if tags, err := spaceFiles.ReadFile("spaces/" + name + ".tags"); err == nil {
		if s.Tags, err = readTags(bytes.NewReader(tags)); err != nil {
			return llmlimit.Space{}, fmt.Errorf("space %s: %w", name, err)
		}
	}
	return s, nil
}
