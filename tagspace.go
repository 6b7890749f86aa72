package llmlimit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"time"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

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

// Progress is how far a run has got.
type Progress struct {
	Total, Done, Cached, Failed int
	// Batch is the state of the run's batch jobs ([ModeBatch]), added up
	// over them, as last polled; its Total, the jobs' requests, is 0 when
	// the run has none.
	Batch BatchStatus
}

// ErrNotAttempted matches the error of an item a run stopped before it
// got an outcome for: its context ended while the item waited to be sent,
// was in flight, or waited for the providers to answer again. The error
// also matches the context's error. Such items are counted in
// Report.NotAttempted, not Report.Failed, and a rerun on the same [Store]
// resumes with them.
var ErrNotAttempted = errors.New("llmlimit: not attempted")

// ErrBadReply matches an item's error when the model's replies never gave it
// a valid tag: invalid JSON, the item left out, or only tags outside the
// vocabulary, on every attempt.
var ErrBadReply = errors.New("llmlimit: no valid tags in the model's reply")

// TagSpace tags the items of a [Space] in batches through a [Provider],
// usually a [Fallback] of [Limiter]s. It is safe for simultaneous use by
// multiple goroutines, though runs then share the provider's counters and
// the cache.
//
// A run answers what it can from the cache, sends each distinct text once,
// five items to a call by default ([WithBatchSize]), and keeps as many
// batches in flight as [WithBatchesInFlight] (by default the max
// concurrency setting): a [Limiter]'s adaptive slot limit, which grows to
// that maximum, is then what actually bounds the calls, and batches
// waiting for a slot cost nothing.
//
// Results are cached in memory ([LRUCache], [WithCacheSize]) and, with
// [WithStore], in a persistent [Store] that keeps every result, written as
// it arrives. Each result records the provider and model that produced it
// and whether an emulator did; a run serves only results its own providers
// and models would produce ([WithCacheFromAnyModel] relaxes that), and
// never an emulator's unless it runs on one itself ([WithEmulator]).
//
// A run keeps its tail for the primary. When the primary (the provider, or
// the first provider each [Wrapper] under it wraps) is an [AvailabilityReporter]
// such as a [Limiter] that knows its quota, and the primary's window is
// spent, the run stops sending batches once the rest of it fits in the
// primary's next window, and sends them when that window opens — but only
// when the fallback could not have finished them before calls would start
// waiting for the primary anyway (within [WithMaxWait]). A short run then
// ends a few seconds later with its last window used in full, instead of
// ending in a window it barely uses after sending that work to the fallback.
//
// Replies are checked by the batch protocol's validator: an item's tags come
// only from the reply's entry for its own id. Items missing from a reply are
// sent again, in a smaller batch of just the missing ones; a reply that is
// not valid JSON is a failed attempt and the batch is sent again. Each batch
// gets [WithReplyRetries] of such repeats (by default the max-retries
// setting); then its remaining items are tried once more each on their
// own, and an item that still gets no valid tag fails with [ErrBadReply].
//
// A provider error comes after the provider's own retries. One that says
// the request is bad fails the batch's items at once. One that says the
// providers are down (5xx, timeouts, rate limits, cooldowns) puts the
// batch aside until the providers answer again: it is sent again as soon
// as another call of the run succeeds, or, with nothing else left to send,
// as a probe, one batch at a time with backoff; after [WithOutageWait] of
// outage the batches put aside fail with the provider's error.
//
// In batch mode ([WithMode]) a run sends its uncached batches, built as
// above, as the requests of one job of the provider's batch API ([Batcher]:
// the first provider in the tree that has one, called around the
// Limiters, since the batch API has a quota of its own), polls the job
// with backoff ([WithBatchPoll]), reading its state into
// Progress.Batch, and reads the job's answers with the same validator. What
// the job does not answer (failed, expired or cancelled requests, replies
// missing or invalid) is then sent synchronously, as in sync mode, in the
// same run. With a [Store] the job is recorded there as soon as it is
// submitted, with which items each request asks about, so that a run
// stopped while it waits (a crash, a cancelled context, a deadline) leaves
// the job running and a later run on the same store, in any process,
// collects it instead of submitting again; [WithCancelJobs] cancels the
// job instead. A job's answers about items the collecting run doesn't
// have are dropped.
type TagSpace struct {
	p      Provider
	cfg    config
	cache  Cache
	store  *Store
	prices map[string]Price
	tel    *tagSpaceTel // nil without WithMeterProvider
}

