package llmlimit

import (
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Option configures [New], [NewFallback] and [NewTagSpace]. One Option type
// serves every constructor and each ignores the options that don't concern
// it, so one list (for example from [OptionsFromEnv]) configures a whole
// pipeline. Options only record values; the constructor validates them and
// returns an error naming the bad setting.
type Option func(*config)

// Jitter selects how randomness is added to backoff delays.
type Jitter int

const (
	// JitterAdditive adds U(0.1 s, 0.4 s) to the exponential delay, as the
	// Python patch this library grew from did. It is the default.
	JitterAdditive Jitter = iota
	// JitterFull draws the delay uniformly from [0, exponential delay]
	// ("full jitter"), which spreads retries of many callers the most.
	JitterFull
)

// Default values: the ones the library grew from, documented on each option.
const (
	defaultConcurrency           = 3
	defaultMaxConcurrency        = 6
	defaultSuccessesPerCooldown  = 12
	defaultSuccessCooldown       = 5 * time.Second
	defaultRateLimitsPerCooldown = 3
	defaultRateLimitCooldown     = 10 * time.Second
	defaultMaxRetries            = 3
	defaultBaseDelay             = time.Second
	defaultMaxDelay              = 60 * time.Second
	defaultBatchSize             = 5
	defaultCacheSize             = 1000
	defaultMaxItemBytes          = 64 << 10
	defaultOutageWait            = 10 * time.Minute
	defaultStateTimeout          = 250 * time.Millisecond
)

// Upper bounds of settings: far beyond any sane value, they catch typos
// (an extra three zeros) before a run parks callers for years or allocates
// gigabytes.
const (
	maxConcurrencySetting = 1024
	maxBatchSize          = 1000
	maxCacheSize          = 10_000_000
	maxCount              = 1_000_000     // cooldown counts
	maxQuota              = 1_000_000_000 // units of a told quota
	maxRetriesSetting     = 100
	maxDuration           = 24 * time.Hour
	maxItemBytesSetting   = 64 << 20
)

// config holds every constructor's settings.
type config struct {
	logger         *slog.Logger
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider

	// Limiter.
	concurrency           int
	maxConcurrency        int
	successesPerCooldown  int
	successCooldown       time.Duration
	rateLimitsPerCooldown int
	rateLimitCooldown     time.Duration
	maxRetries            int
	baseDelay             time.Duration
	maxDelay              time.Duration
	jitter                Jitter
	maxWait               time.Duration
	quotas                []Quota // told, at most one per unit
	successAlways         bool
	state                 State
	stateTimeout          time.Duration

	// TagSpace.
	inFlight     int // batches in flight; 0: maxConcurrency
	reAsks       int // re-asks of a bad reply; -1: maxRetries
	batchSize    int
	cacheEnabled bool
	cacheSize    int
	cache        Cache
	cacheSet     bool
	store        *Store
	emulated     bool
	anyModel     bool
	outageWait   time.Duration
	swapCheck    bool
	maxItemBytes int
	prices       map[string]Price
	model        string
	onProgress   func(Progress)
	onResult     func(Result)

	// TagSpace batch mode.
	mode           Mode
	deadline       time.Duration
	batchThreshold int
	pollFirst      time.Duration
	pollMax        time.Duration
	cancelJobs     bool

	// rand returns a float in [0,1); tests replace it to pin jitter.
	rand func() float64
}

func defaultConfig() config {
	return config{
		logger:                slog.New(slog.DiscardHandler),
		concurrency:           defaultConcurrency,
		maxConcurrency:        defaultMaxConcurrency,
		successesPerCooldown:  defaultSuccessesPerCooldown,
		successCooldown:       defaultSuccessCooldown,
		rateLimitsPerCooldown: defaultRateLimitsPerCooldown,
		rateLimitCooldown:     defaultRateLimitCooldown,
		maxRetries:            defaultMaxRetries,
		baseDelay:             defaultBaseDelay,
		maxDelay:              defaultMaxDelay,
		batchSize:             defaultBatchSize,
		cacheEnabled:          true,
		cacheSize:             defaultCacheSize,
		maxItemBytes:          defaultMaxItemBytes,
		outageWait:            defaultOutageWait,
		stateTimeout:          defaultStateTimeout,
		reAsks:                -1,
		batchThreshold:        defaultBatchThreshold,
		pollFirst:             defaultPollFirst,
		pollMax:               defaultPollMax,
	}
}

func newConfig(opts []Option) config {
	c := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validateShared checks the settings both a Limiter and a TagSpace use, so
// that one list of options is judged the same by every constructor.
func (c *config) validateShared() error {
	switch {
	case c.concurrency < 1:
		return fmt.Errorf("llmlimit: concurrency %d: must be at least 1", c.concurrency)
	case c.maxConcurrency < c.concurrency:
		return fmt.Errorf("llmlimit: max concurrency %d: must be at least the initial concurrency %d", c.maxConcurrency, c.concurrency)
	case c.maxConcurrency > maxConcurrencySetting:
		return fmt.Errorf("llmlimit: max concurrency %d: more than %d", c.maxConcurrency, maxConcurrencySetting)
	case c.maxRetries < 0:
		return fmt.Errorf("llmlimit: max retries %d: must not be negative", c.maxRetries)
	case c.maxRetries > maxRetriesSetting:
		return fmt.Errorf("llmlimit: max retries %d: more than %d", c.maxRetries, maxRetriesSetting)
	}
	return nil
}

// validateLimiter checks the settings a Limiter uses.
func (c *config) validateLimiter() error {
	if err := c.validateShared(); err != nil {
		return err
	}
	switch {
	case c.successesPerCooldown > maxCount:
		return fmt.Errorf("llmlimit: successes per cooldown %d: more than %d", c.successesPerCooldown, maxCount)
	case c.rateLimitsPerCooldown > maxCount:
		return fmt.Errorf("llmlimit: rate limits per cooldown %d: more than %d", c.rateLimitsPerCooldown, maxCount)
	case c.successCooldown > maxDuration:
		return fmt.Errorf("llmlimit: success cooldown %s: more than %s", c.successCooldown, maxDuration)
	case c.rateLimitCooldown > maxDuration:
		return fmt.Errorf("llmlimit: rate-limit cooldown %s: more than %s", c.rateLimitCooldown, maxDuration)
	case c.maxDelay > maxDuration:
		return fmt.Errorf("llmlimit: backoff max %s: more than %s", c.maxDelay, maxDuration)
	case c.stateTimeout <= 0 || c.stateTimeout > time.Minute:
		return fmt.Errorf("llmlimit: state timeout %s: must be positive and at most 1m", c.stateTimeout)
	case c.maxWait > maxDuration:
		return fmt.Errorf("llmlimit: max wait %s: more than %s", c.maxWait, maxDuration)
	case c.successesPerCooldown < 0:
		return fmt.Errorf("llmlimit: successes per cooldown %d: must not be negative", c.successesPerCooldown)
	case c.successCooldown < 0:
		return fmt.Errorf("llmlimit: success cooldown %s: must not be negative", c.successCooldown)
	case c.rateLimitsPerCooldown < 0:
		return fmt.Errorf("llmlimit: rate limits per cooldown %d: must not be negative", c.rateLimitsPerCooldown)
	case c.rateLimitCooldown < 0:
		return fmt.Errorf("llmlimit: rate-limit cooldown %s: must not be negative", c.rateLimitCooldown)
	case c.baseDelay <= 0:
		return fmt.Errorf("llmlimit: backoff base %s: must be positive", c.baseDelay)
	case c.maxDelay < c.baseDelay:
		return fmt.Errorf("llmlimit: backoff max %s: must be at least the base %s", c.maxDelay, c.baseDelay)
	case c.jitter != JitterAdditive && c.jitter != JitterFull:
		return fmt.Errorf("llmlimit: jitter %d: unknown", c.jitter)
	case c.maxWait < 0:
		return fmt.Errorf("llmlimit: max wait %s: must not be negative", c.maxWait)
	}
	for _, q := range c.quotas {
		if err := checkQuota(q); err != nil {
			return err
		}
	}
	return nil
}

// checkQuota checks a told quota.
func checkQuota(q Quota) error {
	switch {
	case int(q.Unit) >= units:
		return fmt.Errorf("llmlimit: quota of unit %d: unknown unit", q.Unit)
	case q.Limit < 0:
		return fmt.Errorf("llmlimit: %s per %s: %d must not be negative", q.Unit, q.Window, q.Limit)
	case q.Limit > maxQuota:
		return fmt.Errorf("llmlimit: %s per %s: %d is more than %d", q.Unit, q.Window, q.Limit, maxQuota)
	case q.Limit > 0 && (q.Window < minWindow || q.Window > maxDuration):
		return fmt.Errorf("llmlimit: %s quota window %s: must be between %s and %s", q.Unit, q.Window, minWindow, maxDuration)
	}
	return nil
}

// WithLogger sends the structured logs (cooldown, backoff, counters reset,
// fallback, concurrency) to logger. The default discards them.
func WithLogger(logger *slog.Logger) Option { return func(c *config) { c.logger = logger } }

// WithConcurrency sets how many calls a Limiter lets run at once to start
// with (TAG_SPACE_AI_CONCURRENCY, default 3).
func WithConcurrency(n int) Option { return func(c *config) { c.concurrency = n } }

// WithMaxConcurrency sets how far a Limiter may grow its slot limit after a
// run of successes (TAG_SPACE_MAX_AI_CONCURRENCY, default 6).
func WithMaxConcurrency(n int) Option { return func(c *config) { c.maxConcurrency = n } }

// WithSuccessCooldown pauses every caller for pause after every n successes
// (TAG_SPACE_COOLDOWN_AFTER_SUCCESSES=12, TAG_SPACE_SUCCESS_COOLDOWN=5s).
// n = 0 or pause = 0 disables it.
func WithSuccessCooldown(n int, pause time.Duration) Option {
	return func(c *config) { c.successesPerCooldown, c.successCooldown = n, pause }
}

// WithRateLimitCooldown pauses every caller for pause after n consecutive
// 429s (TAG_SPACE_COOLDOWN_AFTER_429S=3, TAG_SPACE_RATE_LIMIT_COOLDOWN=10s).
// n = 0 or pause = 0 disables it.
func WithRateLimitCooldown(n int, pause time.Duration) Option {
	return func(c *config) { c.rateLimitsPerCooldown, c.rateLimitCooldown = n, pause }
}

// WithMaxRetries sets how many times a call is retried after a rate limit or
// a transient error (TAG_SPACE_MAX_RETRIES, default 3). 0 disables retries.
func WithMaxRetries(n int) Option { return func(c *config) { c.maxRetries = n } }

// WithBackoff sets the exponential backoff: the delay before retry k (from 0)
// is base·2^k, capped at max, plus jitter. Defaults: 1 s and 60 s.
func WithBackoff(base, max time.Duration) Option {
	return func(c *config) { c.baseDelay, c.maxDelay = base, max }
}

// WithJitter selects the backoff jitter; the default is [JitterAdditive].
func WithJitter(j Jitter) Option { return func(c *config) { c.jitter = j } }

// WithMaxWait sets the wait budget of one call (TAG_SPACE_MAX_WAIT): when the
// cooldown gate, a backoff or a server hint would make the call wait longer
// than d, it fails at once with [ErrCooldown] so that a [Fallback] can serve
// it. 0, the default, waits as long as the context allows.
func WithMaxWait(d time.Duration) Option { return func(c *config) { c.maxWait = d } }

// WithRequestsPerMinute paces the starts of calls to a known quota of n
// requests per minute (TAG_SPACE_REQUESTS_PER_MINUTE); it is WithQuota of
// a [UnitRequests] quota. 0, the default, learns the quota from the
// server's replies instead.
func WithRequestsPerMinute(n int) Option {
	return WithQuota(Quota{Unit: UnitRequests, Limit: n, Window: time.Minute})
}

// WithTokensPerMinute paces the starts of calls to a known quota of n
// prompt tokens per minute (TAG_SPACE_TOKENS_PER_MINUTE), as Gemini's
// input-token quotas count; it is WithQuota of a [UnitInputTokens] quota.
// 0, the default, learns token quotas from the server's replies instead.
func WithTokensPerMinute(n int) Option {
	return WithQuota(Quota{Unit: UnitInputTokens, Limit: n, Window: time.Minute})
}

// WithQuota paces the starts of calls to a known quota: at most q.Limit
// units of q.Unit started in any q.Window (see [Limiter]). A Limiter keeps
// one told quota per unit; a later WithQuota of the same unit replaces it,
// and one with Limit 0 removes it. Only Unit, Limit and Window are read.
// Quotas the server reports are learned besides, whatever is told.
func WithQuota(q Quota) Option {
	return func(c *config) {
		q = Quota{Unit: q.Unit, Limit: q.Limit, Window: q.Window}
		kept := c.quotas[:0:0]
		for _, k := range c.quotas {
			if k.Unit != q.Unit {
				kept = append(kept, k)
			}
		}
		if q.Limit != 0 {
			kept = append(kept, q)
		}
		c.quotas = kept
	}
}

// WithSuccessCooldownAlways makes the success cooldown ([WithSuccessCooldown])
// pause every caller after every Nth success whatever the Limiter knows, as
// the Python patch this library grew from did
// (TAG_SPACE_SUCCESS_COOLDOWN_ALWAYS). By default it is adaptive: it counts
// only while 429s the Limiter can't explain arrive (see [CooldownRules]).
func WithSuccessCooldownAlways(on bool) Option { return func(c *config) { c.successAlways = on } }

// WithState makes the Limiter keep its cooldown gate, cooldown counters and
// quota pacing in s, shared with every other Limiter given the same s (for
// example in other replicas, through package redisstate). The default is a
// private [MemoryState]. Give each Limiter of one quota the same State and
// each quota its own.
func WithState(s State) Option { return func(c *config) { c.state = s } }

// WithStateTimeout bounds every call to the shared State of [WithState]
// (default 250 ms); a call that takes longer is answered by the Limiter's
// private state, so a hung store never holds callers longer than this.
func WithStateTimeout(d time.Duration) Option { return func(c *config) { c.stateTimeout = d } }

// WithBatchesInFlight sets how many batches TagSpace keeps in flight. By
// default it is the [WithMaxConcurrency] setting
// (TAG_SPACE_MAX_AI_CONCURRENCY, which sets both): the Limiters' slot
// limits then bound the calls, and batches waiting for a slot cost nothing.
func WithBatchesInFlight(n int) Option { return func(c *config) { c.inFlight = n } }

// WithReplyRetries sets how many times TagSpace asks again for the items a
// reply left out or got wrong, before it asks for each alone and then
// fails it with [ErrBadReply]. By default it is the [WithMaxRetries]
// setting (TAG_SPACE_MAX_RETRIES, which sets both), which otherwise counts
// a provider's retries of failed calls.
func WithReplyRetries(n int) Option { return func(c *config) { c.reAsks = n } }

// batchesInFlight is TagSpace's number of batches in flight.
func (c *config) batchesInFlight() int {
	if c.inFlight > 0 {
		return c.inFlight
	}
	return c.maxConcurrency
}

// replyRetries is TagSpace's number of re-asks of a bad reply.
func (c *config) replyRetries() int {
	if c.reAsks >= 0 {
		return c.reAsks
	}
	return c.maxRetries
}

// WithBatchSize sets how many items TagSpace sends in one call
// (TAG_SPACE_BATCH_SIZE, default 5).
func WithBatchSize(n int) Option { return func(c *config) { c.batchSize = n } }

// WithCacheEnabled turns TagSpace's cache on or off (TAG_SPACE_CACHE_ENABLED,
// default true).
func WithCacheEnabled(on bool) Option { return func(c *config) { c.cacheEnabled = on } }

// WithCacheSize sets the number of entries of TagSpace's default LRU cache
// (TAG_SPACE_CACHE_SIZE, default 1000).
func WithCacheSize(n int) Option { return func(c *config) { c.cacheSize = n } }

// WithCache makes TagSpace use cache instead of a new LRU, for example one
// loaded from a file or shared between runs. nil disables caching.
func WithCache(cache Cache) Option { return func(c *config) { c.cache, c.cacheSet = cache, true } }

// WithStore puts s behind TagSpace's in-memory cache: a run looks up in s
// what the in-memory cache lacks and writes every result it gets to s as it
// arrives, so that every result of every run is kept and a killed run
// loses almost nothing (see [Store]). nil, the default, keeps results in
// memory only. [WithCacheEnabled](false) turns the store off too.
func WithStore(s *Store) Option { return func(c *config) { c.store = s } }

// WithEmulator tells TagSpace that its provider answers from an emulator
// (such as package llmtest's), not a real model. Emulators name real models
// in their replies, so TagSpace can't tell by itself. A run told so records
// its results as emulated and serves from the cache only results that were
// emulated too; a run not told so never serves emulated results. The
// default is false. cmd/tagspace sets it whenever it runs on its built-in
// emulator.
func WithEmulator(on bool) Option { return func(c *config) { c.emulated = on } }

// WithCacheFromAnyModel lets a run serve cached results whatever provider
// and model produced them, including results of unknown origin (added
// through the Cache interface or imported from an old cache file). By
// default a run serves only results of the providers and models it would
// call itself: a new model is a cache miss. Results of an emulator are
// still served only to emulated runs ([WithEmulator]), and a changed
// vocabulary or batch protocol is always a miss, since the cache key
// includes them.
func WithCacheFromAnyModel(on bool) Option { return func(c *config) { c.anyModel = on } }

// WithSwapCheck makes TagSpace use the checked batch protocol
// (tagspace/v2; TAG_SPACE_SWAP_CHECK, default false): every entry of a
// reply also echoes the first three words of its item's text, and an entry
// whose words are another item's — the model mixed up two ids — is read as
// missing, so both items are asked again instead of tagged with each
// other's tags. Batches of one item are sent unchecked. It costs output
// tokens: about 52% more on the emulator's replies, measured by
// TestSwapCheckCost, which is why it is off by default.
func WithSwapCheck(on bool) Option { return func(c *config) { c.swapCheck = on } }

// WithOutageWait sets how long a TagSpace run waits for its providers to
// answer again once they are all down (TAG_SPACE_OUTAGE_WAIT, default 10
// minutes). A batch whose call fails with a 5xx, a timeout, a rate limit
// or a cooldown, after the providers' own retries, is not failed but put
// aside, and sent again as soon as another call of the run succeeds; with
// nothing else left to send, the run probes with one batch at a time,
// backing off as [WithBackoff] says. When the providers have been down
// for d, the batches put aside fail. 0 fails them at once. The wait ends
// with the run's context either way.
func WithOutageWait(d time.Duration) Option { return func(c *config) { c.outageWait = d } }

// WithMaxItemBytes limits the size of one item's text
// (TAG_SPACE_MAX_ITEM_BYTES, default 64 KiB); longer items fail with an
// error instead of being sent.
func WithMaxItemBytes(n int) Option { return func(c *config) { c.maxItemBytes = n } }

// WithPrices overrides or adds per-model prices used for the report's cost.
func WithPrices(prices map[string]Price) Option {
	return func(c *config) {
		if c.prices == nil {
			c.prices = make(map[string]Price, len(prices))
		}
		for k, v := range prices {
			c.prices[k] = v
		}
	}
}

// WithModel sets Request.Model on TagSpace's requests; empty leaves each
// provider's default.
func WithModel(model string) Option { return func(c *config) { c.model = model } }

// WithProgress calls f after every item is settled, from the goroutine that
// settled it; f must be quick and safe for concurrent use.
func WithProgress(f func(Progress)) Option { return func(c *config) { c.onProgress = f } }

// WithResultFunc calls f with each item's result as soon as it is settled
// (not in input order); f must be quick and safe for concurrent use.
func WithResultFunc(f func(Result)) Option { return func(c *config) { c.onResult = f } }

// withRand pins the jitter source; for tests.
func withRand(f func() float64) Option { return func(c *config) { c.rand = f } }
