package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/llmlimit/llmlimit"
)

// flagDefaults are what the flags whose zero value means something else
// default to, as -h shows them.
var flagDefaults = map[string]string{
	"space":        "none",
	"in":           "none",
	"tags":         "none: free tagging",
	"out":          "stdout",
	"report":       "none",
	"cache-file":   "<user cache dir>/llmlimit/" + storeFileName,
	"gemini-model": llmlimit.DefaultGeminiModel,
	"openai-model": llmlimit.DefaultOpenAIModel,
	"metrics-addr": "none; or $" + metricsAddrEnv,
}

// printUsage prints every flag with its default, tuning flags with the
// variable they mirror: flag.PrintDefaults leaves out zero defaults, and
// the tuning flags' zero is "the variable's value, else the library's".
func printUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "usage: tagspace (-space NAME | -in ITEMS.jsonl [-tags TAGS.txt]) [flags]\n\n")
	tuning := map[string]tuningFlag{}
	for _, t := range tuningFlags {
		tuning[t.flag] = t
	}
	fs.VisitAll(func(f *flag.Flag) {
		usage := strings.TrimSuffix(f.Usage, " ("+tuning[f.Name].env+")")
		def := f.DefValue
		if d, ok := flagDefaults[f.Name]; ok {
			def = d
		}
		if t, ok := tuning[f.Name]; ok {
			def = t.def + "; or $" + t.env
		}
		kind := " value"
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			kind = ""
		}
		fmt.Fprintf(w, "  -%s%s\n    \t%s (default %s)\n", f.Name, kind, usage, def)
	})
}

// checkFlagNames refuses an unknown flag before flag.Parse does, to name
// the closest known one: flag's own message names none.
func checkFlagNames(fs *flag.FlagSet, args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			return nil
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "h" || name == "help" {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			if near := closestFlag(fs, name); near != "" {
				return usagef("flag provided but not defined: -%s; did you mean -%s? (tagspace -h lists every flag)", name, near)
			}
			return usagef("flag provided but not defined: -%s (tagspace -h lists every flag)", name)
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) {
			i++ // the flag's value
		}
	}
	return nil
}

// closestFlag is the defined flag nearest to name by edit distance, or ""
// when none is near enough to be a typo.
func closestFlag(fs *flag.FlagSet, name string) string {
	best, bestD := "", 0
	fs.VisitAll(func(f *flag.Flag) {
		d := editDistance(name, f.Name)
		if strings.HasPrefix(f.Name, name) && len(name) >= 3 {
			d = min(d, 1)
		}
		if best == "" || d < bestD {
			best, bestD = f.Name, d
		}
	})
	if bestD > max(2, len(name)/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
