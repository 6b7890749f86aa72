package redisstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/redis/go-redis/v9"
)

const (
	// idleTTL is how long the counters and the learned window outlive their
	// last write: long enough for a quiet hour, short enough that a quota
	// nobody uses any more leaves nothing behind.
	idleTTL = time.Hour
	// minWindow mirrors the root package's: a learned window shorter than
	// this is forgotten at its end instead of rolled over.
	minWindow = time.Second
)

// State is an [llmlimit.State] kept in Redis, shared by every Limiter given a
// State with the same client's server and key (see the package doc for the
// model, the keys and their TTLs). Its methods are single atomic scripts
// timed by Redis's clock; they honour ctx and return an error when Redis
// fails or ctx is done, which makes a Limiter fall back to local limits.
//
// A State is safe for simultaneous use by multiple goroutines and holds no
// resources of its own: closing the client is the caller's business.
type State struct {
	c      redis.UniversalClient
	prefix string
	// ctxAware is whether the client ends a command when its context is
	// done; when it isn't, calls are guarded by a goroutine (see guard).
	ctxAware bool
	// rateKnown is whether the last Admit was given a rate, as MemoryState
	// remembers its last rate: with a known quota the success cooldown
	// stands down.
	rateKnown atomic.Bool
}

var _ llmlimit.State = (*State)(nil)

// New returns a State keeping one quota's state in Redis under keys prefixed
// by "llmlimit:{" + key + "}:". Give every Limiter of one quota, in every
// replica, the same key, and each quota its own; [Key] builds one from the
// provider, model and API key. An empty key is "default".
//
// The client should have ContextTimeoutEnabled set, so that the Limiter's
// short timeout on each call cuts a hung connection, and should come from
// [NewClient], so that a hostile reply can't make it allocate what it
// announces; see the package doc.
func New(c redis.UniversalClient, key string) *State {
	if key == "" {
		key = "default"
	}
	return &State{c: c, prefix: "llmlimit:{" + key + "}:", ctxAware: honoursContext(c)}
}

// Key builds a namespace for a quota from its provider, model and API key.
// The API key is hashed (SHA-256, first 16 hex digits) and never stored, so
// neither Redis nor its logs ever see it.
func Key(provider, model, apiKey string) string {
	sum := sha256.Sum256([]byte(apiKey))
	return provider + ":" + model + ":" + hex.EncodeToString(sum[:8])
}

// Prefix returns the prefix of every key of this State.
func (s *State) Prefix() string { return s.prefix }

