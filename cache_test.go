package llmlimit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

func TestCacheKey(t *testing.T) {
	base := CacheKey([]string{"cancer", "tobacco"}, "smoking ban")
	if len(base) != 64 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Fatalf("CacheKey = %q, want 64 lower-case hex digits", base)
	}
	same := []struct {
		name  string
		vocab []string
		text  string
	}{
		{"reordered vocabulary", []string{"tobacco", "cancer"}, "smoking ban"},
		{"re-cased and padded vocabulary", []string{" Cancer", "TOBACCO "}, "smoking ban"},
		{"repeated vocabulary tag", []string{"cancer", "tobacco", "cancer", ""}, "smoking ban"},
	}
	for _, tt := range same {
		if got := CacheKey(tt.vocab, tt.text); got != base {
			t.Errorf("%s: CacheKey = %s, want %s", tt.name, got, base)
		}
	}
	// Pairs that a naive concatenation would confuse must differ.
	different := [][2]struct {
		vocab []string
		text  string
	}{
		{{[]string{"a", "b"}, "c"}, {[]string{"ab"}, "c"}},
		{{nil, "x"}, {[]string{"x"}, ""}},
		{{[]string{"a"}, "bc"}, {[]string{"ab"}, "c"}},
		{{nil, "smoking ban"}, {[]string{"cancer"}, "smoking ban"}},
		{{nil, "Smoking ban"}, {nil, "smoking ban"}},
	}
	for _, d := range different {
		if CacheKey(d[0].vocab, d[0].text) == CacheKey(d[1].vocab, d[1].text) {
			t.Errorf("CacheKey(%q, %q) == CacheKey(%q, %q)", d[0].vocab, d[0].text, d[1].vocab, d[1].text)
		}
	}
}

func TestNewLRUCacheSize(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := NewLRUCache(n); err == nil || !strings.HasPrefix(err.Error(), "llmlimit: cache size") {
			t.Errorf("NewLRUCache(%d) error = %v, want one naming the cache size", n, err)
		}
	}
}

func TestLRUCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c, err := NewLRUCache(2)
	if err != nil {
		t.Fatal(err)
	}
	c.Add("a", []string{"x"})
	c.Add("b", []string{"y"})
	c.Get("a") // b is now the least recently used
	c.Add("c", []string{"z"})
	for key, want := range map[string]bool{"a": true, "b": false, "c": true} {
		if _, ok := c.Get(key); ok != want {
			t.Errorf("Get(%q) ok = %v, want %v", key, ok, want)
		}
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
}

func TestLRUCacheCopies(t *testing.T) {
	c, _ := NewLRUCache(4)
	in := []string{"cancer"}
	c.Add("k", in)
	in[0] = "changed"
	out, _ := c.Get("k")
	out[0] = "changed too"
	if got, _ := c.Get("k"); !slices.Equal(got, []string{"cancer"}) {
		t.Fatalf("Get = %q after callers modified their slices, want [cancer]", got)
	}
}

func TestLRUCacheSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "deep", "cache")
	path := filepath.Join(dir, "space.cache")
	src, _ := NewLRUCache(10)
	texts := []string{"first item text", "second item text", "third item text"}
	for i, text := range texts {
		src.Add(CacheKey(nil, text), []string{fmt.Sprintf("tag-%d", i)})
	}
	if err := src.Save(path); err != nil {
		t.Fatal(err)
	}

	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", st.Mode().Perm())
	}
	dst, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if dst.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", dst.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	for _, text := range texts {
		if strings.Contains(string(data), text) {
			t.Errorf("cache file holds item text %q", text)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d files after Save, want 1 (no temp files left)", len(entries))
	}

	// A cache of 2 keeps the 2 most recently used entries of the file.
	small, _ := NewLRUCache(2)
	if err := small.Load(path); err != nil {
		t.Fatal(err)
	}
	for i, text := range texts {
		tags, ok := small.Get(CacheKey(nil, text))
		if want := i > 0; ok != want {
			t.Errorf("entry %d present = %v, want %v", i, ok, want)
		}
		if ok && !slices.Equal(tags, []string{fmt.Sprintf("tag-%d", i)}) {
			t.Errorf("entry %d tags = %q", i, tags)
		}
	}

	// Saving again replaces the file atomically.
	src.Add(CacheKey(nil, "fourth"), []string{"tag-3"})
	if err := src.Save(path); err != nil {
		t.Fatal(err)
	}
	again, _ := NewLRUCache(10)
	if err := again.Load(path); err != nil {
		t.Fatal(err)
	}
	if again.Len() != 4 {
		t.Errorf("Len after reload = %d, want 4", again.Len())
	}
}

