package llmlimit

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
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

func TestLRUCacheConcurrent(t *testing.T) {
	c, _ := NewLRUCache(50)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := CacheKey(nil, fmt.Sprint(g, i))
				c.Add(k, []string{"t"})
				c.Get(k)
			}
		})
	}
	wg.Wait()
	if c.Len() != 50 {
		t.Fatalf("Len = %d, want 50", c.Len())
	}
}
