package llmlimit

import (
	"slices"
	"sync"
	"time"
)

// Report is what a [TagSpace] run did. JSON keys are snake_case, as written
// by cmd/tagspace -report.
type Report struct {
	Space string `json:"space"`
	// Items, Tagged, Failed, NotAttempted and Cached count input items;
	// Tagged includes Cached, and Tagged + Failed + NotAttempted = Items.
	// NotAttempted are the items a run stopped before it had an outcome
	// for ([ErrNotAttempted]); Failed those it gave up on.
	Items        int `json:"items"`
	Tagged       int `json:"tagged"`
	Failed       int `json:"failed"`
	NotAttempted int `json:"not_attempted"`
	Cached       int `json:"cached"`
	// Operations counts LLM batch calls that were served, the requests of
	// batch jobs answered included.
	Operations int `json:"operations"`
	// Mode is how the run sent its calls, "sync" or "batch" (see [Mode]),
	// and ModeReason why: the mode asked for, or what [ModeAuto] weighed.
	Mode       string `json:"mode"`
	ModeReason string `json:"mode_reason"`
	// BatchJobs counts the batch jobs a batch-mode run submitted or
	// resumed; BatchItems the items tagged from their results, and
	// BatchWaitSeconds how long the run waited for them (part of
	// ElapsedSeconds). Whatever the jobs left untagged was sent
	// synchronously.
	BatchJobs        int     `json:"batch_jobs"`
	BatchItems       int     `json:"batch_items"`
	BatchWaitSeconds float64 `json:"batch_wait_seconds"`
	// BatchCostUSD is the part of CostUSD the batch jobs' results cost, at
	// the batch price; BatchAtSyncPriceUSD is what the same tokens cost at
	// the synchronous price, so CostUSD − BatchCostUSD +
	// BatchAtSyncPriceUSD is what the run would have cost in sync mode.
	BatchCostUSD        float64 `json:"batch_cost_usd"`
	BatchAtSyncPriceUSD float64 `json:"batch_at_sync_price_usd"`
	// PrimarySuccessRate and FallbackRate are the shares of Operations
	// served by the first provider and by a later one.
	PrimarySuccessRate float64 `json:"primary_success_rate"`
	FallbackRate       float64 `json:"fallback_rate"`
	// CacheHitRate is Cached / Items.
	CacheHitRate float64 `json:"cache_hit_rate"`
	// CachedFrom counts the Cached items by the origin of their results:
	// "<provider>/<model>", prefixed "emulator " for an emulator's, or
	// "unknown" (a Cache that keeps no origins, an imported cache file).
	CachedFrom map[string]int `json:"cached_from,omitempty"`
	// CacheOtherOrigin counts items whose cached result was not served
	// because another model or an emulator produced it (see
	// [WithCacheFromAnyModel], [WithEmulator]); they were tagged again.
	CacheOtherOrigin int `json:"cache_other_origin"`
	// Stored counts the results the run wrote to its [Store]; StoreError
	// is the first error reading or writing it, "" when none.
	Stored     int    `json:"stored"`
	StoreError string `json:"store_error,omitempty"`
	// AvgOpSeconds is the mean wall time of a served synchronous
	// operation, waits and retries included; batch jobs' answers are left
	// out (see BatchWaitSeconds).
	AvgOpSeconds float64 `json:"avg_op_seconds"`
	// CostUSD is the run's cost from token usage and per-model prices.
	CostUSD          float64 `json:"cost_usd"`
	CostPer100OpsUSD float64 `json:"cost_per_100_ops_usd"`
	ElapsedSeconds   float64 `json:"elapsed_seconds"`
	// HeldSeconds is how long the run held its last batches for the
	// primary's next quota window instead of sending them to a fallback
	// (see [TagSpace]); it is part of ElapsedSeconds.
	HeldSeconds float64 `json:"held_seconds"`
	// Cooldowns counts gate pauses by cause: successes, rate_limit,
	// server_hint.
	Cooldowns map[string]int64 `json:"cooldowns"`
	// Providers reports each provider by Name.
	Providers map[string]*ProviderReport `json:"providers"`
	// Primary is the Name of the first provider, the one FallbackRate is
	// measured against.
	Primary string `json:"primary"`
	// UnpricedModels lists the models that served operations but have no
	// price; their operations count as free in CostUSD.
	UnpricedModels []string `json:"unpriced_models,omitempty"`
	// Results holds one Result per input item, in input order.
	Results []Result `json:"-"`
}

