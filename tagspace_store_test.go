package llmlimit

import (
	"path/filepath"
	"sync"
	"testing"
)

// TestTagSpaceOrigins runs one space through one store under different
// origins: a result is served only to a run that would produce it the same
// way — same emulated-ness, same provider and model — unless the run
// reuses any model's results; an emulated result never to a real run.
func TestTagSpaceOrigins(t *testing.T) {
	store, err := OpenStore(filepath.Join(t.TempDir(), "results.db"))
	if err != nil {
		t.Fatal(err)
	}
	s := makeSpace(7)
	steps := []struct {
		name       string
		opts       []Option
		provider   string
		wantCached int
	}{
		{"emulated first", []Option{WithEmulator(true), WithModel("m1")}, "gemini", 0},
		{"real, same model", []Option{WithModel("m1")}, "gemini", 0},
		{"real again", []Option{WithModel("m1")}, "gemini", 7},
		{"emulated again", []Option{WithEmulator(true), WithModel("m1")}, "gemini", 7},
		{"another model", []Option{WithModel("m2")}, "gemini", 0},
		{"first model again", []Option{WithModel("m1")}, "gemini", 7},
		{"another provider", []Option{WithModel("m1")}, "openai", 0},
		{"any model", []Option{WithModel("m3"), WithCacheFromAnyModel(true)}, "other", 7},
		{"any model, emulated", []Option{WithModel("m3"), WithCacheFromAnyModel(true), WithEmulator(true)}, "other", 7},
	}
	for _, st := range steps {
		p := &fakeProvider{name: st.provider}
		// A new TagSpace each time: its in-memory cache is empty, so what
		// is served comes from the store.
		ts, err := NewTagSpace(p, append(st.opts, WithStore(store))...)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := ts.Run(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		checkResults(t, s, rep)
		if rep.Cached != st.wantCached || (st.wantCached == 0) != (len(p.calls()) > 0) {
			t.Errorf("%s: cached %d, %d calls; want %d cached", st.name, rep.Cached, len(p.calls()), st.wantCached)
		}
		if st.wantCached == 0 && rep.Stored != len(s.Items) {
			t.Errorf("%s: stored %d", st.name, rep.Stored)
		}
		// The same TagSpace again is served from its cache layers
		// (fresh results from the store, those read from the store
		// from memory), under the same rules.
		calls := len(p.calls())
		if rep, _ := ts.Run(t.Context(), s); rep.Cached != len(s.Items) || len(p.calls()) != calls {
			t.Errorf("%s, second run: cached %d", st.name, rep.Cached)
		}
	}
}

// TestPlainCacheKeepsEmulatedApart gives TagSpace a Cache that keeps no
// origins: an emulated run's results are not served to a real run.
func TestPlainCacheKeepsEmulatedApart(t *testing.T) {
	cache := &mapCache{m: map[string][]string{}}
	s := makeSpace(3)
	for _, st := range []struct {
		emulated   bool
		wantCached int
	}{{true, 0}, {false, 0}, {false, 3}, {true, 3}} {
		ts, _ := NewTagSpace(&fakeProvider{name: "gemini"}, WithCache(cache), WithEmulator(st.emulated))
		rep, err := ts.Run(t.Context(), s)
		if err != nil || rep.Cached != st.wantCached {
			t.Errorf("emulated %v: cached %d, want %d (%v)", st.emulated, rep.Cached, st.wantCached, err)
		}
	}
}

type mapCache struct {
	mu sync.Mutex
	m  map[string][]string
}

func (c *mapCache) Get(k string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *mapCache) Add(k string, tags []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = tags
}
