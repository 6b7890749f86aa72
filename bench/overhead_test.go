// Package bench measures llmlimit against peer libraries side by side. It is
// a separate module so that the library's go.mod stays lean.
package bench

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/llmlimit/llmlimit"
	"golang.org/x/time/rate"
)

// noop is the call every library wraps: it answers at once with a shared
// reply, so the benchmark measures only the wrapper.
type noop struct{ resp llmlimit.Response }

func (noop) Name() string { return "noop" }

func (n *noop) Generate(context.Context, *llmlimit.Request) (*llmlimit.Response, error) {
	return &n.resp, nil
}

// BenchmarkOverhead wraps the same no-op call in each library with the
// closest equivalent configuration: retries with backoff plus a bound on
// concurrency (llmlimit's Limiter, failsafe-go's retry policy and bulkhead),
// and a plain rate limiter with an unreachable rate (x/time/rate).
func BenchmarkOverhead(b *testing.B) {
	p := &noop{resp: llmlimit.Response{Provider: "noop"}}
	req := &llmlimit.Request{}
	ctx := context.Background()

	b.Run("llmlimit", func(b *testing.B) {
		l, err := llmlimit.New(p, llmlimit.WithSuccessCooldown(0, 0))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Generate(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("failsafe-go", func(b *testing.B) {
		retry := retrypolicy.NewBuilder[*llmlimit.Response]().
			WithMaxRetries(3).WithBackoff(time.Second, time.Minute).WithJitter(300 * time.Millisecond).Build()
		bh := bulkhead.New[*llmlimit.Response](6)
		exec := failsafe.With[*llmlimit.Response](retry, bh).WithContext(ctx)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := exec.Get(func() (*llmlimit.Response, error) { return p.Generate(ctx, req) }); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("x-time-rate", func(b *testing.B) {
		lim := rate.NewLimiter(rate.Inf, 1)
		b.ReportAllocs()
		for b.Loop() {
			if err := lim.Wait(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := p.Generate(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
