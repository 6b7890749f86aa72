package llmlimit

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsFromEnv(t *testing.T) {
	env := map[string]string{
		"TAG_SPACE_AI_CONCURRENCY":           "2",
		"TAG_SPACE_MAX_AI_CONCURRENCY":       "4",
		"TAG_SPACE_BATCH_SIZE":               "7",
		"TAG_SPACE_CACHE_ENABLED":            "false",
		"TAG_SPACE_CACHE_SIZE":               "50",
		"TAG_SPACE_COOLDOWN_AFTER_SUCCESSES": "0",
		"TAG_SPACE_SUCCESS_COOLDOWN":         "2",
		"TAG_SPACE_COOLDOWN_AFTER_429S":      "5",
		"TAG_SPACE_RATE_LIMIT_COOLDOWN":      "1m",
		"TAG_SPACE_MAX_RETRIES":              "1",
		"TAG_SPACE_MAX_WAIT":                 "30s",
		"TAG_SPACE_REQUESTS_PER_MINUTE":      "15",
	}
	opts, err := optionsFrom(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	c := newConfig(opts)
	want := defaultConfig()
	want.concurrency, want.maxConcurrency, want.batchSize = 2, 4, 7
	want.cacheEnabled, want.cacheSize = false, 50
	want.successesPerCooldown, want.successCooldown = 0, 2*time.Second
	want.rateLimitsPerCooldown, want.rateLimitCooldown = 5, time.Minute
	want.maxRetries, want.maxWait, want.rate = 1, 30*time.Second, Rate{15, time.Minute}
	c.logger, want.logger = nil, nil
	if c.concurrency != want.concurrency || c.maxConcurrency != want.maxConcurrency || c.batchSize != want.batchSize ||
		c.cacheEnabled != want.cacheEnabled || c.cacheSize != want.cacheSize ||
		c.successesPerCooldown != want.successesPerCooldown || c.successCooldown != want.successCooldown ||
		c.rateLimitsPerCooldown != want.rateLimitsPerCooldown || c.rateLimitCooldown != want.rateLimitCooldown ||
		c.maxRetries != want.maxRetries || c.maxWait != want.maxWait || c.rate != want.rate {
		t.Fatalf("config from env:\n got %+v\nwant %+v", c, want)
	}
}

func TestOptionsFromEnvDefaults(t *testing.T) {
	opts, err := optionsFrom(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	c, d := newConfig(opts), defaultConfig()
	if c.successesPerCooldown != d.successesPerCooldown || c.successCooldown != d.successCooldown ||
		c.rateLimitsPerCooldown != d.rateLimitsPerCooldown || c.rateLimitCooldown != d.rateLimitCooldown ||
		c.concurrency != 3 || c.maxConcurrency != 6 || c.batchSize != 5 || c.cacheSize != 1000 || !c.cacheEnabled {
		t.Fatalf("defaults changed by an empty environment: %+v", c)
	}
}

func TestOptionsFromEnvErrors(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"TAG_SPACE_AI_CONCURRENCY", "abc", `TAG_SPACE_AI_CONCURRENCY="abc": not an integer`},
		{"TAG_SPACE_AI_CONCURRENCY", "0", `TAG_SPACE_AI_CONCURRENCY="0": must be at least 1`},
		{"TAG_SPACE_AI_CONCURRENCY", "8", `TAG_SPACE_MAX_AI_CONCURRENCY=6 is less than TAG_SPACE_AI_CONCURRENCY=8`},
		{"TAG_SPACE_MAX_AI_CONCURRENCY", "-1", `TAG_SPACE_MAX_AI_CONCURRENCY="-1": must be at least 1`},
		{"TAG_SPACE_BATCH_SIZE", "1.5", `TAG_SPACE_BATCH_SIZE="1.5": not an integer`},
		{"TAG_SPACE_CACHE_ENABLED", "maybe", `TAG_SPACE_CACHE_ENABLED="maybe": not a boolean`},
		{"TAG_SPACE_CACHE_SIZE", "0", `TAG_SPACE_CACHE_SIZE="0": must be at least 1`},
		{"TAG_SPACE_COOLDOWN_AFTER_SUCCESSES", "-2", `must be at least 0`},
		{"TAG_SPACE_SUCCESS_COOLDOWN", "-5s", `TAG_SPACE_SUCCESS_COOLDOWN="-5s": must not be negative`},
		{"TAG_SPACE_RATE_LIMIT_COOLDOWN", "ten", `TAG_SPACE_RATE_LIMIT_COOLDOWN="ten": not a duration`},
		{"TAG_SPACE_MAX_RETRIES", "99999999999999999999", `TAG_SPACE_MAX_RETRIES="99999999999999999999": not an integer`},
		{"TAG_SPACE_MAX_WAIT", "1e300", `TAG_SPACE_MAX_WAIT="1e300": too large`},
		{"TAG_SPACE_REQUESTS_PER_MINUTE", "-1", `TAG_SPACE_REQUESTS_PER_MINUTE="-1": must be at least 0`},
	}
	for _, tt := range tests {
		_, err := optionsFrom(func(k string) (string, bool) {
			if k == tt.name {
				return tt.value, true
			}
			return "", false
		})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "llmlimit: ") {
			t.Errorf("%s=%s: err %v, want %q", tt.name, tt.value, err, tt.want)
		}
	}
}
