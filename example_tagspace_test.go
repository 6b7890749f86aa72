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

// A cache saved to a file serves the next process; the file holds hashes
// and tags, never item text.
func ExampleLRUCache_Save() {
	dir, err := os.MkdirTemp("", "llmlimit-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "demo.cache")

	vocabulary := []string{"tobacco", "vaccination"}
	cache, _ := llmlimit.NewLRUCache(1000)
	cache.Add(llmlimit.CacheKey(vocabulary, "A tobacco tax rise."), []string{"tobacco"})
	if err := cache.Save(path); err != nil {
		fmt.Println(err)
		return
	}

	next, _ := llmlimit.NewLRUCache(1000)
	if err := next.Load(path); err != nil {
		fmt.Println(err)
		return
	}
	// The vocabulary's order and case don't change the key.
	tags, ok := next.Get(llmlimit.CacheKey([]string{"Vaccination", "tobacco"}, "A tobacco tax rise."))
	fmt.Println(tags, ok)
	// Output:
	// [tobacco] true
}
