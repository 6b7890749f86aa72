package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/llmlimit/llmlimit"
)

// storeFileName is the result store's name in the user cache directory:
// one store for every space, since keys include the vocabulary.
const storeFileName = "results.db"

// openStore opens the result store the command line names, or returns nil
// with -no-cache. A -cache-file that holds something else than a store is
// refused (exit 2) and left alone; a store or old cache file that can't be
// used is moved aside with a warning, never overwritten. Without
// -cache-file, the space's cache file of earlier versions
// (<dir>/<space>.cache) is imported once and renamed *.migrated.
func openStore(c *cli, space string, stderr io.Writer) (*llmlimit.Store, error) {
	if c.noCache {
		return nil, nil
	}
	path, err := c.storePath()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			return nil, err
		}
		fmt.Fprintf(stderr, "tagspace: results not stored: %v\n", err)
		return nil, nil
	}
	s, err := llmlimit.OpenStore(path)
	switch {
	case errors.Is(err, llmlimit.ErrNotStore) && c.cacheFile != "":
		return nil, usagef("-cache-file %s: %v", c.cacheFile, err)
	case errors.Is(err, llmlimit.ErrNotStore), errors.Is(err, llmlimit.ErrCorruptCache):
		aside := fmt.Sprintf("%s.broken-%s", path, time.Now().Format("20060102-150405"))
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("%v; moving it aside: %w", err, rerr)
		}
		fmt.Fprintf(stderr, "tagspace: warning: %v\ntagspace: moved it to %s and started a new store\n", err, aside)
		s, err = llmlimit.OpenStore(path)
	}
	if err != nil {
		return nil, err
	}
	if n, merr := s.Migrated(); n > 0 || merr != nil {
		fmt.Fprintf(stderr, "tagspace: imported %d results from the old cache file (kept as %s.v1)\n", n, path)
		if merr != nil {
			fmt.Fprintf(stderr, "tagspace: warning: %v\n", merr)
		}
	}
	if c.cacheFile == "" {
		importLegacy(s, filepath.Join(filepath.Dir(path), safeFileName(space)+".cache"), stderr)
	}
	return s, nil
}

// importLegacy imports a space's cache file of earlier versions once.
func importLegacy(s *llmlimit.Store, legacy string, stderr io.Writer) {
	if _, err := os.Lstat(legacy); err != nil {
		return
	}
	n, err := s.Import(legacy)
	if err != nil {
		fmt.Fprintf(stderr, "tagspace: warning: %v\n", err)
	}
	if rerr := os.Rename(legacy, legacy+".migrated"); rerr != nil {
		fmt.Fprintf(stderr, "tagspace: warning: %v\n", rerr)
		return
	}
	fmt.Fprintf(stderr, "tagspace: imported %d results from %s (renamed %s.migrated); "+
		"their origin is unknown, so only -reuse-cache-from-any-model serves them\n", n, legacy, legacy)
}

// storePath is where results persist between runs: -cache-file, or
// <user cache dir>/llmlimit/results.db.
func (c *cli) storePath() (string, error) {
	if c.cacheFile != "" {
		path := c.cacheFile
		if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
			return "", usagef("-cache-file %s: not a regular file (use -no-cache to skip the cache)", c.cacheFile)
		}
		return path, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "llmlimit", storeFileName), nil
}
