package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/llmlimit/llmlimit"
)

// execute runs one tagging of the space c names. Everything that can be
// wrong with the input or the configuration is checked before any provider
// is built, so bad usage never costs a call.
func execute(ctx context.Context, c *cli, env func(string) string, stdout, stderr io.Writer) (int, error) {
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
	cachePath, err := c.cachePath(space.Name)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage, err
	}
	if err != nil {
		fmt.Fprintf(stderr, "tagspace: cache not persisted: %v\n", err)
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

	var bar *progressbar.ProgressBar
	if c.progress && !c.debug {
		bar = newBar(len(space.Items), stderr)
		opts = append(opts, llmlimit.WithProgress(func(p llmlimit.Progress) { _ = bar.Set(p.Done) }))
	}
	ts, err := llmlimit.NewTagSpace(pl.provider, opts...)
	if err != nil {
		return exitUsage, usageError{err}
	}
	lru, _ := ts.Cache().(*llmlimit.LRUCache)
	if lru != nil && cachePath != "" {
		if err := lru.Load(cachePath); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "tagspace: ignoring cache file: %v\n", err)
		}
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
	if lru != nil && cachePath != "" {
		if err := lru.Save(cachePath); err != nil {
			fmt.Fprintf(stderr, "tagspace: cache not saved: %v\n", err)
		}
	}
	if err := writeResults(out, report.Results); err != nil {
		return exitFailed, err
	}
	if err := out.commit(); err != nil {
		return exitFailed, err
	}
	if rep.enabled() {
		if err := writeReport(rep, report, pl.emulator); err != nil {
			return exitFailed, err
		}
		if err := rep.commit(); err != nil {
			return exitFailed, err
		}
	}
	writeSummary(stderr, report, pl)
	if runErr != nil {
		fmt.Fprintf(stderr, "tagspace: run stopped: %v\n", runErr)
		return exitFailed, nil
	}
	if report.Failed > 0 {
		return exitFailed, nil
	}
	return exitOK, nil
}

// validateOptions builds a Limiter and a TagSpace around a provider that is
// never called, so an invalid setting is reported with the library's own
// message before the real pipeline exists.
func validateOptions(opts []llmlimit.Option) error {
	if _, err := llmlimit.New(noProvider{}, opts...); err != nil {
		return err
	}
	_, err := llmlimit.NewTagSpace(noProvider{}, opts...)
	return err
}

type noProvider struct{}

func (noProvider) Name() string { return "none" }
func (noProvider) Generate(context.Context, *llmlimit.Request) (*llmlimit.Response, error) {
	return nil, errors.New("tagspace: no provider")
}

// cachePath is where the space's cache persists between runs: -cache-file,
// or <user cache dir>/llmlimit/<space>.cache. "" with -no-cache.
func (c *cli) cachePath(space string) (string, error) {
	switch {
	case c.noCache:
		return "", nil
	case c.cacheFile != "":
		// The cache is saved by rename, which would replace a device
		// (-cache-file /dev/null) or a symlink; resolve links and refuse
		// anything but a regular file.
		path := c.cacheFile
		if real, err := filepath.EvalSymlinks(path); err == nil {
			path = real
		}
		if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
			return "", usagef("-cache-file %s: not a regular file (use -no-cache to skip the cache)", c.cacheFile)
		}
		return path, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "llmlimit", safeFileName(space)+".cache"), nil
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
