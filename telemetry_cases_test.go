package llmlimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

// TestTelemetryWaitCauses checks the wait before a start by each cause:
// a slot, the gate a 429's hint closed, and quota pacing; and a call
// refused for its wait budget.
func TestTelemetryWaitCauses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := newTelemetry()
		p := &scriptProvider{name: "gemini", model: "m", latency: 100 * time.Millisecond, script: map[int]error{
			3: &ProviderError{Provider: "gemini", StatusCode: 429, Kind: KindRateLimited, RetryAfter: 2 * time.Second},
		}}
		opts := append([]Option{withRand(zeroRand), WithConcurrency(1), WithMaxConcurrency(1), WithMaxRetries(0)}, tel.opts...)
		l, err := New(p, opts...)
		if err != nil {
			t.Fatal(err)
		}
		q := &scriptProvider{name: "openai", model: "m", latency: 100 * time.Millisecond}
		paced, err := New(q, append([]Option{withRand(zeroRand), WithRequestsPerMinute(1)}, tel.opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, req := context.Background(), &Request{}
		var wg sync.WaitGroup
		for range 2 { // one waits 0.1 s for the other's slot
			wg.Go(func() {
				if _, err := l.Generate(ctx, req); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if _, err := l.Generate(ctx, req); KindOf(err) != KindRateLimited { // closes the gate for 2 s
			t.Fatalf("third call: %v", err)
		}
		if _, err := l.Generate(ctx, req); err != nil { // waits 2 s at the gate
			t.Fatal(err)
		}
		if _, err := paced.Generate(ctx, req); err != nil {
			t.Fatal(err)
		}
		if _, err := paced.GenerateWait(ctx, req, time.Second); !errors.Is(err, ErrCooldown) {
			t.Fatalf("paced call with 1s to wait: %v", err)
		}
		if _, err := paced.Generate(ctx, req); err != nil { // waits out the minute
			t.Fatal(err)
		}
		got := tel.metrics(t)
		gemini := attribute.String(semProviderName, "gcp.gemini")
		openai := attribute.String(semProviderName, "openai")
		cause := func(v string) attribute.KeyValue { return attribute.String("llmlimit.wait.cause", v) }
		outcome := func(v string) attribute.KeyValue { return attribute.String("llmlimit.outcome", v) }
		waits := metricdata.Metrics{Name: "llmlimit.wait.duration", Unit: "s", Description: got["llmlimit.wait.duration"].Description,
			Data: histogram(waitBounds,
				point[float64]{[]attribute.KeyValue{gemini, cause("slot")}, []float64{0.1}},
				point[float64]{[]attribute.KeyValue{gemini, cause("gate")}, []float64{2}},
				point[float64]{[]attribute.KeyValue{openai, cause("pacing")}, []float64{59.9}},
			)}
		metricdatatest.AssertEqual(t, waits, got["llmlimit.wait.duration"], metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
		requests := metricdata.Metrics{Name: "llmlimit.requests", Unit: "{request}", Description: got["llmlimit.requests"].Description,
			Data: sum(true,
				count{[]attribute.KeyValue{gemini, outcome("success")}, 3},
				count{[]attribute.KeyValue{gemini, outcome("rate_limited")}, 1},
				count{[]attribute.KeyValue{openai, outcome("success")}, 2},
				count{[]attribute.KeyValue{openai, outcome("refused")}, 1},
			)}
		metricdatatest.AssertEqual(t, requests, got["llmlimit.requests"], metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	})
}

// TestTelemetryTagSpace counts a run's items, batches and cache hits: a
// first run of 7 items in batches of 5, one batch failing for good, then
// a second run served from the cache where the first succeeded.
func TestTelemetryTagSpace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := newTelemetry()
		var failed atomic.Bool // the batch with the last item, once
		f := &fakeProvider{name: "fake", reply: func(n int, items []prompt.Item) (string, error) {
			if items[len(items)-1].ID == "id-6" && failed.CompareAndSwap(false, true) {
				return "", &ProviderError{Provider: "fake", StatusCode: 400, Kind: KindPermanent}
			}
			return "", nil
		}}
		ts, err := NewTagSpace(f, append([]Option{WithBatchSize(5)}, tel.opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		s := makeSpace(7)
		for range 2 {
			if _, err := ts.Run(context.Background(), s); err != nil {
				t.Fatal(err)
			}
		}
		got := tel.metrics(t)
		outcome := func(v string) attribute.KeyValue { return attribute.String("llmlimit.outcome", v) }
		// Run 1: batch 0 (5 items) served, batch 1 (2 items) refused.
		// Run 2: 5 items cached; the 2 failed ones sent again, served.
		want := []metricdata.Metrics{
			{Name: "llmlimit.tagspace.items", Unit: "{item}", Data: sum(true,
				count{[]attribute.KeyValue{outcome("tagged")}, 7},
				count{[]attribute.KeyValue{outcome("failed")}, 2},
				count{[]attribute.KeyValue{outcome("cached")}, 5})},
			{Name: "llmlimit.tagspace.cache.hits", Unit: "{item}", Data: sum(true, count{nil, 5})},
			{Name: "llmlimit.tagspace.batches", Unit: "{batch}", Data: sum(true,
				count{[]attribute.KeyValue{outcome("served")}, 2},
				count{[]attribute.KeyValue{outcome("failed")}, 1})},
		}
		for _, w := range want {
			w.Description = got[w.Name].Description
			metricdatatest.AssertEqual(t, w, got[w.Name], metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
			delete(got, w.Name)
		}
		for name := range got {
			t.Errorf("unexpected metric %s", name)
		}
	})
}

// TestTelemetryOffRecordsNothing: without the options nothing reaches
// OpenTelemetry, not even the global providers.
func TestTelemetryOffRecordsNothing(t *testing.T) {
	tel := &telemetry{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp, tp := otel.GetMeterProvider(), otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetMeterProvider(mp); otel.SetTracerProvider(tp) })
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader)))
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans)))
	l, err := New(&scriptProvider{name: "gemini", model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Generate(context.Background(), &Request{}); err != nil {
		t.Fatal(err)
	}
	if l.tel != nil {
		t.Error("a Limiter without the options has telemetry")
	}
	if got := tel.metrics(t); len(got) != 0 {
		t.Errorf("metrics recorded: %v", got)
	}
	if n := len(tel.spans.Ended()); n != 0 {
		t.Errorf("%d spans recorded", n)
	}
}
