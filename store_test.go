package llmlimit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

func openTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := OpenStore(filepath.Join(t.TempDir(), "deep", "store", "results.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testRecord(text string, tags ...string) record {
	k := newKeyer(nil)
	return record{key: k.key(text), val: stored{tags: tags, origin: origin{
		provider: "gemini", model: "gemini-2.5-flash", served: "gemini-2.5-flash-001",
		protocol: prompt.Version, vocab: k.vocab, at: time.Unix(1700000000, 0),
	}}}
}

func TestStorePutLookup(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	a, b := testRecord("first", "x", "y"), testRecord("second", "z")
	b.val.origin.emulated = true
	if err := s.put(ctx, []record{a, b}); err != nil {
		t.Fatal(err)
	}
	keys := []resultKey{b.key, newKeyer(nil).key("missing"), a.key}
	got := map[int]stored{}
	if err := s.lookup(ctx, keys, func(i int, e stored) {
		if _, dup := got[i]; dup {
			t.Errorf("key %d found twice", i)
		}
		got[i] = e
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !slices.Equal(got[0].tags, []string{"z"}) || got[0].origin != b.val.origin ||
		!slices.Equal(got[2].tags, []string{"x", "y"}) || got[2].origin != a.val.origin {
		t.Fatalf("lookup = %+v", got)
	}
	if n, err := s.Len(); err != nil || n != 2 {
		t.Fatalf("Len = %d, %v", n, err)
	}
	// Another origin's result of the same text is kept beside the first,
	// and both are found; the same origin's replaces its own.
	other := testRecord("first", "w")
	other.val.origin.model = "gemini-2.5-pro"
	again := testRecord("first", "x", "v")
	if err := s.put(ctx, []record{other, again}); err != nil {
		t.Fatal(err)
	}
	var tags [][]string
	s.lookup(ctx, []resultKey{a.key}, func(_ int, e stored) { tags = append(tags, e.tags) })
	if len(tags) != 2 || !slices.ContainsFunc(tags, func(t []string) bool { return slices.Equal(t, []string{"w"}) }) ||
		!slices.ContainsFunc(tags, func(t []string) bool { return slices.Equal(t, []string{"x", "v"}) }) {
		t.Fatalf("results of %q: %q", "first", tags)
	}
	// Modes: the file and the directories OpenStore made are owner-only.
	for p, want := range map[string]os.FileMode{s.Path(): 0o600, filepath.Dir(s.Path()): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", p, fi.Mode().Perm(), err, want)
		}
	}
}

// TestStoreKeepsEveryResult writes more results than any LRU setting would
// keep, in many transactions, and reads them all back from a new Store.
func TestStoreKeepsEveryResult(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	const n = 3000
	var keys []resultKey
	for chunk := range 30 {
		var recs []record
		for i := range n / 30 {
			r := testRecord(fmt.Sprint("item ", chunk, " ", i), "t")
			recs = append(recs, r)
			keys = append(keys, r.key)
		}
		if err := s.put(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	again, err := OpenStore(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	if err := again.lookup(ctx, keys, func(int, stored) { found++ }); err != nil {
		t.Fatal(err)
	}
	if found != n {
		t.Fatalf("found %d of %d results", found, n)
	}
}

// TestOpenStoreRefuses checks what OpenStore does with files that are not
// stores: it refuses them and leaves them as they were, reading no more
// than their first bytes.
func TestOpenStoreRefuses(t *testing.T) {
	good := openTestStore(t)
	if err := good.put(context.Background(), []record{testRecord("a", "x")}); err != nil {
		t.Fatal(err)
	}
	goodData, _ := os.ReadFile(good.Path())
	tests := []struct {
		name    string
		content []byte
		want    error
	}{
		{"results file", []byte(`{"id":"a","tags":["x"],"provider":"gemini","cached":false}` + "\n"), ErrNotStore},
		{"garbage", []byte("\x00\x01PK\x03\x04 not a store"), ErrNotStore},
		{"truncated store", goodData[:4096+100], ErrCorruptCache},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "results.db")
			if err := os.WriteFile(path, tt.content, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenStore(path); !errors.Is(err, tt.want) {
				t.Fatalf("OpenStore = %v, want %v", err, tt.want)
			}
			if data, _ := os.ReadFile(path); string(data) != string(tt.content) {
				t.Fatal("OpenStore changed the file")
			}
		})
	}
	t.Run("other program's bbolt", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "other.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("theirs")); return err })
		db.Close()
		if _, err := OpenStore(path); !errors.Is(err, ErrNotStore) {
			t.Fatalf("OpenStore = %v, want ErrNotStore", err)
		}
	})
	t.Run("other version", func(t *testing.T) {
		db, _ := bolt.Open(good.Path(), 0o600, nil)
		db.Update(func(tx *bolt.Tx) error { return tx.Bucket(metaBucket).Put(versionKey, []byte("99")) })
		db.Close()
		if _, err := OpenStore(good.Path()); !errors.Is(err, ErrCorruptCache) {
			t.Fatalf("OpenStore = %v, want ErrCorruptCache", err)
		}
	})
	t.Run("1 GiB of junk", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "junk.db")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("junk, then a sparse gigabyte")
		if err := f.Truncate(1 << 30); err != nil {
			t.Skip(err)
		}
		f.Close()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		_, err = OpenStore(path)
		runtime.ReadMemStats(&m1)
		if !errors.Is(err, ErrNotStore) {
			t.Fatalf("OpenStore = %v, want ErrNotStore", err)
		}
		if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 1<<20 {
			t.Errorf("OpenStore allocated %d bytes for a file it refused", alloc)
		}
	})
}

