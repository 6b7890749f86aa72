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
// When every member fails, the error joins each member's failure, prefixed
// with its name, so errors.Is and errors.As see all of them.
//
// Put a [Limiter] around each member with a wait budget ([WithMaxWait]) so
// that a member in a long cooldown fails fast with [ErrCooldown] instead of
// holding the call. The budget says which member to prefer, not that the
// call should fail: when every member has failed and some failed only on
// their wait budget, the call goes back to the one that would be free
// soonest and waits for it, as long as ctx allows.
//
// The returned provider implements [Resetter] (Reset reaches every member
// that is one) and [Chain]. It reads only [WithLogger] from opts, to log
// each "fallback". Nil, repeated and cyclic members are rejected.
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
	return &fallback{
		members: append([]Provider(nil), providers...),
		name:    "fallback(" + strings.Join(names, ",") + ")",
		log:     cfg.logger,
	}, nil
}

// checkTree rejects a provider that appears twice in the tree of chains under
// a fallback, or a chain that contains itself. Providers whose dynamic type
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
	if seen[p] {
		return fmt.Errorf("llmlimit: fallback: %s appears more than once", p.Name())
	}
	seen[p] = true
	if c, ok := p.(Chain); ok {
		path = append(path, p)
		for _, m := range c.Members() {
			if m == nil {
				continue
			}
			if err := checkTree(m, seen, path); err != nil {
				return err
			}
		}
	}
	return nil
}

type fallback struct {
	members []Provider
	name    string
	log     *slog.Logger
}

func (f *fallback) Name() string { return f.name }

func (f *fallback) Members() []Provider { return append([]Provider(nil), f.members...) }

func (f *fallback) Reset() {
	for _, m := range f.members {
		if r, ok := m.(Resetter); ok {
			r.Reset()
		}
	}
}

func (f *fallback) Generate(ctx context.Context, req *Request) (*Response, error) {
	var (
		errs     []error
		soonest  = -1 // member whose wait budget alone stopped it, soonest free
		soonWait time.Duration
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
		var ce *WaitError
		if errors.As(err, &ce) && (soonest < 0 || ce.Wait < soonWait) {
			soonest, soonWait = i, ce.Wait
		}
		if i+1 < len(f.members) {
			f.log.Info("fallback", "from", p.Name(), "to", f.members[i+1].Name(), "error", err.Error())
		}
	}
	if soonest >= 0 {
		p := f.members[soonest]
		f.log.Info("fallback", "from", f.members[len(f.members)-1].Name(), "to", p.Name(),
			"error", "every provider failed; waiting past the wait budget", "wait", soonWait)
		resp, err := p.Generate(withoutWaitBudget(ctx), req)
		if err == nil {
			return served(resp, p), nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, fmt.Errorf("%s, waiting: %w", p.Name(), err))
	}
	return nil, fmt.Errorf("llmlimit: all providers failed: %w", errors.Join(errs...))
}

// served names p as the provider of resp when p's reply didn't.
func served(resp *Response, p Provider) *Response {
	if resp.Provider == "" {
		resp.Provider = p.Name()
	}
	return resp
}
