package redisstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// genai links go.opencensus.io, whose package init starts a worker
	// goroutine that never ends; it is not ours to leak. Redis clients are
	// closed by the tests, so nothing of go-redis is ignored.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// defaultAddr is where scripts/redis.sh starts its server.
const defaultAddr = "127.0.0.1:6390"

// redisAddr returns the address of the test server, or skips the test when
// none answers; under CI=true a missing server fails the test instead, so
// that CI can't pass without running these tests.
func redisAddr(tb testing.TB) string {
	tb.Helper()
	addr := os.Getenv("LLMLIMIT_REDIS_ADDR")
	if addr == "" {
		addr = defaultAddr
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return addr
	}
	msg := "redis not reachable at " + addr + ": run scripts/redis.sh (or set LLMLIMIT_REDIS_ADDR) to run these tests"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg + " (CI=true: the Redis tests must run)")
	}
	tb.Skip(msg)
	return ""
}

// newClient returns a client of addr as the package doc advises, bounded
// and honouring contexts, closed when the test ends.
func newClient(tb testing.TB, addr string) *redis.Client {
	tb.Helper()
	c := NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	tb.Cleanup(func() { c.Close() })
	return c
}

// uniqueKey is a quota key no other test or run uses; its keys are deleted
// when the test ends.
func uniqueKey(tb testing.TB, c *redis.Client) string {
	tb.Helper()
	var b [6]byte
	rand.Read(b[:])
	// Only letters, digits and dots: the cleanup's KEYS pattern must match
	// the name literally.
	name := strings.Map(func(r rune) rune {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return r
		}
		return '.'
	}, tb.Name())
	key := name + "." + hex.EncodeToString(b[:])
	tb.Cleanup(func() { deleteKeys(tb, c, "llmlimit:{"+key+"}:") })
	return key
}

// deleteKeys deletes every key under prefix.
func deleteKeys(tb testing.TB, c *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		tb.Logf("cleanup of %s: %v", prefix, err)
		return
	}
	if len(keys) > 0 {
		c.Del(ctx, keys...)
	}
}

// newTestState returns a State on the test server under a key of its own,
// and its client.
func newTestState(tb testing.TB) (*State, *redis.Client) {
	tb.Helper()
	c := newClient(tb, redisAddr(tb))
	return New(c, uniqueKey(tb, c)), c
}
