package llmlimit

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// lookupIn is a lookup over a map, as a config file would give.
func lookupIn(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
}

// TestOptionsFromLookup shows the settings each set of variables produces,
// on top of options given before them. The halves of a cooldown pair are
// independent: one set alone keeps the other half's earlier value.
func TestOptionsFromLookup(t *testing.T) {
	type settings struct {
		concurrency, maxConcurrency, batchSize, cacheSize int
		cacheEnabled                                      bool
		successes, rateLimits, maxRetries                 int
		successPause, rateLimitPause, maxWait             time.Duration
		rpm, tpm                                          int
		always                                            bool
	}
	def := settings{3, 6, 5, 1000, true, 12, 3, 3, 5 * time.Second, 10 * time.Second, 0, 0, 0, false}
	with := func(f func(*settings)) settings { s := def; f(&s); return s }
	tests := []struct {
		name   string
		before []Option
		vars   map[string]string
		want   settings
	}{
		{"nothing set", nil, nil, def},
		{"blank is unset", nil, map[string]string{"TAG_SPACE_BATCH_SIZE": " ", "TAG_SPACE_MAX_WAIT": ""}, def},
		{"every variable", nil, map[string]string{
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
			"TAG_SPACE_TOKENS_PER_MINUTE":        "250000",
			"TAG_SPACE_SUCCESS_COOLDOWN_ALWAYS":  "true",
		}, settings{2, 4, 7, 50, false, 0, 5, 1, 2 * time.Second, time.Minute, 30 * time.Second, 15, 250000, true}},
		{"spaces around values", nil, map[string]string{"TAG_SPACE_BATCH_SIZE": " 8 ", "TAG_SPACE_MAX_WAIT": " 1.5 "},
			with(func(s *settings) { s.batchSize, s.maxWait = 8, 1500*time.Millisecond })},
		{"success pause alone keeps the default count", nil, map[string]string{"TAG_SPACE_SUCCESS_COOLDOWN": "1s"},
			with(func(s *settings) { s.successPause = time.Second })},
		{"success count alone keeps the default pause", nil, map[string]string{"TAG_SPACE_COOLDOWN_AFTER_SUCCESSES": "4"},
			with(func(s *settings) { s.successes = 4 })},
		{"rate-limit pause alone keeps the default count", nil, map[string]string{"TAG_SPACE_RATE_LIMIT_COOLDOWN": "250ms"},
			with(func(s *settings) { s.rateLimitPause = 250 * time.Millisecond })},
		{"rate-limit count alone keeps the default pause", nil, map[string]string{"TAG_SPACE_COOLDOWN_AFTER_429S": "0"},
			with(func(s *settings) { s.rateLimits = 0 })},
		{"pause alone keeps an earlier option's count", []Option{WithSuccessCooldown(20, time.Minute)}, map[string]string{"TAG_SPACE_SUCCESS_COOLDOWN": "3"},
			with(func(s *settings) { s.successes, s.successPause = 20, 3*time.Second })},
		{"unset variables keep earlier options", []Option{WithRateLimitCooldown(1, time.Second), WithMaxConcurrency(10), WithMaxWait(time.Minute)}, map[string]string{"TAG_SPACE_AI_CONCURRENCY": "8"},
			with(func(s *settings) {
				s.rateLimits, s.rateLimitPause, s.maxConcurrency, s.concurrency, s.maxWait = 1, time.Second, 10, 8, time.Minute
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := OptionsFromLookup(lookupIn(tt.vars))
			if err != nil {
				t.Fatal(err)
			}
			c := newConfig(append(tt.before, opts...))
			got := settings{c.concurrency, c.maxConcurrency, c.batchSize, c.cacheSize, c.cacheEnabled,
				c.successesPerCooldown, c.rateLimitsPerCooldown, c.maxRetries,
				c.successCooldown, c.rateLimitCooldown, c.maxWait,
				toldLimit(&c, UnitRequests), toldLimit(&c, UnitInputTokens), c.successAlways}
			if got != tt.want {
				t.Errorf("settings:\n got %+v\nwant %+v", got, tt.want)
			}
			if len(opts) > len(tt.vars) {
				t.Errorf("%d options from %d variables", len(opts), len(tt.vars))
			}
			if err := c.validateLimiter(); err != nil {
				t.Errorf("Limiter refuses the settings: %v", err)
			}
		})
	}
}

// TestOptionsFromLookupErrors: a bad value is refused with an error naming
// the variable and the value.
func TestOptionsFromLookupErrors(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"TAG_SPACE_AI_CONCURRENCY", "abc", `TAG_SPACE_AI_CONCURRENCY="abc": not an integer`},
		{"TAG_SPACE_AI_CONCURRENCY", "0", `TAG_SPACE_AI_CONCURRENCY="0": must be at least 1`},
		{"TAG_SPACE_MAX_AI_CONCURRENCY", "-1", `TAG_SPACE_MAX_AI_CONCURRENCY="-1": must be at least 1`},
		{"TAG_SPACE_MAX_AI_CONCURRENCY", "2000", `TAG_SPACE_MAX_AI_CONCURRENCY="2000": must be at most 1024`},
		{"TAG_SPACE_BATCH_SIZE", "1.5", `TAG_SPACE_BATCH_SIZE="1.5": not an integer`},
		{"TAG_SPACE_CACHE_ENABLED", "maybe", `TAG_SPACE_CACHE_ENABLED="maybe": not a boolean`},
		{"TAG_SPACE_CACHE_SIZE", "0", `TAG_SPACE_CACHE_SIZE="0": must be at least 1`},
		{"TAG_SPACE_COOLDOWN_AFTER_SUCCESSES", "-2", `TAG_SPACE_COOLDOWN_AFTER_SUCCESSES="-2": must be at least 0`},
		{"TAG_SPACE_SUCCESS_COOLDOWN", "-5s", `TAG_SPACE_SUCCESS_COOLDOWN="-5s": must not be negative`},
		{"TAG_SPACE_SUCCESS_COOLDOWN", "-3", `TAG_SPACE_SUCCESS_COOLDOWN="-3": must not be negative`},
		{"TAG_SPACE_COOLDOWN_AFTER_429S", "x", `TAG_SPACE_COOLDOWN_AFTER_429S="x": not an integer`},
		{"TAG_SPACE_RATE_LIMIT_COOLDOWN", "ten", `TAG_SPACE_RATE_LIMIT_COOLDOWN="ten": not a duration`},
		{"TAG_SPACE_RATE_LIMIT_COOLDOWN", "25h", `TAG_SPACE_RATE_LIMIT_COOLDOWN="25h": must be at most 24h0m0s`},
		{"TAG_SPACE_MAX_RETRIES", "99999999999999999999", `TAG_SPACE_MAX_RETRIES="99999999999999999999": not an integer`},
		{"TAG_SPACE_MAX_WAIT", "1e300", `TAG_SPACE_MAX_WAIT="1e300": too large`},
		{"TAG_SPACE_MAX_WAIT", "+Inf", `TAG_SPACE_MAX_WAIT="+Inf": too large`},
		{"TAG_SPACE_MAX_WAIT", "-Inf", `TAG_SPACE_MAX_WAIT="-Inf": must not be negative`},
		{"TAG_SPACE_MAX_WAIT", "NaN", `TAG_SPACE_MAX_WAIT="NaN": not a duration`},
		{"TAG_SPACE_MAX_WAIT", "100000", `TAG_SPACE_MAX_WAIT="100000": must be at most 24h0m0s`},
		{"TAG_SPACE_REQUESTS_PER_MINUTE", "-1", `TAG_SPACE_REQUESTS_PER_MINUTE="-1": must be at least 0`},
	}
	for _, tt := range tests {
		_, err := OptionsFromLookup(lookupIn(map[string]string{tt.name: tt.value}))
		if err == nil || err.Error() != "llmlimit: "+tt.want {
			t.Errorf("%s=%s: err %v, want %q", tt.name, tt.value, err, "llmlimit: "+tt.want)
		}
	}
}