// NewTagSpace returns a TagSpace that tags through p. It reads the TagSpace
// options (batch size, cache, max item bytes, prices, model, callbacks,
// max concurrency, max retries, logger, meter provider, mode, deadline and
// the batch settings) and ignores the others; a bad value is an error
// naming the setting, and so is [ModeBatch] when no provider under p is a
// [Batcher].
//
// The cache is a new [LRUCache] of [WithCacheSize] entries unless
// [WithCache] gives one, in front of the [Store] of [WithStore] if any;
// [WithCacheEnabled](false) turns both off.
func NewTagSpace(p Provider, opts ...Option) (*TagSpace, error) {
	if p == nil {
		return nil, errors.New("llmlimit: tagspace: nil provider")
	}
	cfg := newConfig(opts)
	if err := cfg.validateTagSpace(); err != nil {
		return nil, err
	}
	t := &TagSpace{p: p, cfg: cfg, prices: DefaultPrices()}
	maps.Copy(t.prices, cfg.prices)
	switch {
	case !cfg.cacheEnabled:
	case cfg.cacheSet:
		if !isNil(cfg.cache) {
			t.cache = cfg.cache
		}
	default:
		c, err := NewLRUCache(cfg.cacheSize)
		if err != nil {
			return nil, err
		}
		t.cache = c
	}
	if cfg.cacheEnabled {
		t.store = cfg.store
	}
	if b, _ := findBatcher(p); cfg.mode == ModeBatch && b == nil {
		return nil, fmt.Errorf("llmlimit: batch mode: no provider under %s has a batch API", p.Name())
	}
	tel, err := newTagSpaceTel(&cfg)
	if err != nil {
		return nil, err
	}
	t.tel = tel
	return t, nil
}

// isNil reports whether c is nil or a typed nil pointer, as WithCache((*LRUCache)(nil)) gives.
func isNil(c Cache) bool {
	if c == nil {
		return true
	}
	v := reflect.ValueOf(c)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// validateTagSpace checks the settings a TagSpace uses.
func (c *config) validateTagSpace() error {
	if err := c.validateShared(); err != nil {
		return err
	}
	if err := c.validateMode(); err != nil {
		return err
	}
	switch {
	case c.batchSize < 1:
		return fmt.Errorf("llmlimit: batch size %d: must be at least 1", c.batchSize)
	case c.batchSize > maxBatchSize:
		return fmt.Errorf("llmlimit: batch size %d: more than %d", c.batchSize, maxBatchSize)
	case c.cacheSize < 1:
		return fmt.Errorf("llmlimit: cache size %d: must be at least 1", c.cacheSize)
	case c.cacheSize > maxCacheSize:
		return fmt.Errorf("llmlimit: cache size %d: more than %d", c.cacheSize, maxCacheSize)
	case c.inFlight < 0 || c.inFlight > maxConcurrencySetting:
		return fmt.Errorf("llmlimit: batches in flight %d: must be between 1 and %d", c.inFlight, maxConcurrencySetting)
	case c.reAsks < -1 || c.reAsks > maxRetriesSetting:
		return fmt.Errorf("llmlimit: reply retries %d: must be between 0 and %d", c.reAsks, maxRetriesSetting)
	case c.maxItemBytes < 1:
		return fmt.Errorf("llmlimit: max item bytes %d: must be at least 1", c.maxItemBytes)
	case c.maxItemBytes > maxItemBytesSetting:
		return fmt.Errorf("llmlimit: max item bytes %d: more than %d", c.maxItemBytes, maxItemBytesSetting)
	case c.outageWait < 0:
		return fmt.Errorf("llmlimit: outage wait %s: must not be negative", c.outageWait)
	case c.outageWait > maxDuration:
		return fmt.Errorf("llmlimit: outage wait %s: more than %s", c.outageWait, maxDuration)
	case c.baseDelay <= 0 || c.maxDelay < c.baseDelay:
		return fmt.Errorf("llmlimit: backoff %s to %s: the base must be positive and at most the max", c.baseDelay, c.maxDelay)
	}
	for model, p := range c.prices {
		if model == "" {
			return errors.New("llmlimit: price: empty model name")
		}
		for _, v := range []float64{p.InputPerMillion, p.OutputPerMillion} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("llmlimit: price of %s: %v per million tokens is not a price", model, v)
			}
		}
	}
	return nil
}

// Cache returns the in-memory cache in use, or nil when caching is off.
func (t *TagSpace) Cache() Cache { return t.cache }

// newRunCache sets up a run's cache layers and starts its store writer,
// which the caller must close.
func (t *TagSpace) newRunCache(ctx context.Context, k keyer) *runCache {
	c := &runCache{
		hot: t.cache, store: t.store, from: map[string]int{},
		policy: originPolicy{
			emulated: t.cfg.emulated, anyModel: t.cfg.anyModel,
			protocol: prompt.Version, vocab: k.vocab,
			models: providerModels(t.p, t.cfg.model),
		},
	}
	c.lru, _ = t.cache.(*LRUCache)
	if t.store != nil {
		c.writer = startWriter(ctx, t.store, t.cfg.logger)
	}
	return c
}

