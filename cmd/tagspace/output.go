package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// output is a destination opened before the run: stdout; a device or pipe
// such as /dev/null, written in place; or, for a regular file, a temporary
// file beside it that commit renames into place, so an interrupted run
// never leaves half a file where a complete one was.
type output struct {
	w      io.Writer
	f      *os.File
	name   string // as the user gave it, for messages
	path   string // rename target; "" when f is written in place
	closed bool
}

// createOutput opens path for writing; "" means stdout (or nothing when
// stdout is nil). A symlink is followed, so the link stays and its target
// gets the content.
func createOutput(path string, stdout io.Writer) (*output, error) {
	if path == "" {
		return &output{w: stdout}, nil
	}
	name := path
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		// Renaming over a device would replace it with a file (as root,
		// -out /dev/null would destroy /dev/null), so write in place.
		if fi.IsDir() {
			return nil, fmt.Errorf("cannot write %s: is a directory", name)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("cannot write %s: %w", name, bareError(err))
		}
		return &output{w: f, f: f, name: name}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cannot write %s: %w", name, bareError(err))
	}
	return &output{w: f, f: f, name: name, path: path}, nil
}

// bareError drops the path from a file-system error: the path is the
// temporary file's, and messages name the user's.
func bareError(err error) error {
	var pe *os.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	}
	return err
}

func (o *output) enabled() bool { return o.w != nil }

func (o *output) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil && o.name != "" {
		err = fmt.Errorf("cannot write %s: %w", o.name, bareError(err))
	}
	return n, err
}

// commit puts a file in place; a no-op for stdout.
func (o *output) commit() error { return o.commitAs("") }

// commitAs puts a file in place under its name plus suffix (".partial"
// for an interrupted run, which leaves the file itself as it was) and
// returns the name it wrote.
func (o *output) commitAs(suffix string) error {
	if o.f == nil || o.closed {
		return nil
	}
	o.closed = true
	if o.path == "" {
		if err := o.f.Close(); err != nil {
			return fmt.Errorf("cannot write %s: %w", o.name, bareError(err))
		}
		return nil
	}
	fail := func(err error) error {
		os.Remove(o.f.Name())
		return fmt.Errorf("cannot write %s: %w", o.name+suffix, bareError(err))
	}
	// Results and reports hold user data (ids, tags, figures): owner only.
	if err := o.f.Chmod(0o600); err != nil {
		o.f.Close()
		return fail(err)
	}
	if err := o.f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(o.f.Name(), o.path+suffix); err != nil {
		return fail(err)
	}
	return nil
}

// renamed reports whether commit puts the output in place by rename, so
// that an interrupted run can leave the file as it was.
func (o *output) renamed() bool { return o.path != "" }

// abort removes an uncommitted temporary file.
func (o *output) abort() {
	if o.f == nil || o.closed {
		return
	}
	o.closed = true
	o.f.Close()
	if o.path != "" {
		os.Remove(o.f.Name())
	}
}

// resultLine is one line of the results JSONL. A tagged item has tags,
// provider ("" when it came from the cache) and cached; a failed one has
// only error.
type resultLine struct {
	ID       string    `json:"id"`
	Tags     *[]string `json:"tags,omitempty"`
	Provider *string   `json:"provider,omitempty"`
	Cached   *bool     `json:"cached,omitempty"`
	Error    string    `json:"error,omitempty"`
}

func newResultLine(r llmlimit.Result) resultLine {
	if r.Err != nil {
		return resultLine{ID: r.ID, Error: r.Err.Error()}
	}
	tags := r.Tags
	if tags == nil {
		tags = []string{}
	}
	return resultLine{ID: r.ID, Tags: &tags, Provider: &r.Provider, Cached: &r.Cached}
}

