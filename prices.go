package llmlimit

import (
	"maps"
	"strings"
)

// Price is what a model costs, in US dollars per million tokens.
type Price struct {
	InputPerMillion  float64
	OutputPerMillion float64
	// BatchInputPerMillion and BatchOutputPerMillion are the prices of
	// the provider's batch API ([Batcher]). 0 means half the price above,
	// which is what both providers charge for batches of every model in
	// [DefaultPrices]; set them for a model whose batch discount differs.
	BatchInputPerMillion  float64
	BatchOutputPerMillion float64
}

// defaultPrices are the paid-tier list prices for text, standard (not batch)
// processing, as published on the pages below, which also give the batch
// prices: half of these for every model listed, so no entry sets its own.
//
//   - https://ai.google.dev/gemini-api/docs/pricing (Gemini; prompts up to
//     200k tokens for the Pro model)
//   - https://openai.com/api/pricing/ (OpenAI)
//
// They change; callers who need exact figures pass [WithPrices]. Free-tier
// Gemini calls cost nothing, which a report can't know: it states the list
// price.
var defaultPrices = map[string]Price{
	"gemini-2.5-pro":        {InputPerMillion: 1.25, OutputPerMillion: 10.00},
	"gemini-2.5-flash":      {InputPerMillion: 0.30, OutputPerMillion: 2.50},
	"gemini-2.5-flash-lite": {InputPerMillion: 0.10, OutputPerMillion: 0.40},
	"gemini-2.0-flash":      {InputPerMillion: 0.10, OutputPerMillion: 0.40},
	"gemini-2.0-flash-lite": {InputPerMillion: 0.075, OutputPerMillion: 0.30},
	"gpt-4o":                {InputPerMillion: 2.50, OutputPerMillion: 10.00},
	"gpt-4o-mini":           {InputPerMillion: 0.15, OutputPerMillion: 0.60},
	"gpt-4.1":               {InputPerMillion: 2.00, OutputPerMillion: 8.00},
	"gpt-4.1-mini":          {InputPerMillion: 0.40, OutputPerMillion: 1.60},
	"gpt-4.1-nano":          {InputPerMillion: 0.10, OutputPerMillion: 0.40},
	"gpt-5":                 {InputPerMillion: 1.25, OutputPerMillion: 10.00},
	"gpt-5-mini":            {InputPerMillion: 0.25, OutputPerMillion: 2.00},
	"gpt-5-nano":            {InputPerMillion: 0.05, OutputPerMillion: 0.40},
}

// DefaultPrices returns a copy of the built-in per-model prices, in US
// dollars per million tokens, from the providers' public price pages
// (Gemini: https://ai.google.dev/gemini-api/docs/pricing, OpenAI:
// https://openai.com/api/pricing/). [WithPrices] overrides or extends them.
func DefaultPrices() map[string]Price { return maps.Clone(defaultPrices) }

// priceOf finds model's price: an exact match, else the longest model name
// that model starts with, so that dated or suffixed versions
// ("gpt-4o-mini-2024-07-18", "gemini-2.5-flash-001") take their family's
// price. A "models/" prefix, as Gemini reports model versions, is ignored.
// ok is false when nothing matches.
func priceOf(prices map[string]Price, model string) (p Price, ok bool) {
	model = strings.TrimPrefix(model, "models/")
	if p, ok := prices[model]; ok {
		return p, true
	}
	best := -1
	for name, q := range prices {
		if len(name) > best && strings.HasPrefix(model, name) {
			p, best, ok = q, len(name), true
		}
	}
	return p, ok
}

// cost returns what u cost at p, in US dollars.
func (p Price) cost(u Usage) float64 {
	return (float64(u.InputTokens)*p.InputPerMillion + float64(u.OutputTokens)*p.OutputPerMillion) / 1e6
}

// batch returns the price of a batch request as a standard Price, the
// default discount of one half applied where p sets none.
func (p Price) batch() Price {
	b := Price{InputPerMillion: p.BatchInputPerMillion, OutputPerMillion: p.BatchOutputPerMillion}
	if b.InputPerMillion == 0 {
		b.InputPerMillion = p.InputPerMillion / 2
	}
	if b.OutputPerMillion == 0 {
		b.OutputPerMillion = p.OutputPerMillion / 2
	}
	return b
}

// batchCost returns what u cost at p's batch price, in US dollars.
func (p Price) batchCost(u Usage) float64 { return p.batch().cost(u) }
