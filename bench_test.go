package llmlimit

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// noopProvider answers at once with a shared reply, so a benchmark measures
// only the Limiter.
type noopProvider struct{ resp Response }

func (noopProvider) Name() string { return "noop" }

func (p *noopProvider) Generate(context.Context, *Request) (*Response, error) { return &p.resp, nil }

// newBenchLimiter is a Limiter of a noopProvider with no success cooldown,
// and opts.
func newBenchLimiter(b *testing.B, opts ...Option) *Limiter {
	l, err := New(&noopProvider{resp: Response{Provider: "noop", Model: "m"}}, append([]Option{WithSuccessCooldown(0, 0)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkLimiter is one caller through an uncontended Limiter.
func BenchmarkLimiter(b *testing.B) {
	l := newBenchLimiter(b)
	ctx, req := context.Background(), &Request{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Generate(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLimiterParallel is GOMAXPROCS callers contending for the slots.
func BenchmarkLimiterParallel(b *testing.B) {
	l := newBenchLimiter(b)
	req := &Request{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := l.Generate(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOverhead is BenchmarkLimiter without telemetry, with the OTel
// SDK's metrics (a manual reader, never collected), and with its traces as
// well (every span sampled, none exported): the cost of WithMeterProvider
// and WithTracerProvider per call.
func BenchmarkOverhead(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts func() []Option
	}{
		{"none", func() []Option { return nil }},
		{"metrics", func() []Option {
			return []Option{WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())))}
		}},
		{"metrics+traces", func() []Option {
			return []Option{WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))),
				WithTracerProvider(sdktrace.NewTracerProvider())}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := newBenchLimiter(b, bc.opts()...)
			ctx, req := context.Background(), &Request{}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Generate(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
