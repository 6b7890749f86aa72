package llmlimit

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Variable is one TAG_SPACE_* setting that [OptionsFromEnv] and
// [OptionsFromLookup] read.
type Variable struct {
	// Name is the variable's name, such as "TAG_SPACE_AI_CONCURRENCY".
	Name string
	// Default is the value that applies when it is unset, written as the
	// variable would be: "3", "5s", "false".
	Default string
}

// Variables returns every variable OptionsFromEnv and OptionsFromLookup
// read, with its default, always in the same order.
func Variables() []Variable {
	c := defaultConfig()
	vs := make([]Variable, len(envTable))
	for i, v := range envTable {
		vs[i] = Variable{Name: v.name, Default: v.def(&c)}
	}
	return vs
}

// OptionsFromEnv reads the TAG_SPACE_* variables listed in [Variables] from
// the process environment; it is OptionsFromLookup(os.LookupEnv).
func OptionsFromEnv() ([]Option, error) { return OptionsFromLookup(os.LookupEnv) }

// OptionsFromLookup returns the options set by the TAG_SPACE_* variables
// listed in [Variables], asking lookup for the value of each by name, so that
// settings kept elsewhere than the process environment (a config file,
// command-line flags layered over the environment) get the same syntax and
// checks. lookup is called once per variable, from the calling goroutine.
//
// Integers are decimal; durations are Go durations ("5s", "1m30s") or bare
// seconds ("5", "0.5"); TAG_SPACE_CACHE_ENABLED is a [strconv.ParseBool]
// boolean. A variable that lookup reports unset, or whose value is blank,
// gives no option. Every other yields an option that changes its own
// setting alone, so options placed before the returned ones keep what the
// variables don't set. In particular the halves of a cooldown pair stand
// alone: TAG_SPACE_SUCCESS_COOLDOWN=1s keeps the count from
// TAG_SPACE_COOLDOWN_AFTER_SUCCESSES, an earlier option, or the default 12.
//
// A bad value is an error naming the variable and the value, such as
// `llmlimit: TAG_SPACE_MAX_WAIT="soon": not a duration`; so is a
// TAG_SPACE_MAX_AI_CONCURRENCY below TAG_SPACE_AI_CONCURRENCY when both
// are set. Other combinations are left to the constructors, which see the
// whole list of options.
func OptionsFromLookup(lookup func(name string) (value string, ok bool)) ([]Option, error) {
	var opts []Option
	c, set := defaultConfig(), make(map[string]bool)
	for _, v := range envTable {
		s, ok := lookup(v.name)
		if !ok || strings.TrimSpace(s) == "" {
			continue
		}
		o, err := v.parse(s)
		if err != nil {
			return nil, fmt.Errorf("llmlimit: %s=%q: %w", v.name, s, err)
		}
		o(&c)
		set[v.name] = true
		opts = append(opts, o)
	}
	if set["TAG_SPACE_AI_CONCURRENCY"] && set["TAG_SPACE_MAX_AI_CONCURRENCY"] && c.maxConcurrency < c.concurrency {
		return nil, fmt.Errorf("llmlimit: TAG_SPACE_MAX_AI_CONCURRENCY=%d is less than TAG_SPACE_AI_CONCURRENCY=%d", c.maxConcurrency, c.concurrency)
	}
	return opts, nil
}