// Admit implements [llmlimit.State]: it returns 0 and counts the start, or
// how long to wait for the gate or the quota, counting nothing.
func (s *State) Admit(ctx context.Context, rate llmlimit.Rate) (time.Duration, error) {
	requests, per, bound := max(rate.Requests, 0), micros(rate.Per), waitBound(rate)
	s.rateKnown.Store(requests > 0)
	keys := []string{s.prefix + "gate", s.prefix + "window", s.logKey(requests, per)}
	var wait time.Duration
	err := s.guard(ctx, func(ctx context.Context) error {
		v, err := admitScript.Run(ctx, s.c, keys, requests, per, idleTTL.Milliseconds(), micros(minWindow), micros(bound)).Result()
		if err != nil {
			return err
		}
		wait, err = parseWait(v, bound)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("llmlimit: redisstate: admit: %w", err)
	}
	return wait, nil
}

// Record implements [llmlimit.State]: it applies the outcome and returns the
// cooldowns it fired. Outcomes that are neither a success nor a 429 change
// nothing and cost no round trip.
func (s *State) Record(ctx context.Context, o llmlimit.Outcome) (llmlimit.Cooldowns, error) {
	var kind string
	switch {
	case o.Success:
		kind = "s"
	case o.RateLimited:
		kind = "r"
	default:
		return llmlimit.Cooldowns{}, nil
	}
	// Nothing written lies more than maxWait ahead, so that Admit can tell
	// a longer wait for corruption; a Limiter's settings and hints are
	// within it already.
	hasRL, limit, remaining, reset, window := "0", 0, 0, int64(0), int64(0)
	if rl := o.RateLimit; rl != nil {
		hasRL, limit, remaining, reset, window = "1", rl.Limit, rl.Remaining, clip(rl.Reset), clip(rl.Window)
	}
	r := o.Rules
	keys := []string{s.prefix + "gate", s.prefix + "counters", s.prefix + "window"}
	args := []any{kind, hasRL, limit, remaining, reset, window, clip(o.RetryAfter),
		r.SuccessesPerCooldown, clip(r.SuccessCooldown), r.RateLimitsPerCooldown, clip(r.RateLimitCooldown),
		idleTTL.Milliseconds(), flag(s.rateKnown.Load())}
	var fired llmlimit.Cooldowns
	err := s.guard(ctx, func(ctx context.Context) error {
		v, err := recordScript.Run(ctx, s.c, keys, args...).Result()
		if err != nil {
			return err
		}
		fired, err = parseCooldowns(v)
		return err
	})
	if err != nil {
		return llmlimit.Cooldowns{}, fmt.Errorf("llmlimit: redisstate: record: %w", err)
	}
	return fired, nil
}

// Reset implements [llmlimit.State]: it zeroes the success and
// consecutive-429 counters of every replica.
func (s *State) Reset(ctx context.Context) error {
	err := s.guard(ctx, func(ctx context.Context) error {
		return s.c.Del(ctx, s.prefix+"counters").Err()
	})
	if err != nil {
		return fmt.Errorf("llmlimit: redisstate: reset: %w", err)
	}
	return nil
}

// logKey names the sliding log of one rate: a Limiter given another rate
// starts a new log, as MemoryState does.
func (s *State) logKey(requests int, per int64) string {
	return s.prefix + "log:" + strconv.Itoa(requests) + "/" + strconv.FormatInt(per, 10)
}

// guard runs f under ctx. A client that honours ctx runs it directly. One
// that doesn't would hold the caller for its ReadTimeout (5 s by default)
// when Redis hangs, so f then runs in a goroutine the caller stops waiting
// for when ctx is done; the goroutine ends at the client's own timeout.
// On both paths a panic in the client is f's error (see safely).
//
// Rejected: setting deadlines through a Hook. go-redis takes the socket
// deadline from the client's options, not from anything a hook can change.
func (s *State) guard(ctx context.Context, f func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx = context.WithValue(ctx, callKey{}, s.prefix)
	if s.ctxAware {
		return safely(ctx, f)
	}
	done := make(chan error, 1)
	go func() { done <- safely(context.WithoutCancel(ctx), f) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// safely runs f and returns a panic in it as its error. go-redis panics
// on some replies a broken or hostile server can send (a length near 2^63
// fails its makeslice); on the caller's goroutine that would unwind through
// the Limiter, and on guard's it would end the process. A panic while it
// reads a reply, as that one, is one go-redis has already cleaned up
// after: it removes the connection from its pool before panicking again,
// so the next call dials afresh.
func safely(ctx context.Context, f func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if e, ok := v.(error); ok {
				err = fmt.Errorf("redis client panicked: %w", e)
			} else {
				err = fmt.Errorf("redis client panicked: %v", v)
			}
		}
	}()
	return f(ctx)
}

// honoursContext reports whether c ends commands when their context is done.
func honoursContext(c redis.UniversalClient) bool {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// micros converts d to whole microseconds, rounding up, so that a wait or
// a pause is never shortened.
func micros(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	us := int64(d / time.Microsecond)
	if d%time.Microsecond != 0 {
		us++
	}
	return us
}

// clip is micros of d, at most maxWait.
func clip(d time.Duration) int64 { return micros(min(d, maxWait)) }

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
