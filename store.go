package llmlimit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Store is a persistent result store: every result TagSpace gets, with its
// origin, in one embedded database file (go.etcd.io/bbolt), behind
// TagSpace's in-memory [LRUCache] (see [WithStore]). Results are written as
// they arrive, in groups, so a process killed mid-run keeps what it had
// written; a run reads the store in chunks, so its memory doesn't grow with
// the store's size.
//
// A Store holds no file open between operations: each one opens the file,
// takes bbolt's lock (shared to read, exclusive to write), runs one short
// transaction and closes it. Several goroutines and several processes may
// therefore use one file at once; each waits for the others' transactions,
// which last milliseconds, and an operation that can't get the lock within
// 30 s fails. A Store is safe for simultaneous use by multiple goroutines.
type Store struct {
	path       string
	lockWait   time.Duration
	migrated   int
	migrateErr error
}

// Store file layout: bucket "meta" holds the format name and version;
// bucket "origins" maps a uvarint id to an encoded origin; bucket
// "results" maps a 32-byte cache key and the uvarint id of the result's
// origin (none for an unknown origin) to the encoded time and tags.
var (
	metaBucket    = []byte("meta")
	originsBucket = []byte("origins")
	resultsBucket = []byte("results")
	formatKey     = []byte("format")
	versionKey    = []byte("version")
)

const (
	storeFormat  = "llmlimit-store"
	storeVersion = "1"
	// storeReadChunk is how many keys one read transaction looks up. The
	// pages it touches stay mapped, and counted in RSS, until the file is
	// closed; the kernel maps up to 16 pages around each one touched, so
	// 256 lookups hold at most 16 MiB.
	storeReadChunk = 256
	// storeWriteMmap is how much of the file a writer maps from the start.
	storeWriteMmap = 1 << 30
	// storeChunk is how many keys a run looks up at once, and so
	// what bounds the pages of the file one lookup maps in at a time.
	storeChunk = 4096
)

