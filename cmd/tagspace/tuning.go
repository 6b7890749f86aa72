package main

import (
	"errors"
	"flag"
	"strings"

	"github.com/llmlimit/llmlimit"
)

// tuningFlag is a flag that mirrors one TAG_SPACE_* variable: same meaning,
// same value syntax, and it wins over the variable.
type tuningFlag struct {
	flag, env, usage string
	def              string // the library's default, for -h: see init
	boolean          bool   // a flag that needs no value: -swap-check
}

// init gives each tuning flag the default of the variable it mirrors.
func init() {
	defaults := map[string]string{}
	for _, v := range llmlimit.Variables() {
		defaults[v.Name] = v.Default
	}
	for i := range tuningFlags {
		tuningFlags[i].def = defaults[tuningFlags[i].env]
	}
}

var tuningFlags = []tuningFlag{
	{flag: "concurrency", env: "TAG_SPACE_AI_CONCURRENCY", usage: "calls in flight at first"},
	{flag: "max-concurrency", env: "TAG_SPACE_MAX_AI_CONCURRENCY", usage: "most calls in flight"},
	{flag: "batch-size", env: "TAG_SPACE_BATCH_SIZE", usage: "items per call"},
	{flag: "cache-size", env: "TAG_SPACE_CACHE_SIZE", usage: "cache entries"},
	{flag: "cooldown-after-successes", env: "TAG_SPACE_COOLDOWN_AFTER_SUCCESSES", usage: "pause after this many successes, 0 = never"},
	{flag: "success-cooldown", env: "TAG_SPACE_SUCCESS_COOLDOWN", usage: "pause after successes"},
	{flag: "cooldown-after-429s", env: "TAG_SPACE_COOLDOWN_AFTER_429S", usage: "pause after this many consecutive 429s, 0 = never"},
	{flag: "rate-limit-cooldown", env: "TAG_SPACE_RATE_LIMIT_COOLDOWN", usage: "pause after 429s"},
	{flag: "max-retries", env: "TAG_SPACE_MAX_RETRIES", usage: "retries after a 429 or transient error"},
	{flag: "max-wait", env: "TAG_SPACE_MAX_WAIT", usage: "longest wait before falling back, 0 = no limit"},
	{flag: "rpm", env: "TAG_SPACE_REQUESTS_PER_MINUTE", usage: "known requests-per-minute quota, 0 = learn it"},
	{flag: "tpm", env: "TAG_SPACE_TOKENS_PER_MINUTE", usage: "known input-tokens-per-minute quota, 0 = learn it"},
	{flag: "success-cooldown-always", env: "TAG_SPACE_SUCCESS_COOLDOWN_ALWAYS", usage: "pause after successes whatever is known, not only while unexplained 429s arrive", boolean: true},
	{flag: "outage-wait", env: "TAG_SPACE_OUTAGE_WAIT", usage: "how long to wait for the providers to answer again when all are down, 0 = fail at once"},
	{flag: "max-item-bytes", env: "TAG_SPACE_MAX_ITEM_BYTES", usage: "longest item text sent; longer items fail on their own"},
	{flag: "swap-check", env: "TAG_SPACE_SWAP_CHECK", usage: "replies echo each item's first words, so mixed-up ids are caught (more output tokens)", boolean: true},
	{flag: "mode", env: "TAG_SPACE_MODE", usage: "sync, batch (the providers' batch APIs: half price, own quota, minutes to a day) or auto"},
	{flag: "deadline", env: "TAG_SPACE_DEADLINE", usage: "stop the run after this long (batch jobs run on for a rerun); auto mode measures the sync quota against it, 0 = none"},
	{flag: "batch-threshold", env: "TAG_SPACE_BATCH_THRESHOLD", usage: "auto mode: batch above this many uncached calls, 0 = quota and deadline decide"},
	{flag: "cancel-jobs", env: "TAG_SPACE_CANCEL_JOBS", usage: "cancel the batch jobs of an interrupted run instead of leaving them for a rerun", boolean: true},
}

// tuning is where the command's TAG_SPACE_* settings come from: a tuning
// flag the user set wins over its variable in env, which wins over the
// library's default. Parsing, bounds and the cooldown pairs (setting one
// half keeps the other's value) are llmlimit.OptionsFromLookup's.
type tuning struct {
	env   func(string) string
	flags map[string]*flag.Flag // the tuning flags set, by the variable each mirrors
}

// newTuning collects the tuning flags set on fs, which must be parsed. A
// flag set to blanks is an error rather than a silent fall back to env.
func newTuning(fs *flag.FlagSet, env func(string) string) (*tuning, error) {
	mirrors := make(map[string]string, len(tuningFlags))
	for _, t := range tuningFlags {
		mirrors[t.flag] = t.env
	}
	tu := &tuning{env: env, flags: map[string]*flag.Flag{}}
	var err error
	fs.Visit(func(f *flag.Flag) {
		name, ok := mirrors[f.Name]
		if !ok {
			return
		}
		if strings.TrimSpace(f.Value.String()) == "" && err == nil {
			err = usagef("-%s: empty value", f.Name)
		}
		tu.flags[name] = f
	})
	return tu, err
}

// lookup answers for a TAG_SPACE_* variable with the value of the flag
// that mirrors it if the user set one, else with env's.
func (tu *tuning) lookup(name string) (string, bool) {
	if f, ok := tu.flags[name]; ok {
		return f.Value.String(), true
	}
	v := tu.env(name)
	return v, v != ""
}

// options returns the library options of the settings. An error is a
// usageError naming the flag, or the variable, the bad value came from.
func (tu *tuning) options() ([]llmlimit.Option, error) {
	opts, err := llmlimit.OptionsFromLookup(tu.lookup)
	if err == nil {
		return opts, nil
	}
	// The library names each variable it blames as NAME=value; where a
	// flag gave the value, name the flag. The message is then about the
	// command line, so it drops the library's prefix.
	var renames []string
	for _, t := range tuningFlags {
		if _, ok := tu.flags[t.env]; ok {
			renames = append(renames, t.env+"=", "-"+t.flag+"=")
		}
	}
	msg := err.Error()
	if renamed := strings.NewReplacer(renames...).Replace(msg); renamed != msg {
		msg = strings.TrimPrefix(renamed, "llmlimit: ")
	}
	return nil, usageError{errors.New(msg)}
}

// defaultOf is the library's default for the variable name.
func defaultOf(name string) string {
	for _, t := range tuningFlags {
		if t.env == name {
			return t.def
		}
	}
	return ""
}
