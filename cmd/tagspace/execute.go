package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/llmlimit/llmlimit"
)

// execute runs one tagging of the space c names. Everything that can be
// wrong with the input or the configuration is checked before any provider
// is built, so bad usage never costs a call.
func execute(ctx context.Context, c *cli, env func(string) string, stdout, stderr io.Writer) (int, error) {
	if err := checkPaths(c); err != nil {
		return exitUsage, err
	}
	space, err := loadSpace(c)
	if err != nil {
		return exitUsage, err
	}
	logger := slog.New(slog.DiscardHandler)
	if c.debug {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	opts := append([]llmlimit.Option{llmlimit.WithLogger(logger)}, c.tuning...)
	if c.noCache {
		opts = append(opts, llmlimit.WithCacheEnabled(false))
	}
	if err := validateOptions(opts); err != nil {
		return exitUsage, usageError{err}
	}
	if c.metricsAddr != "" {
		ms, err := serveMetrics(c.metricsAddr, stderr)
		if err != nil {
			return exitUsage, err
		}
		defer ms.close()
		opts = append(opts, ms.option())
	}
	store, err := openStore(c, space.Name, stderr)
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage, err
		}
		fmt.Fprintf(stderr, "tagspace: results not stored: %v\n", err)
	}
	if store != nil {
		opts = append(opts, llmlimit.WithStore(store))
	}

	// Open the outputs now: an unwritable path is bad usage, found before
	// any call is made. They are renamed into place only when complete.
	out, err := createOutput(c.out, stdout)
	if err != nil {
		return exitUsage, usageError{err}
	}
	defer out.abort()
	rep, err := createOutput(c.report, nil)
	if err != nil {
		return exitUsage, usageError{err}
	}
	defer rep.abort()

	pl, err := buildPipeline(ctx, c, env, opts, stderr)
	if err != nil {
		return exitUsage, err
	}
	defer pl.close()

	opts = append(opts, llmlimit.WithEmulator(pl.emulator != nil), llmlimit.WithCacheFromAnyModel(c.anyModel))
	if pl.batchPoll != nil {
		opts = append(opts, pl.batchPoll)
	}
	var bar *progressbar.ProgressBar
	if c.progress && !c.debug {
		bar = newBar(len(space.Items), stderr)
	}
	opts = append(opts, llmlimit.WithProgress(progressFunc(bar, stderr)))
	ts, err := llmlimit.NewTagSpace(pl.provider, opts...)
	if err != nil {
		return exitUsage, usageError{err}
	}
	report, runErr := ts.Run(ctx, space)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(stderr)
	}
	if report == nil {
		if runErr != nil && ctx.Err() == nil {
			return exitUsage, usageError{runErr}
		}
		return exitFailed, runErr
	}
	addLongLines(report, c.long, lineLimit(c.maxItemBytes))
	interrupted := runErr != nil
	if err := writeOutputs(out, rep, report, pl, interrupted, stderr); err != nil {
		return exitFailed, err
	}
	writeSummary(stderr, report, pl, store)
	if interrupted {
		fmt.Fprintf(stderr, "tagspace: run stopped: %v\n", runErr)
	}
	writeResume(stderr, report, store)
	if interrupted || report.Failed > 0 || report.NotAttempted > 0 {
		return exitFailed, nil
	}
	return exitOK, nil
}

// writeResume ends a run that left items untagged with what a rerun does.
func writeResume(w io.Writer, r *llmlimit.Report, store *llmlimit.Store) {
	if r.Failed+r.NotAttempted == 0 {
		return
	}
	var parts []string
	if r.NotAttempted > 0 {
		parts = append(parts, fmt.Sprintf("%d not attempted", r.NotAttempted))
	}
	if r.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", r.Failed))
	}
	left := strings.Join(parts, " and ")
	if store == nil {
		fmt.Fprintf(w, "tagspace: %s of %d items; run the same command again to tag them (-no-cache: the %d tagged are tagged again too)\n",
			left, r.Items, r.Tagged)
		return
	}
	fmt.Fprintf(w, "tagspace: %s of %d items; run the same command again to resume: the %d tagged are in %s\n",
		left, r.Items, r.Tagged, store.Path())
	if r.NotAttempted > 0 && r.BatchJobs > 0 {
		fmt.Fprintf(w, "tagspace: the batch jobs run on unless cancelled (-cancel-jobs); the rerun collects what they answer instead of submitting again\n")
	}
}