// OpenStore opens the store at path, creating it (and missing directories,
// 0700; the file 0600) when there is none. It checks the file and closes it
// again; see [Store] for why.
//
// A file that is not a store is refused with an error matching
// [ErrNotStore], without reading more than its first page; a store that is
// damaged or of another format version with one matching
// [ErrCorruptCache]. Neither is changed. One exception: a cache file of the
// JSON format cmd/tagspace wrote before stores existed is migrated once:
// renamed to path+".v1", its entries imported into a new store at path
// (see [Store.Import] and [Store.Migrated]).
func OpenStore(path string) (*Store, error) {
	s := &Store{path: path, lockWait: 30 * time.Second}
	kind, err := sniffFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("llmlimit: store: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("llmlimit: store: %w", err)
	case kind == fileOldCache:
		if err := s.migrate(); err != nil {
			return nil, err
		}
		return s, nil
	case kind != fileStore:
		return nil, fmt.Errorf("%w: %s holds something else (remove it or name another file)", ErrNotStore, path)
	default:
		if err := checkBoltFile(path); err != nil {
			return nil, err
		}
	}
	if err := s.init(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// Path returns the store's file.
func (s *Store) Path() string { return s.path }

// Migrated returns how many entries OpenStore imported from an old cache
// file it found at the store's path (0 when it found none), and why it
// stopped short if it did: a damaged old file, whose entries before the
// damage were imported.
func (s *Store) Migrated() (int, error) { return s.migrated, s.migrateErr }

func (s *Store) migrate() error {
	old := s.path + ".v1"
	if _, err := os.Lstat(old); err == nil {
		return fmt.Errorf("llmlimit: store: %s is an old cache file, and %s exists too: remove one", s.path, old)
	}
	if err := os.Rename(s.path, old); err != nil {
		return fmt.Errorf("llmlimit: store: %w", err)
	}
	if err := s.init(context.Background()); err != nil {
		return err
	}
	s.migrated, s.migrateErr = s.Import(old)
	return nil
}

// init creates the buckets of a new store, or checks an existing store's
// format.
func (s *Store) init(ctx context.Context) error {
	db, err := s.open(ctx, false)
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		if meta == nil {
			if tx.Bucket(resultsBucket) != nil || bucketCount(tx) > 0 {
				return fmt.Errorf("%w: %s is a bbolt database of another program", ErrNotStore, s.path)
			}
			if meta, err = tx.CreateBucket(metaBucket); err != nil {
				return err
			}
			if err := meta.Put(formatKey, []byte(storeFormat)); err != nil {
				return err
			}
			if err := meta.Put(versionKey, []byte(storeVersion)); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(originsBucket); err != nil {
				return err
			}
			_, err := tx.CreateBucket(resultsBucket)
			return err
		}
		if f, v := meta.Get(formatKey), meta.Get(versionKey); string(f) != storeFormat || string(v) != storeVersion {
			return fmt.Errorf("%w %s: format %q version %q, want %q version %q", ErrCorruptCache, s.path, f, v, storeFormat, storeVersion)
		}
		if tx.Bucket(resultsBucket) == nil || tx.Bucket(originsBucket) == nil {
			return fmt.Errorf("%w %s: no results or origins bucket", ErrCorruptCache, s.path)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrCorruptCache) && !errors.Is(err, ErrNotStore) {
		return fmt.Errorf("llmlimit: store %s: %w", s.path, err)
	}
	return err
}

func bucketCount(tx *bolt.Tx) int {
	n := 0
	_ = tx.ForEach(func([]byte, *bolt.Bucket) error { n++; return nil })
	return n
}

// open opens the file and takes its lock, polling so that the wait honours
// ctx (bbolt's own wait doesn't) and hands over quickly: another process's
// transaction lasts milliseconds.
func (s *Store) open(ctx context.Context, readOnly bool) (*bolt.DB, error) {
	deadline := time.Now().Add(s.lockWait)
	pause := time.Millisecond
	for {
		// A timeout this short makes bbolt try the lock once.
		// A writer maps more than the file from the start, so that the
		// file's growth during a commit doesn't remap it (which copies
		// every node in memory); the mapping is address space, not RSS.
		mmap := 0
		if !readOnly {
			mmap = storeWriteMmap
		}
		db, err := bolt.Open(s.path, 0o600, &bolt.Options{
			Timeout: time.Nanosecond, ReadOnly: readOnly, FreelistType: bolt.FreelistMapType,
			InitialMmapSize: mmap,
		})
		if err == nil {
			return db, nil
		}
		if !errors.Is(err, berrors.ErrTimeout) {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("llmlimit: store: %w", err)
			}
			return nil, fmt.Errorf("%w %s: %v", ErrCorruptCache, s.path, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("llmlimit: store %s: locked by another process for more than %s", s.path, s.lockWait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}

// Len returns the number of results in the store: one per text and origin.
func (s *Store) Len() (int, error) {
	db, err := s.open(context.Background(), true)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	n := 0
	err = db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(resultsBucket).Stats().KeyN
		return nil
	})
	return n, err
}

// lookup calls found for every readable entry under each key, with the
// key's index: one per origin that tagged the text, since results of one
// origin never replace another's. Keys are read in chunks, in key order,
// each chunk in its own short transaction. found runs inside the
// transaction: it must be quick and must not call the store.
func (s *Store) lookup(ctx context.Context, keys []resultKey, found func(i int, e stored)) error {
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(keys[a][:], keys[b][:]) })
	// A file no larger than what a chunk may map is read in one go.
	chunkSize := storeReadChunk
	if fi, err := os.Stat(s.path); err == nil && fi.Size() <= storeReadChunk*16*4096 {
		chunkSize = max(len(order), 1)
	}
	for chunk := range slices.Chunk(order, chunkSize) {
		db, err := s.open(ctx, true)
		if err != nil {
			return err
		}
		err = db.View(func(tx *bolt.Tx) error {
			origins := readOrigins(tx)
			c := tx.Bucket(resultsBucket).Cursor()
			for _, i := range chunk {
				prefix := keys[i][:]
				for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
					var o origin
					if len(k) > len(prefix) {
						id, n := binary.Uvarint(k[len(prefix):])
						var known bool
						if o, known = origins[id]; n <= 0 || !known {
							continue
						}
					}
					at, tags, err := decodeValue(v)
					if err != nil {
						continue
					}
					o.at = at
					found(i, stored{tags: tags, origin: o})
				}
			}
			return nil
		})
		db.Close()
		if err != nil {
			return fmt.Errorf("llmlimit: store %s: %w", s.path, err)
		}
	}
	return nil
}

// readOrigins loads the origins dictionary; an entry it can't read is
// left out, and so are the results of that origin.
func readOrigins(tx *bolt.Tx) map[uint64]origin {
	m := map[uint64]origin{}
	_ = tx.Bucket(originsBucket).ForEach(func(k, v []byte) error {
		id, n := binary.Uvarint(k)
		if o, err := decodeOrigin(v); n > 0 && err == nil {
			m[id] = o
		}
		return nil
	})
	return m
}

