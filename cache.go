package llmlimit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

// Cache stores tags by key. Implementations must be safe for simultaneous use
// by multiple goroutines.
type Cache interface {
	Get(key string) (tags []string, ok bool)
	Add(key string, tags []string)
}

// CacheKey is the key [TagSpace] caches an item's tags under: the hex SHA-256
// of the batch-protocol version, the vocabulary and the item's text. The
// vocabulary is normalized (trimmed, lower-cased, de-duplicated) and sorted
// first, so that reordering or re-casing it keeps the cache; a new protocol
// version or any change to the set of tags invalidates it. Every part is
// length-prefixed, so no two inputs share a key by concatenation.
func CacheKey(vocabulary []string, text string) string {
	return newKeyer(vocabulary).key(text)
}

// keyer hashes the fixed part of cache keys once per run.
type keyer struct{ prefix []byte }

func newKeyer(vocabulary []string) keyer {
	v := prompt.NormalizeVocabulary(vocabulary)
	slices.Sort(v)
	var b []byte
	b = appendPart(b, prompt.Version)
	b = binary.BigEndian.AppendUint64(b, uint64(len(v)))
	for _, t := range v {
		b = appendPart(b, t)
	}
	return keyer{prefix: b}
}

func (k keyer) key(text string) string {
	h := sha256.New()
	h.Write(k.prefix)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(text)))
	h.Write(n[:])
	h.Write([]byte(text))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

func appendPart(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// LRUCache is a [Cache] that keeps the most recently used entries, on
// github.com/hashicorp/golang-lru/v2 (not its expirable package, whose reaper
// goroutine can't be stopped). It copies tags in and out, so callers may
// modify what they pass or get. It is safe for simultaneous use by multiple
// goroutines.
//
// Save and Load persist it to a file that holds keys (hashes) and tags only,
// never item text.
type LRUCache struct {
	c *lru.Cache[string, []string]
}

// NewLRUCache returns an empty cache of at most size entries; size must be at
// least 1.
func NewLRUCache(size int) (*LRUCache, error) {
	if size < 1 {
		return nil, fmt.Errorf("llmlimit: cache size %d: must be at least 1", size)
	}
	c, err := lru.New[string, []string](size)
	if err != nil {
		return nil, fmt.Errorf("llmlimit: cache: %w", err)
	}
	return &LRUCache{c: c}, nil
}

// Get returns a copy of the tags stored under key and marks it recently used.
func (c *LRUCache) Get(key string) ([]string, bool) {
	tags, ok := c.c.Get(key)
	if !ok {
		return nil, false
	}
	return slices.Clone(tags), true
}

// Add stores a copy of tags under key, evicting the least recently used entry
// when the cache is full.
func (c *LRUCache) Add(key string, tags []string) { c.c.Add(key, slices.Clone(tags)) }

// Len returns the number of entries.
func (c *LRUCache) Len() int { return c.c.Len() }

// cacheFile is the on-disk form. Entries run from least to most recently
// used, so that Load restores the order of eviction.
type cacheFile struct {
	Format   string       `json:"format"`
	Version  int          `json:"version"`
	Protocol string       `json:"protocol"`
	Entries  []cacheEntry `json:"entries"`
}

type cacheEntry struct {
	Key  string   `json:"key"`
	Tags []string `json:"tags"`
}

const (
	cacheFormat  = "llmlimit-cache"
	cacheVersion = 1
)

// Save writes the cache to path atomically: to a temporary file in the same
// directory, synced, then renamed over path, so a crash or a concurrent
// reader never sees a partial file. The file is created 0600 and missing
// directories 0700, since tags can reveal what was tagged. Entries added
// while Save runs may or may not be included.
func (c *LRUCache) Save(path string) error {
	f := cacheFile{Format: cacheFormat, Version: cacheVersion, Protocol: prompt.Version, Entries: []cacheEntry{}}
	for _, k := range c.c.Keys() {
		// Peek leaves recency alone; an entry evicted since Keys is skipped.
		if tags, ok := c.c.Peek(k); ok {
			f.Entries = append(f.Entries, cacheEntry{Key: k, Tags: tags})
		}
	}
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("llmlimit: save cache: %w", err)
	}
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("llmlimit: save cache: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte) (err error) {
	// Renaming over a device or a named pipe would replace it with a
	// regular file (as root, /dev/null included); refuse instead.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes 0600 files, but say so rather than rely on it.
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ErrCorruptCache matches errors from [LRUCache.Load] for a file that exists
// but can't be used: truncated, not a cache file, another format version or
// batch-protocol version. Callers are expected to report it and carry on
// with an empty cache; the next Save replaces the file.
var ErrCorruptCache = errors.New("llmlimit: corrupt cache file")

// Load adds the entries of a file written by [LRUCache.Save]; entries beyond
// the cache's size evict the least recently used ones. A missing file is an
// error matching os.ErrNotExist, which callers usually ignore. A corrupt
// file is an error matching [ErrCorruptCache], and the cache is left
// unchanged: the whole file is checked before anything is added.
func (c *LRUCache) Load(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("llmlimit: load cache: %w", err)
	}
	var f cacheFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("%w %s: %v", ErrCorruptCache, path, err)
	}
	if f.Format != cacheFormat || f.Version != cacheVersion {
		return fmt.Errorf("%w %s: format %q version %d, want %q version %d",
			ErrCorruptCache, path, f.Format, f.Version, cacheFormat, cacheVersion)
	}
	if f.Protocol != prompt.Version {
		return fmt.Errorf("%w %s: protocol %q, want %q", ErrCorruptCache, path, f.Protocol, prompt.Version)
	}
	for i, e := range f.Entries {
		if err := e.check(); err != nil {
			return fmt.Errorf("%w %s: entry %d: %v", ErrCorruptCache, path, i, err)
		}
	}
	for _, e := range f.Entries {
		c.c.Add(e.Key, e.Tags)
	}
	return nil
}

func (e cacheEntry) check() error {
	if len(e.Key) != 2*sha256.Size {
		return fmt.Errorf("key of %d characters", len(e.Key))
	}
	for _, r := range e.Key {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return errors.New("key is not lower-case hex")
		}
	}
	if len(e.Tags) == 0 {
		return errors.New("no tags")
	}
	for _, t := range e.Tags {
		if t == "" {
			return errors.New("empty tag")
		}
	}
	return nil
}