func TestLRUCacheLoadMissing(t *testing.T) {
	c, _ := NewLRUCache(2)
	err := c.Load(filepath.Join(t.TempDir(), "nope.cache"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing file = %v, want os.ErrNotExist", err)
	}
}

func TestLRUCacheLoadCorrupt(t *testing.T) {
	key := CacheKey(nil, "x")
	good := fmt.Sprintf(`{"format":"llmlimit-cache","version":1,"protocol":%q,"entries":[{"key":%q,"tags":["a"]}]}`, prompt.Version, key)
	tests := []struct{ name, content string }{
		{"empty", ""},
		{"garbage", "\x00\x01not json"},
		{"truncated", good[:len(good)/2]},
		{"other format", strings.Replace(good, "llmlimit-cache", "other", 1)},
		{"other version", strings.Replace(good, `"version":1`, `"version":2`, 1)},
		{"other protocol", strings.Replace(good, prompt.Version, "tagspace/v0", 1)},
		{"short key", strings.Replace(good, key, key[:10], 1)},
		{"upper-case key", strings.Replace(good, key, strings.ToUpper(key), 1)},
		{"no tags", strings.Replace(good, `["a"]`, `[]`, 1)},
		{"empty tag", strings.Replace(good, `["a"]`, `["a",""]`, 1)},
		{"tags not strings", strings.Replace(good, `["a"]`, `[1]`, 1)},
	}
	// The good file must load, or the cases above prove nothing.
	path := filepath.Join(t.TempDir(), "c.cache")
	os.WriteFile(path, []byte(good), 0o600)
	c, _ := NewLRUCache(4)
	if err := c.Load(path); err != nil || c.Len() != 1 {
		t.Fatalf("Load(good) = %v, Len %d", err, c.Len())
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.cache")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			c, _ := NewLRUCache(4)
			c.Add("keep", []string{"me"})
			err := c.Load(path)
			if !errors.Is(err, ErrCorruptCache) {
				t.Fatalf("Load = %v, want ErrCorruptCache", err)
			}
			if c.Len() != 1 {
				t.Errorf("Len = %d after a failed Load, want 1 (unchanged)", c.Len())
			}
		})
	}
}

func TestLRUCacheConcurrent(t *testing.T) {
	c, _ := NewLRUCache(50)
	path := filepath.Join(t.TempDir(), "c.cache")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := CacheKey(nil, fmt.Sprint(g, i))
				c.Add(k, []string{"t"})
				c.Get(k)
				if i%50 == 0 {
					if err := c.Save(path); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	d, _ := NewLRUCache(50)
	if err := d.Load(path); err != nil {
		t.Fatal(err)
	}
}

// FuzzLRUCacheLoad feeds Load arbitrary files: it never panics, and either
// fails leaving the cache unchanged or adds only well-formed entries.
func FuzzLRUCacheLoad(f *testing.F) {
	key := CacheKey(nil, "x")
	f.Add(fmt.Sprintf(`{"format":"llmlimit-cache","version":1,"protocol":%q,"entries":[{"key":%q,"tags":["a"]}]}`, prompt.Version, key))
	f.Add(`{"format":"llmlimit-cache","version":1,"protocol":"tagspace/v1","entries":null}`)
	f.Add(`{"entries":[{"key":"zz","tags":[""]}]}`)
	f.Add("")
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(t.TempDir(), "c.cache")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c, _ := NewLRUCache(8)
		c.Add("keep", []string{"me"})
		if err := c.Load(path); err != nil {
			if c.Len() != 1 {
				t.Fatalf("failed Load changed the cache: Len %d", c.Len())
			}
			return
		}
		for _, k := range c.c.Keys() {
			if k == "keep" {
				continue
			}
			tags, _ := c.c.Peek(k)
			if (cacheEntry{Key: k, Tags: tags}).check() != nil {
				t.Fatalf("Load accepted entry %q %q", k, tags)
			}
		}
	})
}

func TestLRUCacheSaveRefusesNonRegularFiles(t *testing.T) {
	c, _ := NewLRUCache(4)
	c.Add("k", []string{"t"})
	if err := c.Save(t.TempDir()); err == nil {
		t.Fatal("Save over a directory succeeded")
	}
	if err := c.Save(os.DevNull); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Save(%s) = %v, want a refusal", os.DevNull, err)
	}
	if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode().IsRegular() {
		t.Fatalf("%s is now %v", os.DevNull, fi.Mode())
	}
}
