package llmlimit_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// secretFragments are the parts of the suite's keys that must never show:
// the whole keys and their distinctive middles, so a truncated or
// re-encoded key is caught too.
var secretFragments = []string{relGeminiKey, relOpenAIKey, "RELIABILITY-gemini-secret", "RELIABILITY-openai-secret"}

func assertNoSecret(t *testing.T, where, s string) {
	t.Helper()
	for _, k := range secretFragments {
		if strings.Contains(s, k) {
			i := strings.Index(s, k)
			t.Errorf("%s: key fragment %q leaked: ...%s...", where, k, s[max(0, i-80):min(len(s), i+len(k)+40)])
		}
	}
}

// TestReliabilitySecrets runs whole pipelines with distinctive keys, logging
// at every level through both slog handlers, in runs where the keys are
// accepted, refused by one API and refused by both, under 500s, 429s and
// insufficient_quota: no error (nor any error its chain holds), log line,
// report or result shows a key.
func TestReliabilitySecrets(t *testing.T) {
	tests := []struct {
		name           string
		gemini, openai llmtest.API
	}{
		{"keys accepted, faults", llmtest.API{Key: relGeminiKey, ServerErrorRate: 0.3, RequestsPerWindow: 5, MalformedRate: 0.2},
			llmtest.API{Key: relOpenAIKey, ServerErrorRate: 0.3}},
		{"gemini key refused", llmtest.API{Key: "AIza-another-key-000"}, llmtest.API{Key: relOpenAIKey, InsufficientQuota: true}},
		{"both keys refused", llmtest.API{Key: "AIza-another-key-000"}, llmtest.API{Key: "sk-another-key-000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var logs lockedBuffer
				h := &teeHandler{
					slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug - 4, AddSource: true}),
					slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug - 4}),
				}
				e := llmtest.NewEmulator(llmtest.Config{Gemini: tt.gemini, OpenAI: tt.openai, Seed: 3})
				p, _, _ := relPipeline(t, e, llmlimit.WithLogger(slog.New(h)))
				s := e2eSpace(60)
				ts, err := llmlimit.NewTagSpace(p, llmlimit.WithLogger(slog.New(h)))
				if err != nil {
					t.Fatal(err)
				}
				rep, err := ts.Run(t.Context(), s)
				if err != nil {
					t.Fatal(err)
				}
				failed := 0
				for _, res := range rep.Results {
					if res.Err != nil {
						failed++
						eachInChain(res.Err, func(e error) {
							assertNoSecret(t, fmt.Sprintf("%T in the error of %s", e, res.ID), fmt.Sprintf("%s %v %+v %#v", e.Error(), e, e, e))
						})
					}
					assertNoSecret(t, "result "+res.ID, fmt.Sprintf("%+v", res))
				}
				b, err := json.Marshal(rep)
				if err != nil {
					t.Fatal(err)
				}
				assertNoSecret(t, "report", string(b))
				assertNoSecret(t, "logs", logs.String())
				if tt.name == "both keys refused" && failed != len(s.Items) {
					t.Errorf("%d of %d items failed with both keys refused", failed, len(s.Items))
				}
				if logs.Len() == 0 {
					t.Error("nothing was logged")
				}
				t.Logf("%s: %d failed, %d bytes of logs checked", tt.name, failed, logs.Len())
			})
		})
	}
}

// eachInChain calls f on err and every error reachable from it through
// Unwrap, as error reporters walk it.
func eachInChain(err error, f func(error)) {
	if err == nil {
		return
	}
	f(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		eachInChain(u.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			eachInChain(e, f)
		}
	}
}

// lockedBuffer is a bytes.Buffer two handlers can write to at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// teeHandler sends every record to each of its handlers.
type teeHandler []slog.Handler

func (t teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range t {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	for _, h := range t {
		if err := h.Handle(ctx, r.Clone()); err != nil {
			return err
		}
	}
	return nil
}

func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(teeHandler, len(t))
	for i, h := range t {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (t teeHandler) WithGroup(name string) slog.Handler {
	out := make(teeHandler, len(t))
	for i, h := range t {
		out[i] = h.WithGroup(name)
	}
	return out
}

// TestReliabilityCacheFileHoldsNoText tags items whose texts are distinctive
// into a store: the file holds hashes and tags only, is 0600, and the
// directories OpenStore creates for it are 0700.
func TestReliabilityCacheFileHoldsNoText(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := llmtest.NewEmulator(llmtest.Config{})
		gc, err := e.GeminiClient(t.Context(), relGeminiKey)
		if err != nil {
			t.Fatal(err)
		}
		s := e2eSpace(30)
		for i := range s.Items {
			s.Items[i].Text += fmt.Sprintf(" Patient record PRIVATE-%04d, born 1970.", i)
		}
		dir := filepath.Join(t.TempDir(), "new", "cache")
		path := filepath.Join(dir, "results.db")
		store, err := llmlimit.OpenStore(path)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := llmlimit.NewTagSpace(relLimiter(t, llmlimit.NewGemini(gc, "")), llmlimit.WithStore(store))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.Run(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range s.Items {
			for _, frag := range []string{it.Text, it.ID, "PRIVATE-", "Patient record", "rural clinics"} {
				if bytes.Contains(data, []byte(frag)) {
					t.Errorf("cache file holds item text or id %q", frag)
				}
			}
		}
		assertNoSecret(t, "cache file", string(data))
		key, _ := hex.DecodeString(llmlimit.CacheKey(s.Tags, s.Items[0].Text))
		if !bytes.Contains(data, key) {
			t.Errorf("store lacks the first item's key")
		}
		for p, want := range map[string]fs.FileMode{path: 0o600, dir: 0o700, filepath.Dir(dir): 0o700} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("%s: mode %v, want %v", p, got, want)
			}
		}
		// Leftover temporary files would hold the same data with other modes.
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("cache directory holds %d files, want 1", len(entries))
		}
	})
}