// ProviderReport is one provider's share of a run. Calls counts every request
// sent, retries included, so it equals what the provider's own logs show.
//
// For a provider that reports [Stats] (a [Limiter]) the counts are the
// difference of its Stats over the run. For a bare provider TagSpace counts
// what it saw itself: every served operation as a call and a success, and
// every [*ProviderError] naming it in a failed operation, including those
// inside a [Fallback]'s joined error, as a call and a 429 or an error. A
// member failure that a Fallback absorbed by serving from another member
// never reaches TagSpace and is not counted: put members in a [Limiter] for
// exact counts.
type ProviderReport struct {
	Calls       int64 `json:"calls"`
	Successes   int64 `json:"successes"`
	RateLimited int64 `json:"rate_limited"`
	// QuotaExhausted is the part of RateLimited refused until a quota's
	// reset (per-day quotas, billing), not retried.
	QuotaExhausted int64 `json:"quota_exhausted"`
	// RateLimitedTokens is the part of RateLimited whose 429 named a token
	// quota; HeldForTokens counts the starts pacing held for one.
	RateLimitedTokens int64 `json:"rate_limited_tokens"`
	HeldForTokens     int64 `json:"held_for_tokens"`
	Retries           int64 `json:"retries"`
	Errors            int64 `json:"errors"`
	// BatchRequests counts the requests of batch jobs this provider
	// answered, which are not among Calls: they draw on the batch API's
	// quota, not the synchronous one. Their tokens and cost are in the
	// token counts and CostUSD.
	BatchRequests int64   `json:"batch_requests"`
	InputTokens   int64   `json:"input_tokens"`
	OutputTokens  int64   `json:"output_tokens"`
	CostUSD       float64 `json:"cost_usd"`
}

func snapshot(nodes []treeNode) []Stats {
	s := make([]Stats, len(nodes))
	for i, n := range nodes {
		if n.stats != nil {
			s[i] = n.stats.Stats()
		}
	}
	return s
}

// tally counts what TagSpace itself saw of the operations of one run. It is
// safe for simultaneous use by the run's batches.
type tally struct {
	prices map[string]Price

	mu         sync.Mutex
	ops        int
	opTime     time.Duration
	served     map[string]*ProviderReport // by Response.Provider
	failed     map[string]*ProviderReport // by ProviderError.Provider; "" unattributed
	unpriced   map[string]bool
	totalCost  float64
	primary    string
	primaryOps int
	// batched counts the batch jobs' answers by provider: requests,
	// tokens and cost; batchOps, batchCost and batchFull add them up, the
	// cost at the batch and at the synchronous price.
	batched   map[string]*ProviderReport
	batchOps  int
	batchCost float64
	batchFull float64
}

func newTally(prices map[string]Price, primary string) *tally {
	return &tally{
		prices: prices, primary: primary,
		served: map[string]*ProviderReport{}, failed: map[string]*ProviderReport{},
		unpriced: map[string]bool{}, batched: map[string]*ProviderReport{},
	}
}

// serveBatch records a batch job's answer to one request.
func (t *tally) serveBatch(resp *Response) {
	price, priced := priceOf(t.prices, resp.Model)
	c, full := price.batchCost(resp.Usage), price.cost(resp.Usage)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.batchOps++
	t.batchCost += c
	t.batchFull += full
	pr := entry(t.batched, resp.Provider)
	pr.BatchRequests++
	t.count(pr, resp, c, priced)
}

// serve records a served operation that took d.
func (t *tally) serve(resp *Response, d time.Duration) {
	price, priced := priceOf(t.prices, resp.Model)
	c := price.cost(resp.Usage)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.opTime += d
	pr := entry(t.served, resp.Provider)
	pr.Calls++
	pr.Successes++
	t.count(pr, resp, c, priced)
}

// count adds a served operation, resp at cost c, to the totals and to pr,
// its provider's entry; t.mu is held.
func (t *tally) count(pr *ProviderReport, resp *Response, c float64, priced bool) {
	t.ops++
	if resp.Provider == t.primary {
		t.primaryOps++
	}
	pr.InputTokens += int64(resp.Usage.InputTokens)
	pr.OutputTokens += int64(resp.Usage.OutputTokens)
	pr.CostUSD += c
	t.totalCost += c
	if !priced {
		t.unpriced[resp.Model] = true
	}
}

// fail records a failed operation, crediting each provider that a
// ProviderError in err's tree names.
func (t *tally) fail(err error) {
	var pes []*ProviderError
	collectProviderErrors(err, &pes, 0)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(pes) == 0 {
		entry(t.failed, "").Errors++
		return
	}
	for _, pe := range pes {
		pr := entry(t.failed, pe.Provider)
		pr.Calls++
		switch pe.Kind {
		case KindRateLimited, KindTooLarge:
			pr.RateLimited++
		case KindQuotaExhausted:
			pr.RateLimited++
			pr.QuotaExhausted++
		default:
			pr.Errors++
		}
	}
}