// TestStoreMigratesOldCacheFile puts a JSON cache file of the old format
// where the store goes: OpenStore keeps it as path.v1 and imports its
// entries, of unknown origin.
func TestStoreMigratesOldCacheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "space.cache")
	k1, k2 := CacheKey(nil, "one"), CacheKey(nil, "two")
	old := fmt.Sprintf(`{"format":"llmlimit-cache","version":1,"protocol":%q,"entries":[{"key":%q,"tags":["a"]},{"key":%q,"tags":["b","c"]}]}`,
		prompt.Version, k1, k2)
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Migrated(); n != 2 || err != nil {
		t.Fatalf("Migrated = %d, %v", n, err)
	}
	if data, _ := os.ReadFile(path + ".v1"); string(data) != old {
		t.Fatal("old file not kept as .v1")
	}
	var got []stored
	s.lookup(context.Background(), []resultKey{newKeyer(nil).key("two")}, func(_ int, e stored) { got = append(got, e) })
	if len(got) != 1 || !slices.Equal(got[0].tags, []string{"b", "c"}) || got[0].origin.known() {
		t.Fatalf("imported %+v", got)
	}
	// Opening again is an ordinary open.
	if s2, err := OpenStore(path); err != nil || func() int { n, _ := s2.Migrated(); return n }() != 0 {
		t.Fatalf("reopen: %v", err)
	}
}

func TestStoreImportCorrupt(t *testing.T) {
	key := CacheKey(nil, "x")
	good := fmt.Sprintf(`{"format":"llmlimit-cache","version":1,"protocol":%q,"entries":[{"key":%q,"tags":["a"]}]}`, prompt.Version, key)
	tests := []struct{ name, content string }{
		{"empty", ""},
		{"garbage", "\x00\x01not json"},
		{"truncated", good[:len(good)/2]},
		{"other format", strings.Replace(good, "llmlimit-cache", "other", 1)},
		{"other version", strings.Replace(good, `"version":1`, `"version":2`, 1)},
		{"short key", strings.Replace(good, key, key[:10], 1)},
		{"upper-case key", strings.Replace(good, key, strings.ToUpper(key), 1)},
		{"no tags", strings.Replace(good, `["a"]`, `[]`, 1)},
		{"empty tag", strings.Replace(good, `["a"]`, `["a",""]`, 1)},
		{"tags not strings", strings.Replace(good, `["a"]`, `[1]`, 1)},
	}
	s := openTestStore(t)
	path := filepath.Join(t.TempDir(), "c.cache")
	os.WriteFile(path, []byte(good), 0o600)
	if n, err := s.Import(path); err != nil || n != 1 {
		t.Fatalf("Import(good) = %d, %v", n, err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			path := filepath.Join(t.TempDir(), "c.cache")
			os.WriteFile(path, []byte(tt.content), 0o600)
			if n, err := s.Import(path); !errors.Is(err, ErrCorruptCache) || n != 0 {
				t.Fatalf("Import = %d, %v, want ErrCorruptCache and nothing added", n, err)
			}
		})
	}
}

// FuzzDecodeValue feeds the result decoder arbitrary bytes: it never
// panics, and what it accepts encodes back to the same bytes.
func FuzzDecodeValue(f *testing.F) {
	r := testRecord("a", "x", "y")
	f.Add(encodeValue(nil, r.val.origin.at, r.val.tags))
	f.Add([]byte{1, 0, 1, 1, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		at, tags, err := decodeValue(b)
		if err != nil {
			return
		}
		if len(tags) == 0 || slices.Contains(tags, "") {
			t.Fatalf("accepted %q", tags)
		}
		if again := encodeValue(nil, at, tags); string(again) != string(b) {
			t.Fatalf("round trip %x -> %x", b, again)
		}
	})
}

// FuzzDecodeOrigin does the same for the origin decoder.
func FuzzDecodeOrigin(f *testing.F) {
	f.Add(encodeOrigin(nil, testRecord("a", "x").val.origin))
	f.Add([]byte{1, 1, 1, 'g', 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := decodeOrigin(b)
		if err != nil {
			return
		}
		if again := encodeOrigin(nil, o); string(again) != string(b) {
			t.Fatalf("round trip %x -> %x", b, again)
		}
	})
}

// FuzzStoreImport feeds Import arbitrary files: it never panics and adds
// only well-formed entries.
func FuzzStoreImport(f *testing.F) {
	key := CacheKey(nil, "x")
	f.Add(fmt.Sprintf(`{"format":"llmlimit-cache","version":1,"protocol":%q,"entries":[{"key":%q,"tags":["a"]}]}`, prompt.Version, key))
	f.Add(`{"format":"llmlimit-cache","version":1,"protocol":"tagspace/v1","entries":null}`)
	f.Add(`{"entries":[{"key":"zz","tags":[""]}]}`)
	f.Fuzz(func(t *testing.T, content string) {
		s := openTestStore(t)
		path := filepath.Join(t.TempDir(), "c.cache")
		os.WriteFile(path, []byte(content), 0o600)
		n, _ := s.Import(path)
		if got, err := s.Len(); err != nil || got != n {
			t.Fatalf("Import said %d, store holds %d (%v)", n, got, err)
		}
	})
}
