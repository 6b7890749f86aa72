package llmlimit_test

import (
	"context"
	"fmt"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// In batch mode a run sends its batches as one job of the provider's batch
// API, at half the price, and serves what the job leaves untagged
// synchronously. Here the real OpenAI SDK talks to llmtest's emulator,
// whose jobs end at once unless told to take time.
func ExampleWithMode() {
	emu := llmtest.NewEmulator(llmtest.Config{OpenAI: llmtest.API{Key: "sk-demo"}})
	p, err := llmlimit.New(llmlimit.NewOpenAI(emu.OpenAIClient("sk-demo"), "gpt-4o-mini"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ts, err := llmlimit.NewTagSpace(p, llmlimit.WithMode(llmlimit.ModeBatch), llmlimit.WithEmulator(true))
	if err != nil {
		fmt.Println(err)
		return
	}
	space := llmlimit.Space{Name: "demo", Tags: []string{"air-quality", "tobacco", "vaccination"}}
	for i, text := range []string{
		"New limits on air pollution improve air quality in cities.",
		"A tobacco tax rise and a vaccination campaign for teenagers.",
	} {
		space.Items = append(space.Items, llmlimit.Item{ID: fmt.Sprint(i + 1), Text: text})
	}
	rep, err := ts.Run(context.Background(), space)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rep.Results {
		fmt.Printf("%s: %v from %s\n", r.ID, r.Tags, r.Provider)
	}
	fmt.Printf("mode %s (%s): %d jobs, %d items from them, %d sync calls\n",
		rep.Mode, rep.ModeReason, rep.BatchJobs, rep.BatchItems, rep.Providers["openai"].Calls)
	fmt.Printf("batch price %.0f%% of sync\n", 100*rep.BatchCostUSD/rep.BatchAtSyncPriceUSD)
	// Output:
	// 1: [air-quality] from openai
	// 2: [tobacco vaccination] from openai
	// mode batch (batch mode asked for): 1 jobs, 2 items from them, 0 sync calls
	// batch price 50% of sync
}
