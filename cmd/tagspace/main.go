// Command tagspace tags a space of items with an LLM under rate limits:
// Gemini first, OpenAI as fallback, or a built-in emulator of both when no
// API key is set.
//
//	go run ./cmd/tagspace -space euheals
//	go run ./cmd/tagspace -in items.jsonl -tags tags.txt -out results.jsonl -report report.json
//
// Results are JSONL in input order on stdout (or -out); a progress bar (on a
// terminal) and a summary go to stderr. Exit status: 0 when every item was
// tagged, 1 when some failed, 2 on bad usage, input or configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/term"

	"github.com/llmlimit/llmlimit"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli is what the command line asked for.
type cli struct {
	space, in, tags string
	out, report     string
	noCache, debug  bool
	anyModel        bool
	followSymlinks  bool
	emulate         bool
	cacheFile       string
	geminiModel     string
	openaiModel     string
	metricsAddr     string            // serve /metrics here for the run; "" for none
	tuning          []llmlimit.Option // from TAG_SPACE_* and the flags that mirror them
	maxWaitSet      bool              // by flag or environment
	mode            string            // TAG_SPACE_MODE by flag or environment, lower-cased; "" = default
	maxItemBytes    int               // the item-size limit in effect
	long            []longLine        // lines of -in over the line limit
	progress        bool              // draw a progress bar: stderr is a terminal
}

// usageError is bad usage, input or configuration: exit 2, no call made.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// run is the whole command, callable from tests: env replaces os.Getenv
// for every variable the command reads, TAG_SPACE_* settings, API keys and
// base URLs.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	tty := isTerminal(stderr)
	stderr = &lockedWriter{w: stderr}
	c, err := parseFlags(args, env, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "tagspace: %v\n", err)
		return exitUsage
	}
	c.progress = tty
	code, err := execute(ctx, c, env, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tagspace: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailed
	}
	return code
}

func parseFlags(args []string, env func(string) string, stderr io.Writer) (*cli, error) {
	c := &cli{}
	fs := newFlagSet(c, stderr)
	if err := checkFlagNames(fs, args); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return checkCommandLine(fs, c, env)
}

// newFlagSet defines the command's flags over c.
func newFlagSet(c *cli, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tagspace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.space, "space", "", "built-in space to tag: "+strings.Join(builtinSpaces(), ", "))
	fs.StringVar(&c.in, "in", "", "JSONL file of items, one {\"id\",\"text\"} object a line")
	fs.StringVar(&c.tags, "tags", "", "vocabulary file for -in, one tag a line")
	fs.StringVar(&c.out, "out", "", "write results JSONL here instead of stdout")
	fs.StringVar(&c.report, "report", "", "write the run's report as JSON here")
	fs.BoolVar(&c.noCache, "no-cache", false, "don't use or persist the cache")
	fs.StringVar(&c.cacheFile, "cache-file", "", "result store file")
	fs.BoolVar(&c.anyModel, "reuse-cache-from-any-model", false, "serve stored results whatever model produced them (never an emulator's to a real run)")
	fs.BoolVar(&c.followSymlinks, "follow-symlinks", false, "let -out, -report and -cache-file be symlinks, and write to their targets")
	fs.BoolVar(&c.debug, "debug", false, "print the structured logs on stderr")
	fs.BoolVar(&c.emulate, "emulate", false, "use the built-in emulator even when API keys are set")
	fs.StringVar(&c.geminiModel, "gemini-model", "", "Gemini model")
	fs.StringVar(&c.openaiModel, "openai-model", "", "OpenAI model")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve the run's metrics in Prometheus format at http://ADDR/metrics, e.g. 127.0.0.1:9464")
	for _, t := range tuningFlags {
		if t.boolean {
			fs.Bool(t.flag, false, t.usage+" ("+t.env+")")
			continue
		}
		fs.String(t.flag, "", t.usage+" ("+t.env+")")
	}
	fs.Usage = func() { printUsage(fs) }
	return fs
}

// checkCommandLine checks the parsed flags and reads the tuning settings.
func checkCommandLine(fs *flag.FlagSet, c *cli, env func(string) string) (*cli, error) {
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case c.space == "" && c.in == "":
		return nil, usagef("one of -space or -in is required (built-in spaces: %s)", strings.Join(builtinSpaces(), ", "))
	case c.space != "" && c.in != "":
		return nil, usagef("-space and -in are mutually exclusive")
	case c.tags != "" && c.in == "":
		return nil, usagef("-tags needs -in: built-in spaces carry their own vocabulary")
	case c.noCache && c.cacheFile != "":
		return nil, usagef("-no-cache and -cache-file are mutually exclusive")
	}
	if c.metricsAddr == "" {
		c.metricsAddr = strings.TrimSpace(env(metricsAddrEnv))
	}
	tu, err := newTuning(fs, env)
	if err != nil {
		return nil, err
	}
	if c.tuning, err = tu.options(); err != nil {
		return nil, err
	}
	maxWait, _ := tu.lookup("TAG_SPACE_MAX_WAIT")
	c.maxWaitSet = strings.TrimSpace(maxWait) != ""
	mode, _ := tu.lookup("TAG_SPACE_MODE")
	c.mode = strings.ToLower(strings.TrimSpace(mode))
	v, ok := tu.lookup("TAG_SPACE_MAX_ITEM_BYTES")
	if !ok {
		v = defaultOf("TAG_SPACE_MAX_ITEM_BYTES")
	}
	// Valid: options() parsed it, or it is the library's default.
	c.maxItemBytes, _ = strconv.Atoi(strings.TrimSpace(v))
	return c, nil
}

// loadSpace reads the space the command line names; lines of -in too long
// to read go to c.long.
func loadSpace(c *cli) (llmlimit.Space, error) {
	if c.space != "" {
		s, err := builtinSpace(c.space)
		if err != nil {
			return s, usageError{err}
		}
		return s, nil
	}
	f, err := os.Open(c.in)
	if err != nil {
		return llmlimit.Space{}, usageError{err}
	}
	defer f.Close()
	items, long, err := readItems(f, lineLimit(c.maxItemBytes))
	if err != nil {
		return llmlimit.Space{}, usagef("%s: %w", c.in, err)
	}
	c.long = long
	s := llmlimit.Space{Name: spaceName(c.in), Items: items}
	if c.tags != "" {
		tf, err := os.Open(c.tags)
		if err != nil {
			return s, usageError{err}
		}
		defer tf.Close()
		if s.Tags, err = readTags(tf); err != nil {
			return s, usagef("%s: %w", c.tags, err)
		}
	}
	return s, nil
}

// spaceName names a space read from a file after the file, so its cache
// file is found again on the next run.
func spaceName(path string) string {
	base := filepath.Base(path)
	if name := strings.TrimSuffix(base, filepath.Ext(base)); name != "" && name != "." {
		return name
	}
	return "items"
}

// isTerminal reports whether w is a terminal, where a progress bar helps
// rather than litters a log file.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// lockedWriter serialises writes from the logger and the progress bar,
// which run on the batches' goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