// TestOptionsFromLookupConcurrencyPair: the initial concurrency above the
// maximum is refused naming both variables when both are set; when only one
// is, the other may come from another option, so the constructor judges.
func TestOptionsFromLookupConcurrencyPair(t *testing.T) {
	_, err := OptionsFromLookup(lookupIn(map[string]string{"TAG_SPACE_AI_CONCURRENCY": "8", "TAG_SPACE_MAX_AI_CONCURRENCY": "4"}))
	if want := "llmlimit: TAG_SPACE_MAX_AI_CONCURRENCY=4 is less than TAG_SPACE_AI_CONCURRENCY=8"; err == nil || err.Error() != want {
		t.Errorf("both set: err %v, want %q", err, want)
	}
	opts, err := OptionsFromLookup(lookupIn(map[string]string{"TAG_SPACE_AI_CONCURRENCY": "8"}))
	if err != nil {
		t.Fatalf("only the initial set: %v", err)
	}
	c := newConfig(opts)
	if err := c.validateShared(); err == nil || !strings.Contains(err.Error(), "max concurrency 6: must be at least the initial concurrency 8") {
		t.Errorf("initial 8 above the default maximum: constructor says %v", err)
	}
}

// TestVariablesDefaults: every variable set to the default Variables says
// it has leaves every setting at its default.
func TestVariablesDefaults(t *testing.T) {
	vs := Variables()
	if len(vs) != len(envTable) {
		t.Fatalf("Variables lists %d, the table parses %d", len(vs), len(envTable))
	}
	vars := map[string]string{}
	for _, v := range vs {
		if !strings.HasPrefix(v.Name, "TAG_SPACE_") || v.Default == "" {
			t.Errorf("variable %+v", v)
		}
		vars[v.Name] = v.Default
	}
	opts, err := OptionsFromLookup(lookupIn(vars))
	if err != nil {
		t.Fatal(err)
	}
	got, want := newConfig(opts), defaultConfig()
	got.logger, want.logger = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("every variable at its default:\n got %+v\nwant %+v", got, want)
	}
}

// FuzzOptionsFromLookup: any value of any variable is either refused with
// an error naming the variable and the value, or gives settings a Limiter
// and a TagSpace accept.
func FuzzOptionsFromLookup(f *testing.F) {
	for _, s := range []string{"5", "0", "-1", "1.5", "5s", "1m30s", "NaN", "+Inf", "1e300", "86400", "true", " 7 ", "0x10"} {
		f.Add(uint8(0), s)
		f.Add(uint8(6), s)
	}
	f.Fuzz(func(t *testing.T, i uint8, value string) {
		vs := Variables()
		name := vs[int(i)%len(vs)].Name
		opts, err := OptionsFromLookup(lookupIn(map[string]string{name: value}))
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "llmlimit: "+name+"=") {
				t.Fatalf("%s=%q: error %q does not name the variable", name, value, msg)
			}
			return
		}
		// Alone, an initial concurrency needs room below the maximum and a
		// maximum room above the initial; give each the most room there is.
		c := newConfig(append([]Option{WithConcurrency(1), WithMaxConcurrency(maxConcurrencySetting)}, opts...))
		if err := c.validateLimiter(); err != nil {
			t.Fatalf("%s=%q accepted, but New refuses it: %v", name, value, err)
		}
		if err := c.validateTagSpace(); err != nil {
			t.Fatalf("%s=%q accepted, but NewTagSpace refuses it: %v", name, value, err)
		}
	})
}
