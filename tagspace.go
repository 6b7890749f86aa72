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
