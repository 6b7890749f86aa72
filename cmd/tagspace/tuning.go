package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/llmlimit/llmlimit"
)

// tuningFlag is a flag that mirrors one TAG_SPACE_* variable: same meaning,
// same value syntax, and it wins over the variable.
type tuningFlag struct {
	flag, env, usage string
	min              int  // for integers
	duration         bool // Go duration or bare seconds, as in the environment
}

var tuningFlags = []tuningFlag{
	{flag: "concurrency", env: "TAG_SPACE_AI_CONCURRENCY", usage: "calls in flight at first", min: 1},
	{flag: "max-concurrency", env: "TAG_SPACE_MAX_AI_CONCURRENCY", usage: "most calls in flight", min: 1},
	{flag: "batch-size", env: "TAG_SPACE_BATCH_SIZE", usage: "items per call", min: 1},
	{flag: "cache-size", env: "TAG_SPACE_CACHE_SIZE", usage: "cache entries", min: 1},
	{flag: "cooldown-after-successes", env: "TAG_SPACE_COOLDOWN_AFTER_SUCCESSES", usage: "pause after this many successes, 0 = never"},
	{flag: "success-cooldown", env: "TAG_SPACE_SUCCESS_COOLDOWN", usage: "pause after successes", duration: true},
	{flag: "cooldown-after-429s", env: "TAG_SPACE_COOLDOWN_AFTER_429S", usage: "pause after this many consecutive 429s, 0 = never"},
	{flag: "rate-limit-cooldown", env: "TAG_SPACE_RATE_LIMIT_COOLDOWN", usage: "pause after 429s", duration: true},
	{flag: "max-retries", env: "TAG_SPACE_MAX_RETRIES", usage: "retries after a 429 or transient error"},
	{flag: "max-wait", env: "TAG_SPACE_MAX_WAIT", usage: "longest wait before falling back, 0 = no limit", duration: true},
	{flag: "rpm", env: "TAG_SPACE_REQUESTS_PER_MINUTE", usage: "known requests-per-minute quota, 0 = learn it"},
}

// Defaults of the cooldown pairs, needed when a flag sets only one half.
var tuningDefaults = map[string]string{
	"cooldown-after-successes": strconv.Itoa(llmlimit.DefaultSuccessesPerCooldown),
	"success-cooldown":         llmlimit.DefaultSuccessCooldown.String(),
	"cooldown-after-429s":      strconv.Itoa(llmlimit.DefaultRateLimitsPerCooldown),
	"rate-limit-cooldown":      llmlimit.DefaultRateLimitCooldown.String(),
}

// tuningOptions turns the tuning flags the user set into options, to be
// applied after llmlimit.OptionsFromEnv so that flags win. A bad value is an
// error naming the flag. The cooldown options set a count and a pause
// together, so when a flag sets one half the other comes from the
// environment, then the default.
func tuningOptions(set map[string]bool, values map[string]*string, env func(string) string) ([]llmlimit.Option, error) {
	ints := map[string]int{}
	durs := map[string]time.Duration{}
	for _, t := range tuningFlags {
		if !set[t.flag] {
			continue
		}
		v := *values[t.flag]
		if t.duration {
			d, err := parseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("-%s=%q: %w", t.flag, v, err)
			}
			durs[t.flag] = d
			continue
		}
		n, err := parseInt(v, t.min)
		if err != nil {
			return nil, fmt.Errorf("-%s=%q: %w", t.flag, v, err)
		}
		ints[t.flag] = n
	}
	var opts []llmlimit.Option
	for _, t := range tuningFlags {
		n, ok := ints[t.flag]
		if !ok {
			continue
		}
		switch t.flag {
		case "concurrency":
			opts = append(opts, llmlimit.WithConcurrency(n))
		case "max-concurrency":
			opts = append(opts, llmlimit.WithMaxConcurrency(n))
		case "batch-size":
			opts = append(opts, llmlimit.WithBatchSize(n))
		case "cache-size":
			opts = append(opts, llmlimit.WithCacheSize(n))
		case "max-retries":
			opts = append(opts, llmlimit.WithMaxRetries(n))
		case "rpm":
			opts = append(opts, llmlimit.WithRequestsPerMinute(n))
		}
	}
	if d, ok := durs["max-wait"]; ok {
		opts = append(opts, llmlimit.WithMaxWait(d))
	}
	pair := func(countFlag, pauseFlag string, with func(int, time.Duration) llmlimit.Option) error {
		if !set[countFlag] && !set[pauseFlag] {
			return nil
		}
		n, ok := ints[countFlag]
		if !ok {
			var err error
			if n, err = parseInt(fallbackValue(countFlag, env), 0); err != nil {
				return fmt.Errorf("%s: %w", envName(countFlag), err)
			}
		}
		d, ok := durs[pauseFlag]
		if !ok {
			var err error
			if d, err = parseDuration(fallbackValue(pauseFlag, env)); err != nil {
				return fmt.Errorf("%s: %w", envName(pauseFlag), err)
			}
		}
		opts = append(opts, with(n, d))
		return nil
	}
	if err := pair("cooldown-after-successes", "success-cooldown", llmlimit.WithSuccessCooldown); err != nil {
		return nil, err
	}
	if err := pair("cooldown-after-429s", "rate-limit-cooldown", llmlimit.WithRateLimitCooldown); err != nil {
		return nil, err
	}
	return opts, nil
}

// fallbackValue is the environment's value for a flag's variable, or the
// library default.
func fallbackValue(flagName string, env func(string) string) string {
	if v := strings.TrimSpace(env(envName(flagName))); v != "" {
		return v
	}
	return tuningDefaults[flagName]
}

func envName(flagName string) string {
	for _, t := range tuningFlags {
		if t.flag == flagName {
			return t.env
		}
	}
	return ""
}

func parseInt(v string, min int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("not an integer")
	}
	if n < min {
		return 0, fmt.Errorf("must be at least %d", min)
	}
	return n, nil
}

// parseDuration accepts what TAG_SPACE_* durations accept: a Go duration
// ("5s", "1m30s") or bare seconds ("5", "0.5").
func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	d, err := time.ParseDuration(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || f != f {
			return 0, fmt.Errorf("not a duration")
		}
		if f > float64(1<<62)/float64(time.Second) {
			return 0, fmt.Errorf("too large")
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative")
	}
	return d, nil
}
