package llmlimit

import (
	"context"
	"slices"
)

// runCache is a run's view of the cache layers: the in-memory hot layer
// (an LRUCache or a user's Cache) and the optional persistent store, with
// the policy that decides which origins the run may serve. The counts are
// written by prepare alone, before any batch starts.
type runCache struct {
	hot    Cache
	lru    *LRUCache // hot, when it keeps origins
	store  *Store
	writer *storeWriter
	policy originPolicy

	from  map[string]int // items served, by origin label
	other int            // items whose cached result came from another origin
	err   error          // the first store read error
}

func (c *runCache) on() bool { return c.hot != nil || c.store != nil }

// hotGet looks key up in the hot layer. A Cache that keeps no origins
// answers with an unknown origin, which the run serves: such a cache can't
// tell models apart, and emulated results live under other keys.
func (c *runCache) hotGet(k resultKey) (stored, bool, bool) {
	if c.lru != nil {
		e, ok := c.lru.getEntry(plainKey(k, false))
		return e, ok, ok && c.policy.accepts(e.origin)
	}
	if c.hot == nil {
		return stored{}, false, false
	}
	tags, ok := c.hot.Get(plainKey(k, c.policy.emulated))
	if !ok || len(tags) == 0 {
		return stored{}, false, false
	}
	return stored{tags: tags}, true, true
}

func (c *runCache) hotAdd(k resultKey, e stored) {
	switch {
	case c.lru != nil:
		c.lru.addEntry(plainKey(k, false), e)
	case c.hot != nil:
		c.hot.Add(plainKey(k, c.policy.emulated), cloneTags(e.tags))
	}
}

// keep adds the fresh results of one reply to the store, or without one
// to the in-memory cache. With a store the in-memory cache holds what was
// read from the store: a fresh result is read back from the store at no
// call's cost, and adding each to an LRU far smaller than a large run only
// churns it (a fifth of a run's time with no provider latency).
func (c *runCache) keep(recs []record) {
	if c.writer != nil {
		c.writer.add(recs)
		return
	}
	for _, r := range recs {
		c.hotAdd(r.key, r.val)
	}
}

// serveCached settles the groups the cache can answer and returns the
// rest, in order. The store is read in chunks so that a large run's
// lookups hold little memory at once.
func (r *run) serveCached(ctx context.Context, groups []*group) []*group {
	c := r.cache
	if !c.on() {
		return groups
	}
	var rest []*group
	refused := make(map[*group]bool)
	for _, g := range groups {
		e, found, ok := c.hotGet(g.key)
		switch {
		case ok:
			r.settleCached(g, e)
		case c.store != nil:
			refused[g] = found
			rest = append(rest, g)
		default:
			if found {
				c.other += len(g.idx)
			}
			rest = append(rest, g)
		}
	}
	if c.store == nil || len(rest) == 0 {
		return rest
	}
	var left []*group
	for chunk := range slices.Chunk(rest, storeChunk) {
		keys := make([]resultKey, len(chunk))
		for i, g := range chunk {
			keys[i] = g.key
		}
		// Of the results an origin the run accepts produced, the newest.
		got := make([]*stored, len(chunk))
		seen := make([]bool, len(chunk))
		err := c.store.lookup(ctx, keys, func(i int, e stored) {
			seen[i] = true
			if c.policy.accepts(e.origin) && (got[i] == nil || e.origin.at.After(got[i].origin.at)) {
				got[i] = &e
			}
		})
		if err != nil && c.err == nil {
			c.err = err
			r.t.cfg.logger.Warn("store read failed", "store", c.store.Path(), "error", err)
		}
		for i, g := range chunk {
			switch e := got[i]; {
			case e != nil:
				c.hotAdd(g.key, *e)
				r.settleCached(g, *e)
			default:
				if seen[i] || refused[g] {
					c.other += len(g.idx)
				}
				left = append(left, g)
			}
		}
	}
	return left
}

func (r *run) settleCached(g *group, e stored) {
	r.cache.from[e.origin.label()] += len(g.idx)
	r.settle(g, e.tags, "", true, nil)
}

// fill waits for the store writer and sets the report's cache figures.
func (c *runCache) fill(rep *Report) {
	if len(c.from) > 0 {
		rep.CachedFrom = c.from
	}
	rep.CacheOtherOrigin = c.other
	err := c.err
	if c.writer != nil {
		n, werr := c.writer.close()
		rep.Stored = n
		if err == nil {
			err = werr
		}
	}
	if err != nil {
		rep.StoreError = err.Error()
	}
}