// Run tags s and returns a report with one Result per item, in input order.
//
// A space with an empty or duplicate item id, or a vocabulary tag that is
// empty after trimming, is an error before any call is made. Items whose
// text is empty, not UTF-8 or over the max item bytes fail on their own
// without a call. Otherwise Run returns (report, nil) even when some items
// failed: see Report.Failed and each Result.Err.
//
// When ctx ends first, Run stops sending batches, keeps every result already
// settled, marks the rest not attempted ([ErrNotAttempted], which matches
// ctx's error too; see Report.NotAttempted), and returns the report
// together with ctx's error. Results already written to the [Store] stay
// there, so a rerun resumes where this one stopped.
func (t *TagSpace) Run(ctx context.Context, s Space) (*Report, error) {
	vocab, err := checkSpace(s)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	resetTree(t.p)
	nodes := providerTree(t.p)
	before := snapshot(nodes)
	k := newKeyer(vocab)
	r := &run{
		t: t, items: s.Items, vocab: vocab, keyer: k, cache: t.newRunCache(ctx, k),
		results: make([]Result, len(s.Items)), settled: make([]bool, len(s.Items)),
		tally: newTally(t.prices, primaryName(t.p)), primary: primaryName(t.p), schema: prompt.Schema(),
	}
	if t.cfg.swapCheck {
		r.schemaChecked = prompt.SchemaChecked()
	}
	r.progress.Total = len(s.Items)
	t.cfg.logger.Info("run start", "space", s.Name, "items", len(s.Items), "batch_size", t.cfg.batchSize,
		"cache", t.cache != nil, "store", t.store != nil)

	if t.cfg.deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.cfg.deadline)
		defer cancel()
	}
	groups := r.prepare(ctx)
	resumed := 0
	if t.cfg.mode != ModeSync {
		resumed = r.loadJobs(ctx, groups)
	}
	mode, why := r.chooseMode(ctx, ceilDiv(len(groups), t.cfg.batchSize), resumed)
	t.cfg.logger.Info("mode", "mode", mode, "reason", why)
	if mode == ModeBatch {
		groups = r.batchMode(ctx, groups)
	}
	r.dispatch(ctx, groups)
	canceled := r.finish(ctx)

	rep := &Report{Space: s.Name, Items: len(s.Items), Results: r.results, Mode: mode.String(), ModeReason: why}
	for _, res := range r.results {
		switch {
		case errors.Is(res.Err, ErrNotAttempted):
			rep.NotAttempted++
		case res.Err != nil:
			rep.Failed++
		case res.Cached:
			rep.Cached++
			rep.Tagged++
		default:
			rep.Tagged++
		}
	}
	if rep.Items > 0 {
		rep.CacheHitRate = float64(rep.Cached) / float64(rep.Items)
	}
	r.cache.fill(rep)
	r.dropJobs()
	r.tally.fill(rep, nodes, before, snapshot(nodes))
	if br := r.br; br != nil && mode == ModeBatch {
		rep.BatchJobs, rep.BatchItems, rep.BatchWaitSeconds = len(br.jobs), br.items, br.wait.Seconds()
	}
	rep.ElapsedSeconds = time.Since(start).Seconds()
	rep.HeldSeconds = r.held.Seconds()
	t.cfg.logger.Info("run end", "space", s.Name, "items", rep.Items, "tagged", rep.Tagged,
		"failed", rep.Failed, "cached", rep.Cached, "operations", rep.Operations,
		"elapsed", time.Since(start))
	if canceled {
		return rep, ctx.Err()
	}
	return rep, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// checkSpace rejects what no call could fix and returns the normalized
// vocabulary.
func checkSpace(s Space) ([]string, error) {
	seen := make(map[string]int, len(s.Items))
	for i, it := range s.Items {
		if it.ID == "" {
			return nil, fmt.Errorf("llmlimit: space %q: item %d has an empty id", s.Name, i)
		}
		if j, dup := seen[it.ID]; dup {
			return nil, fmt.Errorf("llmlimit: space %q: items %d and %d share the id %q", s.Name, j, i, it.ID)
		}
		seen[it.ID] = i
	}
	for i, tag := range s.Tags {
		if prompt.NormalizeTag(tag) == "" {
			return nil, fmt.Errorf("llmlimit: space %q: vocabulary tag %d is empty", s.Name, i)
		}
	}
	return prompt.NormalizeVocabulary(s.Tags), nil
}
