package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
)

// pathArg is a file the command line names.
type pathArg struct {
	flag, path string
	output     bool
}

// checkPaths refuses, before any call, command lines that would destroy a
// file: an output that is the same file as another output or as an input,
// an output that is a symlink (unless -follow-symlinks), and an -out or
// -report that exists but is read-only or holds something else than what
// the command writes there. The -cache-file's content is OpenStore's to
// judge.
func checkPaths(c *cli) error {
	all := []pathArg{
		{"-in", c.in, false}, {"-tags", c.tags, false},
		{"-out", c.out, true}, {"-report", c.report, true}, {"-cache-file", c.cacheFile, true},
	}
	var args []pathArg
	for _, a := range all {
		if a.path != "" {
			args = append(args, a)
		}
	}
	for i, a := range args {
		if !a.output {
			continue
		}
		if fi, err := os.Lstat(a.path); err == nil && fi.Mode()&os.ModeSymlink != 0 && !c.followSymlinks {
			return usagef("%s %s is a symlink; pass -follow-symlinks to write to the file it points to", a.flag, a.path)
		}
		for _, b := range args[:i] {
			if sameFile(a.path, b.path) {
				return usagef("%s %s is the same file as %s %s", a.flag, a.path, b.flag, b.path)
			}
		}
	}
	for _, a := range args {
		if a.flag == "-out" || a.flag == "-report" {
			if err := checkExisting(a); err != nil {
				return err
			}
		}
	}
	return nil
}

// sameFile reports whether two paths name one file: os.SameFile when both
// exist, else the same absolute path once the directories' links are
// resolved.
func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	return canonical(a) == canonical(b)
}

func canonical(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	dir, base := filepath.Split(abs)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return filepath.Join(dir, base)
}

// checkExisting refuses an existing regular -out or -report file that is
// read-only (a rename would replace it anyway, and as root even writing
// would succeed) or that doesn't hold what the command writes there: a
// results file starts with a result line, a report is a JSON object with
// "space" and "items". Devices and pipes are written in place and left to
// the system.
func checkExisting(a pathArg) error {
	fi, err := os.Stat(a.path)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	if fi.Mode().Perm()&0o222 == 0 {
		return usagef("%s %s is read-only; make it writable or name another file", a.flag, a.path)
	}
	if fi.Size() == 0 {
		return nil
	}
	f, err := os.Open(a.path)
	if err != nil {
		return usagef("%s %s: %w", a.flag, a.path, err)
	}
	defer f.Close()
	ok := false
	if a.flag == "-out" {
		ok = looksLikeResults(f)
	} else {
		ok = looksLikeReport(f)
	}
	if !ok {
		what := "a results file"
		if a.flag == "-report" {
			what = "a report"
		}
		return usagef("%s %s exists and is not %s of this command; remove it or name another file", a.flag, a.path, what)
	}
	return nil
}

// looksLikeResults reports whether r starts with a result line: a JSON
// object with "id" and "tags" or "error".
func looksLikeResults(r io.Reader) bool {
	line, err := bufio.NewReaderSize(r, 1<<16).ReadSlice('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	var l map[string]json.RawMessage
	if json.Unmarshal(bytes.TrimSpace(line), &l) != nil {
		return false
	}
	_, id := l["id"]
	_, tags := l["tags"]
	_, failed := l["error"]
	return id && (tags || failed)
}

// looksLikeReport reports whether r holds a JSON object with "space" and
// "items", reading at most 16 MiB.
func looksLikeReport(r io.Reader) bool {
	var rep map[string]json.RawMessage
	if json.NewDecoder(io.LimitReader(r, 16<<20)).Decode(&rep) != nil {
		return false
	}
	_, space := rep["space"]
	_, items := rep["items"]
	return space && items
}