// storeKey is where a result lives in the results bucket: its cache key,
// then its origin's id, so that each origin keeps its own result of a text
// (a demo on the emulator never replaces a paid result). Results of
// unknown origin have the cache key alone.
func storeKey(b []byte, key resultKey, originID uint64) []byte {
	b = append(b, key[:]...)
	if originID != 0 {
		b = binary.AppendUvarint(b, originID)
	}
	return b
}

// originIDs returns the dictionary id of every known origin of recs,
// adding the new ones to the dictionary.
func originIDs(tx *bolt.Tx, recs []record) (map[origin]uint64, error) {
	ids := map[origin]uint64{}
	b := tx.Bucket(originsBucket)
	for id, o := range readOrigins(tx) {
		ids[o] = id
	}
	for i := range recs {
		o := originKey(recs[i].val.origin)
		if !o.known() {
			continue
		}
		if _, ok := ids[o]; ok {
			continue
		}
		id, err := b.NextSequence()
		if err != nil {
			return nil, err
		}
		if err := b.Put(binary.AppendUvarint(nil, id), encodeOrigin(nil, o)); err != nil {
			return nil, err
		}
		ids[o] = id
	}
	return ids, nil
}

// record is one result to write.
type record struct {
	key resultKey
	val stored
}

// put writes recs in one transaction, replacing entries under the same
// keys. It sorts recs.
func (s *Store) put(ctx context.Context, recs []record) error {
	if len(recs) == 0 {
		return nil
	}
	// Sorted, the puts walk the tree in order; the origin suffix after the
	// key changes little of that order. Records are large: sort indices.
	order := make([]int32, len(recs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return bytes.Compare(recs[a].key[:], recs[b].key[:]) })
	db, err := s.open(ctx, false)
	if err != nil {
		return err
	}
	defer db.Close()
	// bbolt keeps the values it is given until the commit, so each gets
	// its own bytes: one arena, whose older arrays stay alive when it grows.
	size := 0
	for i := range recs {
		size += len(recs[i].key) + binary.MaxVarintLen64 + 1 + binary.MaxVarintLen64 + 1
		for _, t := range recs[i].val.tags {
			size += binary.MaxVarintLen64 + len(t)
		}
	}
	arena := make([]byte, 0, size)
	err = db.Update(func(tx *bolt.Tx) error {
		ids, err := originIDs(tx, recs)
		if err != nil {
			return err
		}
		b := tx.Bucket(resultsBucket)
		// Results of one reply share an origin (and its strings, so the
		// comparison is cheap); look the id up once per run of them.
		var last origin
		var lastID uint64
		for _, i := range order {
			v := &recs[i].val
			if o := originKey(v.origin); o != last || lastID == 0 {
				last, lastID = o, ids[o]
			}
			start := len(arena)
			arena = storeKey(arena, recs[i].key, lastID)
			mid := len(arena)
			arena = encodeValue(arena, v.origin.at, v.tags)
			if err := b.Put(arena[start:mid:mid], arena[mid:len(arena):len(arena)]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("llmlimit: store %s: write: %w", s.path, err)
	}
	return nil
}

// fileKind is what sniffFile found.
type fileKind int

const (
	fileOther fileKind = iota
	fileStore
	fileOldCache
)

// sniffFile reads the start of path to tell a bbolt file, an old JSON cache
// file and anything else apart, without reading a large file whole.
func sniffFile(path string) (fileKind, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileOther, err
	}
	if !fi.Mode().IsRegular() {
		return fileOther, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fileOther, err
	}
	defer f.Close()
	head := make([]byte, 64)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fileOther, err
	}
	head = head[:n]
	switch {
	case n == 0:
		// An empty file is what a crash during creation leaves; bbolt
		// initializes it.
		return fileStore, nil
	case isBoltHeader(head):
		return fileStore, nil
	case bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte(`{"format":"`+cacheFormat+`"`)):
		return fileOldCache, nil
	}
	return fileOther, nil
}

// isBoltHeader reports whether b starts with a bbolt meta page: a 16-byte
// page header with the meta flag, then the magic number, in either byte
// order.
func isBoltHeader(b []byte) bool {
	if len(b) < 20 {
		return false
	}
	le := b[16] == 0xed && b[17] == 0xda && b[18] == 0x0c && b[19] == 0xed
	be := b[16] == 0xed && b[17] == 0x0c && b[18] == 0xda && b[19] == 0xed
	return le || be
}
