package llmlimit

// SetBatchLimits lowers p's batch limits for a test: the lines and bytes
// of an OpenAI input file, the bytes of a Gemini inline submission; 0
// keeps the API's.
func SetBatchLimits(p Provider, lines, bytes int) {
	switch x := p.(type) {
	case *Gemini:
		x.limits = batchLimits{lines: lines, bytes: bytes}
	case *OpenAI:
		x.limits = batchLimits{lines: lines, bytes: bytes}
	}
}

// CostOf is what u costs for model at the default prices, at the batch
// price when batch is set, and whether the model has a price.
func CostOf(model string, u Usage, batch bool) (float64, bool) {
	p, ok := priceOf(defaultPrices, model)
	if batch {
		return p.batchCost(u), ok
	}
	return p.cost(u), ok
}

// BatchKey is the provider-side id of the request the caller calls id.
var BatchKey = batchKey
