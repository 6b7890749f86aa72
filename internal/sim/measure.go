package sim

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/llmlimit/llmlimit"
)

// Op is one operation as the [Recorder] saw it: one Generate call through
// the whole policy, from TagSpace's point of view.
type Op struct {
	ID         int
	Start, End time.Time
	// Provider names who served it; "" when it failed.
	Provider string
	Err      error
}

// Latency is the operation's duration.
func (o Op) Latency() time.Duration { return o.End.Sub(o.Start) }

// Recorder is a [llmlimit.Provider] that records every Generate call made
// through it: start, end and who served it. Put it outside the Fallback, so
// an operation's latency includes every wait, retry and fallback. It passes
// Reset and the provider tree through, so TagSpace still resets and reports
// on the providers inside. It is safe for simultaneous use.
type Recorder struct {
	p llmlimit.Provider

	mu  sync.Mutex
	ops []Op
}

// NewRecorder wraps p.
func NewRecorder(p llmlimit.Provider) *Recorder { return &Recorder{p: p} }

// Name returns the wrapped provider's name.
func (r *Recorder) Name() string { return r.p.Name() }

// Members returns the wrapped provider.
// A provider tree walk must see through it, or TagSpace finds no primary.
var _ llmlimit.Wrapper = (*Recorder)(nil)

// Unwrap returns the recorded provider.
func (r *Recorder) Unwrap() []llmlimit.Provider { return []llmlimit.Provider{r.p} }

// Reset resets the wrapped provider when it is a [llmlimit.Resetter].
func (r *Recorder) Reset() {
	if rs, ok := r.p.(llmlimit.Resetter); ok {
		rs.Reset()
	}
}

type opKey struct{}

// opOf returns the id of the operation ctx belongs to, or -1.
func opOf(ctx context.Context) int {
	if id, ok := ctx.Value(opKey{}).(int); ok {
		return id
	}
	return -1
}

// Generate calls the wrapped provider and records the call. The context it
// passes on carries the operation's id, so a [Tap] further in can tell which
// attempts belong to one operation.
func (r *Recorder) Generate(ctx context.Context, req *llmlimit.Request) (*llmlimit.Response, error) {
	r.mu.Lock()
	id := len(r.ops)
	r.ops = append(r.ops, Op{ID: id, Start: time.Now()})
	r.mu.Unlock()

	resp, err := r.p.Generate(context.WithValue(ctx, opKey{}, id), req)

	r.mu.Lock()
	op := &r.ops[id]
	op.End = time.Now()
	if err != nil {
		op.Err = err
	} else {
		op.Provider = resp.Provider
	}
	r.mu.Unlock()
	return resp, err
}

// Ops returns copies of the operations recorded so far, in start order.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}

// Attempt is one request a [Tap] saw go to its provider.
type Attempt struct {
	// Op is the operation's id from the [Recorder], or -1.
	Op         int
	Start, End time.Time
	// Kind classifies the failure; meaningless when Err is nil.
	Kind llmlimit.Kind
	// Status is the HTTP status of a failure, 0 on success.
	Status int
	// RetryAfter is the server's retry hint on a failure.
	RetryAfter time.Duration
	// Tokens is the request's input tokens as the emulator counts them.
	Tokens int
	Err    error
}

// Tap is a [llmlimit.Provider] that records every attempt sent to the
// provider it wraps. Put it right around the SDK provider, inside the
// policy, to see what reaches the server and when. It is safe for
// simultaneous use.
type Tap struct {
	p llmlimit.Provider

	mu       sync.Mutex
	attempts []Attempt
}

// NewTap wraps p.
func NewTap(p llmlimit.Provider) *Tap { return &Tap{p: p} }

// Name returns the wrapped provider's name.
func (t *Tap) Name() string { return t.p.Name() }

// Generate calls the wrapped provider and records the attempt.
func (t *Tap) Generate(ctx context.Context, req *llmlimit.Request) (*llmlimit.Response, error) {
	a := Attempt{Op: opOf(ctx), Start: time.Now(), Tokens: requestTokens(req)}
	resp, err := t.p.Generate(ctx, req)
	a.End = time.Now()
	if err != nil {
		a.Err = err
		a.Kind = llmlimit.KindOf(err)
		var pe *llmlimit.ProviderError
		if errors.As(err, &pe) {
			a.Status, a.RetryAfter = pe.StatusCode, pe.RetryAfter
		}
	}
	t.mu.Lock()
	t.attempts = append(t.attempts, a)
	t.mu.Unlock()
	return resp, err
}

// Attempts returns copies of the attempts recorded so far, in the order they
// ended.
func (t *Tap) Attempts() []Attempt {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Attempt(nil), t.attempts...)
}

// PerDayViolations counts attempts that should not have been sent after a
// per-day quota 429 (status 429, [llmlimit.KindQuotaExhausted]): an attempt
// of an operation that already got one (a retry), or an attempt started
// after one was returned and before the reset it reported (the server's
// hint, or one minute without one, as the Limiter assumes). Attempts started
// at the same instant the 429 returned are not counted: they may have been
// sent before the 429 was seen.
func PerDayViolations(attempts []Attempt) int {
	type block struct{ from, until time.Time }
	var blocks []block
	hit := map[int]time.Time{} // op → end of its first per-day 429
	for _, a := range attempts {
		if a.Err == nil || a.Status != 429 || a.Kind != llmlimit.KindQuotaExhausted {
			continue
		}
		reset := a.RetryAfter
		if reset <= 0 {
			reset = time.Minute
		}
		blocks = append(blocks, block{a.End, a.End.Add(reset)})
		if t, ok := hit[a.Op]; a.Op >= 0 && (!ok || a.End.Before(t)) {
			hit[a.Op] = a.End
		}
	}
	n := 0
	for _, a := range attempts {
		if t, ok := hit[a.Op]; a.Op >= 0 && ok && a.Start.After(t) {
			n++
			continue
		}
		for _, b := range blocks {
			if a.Start.After(b.from) && a.Start.Before(b.until) {
				n++
				break
			}
		}
	}
	return n
}
