package llmlimit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

// Cache stores tags by key. Implementations must be safe for simultaneous use
// by multiple goroutines.
//
// A Cache keeps tags only, not where they came from, so TagSpace can't tell
// one model's tags from another's in it; it keeps an emulator's results
// apart from real ones by key (see [WithEmulator]). [LRUCache] and [Store]
// keep each result's origin and serve only what the run would produce.
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
	k := newKeyer(vocabulary).key(text)
	return hex.EncodeToString(k[:])
}

// resultKey is a cache key before hex encoding.
type resultKey [sha256.Size]byte

// keyer hashes the fixed part of cache keys once per run.
type keyer struct {
	prefix []byte
	// vocab is a short digest of the normalized vocabulary, recorded with
	// each stored result.
	vocab string
}

func newKeyer(vocabulary []string) keyer {
	return newKeyerFor(prompt.Version, vocabulary)
}

func newKeyerFor(protocol string, vocabulary []string) keyer {
	v := prompt.NormalizeVocabulary(vocabulary)
	slices.Sort(v)
	var b []byte
	b = appendPart(b, protocol)
	b = binary.BigEndian.AppendUint64(b, uint64(len(v)))
	for _, t := range v {
		b = appendPart(b, t)
	}
	sum := sha256.Sum256(b[len(appendPart(nil, protocol)):])
	return keyer{prefix: b, vocab: hex.EncodeToString(sum[:8])}
}

func (k keyer) key(text string) resultKey {
	h := sha256.New()
	h.Write(k.prefix)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(text)))
	h.Write(n[:])
	h.Write([]byte(text))
	var sum resultKey
	h.Sum(sum[:0])
	return sum
}

func appendPart(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// plainKey is the key of k in a [Cache] that keeps no origins: emulated
// results live under other keys than real ones, so that neither is served
// for the other.
func plainKey(k resultKey, emulated bool) string {
	if emulated {
		k = sha256.Sum256(append([]byte("llmlimit emulated result\x00"), k[:]...))
	}
	return hex.EncodeToString(k[:])
}

// LRUCache is a [Cache] that keeps the most recently used entries in
// memory, on github.com/hashicorp/golang-lru/v2 (not its expirable package,
// whose reaper goroutine can't be stopped). It is TagSpace's in-memory hot
// layer, in front of a [Store] when one is set. It copies tags in and out,
// so callers may modify what they pass or get. It is safe for simultaneous
// use by multiple goroutines.
//
// Entries that TagSpace adds record their origin (provider, model, whether
// an emulator produced them), and TagSpace serves them only to runs that
// would produce the same; entries added with Add have no known origin and
// are served only to runs that reuse results of any model
// ([WithCacheFromAnyModel]).
type LRUCache struct {
	c *lru.Cache[string, stored]
}

// NewLRUCache returns an empty cache of at most size entries; size must be at
// least 1.
func NewLRUCache(size int) (*LRUCache, error) {
	if size < 1 {
		return nil, fmt.Errorf("llmlimit: cache size %d: must be at least 1", size)
	}
	c, err := lru.New[string, stored](size)
	if err != nil {
		return nil, fmt.Errorf("llmlimit: cache: %w", err)
	}
	return &LRUCache{c: c}, nil
}

// Get returns a copy of the tags stored under key, whatever their origin,
// and marks the entry recently used.
func (c *LRUCache) Get(key string) ([]string, bool) {
	e, ok := c.c.Get(key)
	if !ok {
		return nil, false
	}
	return slices.Clone(e.tags), true
}

// Add stores a copy of tags under key, of unknown origin, evicting the least
// recently used entry when the cache is full.
func (c *LRUCache) Add(key string, tags []string) {
	c.c.Add(key, stored{tags: slices.Clone(tags)})
}

// Len returns the number of entries.
func (c *LRUCache) Len() int { return c.c.Len() }

func (c *LRUCache) getEntry(key string) (stored, bool) { return c.c.Get(key) }

// addEntry keeps e as given: TagSpace never changes an entry's tags after
// storing them and clones them on the way out.
func (c *LRUCache) addEntry(key string, e stored) { c.c.Add(key, e) }

// ErrCorruptCache matches errors from [OpenStore] and [Store.Import] for a
// file that is a result store or a cache file but can't be used: truncated,
// damaged, or of another format version. The file is left as it was;
// cmd/tagspace moves it aside and starts a new store.
var ErrCorruptCache = errors.New("llmlimit: corrupt cache file")

// ErrNotStore matches errors from [OpenStore] for a file that exists but is
// neither a result store nor a cache file that [Store.Import] reads, such
// as a results file named by mistake. The file is left as it was.
var ErrNotStore = errors.New("llmlimit: not a result store")
