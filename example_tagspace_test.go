package llmlimit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// A TagSpace tags a space in batches; here through a fake provider from
// llmtest, which answers the batch protocol with deterministic tags. In
// production the provider is a Fallback of Limiters around NewGemini and
// NewOpenAI.
func ExampleTagSpace() {
	provider := llmtest.NewFake("gemini")
	ts, err := llmlimit.NewTagSpace(provider, llmlimit.WithBatchSize(5))
	if err != nil {
		fmt.Println(err)
		return
	}
	space := llmlimit.Space{
		Name: "demo",
		Tags: []string{"air-quality", "tobacco", "vaccination"},
		Items: []llmlimit.Item{
			{ID: "1", Text: "New limits on air pollution improve air quality in cities."},
			{ID: "2", Text: "A tobacco tax rise and a vaccination campaign for teenagers."},
			{ID: "3", Text: "A tobacco tax rise and a vaccination campaign for teenagers."},
			{ID: "4"},
		},
	}
	rep, err := ts.Run(context.Background(), space)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rep.Results {
		if r.Err != nil {
			fmt.Printf("%s: error: %v\n", r.ID, r.Err)
			continue
		}
		fmt.Printf("%s: %v from %s\n", r.ID, r.Tags, r.Provider)
	}
	fmt.Printf("tagged %d, failed %d, calls %d\n", rep.Tagged, rep.Failed, provider.Calls())

	// The second run is answered from the cache.
	rep, _ = ts.Run(context.Background(), space)
	fmt.Printf("cache hit rate %.2f, calls %d\n", rep.CacheHitRate, provider.Calls())
	// Output:
	// 1: [air-quality] from gemini
	// 2: [tobacco vaccination] from gemini
	// 3: [tobacco vaccination] from gemini
	// 4: error: llmlimit: item 4: empty text
	// tagged 3, failed 1, calls 1
	// cache hit rate 0.75, calls 1
}

// A Store keeps every result on disk, written as results arrive, so the
// next run (here a new TagSpace, as in a new process) is served from it. The
// file holds hashes, tags and where each result came from, never item text.
func ExampleStore() {
	dir, err := os.MkdirTemp("", "llmlimit-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	store, err := llmlimit.OpenStore(filepath.Join(dir, "results.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	space := llmlimit.Space{
		Name:  "demo",
		Tags:  []string{"tobacco", "vaccination"},
		Items: []llmlimit.Item{{ID: "1", Text: "A tobacco tax rise."}, {ID: "2", Text: "A vaccination drive."}},
	}
	provider := llmtest.NewFake("gemini")
	for range 2 {
		ts, _ := llmlimit.NewTagSpace(provider, llmlimit.WithStore(store))
		rep, err := ts.Run(context.Background(), space)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("cached %d, stored %d, from %v, calls %d\n", rep.Cached, rep.Stored, rep.CachedFrom, provider.Calls())
	}
	// Output:
	// cached 0, stored 2, from map[], calls 1
	// cached 2, stored 0, from map[gemini/fake-model:2], calls 1
}
