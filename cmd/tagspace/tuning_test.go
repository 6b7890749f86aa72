package main

import (
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"5s", 5 * time.Second, false},
		{"1m30s", 90 * time.Second, false},
		{" 2 ", 2 * time.Second, false},
		{"0.25", 250 * time.Millisecond, false},
		{"0", 0, false},
		{"-1s", 0, true},
		{"-3", 0, true},
		{"soon", 0, true},
		{"NaN", 0, true},
		{"1e300", 0, true},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestParseFlags checks the tuning flags become options only when set and
// that a cooldown flag setting one half of its pair takes the other half
// from the environment, then from the default. The options are opaque, so
// their effect is checked through the library's validation: a pair whose
// count came out negative, or a concurrency above its maximum, is refused.
func TestParseFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantOpts int
		wantErr  string
	}{
		{"none", []string{"-space", "euheals"}, nil, 0, ""},
		{"ints", []string{"-space", "euheals", "-concurrency", "2", "-max-concurrency", "4", "-batch-size", "3", "-cache-size", "10", "-max-retries", "0", "-rpm", "60"}, nil, 6, ""},
		{"max wait", []string{"-space", "euheals", "-max-wait", "1.5"}, nil, 1, ""},
		{"one half of a pair", []string{"-space", "euheals", "-success-cooldown", "1s"}, nil, 1, ""},
		{"both halves", []string{"-space", "euheals", "-cooldown-after-429s", "2", "-rate-limit-cooldown", "3s"}, nil, 1, ""},
		{"other half from env", []string{"-space", "euheals", "-success-cooldown", "1s"}, map[string]string{"TAG_SPACE_COOLDOWN_AFTER_SUCCESSES": "x"}, 0, "TAG_SPACE_COOLDOWN_AFTER_SUCCESSES: not an integer"},
		{"bad int", []string{"-space", "euheals", "-rpm", "fast"}, nil, 0, `-rpm="fast": not an integer`},
		{"negative int", []string{"-space", "euheals", "-max-retries", "-1"}, nil, 0, `-max-retries="-1": must be at least 0`},
		{"zero concurrency", []string{"-space", "euheals", "-concurrency", "0"}, nil, 0, `-concurrency="0": must be at least 1`},
		{"no-cache and cache-file", []string{"-space", "euheals", "-no-cache", "-cache-file", "x"}, nil, 0, "mutually exclusive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.tuning) != tt.wantOpts {
				t.Errorf("%d options, want %d", len(c.tuning), tt.wantOpts)
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
		{"pause from flag, count by default", []string{"-success-cooldown", "1s"}, nil, llmlimit.DefaultSuccessesPerCooldown, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(append([]string{"-space", "euheals"}, tt.args...), func(k string) string { return tt.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) {
				l, err := llmlimit.New(llmtest.NewFake("fake"), c.tuning...)
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