func collectProviderErrors(err error, out *[]*ProviderError, depth int) {
	if err == nil || depth > maxTreeDepth {
		return
	}
	if pe, ok := err.(*ProviderError); ok {
		*out = append(*out, pe)
		return
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			collectProviderErrors(e, out, depth+1)
		}
	case interface{ Unwrap() error }:
		collectProviderErrors(u.Unwrap(), out, depth+1)
	}
}

func entry(m map[string]*ProviderReport, name string) *ProviderReport {
	pr := m[name]
	if pr == nil {
		pr = &ProviderReport{}
		m[name] = pr
	}
	return pr
}

func (pr *ProviderReport) add(q *ProviderReport) {
	pr.Calls += q.Calls
	pr.Successes += q.Successes
	pr.RateLimited += q.RateLimited
	pr.QuotaExhausted += q.QuotaExhausted
	pr.RateLimitedTokens += q.RateLimitedTokens
	pr.HeldForTokens += q.HeldForTokens
	pr.Retries += q.Retries
	pr.Errors += q.Errors
	pr.BatchRequests += q.BatchRequests
	pr.InputTokens += q.InputTokens
	pr.OutputTokens += q.OutputTokens
	pr.CostUSD += q.CostUSD
}

// fill sets the report's operation and provider figures from the tally and
// the Stats of the tree's nodes before and after the run.
func (t *tally) fill(rep *Report, nodes []treeNode, before, after []Stats) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rep.Operations = t.ops
	rep.Primary = t.primary
	rep.CostUSD = t.totalCost
	if t.ops > 0 {
		rep.PrimarySuccessRate = float64(t.primaryOps) / float64(t.ops)
		rep.FallbackRate = float64(t.ops-t.primaryOps) / float64(t.ops)
		rep.CostPer100OpsUSD = 100 * t.totalCost / float64(t.ops)
	}
	if n := t.ops - t.batchOps; n > 0 {
		rep.AvgOpSeconds = t.opTime.Seconds() / float64(n)
	}
	rep.BatchCostUSD, rep.BatchAtSyncPriceUSD = t.batchCost, t.batchFull
	var cd Cooldowns
	rep.Providers = map[string]*ProviderReport{}
	bare := map[string]bool{}
	for i, n := range nodes {
		name := n.p.Name()
		pr := entry(rep.Providers, name)
		if n.stats == nil {
			// Bare leaves are told apart by name only; count each name once.
			if bare[name] {
				continue
			}
			bare[name] = true
			if s := t.served[name]; s != nil {
				pr.add(s)
			}
			if f := t.failed[name]; f != nil {
				pr.add(f)
			}
			// A lone bare provider failed every unattributed call.
			if f := t.failed[""]; f != nil && len(nodes) == 1 {
				pr.Calls += f.Errors
				pr.Errors += f.Errors
			}
			continue
		}
		d := after[i].Sub(before[i])
		pr.add(&ProviderReport{
			Calls: d.Calls, Successes: d.Successes, RateLimited: d.refused(), QuotaExhausted: d.QuotaExhausted,
			RateLimitedTokens: d.RateLimitedTokens, HeldForTokens: d.HeldForTokens,
			Retries: d.Retries, Errors: d.Errors(),
			InputTokens: d.InputTokens, OutputTokens: d.OutputTokens,
		})
		if s := t.served[name]; s != nil {
			pr.CostUSD += s.CostUSD
		}
		cd.Successes += d.Cooldowns.Successes
		cd.RateLimit += d.Cooldowns.RateLimit
		cd.ServerHint += d.Cooldowns.ServerHint
	}
	// A provider that served under a name the tree doesn't show still
	// appears, so that provider figures add up to the operations.
	for name, s := range t.served {
		if _, ok := rep.Providers[name]; !ok {
			rep.Providers[name] = new(ProviderReport)
			rep.Providers[name].add(s)
		}
	}
	for name, b := range t.batched {
		entry(rep.Providers, name).add(b)
	}
	rep.Cooldowns = map[string]int64{
		"successes": cd.Successes, "rate_limit": cd.RateLimit, "server_hint": cd.ServerHint,
	}
	for m := range t.unpriced {
		rep.UnpricedModels = append(rep.UnpricedModels, m)
	}
	slices.Sort(rep.UnpricedModels)
}
