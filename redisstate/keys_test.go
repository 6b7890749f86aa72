package redisstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/redis/go-redis/v9"
)

func TestKey(t *testing.T) {
	const secret = "AIza-very-secret-key"
	sum := sha256.Sum256([]byte(secret))
	tests := []struct {
		provider, model, apiKey string
		want                    string
	}{
		{"gemini", "gemini-2.5-flash", secret, "gemini:gemini-2.5-flash:" + hex.EncodeToString(sum[:])[:16]},
		{"openai", "gpt-4o-mini", "", "openai:gpt-4o-mini:e3b0c44298fc1c14"},
	}
	for _, tc := range tests {
		got := Key(tc.provider, tc.model, tc.apiKey)
		if got != tc.want {
			t.Errorf("Key(%q, %q, key) = %q, want %q", tc.provider, tc.model, got, tc.want)
		}
		if tc.apiKey != "" && strings.Contains(got, tc.apiKey) {
			t.Errorf("Key %q contains the API key", got)
		}
	}
	if Key("gemini", "m", "a") == Key("gemini", "m", "b") {
		t.Error("two API keys share a namespace")
	}
}

func TestPrefix(t *testing.T) {
	for key, want := range map[string]string{
		"gemini:m:0123": "llmlimit:{gemini:m:0123}:",
		"":              "llmlimit:{default}:",
	} {
		if got := New(nil, key).Prefix(); got != want {
			t.Errorf("New(%q).Prefix() = %q, want %q", key, got, want)
		}
	}
}

// TestKeysExpire checks that every key has a TTL fit for its use, so that a
// quota nobody uses any more leaves nothing behind.
func TestKeysExpire(t *testing.T) {
	s, c := newTestState(t)
	ctx := context.Background()
	rate := told(llmlimit.UnitRequests, 2, 10*time.Second, 1)
	if _, err := s.Admit(ctx, rate); err != nil {
		t.Fatal(err)
	}
	rl := llmlimit.Quota{Limit: 5, Remaining: 0, Reset: 4 * time.Second, Window: time.Minute}
	if _, err := s.Record(ctx, limitedQ(noRules, 3*time.Second, rl)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Record(ctx, ok(sRules)); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]time.Duration{
		"gate":                   {3 * time.Second, 4 * time.Second},
		"counters":               {idleTTL - time.Minute, idleTTL},
		"q:0":                    {idleTTL - time.Minute, idleTTL},
		"log:0:2/" + "10000000":  {10 * time.Second, 11 * time.Second},
		"meta:0:2/" + "10000000": {10 * time.Second, 11 * time.Second},
	}
	keys, err := c.Keys(ctx, s.Prefix()+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(want) {
		t.Errorf("keys %q, want %d", keys, len(want))
	}
	for _, k := range keys {
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		r, ok := want[strings.TrimPrefix(k, s.Prefix())]
		if !ok || ttl <= r[0] || ttl > r[1] {
			t.Errorf("%s: TTL %v, want in (%v, %v]", k, ttl, r[0], r[1])
		}
	}
	// Reset deletes the counters and nothing else.
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, s.Prefix()+"counters", s.Prefix()+"gate").Val(); n != 1 {
		t.Errorf("after Reset, %d of counters and gate exist, want the gate only", n)
	}
}

// TestHungRedisIsBoundedByContext: whether or not the client honours
// contexts, a call to a Redis that never answers returns when ctx is done.
func TestHungRedisIsBoundedByContext(t *testing.T) {
	p := newProxy(t, redisAddr(t))
	p.set(modeHang)
	for _, aware := range []bool{true, false} {
		c := redis.NewClient(&redis.Options{Addr: p.addr(), ContextTimeoutEnabled: aware,
			ReadTimeout: 2 * time.Second, MaxRetries: -1})
		s := New(c, "hung")
		if s.ctxAware != aware {
			t.Errorf("ctxAware = %v, want %v", s.ctxAware, aware)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		_, err := s.Admit(ctx, llmlimit.Admission{})
		took := time.Since(start)
		cancel()
		if err == nil || !strings.HasPrefix(err.Error(), "llmlimit: redisstate: admit: ") {
			t.Errorf("aware=%v: err %v, want an admit error", aware, err)
		}
		// The guard returns at the deadline; go-redis itself would wait
		// for its ReadTimeout of 2 s.
		if took > time.Second {
			t.Errorf("aware=%v: Admit took %v with a 100ms deadline", aware, took)
		}
		c.Close()
	}
}
