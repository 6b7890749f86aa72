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
	"github.com/llmlimit/llmlimit/internal/pace"
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
	// told are the told quotas of the last Admit, as MemoryState
	// remembers them: Record settles and smooths their logs.
	told atomic.Pointer[[units]llmlimit.Quota]
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

// Admit implements [llmlimit.State]: it returns the zero Hold and counts
// the start and its cost, or how long to wait and why, counting nothing.
func (s *State) Admit(ctx context.Context, a llmlimit.Admission) (llmlimit.Hold, error) {
	told := toldOf(a.Quotas)
	s.told.Store(&told)
	keys := s.keys(&told)
	args := make([]any, 0, 12)
	for _, q := range told {
		args = append(args, q.Limit)
	}
	for _, q := range told {
		args = append(args, micros(q.Window))
	}
	args = append(args, 1, max(a.Cost.InputTokens, 0), max(a.Cost.Tokens, 0),
		idleTTL.Milliseconds(), micros(minWindow), micros(maxWait))
	var h llmlimit.Hold
	err := s.guard(ctx, func(ctx context.Context) error {
		v, err := admitScript.Run(ctx, s.c, keys, args...).Result()
		if err != nil {
			return err
		}
		h, err = parseHold(v)
		return err
	})
	if err != nil {
		return llmlimit.Hold{}, fmt.Errorf("llmlimit: redisstate: admit: %w", err)
	}
	return h, nil
}

// Record implements [llmlimit.State]: it applies the outcome and returns the
// cooldowns it fired.
func (s *State) Record(ctx context.Context, o llmlimit.Outcome) (llmlimit.Cooldowns, error) {
	kind := "o"
	switch {
	case o.Success:
		kind = "s"
	case o.RateLimited:
		kind = "r"
	}
	var told [units]llmlimit.Quota
	if t := s.told.Load(); t != nil {
		told = *t
	}
	// Nothing written lies more than maxWait ahead, so that Admit can tell
	// a longer wait for corruption; a Limiter's settings and hints are
	// within it already.
	r := o.Rules
	args := []any{kind, clip(o.RetryAfter), r.SuccessesPerCooldown, clip(r.SuccessCooldown),
		flag(r.SuccessCooldownAlways), r.RateLimitsPerCooldown, clip(r.RateLimitCooldown),
		idleTTL.Milliseconds(), micros(minWindow)}
	for _, q := range told {
		args = append(args, q.Limit)
	}
	for _, q := range told {
		args = append(args, micros(q.Window))
	}
	args = append(args, o.Used.InputTokens-o.Reserved.InputTokens, o.Used.Tokens-o.Reserved.Tokens, o.Admitted.UnixMicro(),
		max(o.Reserved.InputTokens, 0), max(o.Reserved.Tokens, 0),
		pace.SmoothWindows, int64(pace.SmoothBurst*1e6))
	quotas := make([]any, 0, 7*len(o.Quotas))
	for _, q := range o.Quotas {
		// Quotas of a day or more are not paced: exhausting one fails fast.
		if int(q.Unit) >= units || q.Window >= maxWait {
			continue
		}
		quotas = append(quotas, int(q.Unit), q.Limit, max(q.Remaining, -1), clip(q.Reset), clip(q.Window),
			flag(q.Refill == llmlimit.RefillContinuous), flag(o.RateLimited && q.Exceeded))
	}
	args = append(args, len(quotas)/7)
	args = append(args, quotas...)
	var fired llmlimit.Cooldowns
	err := s.guard(ctx, func(ctx context.Context) error {
		v, err := recordScript.Run(ctx, s.c, s.keys(&told), args...).Result()
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

// units is the number of units a quota may count.
const units = 3

// toldOf sorts the told quotas by unit, the last of each unit winning.
func toldOf(qs []llmlimit.Quota) [units]llmlimit.Quota {
	var told [units]llmlimit.Quota
	for _, q := range qs {
		if int(q.Unit) < units && q.Limit > 0 && q.Window > 0 {
			told[q.Unit] = llmlimit.Quota{Unit: q.Unit, Limit: q.Limit, Window: min(q.Window, maxWait)}
		}
	}
	return told
}

// keys are the scripts' keys for the told quotas told: the gate, the
// counters, the learned quota of each unit, then the sliding log and its
// meta of each told quota. A told quota of another limit or window has
// logs of its own, as MemoryState starts a new log when its quota changes.
func (s *State) keys(told *[units]llmlimit.Quota) []string {
	k := make([]string, 0, 11)
	k = append(k, s.prefix+"gate", s.prefix+"counters")
	for u := range units {
		k = append(k, s.prefix+"q:"+strconv.Itoa(u))
	}
	for _, kind := range [...]string{"log:", "meta:"} {
		for u, q := range told {
			k = append(k, s.prefix+kind+strconv.Itoa(u)+":"+strconv.Itoa(q.Limit)+"/"+strconv.FormatInt(micros(q.Window), 10))
		}
	}
	return k
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
