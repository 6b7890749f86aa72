package llmlimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"
)

// Fallback returns a provider that tries providers in order and returns the
// first reply. It is [NewFallback] without options.
func Fallback(providers ...Provider) (Provider, error) { return NewFallback(providers) }

// NewFallback returns a provider that tries providers in order and returns
// the first reply; Response.Provider names the member that served it. A
// member's failure, of any kind, passes the call to the next member, except
// when the caller's own context is done: then ctx.Err() is returned at once.
//
// Put a [Limiter] around each member. A member that can't start the call
// within its wait budget — the smaller of its [WithMaxWait] and the time
// left before ctx's deadline — refuses it at once with a [*WaitError], and
// the next member serves it in the caller's time. The budget says which
// member to prefer, not that the call should fail: when every member failed
// and some refused only for their wait budget, the call goes back to the one
// that would be free soonest, if it is a [Waiter] and free before ctx's
// deadline, and waits for it. When even that is too late, the error is a
// *WaitError for the soonest wait, wrapping every member's failure.
// Otherwise, when every member fails, the error joins each member's
// failure, prefixed with its name, so errors.Is and errors.As see all of
// them.
//
// The returned provider implements [Resetter] (Reset reaches every member
// that is one), [Wrapper] and [Waiter] (GenerateWait bounds the last
// resort's wait by maxWait). It reads only [WithLogger] from opts, to log
// each "fallback", and [WithMeterProvider], to count them. Nil, repeated and cyclic members are rejected.
func NewFallback(providers []Provider, opts ...Option) (Provider, error) {
	if len(providers) == 0 {
		return nil, errors.New("llmlimit: fallback: no providers")
	}
	seen := map[Provider]bool{}
	for i, p := range providers {
		if p == nil {
			return nil, fmt.Errorf("llmlimit: fallback: provider %d is nil", i)
		}
		if err := checkTree(p, seen, nil); err != nil {
			return nil, err
		}
	}
	names := make([]string, len(providers))
	for i, p := range providers {
		names[i] = p.Name()
	}
	cfg := newConfig(opts)
	tel, err := newFallbackTel(&cfg)
	if err != nil {
		return nil, err
	}
	return &fallback{
		members: append([]Provider(nil), providers...),
		name:    "fallback(" + strings.Join(names, ",") + ")",
		log:     cfg.logger,
		tel:     tel,
	}, nil
}

// checkTree rejects a provider that appears twice in the tree under a
// fallback, or a provider that wraps itself. Providers whose dynamic type
// is not comparable can't be told apart and are let through.
func checkTree(p Provider, seen map[Provider]bool, path []Provider) error {
	if !reflect.TypeOf(p).Comparable() {
		return nil
	}
	for _, q := range path {
		if q == p {
			return fmt.Errorf("llmlimit: fallback: %s contains itself", p.Name())
		}
	}
	if len(path) > maxTreeDepth {
		return fmt.Errorf("llmlimit: fallback: %s is nested more than %d deep", p.Name(), maxTreeDepth)
	}
	if seen[p] {
		return fmt.Errorf("llmlimit: fallback: %s appears more than once", p.Name())
	}
	seen[p] = true
	path = append(path, p)
	for _, m := range unwrap(p) {
		if m == nil {
			continue
		}
		if err := checkTree(m, seen, path); err != nil {
			return err
		}
	}
	return nil
}

type fallback struct {
	members []Provider
	name    string
	log     *slog.Logger
	tel     *fallbackTel
}

func (f *fallback) Name() string { return f.name }

func (f *fallback) Unwrap() []Provider { return append([]Provider(nil), f.members...) }

func (f *fallback) Reset() {
	for _, m := range f.members {
		if r, ok := m.(Resetter); ok {
			r.Reset()
		}
	}
}

func (f *fallback) Generate(ctx context.Context, req *Request) (*Response, error) {
	return f.GenerateWait(ctx, req, 0)
}

func (f *fallback) GenerateWait(ctx context.Context, req *Request, maxWait time.Duration) (*Response, error) {
	var (
		errs    []error
		soonest *WaitError // the shortest wait a member refused
		waiter  Waiter     // the member that refused it, when it can be asked to wait
		refused = 0        // members that refused only for their wait budget
	)
	for i, p := range f.members {
		resp, err := p.Generate(ctx, req)
		if err == nil {
			return served(resp, p), nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
		if we := asWaitError(err); we != nil {
			refused++
			if w, ok := p.(Waiter); ok && (waiter == nil || we.Wait < soonest.Wait) {
				soonest, waiter = we, w
			}
		}
		if i+1 < len(f.members) {
			f.log.Info("fallback", "from", p.Name(), "to", f.members[i+1].Name(), "error", err.Error())
			f.tel.pass(ctx, p.Name(), f.members[i+1].Name())
		}
	}
	all := fmt.Errorf("llmlimit: all providers failed: %w", errors.Join(errs...))
	if waiter == nil {
		return nil, all
	}
	left := timeLeft(ctx, maxWait)
	if soonest.Wait > left {
		if refused == len(f.members) {
			return nil, &WaitError{Provider: f.name, Reason: soonest.Reason, Wait: soonest.Wait, Budget: left, Cause: all}
		}
		return nil, all
	}
	p := waiter.(Provider)
	f.log.Info("fallback", "from", f.members[len(f.members)-1].Name(), "to", p.Name(),
		"error", "every provider failed; waiting for the one free soonest", "wait", soonest.Wait)
	f.tel.pass(ctx, f.members[len(f.members)-1].Name(), p.Name())
	resp, err := waiter.GenerateWait(ctx, req, maxWait)
	if err == nil {
		return served(resp, p), nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("llmlimit: all providers failed: %w", errors.Join(append(errs, fmt.Errorf("%s, waiting: %w", p.Name(), err))...))
}

// asWaitError returns the *WaitError that err is or wraps, not looking into
// joined errors: a Fallback whose members failed in other ways besides did
// not refuse the call as a whole.
func asWaitError(err error) *WaitError {
	for err != nil {
		if we, ok := err.(*WaitError); ok {
			return we
		}
		err = errors.Unwrap(err)
	}
	return nil
}

// timeLeft is how long a call may wait: maxWait (0 for no limit) and no
// later than ctx's deadline.
func timeLeft(ctx context.Context, maxWait time.Duration) time.Duration {
	left := time.Duration(1<<63 - 1)
	if maxWait > 0 {
		left = maxWait
	}
	if dl, ok := ctx.Deadline(); ok {
		left = min(left, max(time.Until(dl), 0))
	}
	return left
}

// served names p as the provider of resp when p's reply didn't.
func served(resp *Response, p Provider) *Response {
	if resp.Provider == "" {
		resp.Provider = p.Name()
	}
	return resp
}
