package main

import (
	"errors"
	"flag"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// TestTuningLookup shows where each TAG_SPACE_* value comes from: a flag
// the user set wins over env, which wins over the default (unset).
func TestTuningLookup(t *testing.T) {
	wait := map[string]string{"TAG_SPACE_MAX_WAIT": "10s"}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		variable string
		want     string
		wantSet  bool
	}{
		{"flag over env", []string{"-max-wait", "2s"}, wait, "TAG_SPACE_MAX_WAIT", "2s", true},
		{"env without flag", nil, wait, "TAG_SPACE_MAX_WAIT", "10s", true},
		{"flag without env", []string{"-max-wait", "0"}, nil, "TAG_SPACE_MAX_WAIT", "0", true},
		{"neither", nil, nil, "TAG_SPACE_MAX_WAIT", "", false},
		{"another variable's flag", []string{"-rpm", "60"}, wait, "TAG_SPACE_MAX_WAIT", "10s", true},
		{"pair half from flag", []string{"-success-cooldown", "1s"}, map[string]string{"TAG_SPACE_SUCCESS_COOLDOWN": "9s"}, "TAG_SPACE_SUCCESS_COOLDOWN", "1s", true},
		{"other half from env", []string{"-success-cooldown", "1s"}, map[string]string{"TAG_SPACE_COOLDOWN_AFTER_SUCCESSES": "4"}, "TAG_SPACE_COOLDOWN_AFTER_SUCCESSES", "4", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := func(k string) string { return tt.env[k] }
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			for _, f := range tuningFlags {
				fs.String(f.flag, "", f.usage)
			}
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			tu, err := newTuning(fs, env)
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := tu.lookup(tt.variable); v != tt.want || ok != tt.wantSet {
				t.Errorf("lookup(%s) = %q, %v; want %q, %v", tt.variable, v, ok, tt.want, tt.wantSet)
			}
			// The emulator's default wait budget applies only when neither
			// -max-wait nor TAG_SPACE_MAX_WAIT sets one.
			c, err := parseFlags(append([]string{"-space", "euheals"}, tt.args...), env, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if wantWait := tt.env["TAG_SPACE_MAX_WAIT"] != "" || slices.Contains(tt.args, "-max-wait"); c.maxWaitSet != wantWait {
				t.Errorf("maxWaitSet = %v, want %v", c.maxWaitSet, wantWait)
			}
		})
	}
}

// TestParseFlagsTuning checks the tuning settings are parsed and checked
// once, by the library, and that an error names the flag when a flag gave
// the bad value and the variable when the environment did.
func TestParseFlagsTuning(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"none", nil, nil, ""},
		{"every flag", []string{"-concurrency", "2", "-max-concurrency", "4", "-batch-size", "3", "-cache-size", "10",
			"-cooldown-after-successes", "0", "-success-cooldown", "1.5", "-cooldown-after-429s", "2", "-rate-limit-cooldown", "3s",
			"-max-retries", "0", "-max-wait", "1m", "-rpm", "60"}, nil, ""},
		{"flag wins over a bad variable", []string{"-max-wait", "2s"}, map[string]string{"TAG_SPACE_MAX_WAIT": "soon"}, ""},
		{"bad int", []string{"-rpm", "fast"}, nil, `-rpm="fast": not an integer`},
		{"bad duration", []string{"-max-wait", "abc"}, nil, `-max-wait="abc": not a duration`},
		{"NaN duration", []string{"-success-cooldown", "NaN"}, nil, `-success-cooldown="NaN": not a duration`},
		{"negative int", []string{"-max-retries", "-1"}, nil, `-max-retries="-1": must be at least 0`},
		{"zero concurrency", []string{"-concurrency", "0"}, nil, `-concurrency="0": must be at least 1`},
		{"too large", []string{"-rpm", "2000000"}, nil, `-rpm="2000000": must be at most 1000000`},
		{"empty flag", []string{"-max-wait", " "}, map[string]string{"TAG_SPACE_MAX_WAIT": "2s"}, `-max-wait: empty value`},
		{"bad variable", nil, map[string]string{"TAG_SPACE_BATCH_SIZE": "five"}, `llmlimit: TAG_SPACE_BATCH_SIZE="five": not an integer`},
		{"bad other half in env", []string{"-success-cooldown", "1s"}, map[string]string{"TAG_SPACE_COOLDOWN_AFTER_SUCCESSES": "x"},
			`llmlimit: TAG_SPACE_COOLDOWN_AFTER_SUCCESSES="x": not an integer`},
		{"concurrency flags", []string{"-concurrency", "5", "-max-concurrency", "2"}, nil, "-max-concurrency=2 is less than -concurrency=5"},
		{"concurrency flag and variable", []string{"-concurrency", "5"}, map[string]string{"TAG_SPACE_MAX_AI_CONCURRENCY": "2"},
			"TAG_SPACE_MAX_AI_CONCURRENCY=2 is less than -concurrency=5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(append([]string{"-space", "euheals"}, tt.args...), func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				var ue usageError
				if err == nil || err.Error() != tt.wantErr || !errors.As(err, &ue) {
					t.Fatalf("err = %v, want the usage error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := validateOptions(c.tuning); err != nil {
				t.Errorf("options refused: %v", err)
			}
		})
	}
}