// writeOutputs writes the results and the report. An interrupted run
// writes them beside their files, as FILE.partial, and leaves the files
// themselves as they were: a complete results file from an earlier run is
// worth more than this run's part of one.
func writeOutputs(out, rep *output, report *llmlimit.Report, pl *pipeline, interrupted bool, stderr io.Writer) error {
	suffix := ""
	if interrupted {
		suffix = ".partial"
	}
	if err := writeResults(out, report.Results); err != nil {
		return err
	}
	if err := out.commitAs(suffix); err != nil {
		return err
	}
	if interrupted && out.renamed() {
		fmt.Fprintf(stderr, "tagspace: interrupted: results so far in %s.partial; %s left as it was\n", out.name, out.name)
	}
	if !rep.enabled() {
		return nil
	}
	if err := writeReport(rep, report, pl.emulator); err != nil {
		return err
	}
	if err := rep.commitAs(suffix); err != nil {
		return err
	}
	if interrupted && rep.renamed() {
		fmt.Fprintf(stderr, "tagspace: interrupted: report in %s.partial; %s left as it was\n", rep.name, rep.name)
	}
	return nil
}

// addLongLines puts the results of the lines too long to read among the
// run's, in input order, as failed items.
func addLongLines(r *llmlimit.Report, long []longLine, limit int) {
	if len(long) == 0 {
		return
	}
	all := make([]llmlimit.Result, 0, len(r.Results)+len(long))
	rest := r.Results
	for _, l := range long {
		n := l.pos - len(all) // results of the run before this line
		all = append(all, rest[:n]...)
		rest = rest[n:]
		all = append(all, llmlimit.Result{ID: l.id, Err: fmt.Errorf(
			"line %d: longer than %d bytes: not read; -max-item-bytes raises the limit", l.line, limit)})
	}
	r.Results = append(all, rest...)
	r.Items += len(long)
	r.Failed += len(long)
	r.CacheHitRate = float64(r.Cached) / float64(r.Items)
}

// validateOptions builds a Limiter and a TagSpace around a provider that is
// never called, so an invalid setting is reported with the library's own
// message before the real pipeline exists.
func validateOptions(opts []llmlimit.Option) error {
	if _, err := llmlimit.New(noProvider{}, opts...); err != nil {
		return err
	}
	// noProvider has no batch API; the real pipeline's members do.
	_, err := llmlimit.NewTagSpace(noProvider{}, append(opts, llmlimit.WithMode(llmlimit.ModeSync))...)
	return err
}

type noProvider struct{}

func (noProvider) Name() string { return "none" }
func (noProvider) Generate(context.Context, *llmlimit.Request) (*llmlimit.Response, error) {
	return nil, errors.New("tagspace: no provider")
}

// safeFileName keeps a space name from escaping the cache directory.
func safeFileName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r == ':' {
			return '_'
		}
		return r
	}, name)
	if name == "" || name == "." || name == ".." {
		return "space"
	}
	return name
}

// progressFunc draws the run's progress on bar, the batch jobs' state in
// its description; without a bar it prints a line each time the jobs'
// state or count changes.
func progressFunc(bar *progressbar.ProgressBar, w io.Writer) func(llmlimit.Progress) {
	var last llmlimit.BatchStatus
	return func(p llmlimit.Progress) {
		b := p.Batch
		changed := b != last && b.Total > 0
		last = b
		if bar == nil {
			if changed {
				fmt.Fprintf(w, "tagspace: %s\n", describeBatch(b))
			}
			return
		}
		if changed {
			desc := describeBatch(b)
			if b.State.Final() {
				desc = "tagging"
			}
			bar.Describe(desc)
		}
		_ = bar.Set(p.Done)
	}
}

// describeBatch says how the run's batch jobs are doing.
func describeBatch(b llmlimit.BatchStatus) string {
	if b.Done < 0 {
		return fmt.Sprintf("batch job %s: %d requests", b.State, b.Total)
	}
	s := fmt.Sprintf("batch job %s: %d/%d requests answered", b.State, b.Done, b.Total)
	if b.Failed > 0 {
		s += fmt.Sprintf(", %d failed", b.Failed)
	}
	return s
}

func newBar(total int, w io.Writer) *progressbar.ProgressBar {
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("tagging"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(50*time.Millisecond),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(true),
	)
}
