package llmlimit

// Space is a collection of items to tag.
type Space struct {
	// Name identifies the space in reports and cache files.
	Name string
	// Items are tagged in order; IDs must be unique and not empty.
	Items []Item
	// Tags is the allowed vocabulary; empty lets the model choose freely.
	Tags []string
}

// Item is one thing to tag.
type Item struct {
	ID   string
	Text string
}

// Result is the outcome for one item: tags or an error.
type Result struct {
	ID string
	// Tags are trimmed, lower-cased, de-duplicated and within the vocabulary.
	Tags []string
	// Provider is the Name of the provider that tagged the item; empty when
	// the item came from the cache or failed.
	Provider string
	// Cached reports whether the tags came from the cache.
	Cached bool
	// Err is why the item could not be tagged, or nil.
	Err error
}

// Price is what a model costs, in US dollars per million tokens.
type Price struct {
	InputPerMillion  float64
	OutputPerMillion float64
}

// Progress is how far a run has got.
type Progress struct {
	Total, Done, Cached, Failed int
}

// Report is what a [TagSpace] run did. JSON keys are snake_case, as written
// by cmd/tagspace -report.
type Report struct {
	Space string `json:"space"`
	// Items, Tagged, Failed and Cached count input items; Tagged includes
	// Cached, and Tagged + Failed = Items.
	Items  int `json:"items"`
	Tagged int `json:"tagged"`
	Failed int `json:"failed"`
	Cached int `json:"cached"`
	// Operations counts LLM batch calls that were served.
	Operations int `json:"operations"`
	// PrimarySuccessRate and FallbackRate are the shares of Operations
	// served by the first provider and by a later one.
	PrimarySuccessRate float64 `json:"primary_success_rate"`
	FallbackRate       float64 `json:"fallback_rate"`
	// CacheHitRate is Cached / Items.
	CacheHitRate float64 `json:"cache_hit_rate"`
	// AvgOpSeconds is the mean wall time of a served operation, waits and
	// retries included.
	AvgOpSeconds float64 `json:"avg_op_seconds"`
	// CostUSD is the run's cost from token usage and per-model prices.
	CostUSD          float64 `json:"cost_usd"`
	CostPer100OpsUSD float64 `json:"cost_per_100_ops_usd"`
	ElapsedSeconds   float64 `json:"elapsed_seconds"`
	// Cooldowns counts gate pauses by cause: successes, rate_limit,
	// server_hint.
	Cooldowns map[string]int64 `json:"cooldowns"`
	// Providers reports each provider by Name.
	Providers map[string]*ProviderReport `json:"providers"`
	// Results holds one Result per input item, in input order.
	Results []Result `json:"-"`
}

// ProviderReport is one provider's share of a run. Calls counts every request
// sent, retries included, so it equals what the provider's own logs show.
type ProviderReport struct {
	Calls        int64   `json:"calls"`
	Successes    int64   `json:"successes"`
	RateLimited  int64   `json:"rate_limited"`
	Retries      int64   `json:"retries"`
	Errors       int64   `json:"errors"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
}