// TestPairTakesEnvHalf checks a flag that sets one half of the success
// cooldown pair keeps the environment's other half, by running a Limiter
// with the resulting options in virtual time: the nth success, and not an
// earlier one, pauses the gate, and the next call waits the pause.
func TestPairTakesEnvHalf(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		n     int
		pause time.Duration
	}{
		{"count from flag, pause from env", []string{"-cooldown-after-successes", "3"}, map[string]string{"TAG_SPACE_SUCCESS_COOLDOWN": "2s"}, 3, 2 * time.Second},
		{"pause from flag, count from env", []string{"-success-cooldown", "4"}, map[string]string{"TAG_SPACE_COOLDOWN_AFTER_SUCCESSES": "2"}, 2, 4 * time.Second},
		{"pause from flag, count by default", []string{"-success-cooldown", "1s"}, nil, 12, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(append([]string{"-space", "euheals"}, tt.args...), func(k string) string { return tt.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) {
				// Always on, so that the pauses follow the count alone.
				l, err := llmlimit.New(llmtest.NewFake("fake"), append(c.tuning, llmlimit.WithSuccessCooldownAlways(true))...)
				if err != nil {
					t.Fatal(err)
				}
				for i := 1; i <= tt.n; i++ {
					if _, err := l.Generate(t.Context(), &llmlimit.Request{Prompt: "hi"}); err != nil {
						t.Fatal(err)
					}
					if got, want := l.Stats().Cooldowns.Successes, int64(i/tt.n); got != want {
						t.Fatalf("%d success cooldowns after %d successes, want %d", got, i, want)
					}
				}
				// The next call waits out the pause (plus the gate's small
				// wake-up stagger).
				start := time.Now()
				if _, err := l.Generate(t.Context(), &llmlimit.Request{Prompt: "hi"}); err != nil {
					t.Fatal(err)
				}
				if waited := time.Since(start); waited < tt.pause || waited > tt.pause+time.Second/2 {
					t.Fatalf("next call waited %v, want the %v pause", waited, tt.pause)
				}
			})
		})
	}
}

// TestTuningReachesRun checks the settings reach a run from the injected
// environment, and that a flag wins over its variable: the 11 distinct
// texts of smallItems take 6 calls in batches of 2 (TAG_SPACE_BATCH_SIZE)
// and 3 in batches of 4 (-batch-size over it).
func TestTuningReachesRun(t *testing.T) {
	dir := t.TempDir()
	items, tags := writeSpace(t, dir, smallItems, smallTags)
	tests := []struct {
		name      string
		args      []string
		wantCalls int
	}{
		{"variable", nil, 6},
		{"flag over variable", []string{"-batch-size", "4"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-in", items, "-tags", tags, "-no-cache", "-out", filepath.Join(dir, "out.jsonl")}, tt.args...)
			r := runCLI(t, nil, map[string]string{"TAG_SPACE_BATCH_SIZE": "2"}, args...)
			if r.code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
			}
			if c := r.emulator.Counters(); c.Gemini.Requests+c.OpenAI.Requests != tt.wantCalls {
				t.Errorf("%d+%d calls, want %d", c.Gemini.Requests, c.OpenAI.Requests, tt.wantCalls)
			}
		})
	}
}