// envTable is how each TAG_SPACE_* variable becomes an Option, and what its
// default is. The halves of a cooldown pair set one field each, so either
// can be set alone.
var envTable = []struct {
	name  string
	parse func(string) (Option, error)
	def   func(*config) string
}{
	{"TAG_SPACE_AI_CONCURRENCY", envInt(WithConcurrency, 1, maxConcurrencySetting),
		func(c *config) string { return strconv.Itoa(c.concurrency) }},
	{"TAG_SPACE_MAX_AI_CONCURRENCY", envInt(WithMaxConcurrency, 1, maxConcurrencySetting),
		func(c *config) string { return strconv.Itoa(c.maxConcurrency) }},
	{"TAG_SPACE_BATCH_SIZE", envInt(WithBatchSize, 1, maxBatchSize),
		func(c *config) string { return strconv.Itoa(c.batchSize) }},
	{"TAG_SPACE_CACHE_ENABLED", envBool(WithCacheEnabled),
		func(c *config) string { return strconv.FormatBool(c.cacheEnabled) }},
	{"TAG_SPACE_CACHE_SIZE", envInt(WithCacheSize, 1, maxCacheSize),
		func(c *config) string { return strconv.Itoa(c.cacheSize) }},
	{"TAG_SPACE_COOLDOWN_AFTER_SUCCESSES", envInt(func(n int) Option { return func(c *config) { c.successesPerCooldown = n } }, 0, maxCount),
		func(c *config) string { return strconv.Itoa(c.successesPerCooldown) }},
	{"TAG_SPACE_SUCCESS_COOLDOWN", envDuration(func(d time.Duration) Option { return func(c *config) { c.successCooldown = d } }),
		func(c *config) string { return c.successCooldown.String() }},
	{"TAG_SPACE_COOLDOWN_AFTER_429S", envInt(func(n int) Option { return func(c *config) { c.rateLimitsPerCooldown = n } }, 0, maxCount),
		func(c *config) string { return strconv.Itoa(c.rateLimitsPerCooldown) }},
	{"TAG_SPACE_RATE_LIMIT_COOLDOWN", envDuration(func(d time.Duration) Option { return func(c *config) { c.rateLimitCooldown = d } }),
		func(c *config) string { return c.rateLimitCooldown.String() }},
	{"TAG_SPACE_MAX_RETRIES", envInt(WithMaxRetries, 0, maxRetriesSetting),
		func(c *config) string { return strconv.Itoa(c.maxRetries) }},
	{"TAG_SPACE_MAX_WAIT", envDuration(WithMaxWait),
		func(c *config) string { return c.maxWait.String() }},
	{"TAG_SPACE_REQUESTS_PER_MINUTE", envInt(WithRequestsPerMinute, 0, maxCount),
		func(c *config) string { return strconv.Itoa(toldLimit(c, UnitRequests)) }},
	{"TAG_SPACE_TOKENS_PER_MINUTE", envInt(WithTokensPerMinute, 0, maxQuota),
		func(c *config) string { return strconv.Itoa(toldLimit(c, UnitInputTokens)) }},
	{"TAG_SPACE_SUCCESS_COOLDOWN_ALWAYS", envBool(WithSuccessCooldownAlways),
		func(c *config) string { return strconv.FormatBool(c.successAlways) }},
	{"TAG_SPACE_OUTAGE_WAIT", envDuration(WithOutageWait),
		func(c *config) string { return c.outageWait.String() }},
	{"TAG_SPACE_SWAP_CHECK", envBool(WithSwapCheck),
		func(c *config) string { return strconv.FormatBool(c.swapCheck) }},
	{"TAG_SPACE_MAX_ITEM_BYTES", envInt(WithMaxItemBytes, 1, maxItemBytesSetting),
		func(c *config) string { return strconv.Itoa(c.maxItemBytes) }},
	{"TAG_SPACE_MODE", envMode,
		func(c *config) string { return c.mode.String() }},
	{"TAG_SPACE_DEADLINE", envDuration(WithDeadline),
		func(c *config) string { return c.deadline.String() }},
	{"TAG_SPACE_BATCH_THRESHOLD", envInt(WithBatchThreshold, 0, maxCount),
		func(c *config) string { return strconv.Itoa(c.batchThreshold) }},
	{"TAG_SPACE_CANCEL_JOBS", envBool(WithCancelJobs),
		func(c *config) string { return strconv.FormatBool(c.cancelJobs) }},
}

func envInt(set func(int) Option, min, max int) func(string) (Option, error) {
	return func(v string) (Option, error) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("not an integer")
		}
		if n < min {
			return nil, fmt.Errorf("must be at least %d", min)
		}
		if n > max {
			return nil, fmt.Errorf("must be at most %d", max)
		}
		return set(n), nil
	}
}

func envMode(v string) (Option, error) {
	m, err := ParseMode(v)
	if err != nil {
		return nil, fmt.Errorf("want sync, batch or auto")
	}
	return WithMode(m), nil
}

func envBool(set func(bool) Option) func(string) (Option, error) {
	return func(v string) (Option, error) {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("not a boolean")
		}
		return set(b), nil
	}
}

func envDuration(set func(time.Duration) Option) func(string) (Option, error) {
	return func(v string) (Option, error) {
		v = strings.TrimSpace(v)
		d, err := time.ParseDuration(v)
		if err != nil {
			// Bare numbers are seconds, as in the seed's .env. Converting
			// NaN or an out-of-range float to a Duration is
			// implementation-defined, so those are refused first.
			f, ferr := strconv.ParseFloat(v, 64)
			switch {
			case ferr != nil || math.IsNaN(f):
				return nil, fmt.Errorf("not a duration")
			case f < 0:
				return nil, fmt.Errorf("must not be negative")
			case f > float64(1<<62)/float64(time.Second):
				return nil, fmt.Errorf("too large")
			}
			d = time.Duration(f * float64(time.Second))
		}
		if d < 0 {
			return nil, fmt.Errorf("must not be negative")
		}
		if d > maxDuration {
			return nil, fmt.Errorf("must be at most %s", maxDuration)
		}
		return set(d), nil
	}
}

// toldLimit is the limit of c's told quota of unit u, or 0.
func toldLimit(c *config, u Unit) int {
	for _, q := range c.quotas {
		if q.Unit == u {
			return q.Limit
		}
	}
	return 0
}
