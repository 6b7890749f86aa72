package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/llmlimit/llmlimit"
)

// vocabulary is the benchmark's tag set: public-health topics, some of two
// words, so that the emulator's tagger matches whole words.
var vocabulary = []string{
	"vaccination", "air-quality", "mental-health", "nutrition", "obesity",
	"tobacco", "alcohol", "cancer", "diabetes", "cardiovascular",
	"antimicrobial-resistance", "maternal-health", "child-health", "ageing",
	"health-workforce", "digital-health", "pandemic-preparedness",
	"water-safety", "road-safety", "health-equity",
}

// filler words carry no tag, so an item's tags come from the tag words
// chosen for it (or, when none, from the tagger's hash fallback).
var filler = []string{
	"report", "member", "states", "survey", "funding", "programme", "regional",
	"policy", "trend", "annual", "network", "guidance", "pilot", "review",
	"evidence", "services", "national", "brief", "update", "monitoring",
}

// NewSpace returns a space of n items whose texts are generated from seed:
// each names zero to three vocabulary topics among filler words and its own
// number, so every text is distinct and TagSpace sends every item. When
// itemBytes is positive, every text is padded with filler words to exactly
// that many bytes.
func NewSpace(n, itemBytes int, seed uint64) llmlimit.Space {
	r := rand.New(rand.NewPCG(seed, 0xa11ce))
	items := make([]llmlimit.Item, n)
	for i := range items {
		var words []string
		for range 4 + r.IntN(6) {
			words = append(words, filler[r.IntN(len(filler))])
		}
		for range r.IntN(4) {
			tag := vocabulary[r.IntN(len(vocabulary))]
			at := r.IntN(len(words) + 1)
			words = append(words[:at], append(strings.Split(tag, "-"), words[at:]...)...)
		}
		text := fmt.Sprintf("Item %d: %s.", i, strings.Join(words, " "))
		if itemBytes > 0 {
			text = pad(text, itemBytes, r)
		}
		items[i] = llmlimit.Item{ID: fmt.Sprintf("item-%04d", i), Text: text}
	}
	return llmlimit.Space{Name: "sim", Items: items, Tags: append([]string(nil), vocabulary...)}
}

// pad appends filler words to text up to exactly size bytes, cutting the
// last one short; a text already that long is cut.
func pad(text string, size int, r *rand.Rand) string {
	var b strings.Builder
	b.Grow(size + 16)
	b.WriteString(text)
	for b.Len() < size {
		b.WriteByte(' ')
		b.WriteString(filler[r.IntN(len(filler))])
	}
	return b.String()[:size]
}
