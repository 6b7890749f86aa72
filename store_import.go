package llmlimit

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// The JSON cache file format that cmd/tagspace wrote before stores:
// {"format":"llmlimit-cache","version":1,"protocol":"...","entries":[{"key","tags"}]}.
const (
	cacheFormat  = "llmlimit-cache"
	cacheVersion = 1
)

type cacheEntry struct {
	Key  string   `json:"key"`
	Tags []string `json:"tags"`
}

// importChunk is how many entries Import writes per transaction.
const importChunk = 10_000

// Import adds the entries of a cache file in the JSON format cmd/tagspace
// wrote before stores (and LRUCache.Save in earlier versions), reading it
// as a stream so that a large file costs little memory, and returns how
// many it added. Their origin is unknown: TagSpace serves them only to runs
// that reuse results of any model ([WithCacheFromAnyModel]). Entries the
// store already has are kept.
//
// A file that is not such a cache file, or is damaged, is an error matching
// [ErrCorruptCache]; the entries read before the damage are kept, since
// each is complete and checked on its own.
func (s *Store) Import(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("llmlimit: import: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<16))
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w %s: %s", ErrCorruptCache, path, fmt.Sprintf(format, args...))
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0, corrupt("not a JSON object")
	}
	var format, protocol string
	version := 0
	added := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return added, corrupt("%v", err)
		}
		switch tok {
		case "format":
			err = dec.Decode(&format)
		case "version":
			err = dec.Decode(&version)
		case "protocol":
			err = dec.Decode(&protocol)
		case "entries":
			if format != cacheFormat || version != cacheVersion {
				return added, corrupt("format %q version %d, want %q version %d", format, version, cacheFormat, cacheVersion)
			}
			n, err := s.importEntries(dec, protocol, corrupt)
			added += n
			if err != nil {
				return added, err
			}
			continue
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return added, corrupt("%v", err)
		}
	}
	if format != cacheFormat {
		return added, corrupt("no format %q", cacheFormat)
	}
	return added, nil
}

func (s *Store) importEntries(dec *json.Decoder, protocol string, corrupt func(string, ...any) error) (int, error) {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return 0, corrupt("entries is not an array")
	}
	added := 0
	var recs []record
	flush := func() error {
		n, err := s.putNew(recs)
		added += n
		recs = recs[:0]
		return err
	}
	for i := 0; dec.More(); i++ {
		var e cacheEntry
		if err := dec.Decode(&e); err != nil {
			_ = flush()
			return added, corrupt("entry %d: %v", i, err)
		}
		k, err := e.check()
		if err != nil {
			_ = flush()
			return added, corrupt("entry %d: %v", i, err)
		}
		recs = append(recs, record{key: k, val: stored{tags: e.Tags, origin: origin{protocol: protocol}}})
		if len(recs) == importChunk {
			if err := flush(); err != nil {
				return added, err
			}
		}
	}
	if err := flush(); err != nil {
		return added, err
	}
	if _, err := dec.Token(); err != nil {
		return added, corrupt("%v", err)
	}
	return added, nil
}

// putNew writes the records whose keys the store doesn't have yet and
// returns how many.
func (s *Store) putNew(recs []record) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	keys := make([]resultKey, len(recs))
	for i, r := range recs {
		keys[i] = r.key
	}
	have := make([]bool, len(recs))
	ctx := context.Background()
	if err := s.lookup(ctx, keys, func(i int, _ stored) { have[i] = true }); err != nil {
		return 0, err
	}
	var fresh []record
	for i, r := range recs {
		if !have[i] {
			fresh = append(fresh, r)
		}
	}
	if err := s.put(ctx, fresh); err != nil {
		return 0, err
	}
	return len(fresh), nil
}

func (e cacheEntry) check() (resultKey, error) {
	var k resultKey
	if len(e.Key) != 2*sha256.Size {
		return k, fmt.Errorf("key of %d characters", len(e.Key))
	}
	for _, r := range e.Key {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return k, errors.New("key is not lower-case hex")
		}
	}
	if _, err := hex.Decode(k[:], []byte(e.Key)); err != nil {
		return k, err
	}
	if len(e.Tags) == 0 {
		return k, errors.New("no tags")
	}
	for _, t := range e.Tags {
		if t == "" {
			return k, errors.New("empty tag")
		}
	}
	return k, nil
}