// writeResults writes one JSON line per result, in the order given (input
// order, as Report.Results holds them).
func writeResults(w io.Writer, results []llmlimit.Result) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, r := range results {
		if err := enc.Encode(newResultLine(r)); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// reportJSON is the -report file: the library's Report (snake_case keys)
// plus, in emulator mode, what the emulator itself counted, so the two can
// be compared.
type reportJSON struct {
	*llmlimit.Report
	Emulator map[string]emulatorCounts `json:"emulator,omitempty"`
}

type emulatorCounts struct {
	Requests      int `json:"requests"`
	Successes     int `json:"successes"`
	RateLimited   int `json:"rate_limited"`
	QuotaExceeded int `json:"quota_exceeded"`
	ServerErrors  int `json:"server_errors"`
	Unauthorized  int `json:"unauthorized"`
}

func countsOf(a llmtest.APICounters) emulatorCounts {
	return emulatorCounts{a.Requests, a.Successes, a.RateLimited, a.QuotaExceeded, a.ServerErrors, a.Unauthorized}
}

func writeReport(w io.Writer, r *llmlimit.Report, e *llmtest.Emulator) error {
	rj := reportJSON{Report: r}
	if e != nil {
		c := e.Counters()
		rj.Emulator = map[string]emulatorCounts{"gemini": countsOf(c.Gemini), "openai": countsOf(c.OpenAI)}
	}
	if rj.Cooldowns == nil {
		rj.Cooldowns = map[string]int64{}
	}
	if rj.Providers == nil {
		rj.Providers = map[string]*llmlimit.ProviderReport{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rj)
}

// writeSummary prints the run's figures as two tables on stderr.
func writeSummary(w io.Writer, r *llmlimit.Report, pl *pipeline, store *llmlimit.Store) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nspace\t%s\n", r.Space)
	if store != nil {
		fmt.Fprintf(tw, "store\t%s (%d results written)\n", store.Path(), r.Stored)
	} else {
		fmt.Fprintf(tw, "store\tnone (-no-cache)\n")
	}
	fmt.Fprintf(tw, "mode\t%s (%s)\n", r.Mode, r.ModeReason)
	fmt.Fprintf(tw, "items\t%d\n", r.Items)
	fmt.Fprintf(tw, "tagged\t%d\n", r.Tagged)
	fmt.Fprintf(tw, "failed\t%d\n", r.Failed)
	if r.NotAttempted > 0 {
		fmt.Fprintf(tw, "not attempted\t%d\n", r.NotAttempted)
	}
	fmt.Fprintf(tw, "cached\t%d\n", r.Cached)
	fmt.Fprintf(tw, "operations\t%d\n", r.Operations)
	fmt.Fprintf(tw, "primary success rate\t%.1f%%\n", 100*r.PrimarySuccessRate)
	fmt.Fprintf(tw, "fallback rate\t%.1f%%\n", 100*r.FallbackRate)
	fmt.Fprintf(tw, "cache hit rate\t%.1f%%\n", 100*r.CacheHitRate)
	for _, o := range sortedKeys(r.CachedFrom) {
		fmt.Fprintf(tw, "  from %s\t%d\n", o, r.CachedFrom[o])
	}
	if r.CacheOtherOrigin > 0 {
		fmt.Fprintf(tw, "  not served: other model or emulator\t%d (-reuse-cache-from-any-model serves another model's)\n", r.CacheOtherOrigin)
	}
	if r.StoreError != "" {
		fmt.Fprintf(tw, "store error\t%s\n", r.StoreError)
	}
	fmt.Fprintf(tw, "avg s/op\t%.2f\n", r.AvgOpSeconds)
	if pl.emulator != nil {
		// The emulator's tokens are made up; what a real run of them
		// would cost is worth showing, but not as if it were spent.
		fmt.Fprintf(tw, "cost\tnone: emulated (at list prices these tokens would be $%.6f)\n", r.CostUSD)
		fmt.Fprintf(tw, "cost/100 ops\tnone: emulated ($%.6f)\n", r.CostPer100OpsUSD)
	} else {
		fmt.Fprintf(tw, "cost\t$%.6f\n", r.CostUSD)
		fmt.Fprintf(tw, "cost/100 ops\t$%.6f\n", r.CostPer100OpsUSD)
	}
	if r.BatchJobs > 0 {
		fmt.Fprintf(tw, "batch jobs\t%d: %d items tagged from them, %d synchronously; waited %.1fs\n",
			r.BatchJobs, r.BatchItems, r.Tagged-r.Cached-r.BatchItems, r.BatchWaitSeconds)
		what := "$%.6f at the batch price; the same in sync mode: $%.6f (%.0f%% saved)\n"
		if pl.emulator != nil {
			what = "none: emulated ($%.6f at the batch price; the same in sync mode: $%.6f, %.0f%% saved)\n"
		}
		sync := r.CostUSD - r.BatchCostUSD + r.BatchAtSyncPriceUSD
		saved := 0.0
		if sync > 0 {
			saved = 100 * (sync - r.CostUSD) / sync
		}
		fmt.Fprintf(tw, "batch cost\t"+what, r.BatchCostUSD, sync, saved)
	}
	fmt.Fprintf(tw, "elapsed\t%.1fs\n", r.ElapsedSeconds)
	if r.HeldSeconds > 0 {
		fmt.Fprintf(tw, "held for the primary\t%.1fs\n", r.HeldSeconds)
	}
	tw.Flush()

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	costHead, costFmt := "cost", "$%.6f"
	if pl.emulator != nil {
		costHead, costFmt = "cost (emulated)", "($%.6f)"
	}
	batchHead := ""
	if r.BatchJobs > 0 {
		batchHead = "batch requests\t"
	}
	fmt.Fprintf(tw, "\nprovider\tcalls\tsuccesses\t429s\tretries\terrors\t%sin tokens\tout tokens\t%s\t\n", batchHead, costHead)
	for _, name := range providerOrder(r, pl) {
		p := r.Providers[name]
		batch := ""
		if r.BatchJobs > 0 {
			batch = fmt.Sprintf("%d\t", p.BatchRequests)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s%d\t%d\t"+costFmt+"\t\n", name, p.Calls, p.Successes,
			p.RateLimited, p.Retries, p.Errors, batch, p.InputTokens, p.OutputTokens, p.CostUSD)
	}
	tw.Flush()
	fmt.Fprintf(w, "\ncooldowns: successes %d, rate_limit %d, server_hint %d\n",
		r.Cooldowns["successes"], r.Cooldowns["rate_limit"], r.Cooldowns["server_hint"])
	if pl.emulator != nil {
		c := pl.emulator.Counters()
		fmt.Fprintf(w, "emulator served: gemini %d requests (%d answered 429), openai %d requests (%d answered 429)\n",
			c.Gemini.Requests, c.Gemini.RateLimited+c.Gemini.QuotaExceeded,
			c.OpenAI.Requests, c.OpenAI.RateLimited+c.OpenAI.QuotaExceeded)
		if b := pl.emulator.BatchCounters(); b.Gemini.Jobs+b.OpenAI.Jobs > 0 {
			fmt.Fprintf(w, "emulator batch API: gemini %d jobs (%d requests), openai %d jobs (%d requests)\n",
				b.Gemini.Jobs, b.Gemini.Lines, b.OpenAI.Jobs, b.OpenAI.Lines)
		}
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// providerOrder lists the report's providers in fallback order, then any
// others by name.
func providerOrder(r *llmlimit.Report, pl *pipeline) []string {
	var names []string
	for _, n := range pl.names {
		if _, ok := r.Providers[n]; ok && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	var rest []string
	for n := range r.Providers {
		if !slices.Contains(names, n) {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(names, rest...)
}
