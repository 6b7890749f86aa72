package llmlimit

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// scriptProvider answers each attempt after latency with script's error
// for it (by number, from 1), or with a reply of model+"-001".
type scriptProvider struct {
	name, model string
	latency     time.Duration
	script      map[int]error

	mu sync.Mutex
	n  int
}

func (s *scriptProvider) Name() string         { return s.name }
func (s *scriptProvider) defaultModel() string { return s.model }

func (s *scriptProvider) Generate(ctx context.Context, req *Request) (*Response, error) {
	s.mu.Lock()
	s.n++
	err := s.script[s.n]
	s.mu.Unlock()
	time.Sleep(s.latency)
	if err != nil {
		return nil, err
	}
	return &Response{Text: "ok", Model: s.model + "-001", Usage: Usage{InputTokens: 10, OutputTokens: 5}}, nil
}

// telemetry is an SDK meter and tracer provider that keep what they get.
type telemetry struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	opts   []Option
}

func newTelemetry() *telemetry {
	t := &telemetry{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(t.reader))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(t.spans))
	t.opts = []Option{WithMeterProvider(mp), WithTracerProvider(tp)}
	return t
}

// metrics collects the metrics by name.
func (tel *telemetry) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != "github.com/llmlimit/llmlimit" {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			got[m.Name] = m
		}
	}
	return got
}

// Convention strings, as the GenAI semantic conventions spell them
// (docs/gen-ai/gen-ai-metrics.md and gen-ai-spans.md).
const (
	semOperationDuration = "gen_ai.client.operation.duration"
	semTokenUsage        = "gen_ai.client.token.usage"
	semOperationName     = "gen_ai.operation.name"
	semProviderName      = "gen_ai.provider.name"
	semRequestModel      = "gen_ai.request.model"
	semResponseModel     = "gen_ai.response.model"
	semTokenType         = "gen_ai.token.type"
	semErrorType         = "error.type"
	semResendCount       = "http.request.resend_count"
	semInputTokens       = "gen_ai.usage.input_tokens"
	semOutputTokens      = "gen_ai.usage.output_tokens"
)

var (
	semDurationBounds = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	semTokenBounds    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
)

// point is one expected histogram data point: its attributes and values.
type point[N int64 | float64] struct {
	attrs  []attribute.KeyValue
	values []N
}

// histogram builds the expected histogram of points over bounds.
func histogram[N int64 | float64](bounds []float64, points ...point[N]) metricdata.Histogram[N] {
	h := metricdata.Histogram[N]{Temporality: metricdata.CumulativeTemporality}
	for _, p := range points {
		dp := metricdata.HistogramDataPoint[N]{Attributes: attribute.NewSet(p.attrs...), Bounds: bounds,
			BucketCounts: make([]uint64, len(bounds)+1)}
		for i, v := range p.values {
			b := 0
			for b < len(bounds) && float64(v) > bounds[b] {
				b++
			}
			dp.BucketCounts[b]++
			dp.Count++
			dp.Sum += v
			if lo, _ := dp.Min.Value(); i == 0 || v < lo {
				dp.Min = metricdata.NewExtrema(v)
			}
			if hi, _ := dp.Max.Value(); i == 0 || v > hi {
				dp.Max = metricdata.NewExtrema(v)
			}
		}
		h.DataPoints = append(h.DataPoints, dp)
	}
	return h
}

type count struct {
	attrs []attribute.KeyValue
	n     int64
}

func sum(monotonic bool, counts ...count) metricdata.Sum[int64] {
	s := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: monotonic}
	for _, c := range counts {
		s.DataPoints = append(s.DataPoints, metricdata.DataPoint[int64]{Attributes: attribute.NewSet(c.attrs...), Value: c.n})
	}
	return s
}

func gauge(counts ...count) metricdata.Gauge[int64] {
	var g metricdata.Gauge[int64]
	for _, c := range counts {
		g.DataPoints = append(g.DataPoints, metricdata.DataPoint[int64]{Attributes: attribute.NewSet(c.attrs...), Value: c.n})
	}
	return g
}

// TestTelemetryScriptedRun runs a scripted pipeline — a success, a 429
// with a retry hint that is retried, and a permanent failure that falls
// back — and checks every data point, attribute set and span.
func TestTelemetryScriptedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := newTelemetry()
		gem := &scriptProvider{name: "gemini", model: "gemini-2.5-flash", latency: 100 * time.Millisecond, script: map[int]error{
			2: &ProviderError{Provider: "gemini", StatusCode: 429, Kind: KindRateLimited, RetryAfter: 2 * time.Second},
			4: &ProviderError{Provider: "gemini", StatusCode: 400, Kind: KindPermanent},
		}}
		oai := &scriptProvider{name: "openai", model: "gpt-4o-mini", latency: 300 * time.Millisecond}
		opts := append([]Option{withRand(zeroRand), WithRequestsPerMinute(600)}, tel.opts...)
		a, err := New(gem, opts...)
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(oai, tel.opts...)
		if err != nil {
			t.Fatal(err)
		}
		f, err := NewFallback([]Provider{a, b}, tel.opts...)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for i, want := range []string{"gemini", "gemini", "openai"} {
			resp, err := f.Generate(ctx, &Request{Prompt: "p"})
			if err != nil {
				t.Fatalf("call %d: %v", i+1, err)
			}
			if resp.Provider != want {
				t.Fatalf("call %d served by %s, want %s", i+1, resp.Provider, want)
			}
		}
		checkScriptedMetrics(t, tel.metrics(t))
		checkScriptedSpans(t, tel.spans.Ended())
	})
}

func checkScriptedMetrics(t *testing.T, got map[string]metricdata.Metrics) {
	t.Helper()
	// The conventions name Gemini's operation generate_content and OpenAI's chat.
	gemOp := attribute.String(semOperationName, "generate_content")
	oaiOp := attribute.String(semOperationName, "chat")
	gemini := attribute.String(semProviderName, "gcp.gemini")
	openai := attribute.String(semProviderName, "openai")
	gemReq := attribute.String(semRequestModel, "gemini-2.5-flash")
	gemResp := attribute.String(semResponseModel, "gemini-2.5-flash-001")
	oaiReq := attribute.String(semRequestModel, "gpt-4o-mini")
	oaiResp := attribute.String(semResponseModel, "gpt-4o-mini-001")
	input, output := attribute.String(semTokenType, "input"), attribute.String(semTokenType, "output")
	outcome := func(v string) attribute.KeyValue { return attribute.String("llmlimit.outcome", v) }
	want := []metricdata.Metrics{
		{Name: semOperationDuration, Description: "GenAI operation duration.", Unit: "s", Data: histogram(semDurationBounds,
			point[float64]{[]attribute.KeyValue{gemOp, gemini, gemReq, gemResp}, []float64{0.1, 0.1}},
			point[float64]{[]attribute.KeyValue{gemOp, gemini, gemReq, attribute.String(semErrorType, "429")}, []float64{0.1}},
			point[float64]{[]attribute.KeyValue{gemOp, gemini, gemReq, attribute.String(semErrorType, "400")}, []float64{0.1}},
			point[float64]{[]attribute.KeyValue{oaiOp, openai, oaiReq, oaiResp}, []float64{0.3}},
		)},
		{Name: semTokenUsage, Description: "Number of input and output tokens used.", Unit: "{token}", Data: histogram(semTokenBounds,
			point[int64]{[]attribute.KeyValue{gemOp, gemini, gemReq, gemResp, input}, []int64{10, 10}},
			point[int64]{[]attribute.KeyValue{gemOp, gemini, gemReq, gemResp, output}, []int64{5, 5}},
			point[int64]{[]attribute.KeyValue{oaiOp, openai, oaiReq, oaiResp, input}, []int64{10}},
			point[int64]{[]attribute.KeyValue{oaiOp, openai, oaiReq, oaiResp, output}, []int64{5}},
		)},
		{Name: "llmlimit.requests", Unit: "{request}", Data: sum(true,
			count{[]attribute.KeyValue{gemini, outcome("success")}, 2},
			count{[]attribute.KeyValue{gemini, outcome("permanent")}, 1},
			count{[]attribute.KeyValue{openai, outcome("success")}, 1},
		)},
		{Name: "llmlimit.retries", Unit: "{retry}", Data: sum(true,
			count{[]attribute.KeyValue{gemini, attribute.String("llmlimit.retry.cause", "rate_limited")}, 1},
		)},
		// The retry waits out the hint (2 s, over the 1.1 s backoff), and
		// then the gate the hint closed is open.
		{Name: "llmlimit.wait.duration", Unit: "s", Data: histogram(waitBounds,
			point[float64]{[]attribute.KeyValue{gemini, attribute.String("llmlimit.wait.cause", "backoff")}, []float64{2}},
		)},
		{Name: "llmlimit.cooldowns", Unit: "{cooldown}", Data: sum(true,
			count{[]attribute.KeyValue{gemini, attribute.String("llmlimit.cooldown.cause", "server_hint")}, 1},
		)},
		// Gemini grew a slot on its first success and halved on the 429
		// that named no quota; OpenAI grew one.
		{Name: "llmlimit.slots.limit", Unit: "{slot}", Data: gauge(
			count{[]attribute.KeyValue{gemini}, 2}, count{[]attribute.KeyValue{openai}, 4})},
		{Name: "llmlimit.slots.in_flight", Unit: "{request}", Data: sum(false,
			count{[]attribute.KeyValue{gemini}, 0}, count{[]attribute.KeyValue{openai}, 0})},
		{Name: "llmlimit.quota.limit", Unit: "{unit}", Data: gauge(
			count{[]attribute.KeyValue{gemini, attribute.String("llmlimit.quota.unit", "requests")}, 600})},
		{Name: "llmlimit.fallbacks", Unit: "{fallback}", Data: sum(true,
			count{[]attribute.KeyValue{attribute.String("llmlimit.fallback.from", "gemini"), attribute.String("llmlimit.fallback.to", "openai")}, 1},
		)},
	}
	for _, w := range want {
		g, ok := got[w.Name]
		if !ok {
			t.Errorf("no metric %s", w.Name)
			continue
		}
		if w.Description == "" {
			w.Description = g.Description // llmlimit's own, checked to be set
			if g.Description == "" {
				t.Errorf("%s: no description", w.Name)
			}
		}
		metricdatatest.AssertEqual(t, w, g, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
		delete(got, w.Name)
	}
	for name := range got {
		t.Errorf("unexpected metric %s", name)
	}
}

func checkScriptedSpans(t *testing.T, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	type wantSpan struct {
		name   string
		kind   trace.SpanKind
		parent int // index of the parent among the spans, -1 for a root
		attrs  []attribute.KeyValue
		status codes.Code
		events []string
	}
	// The conventions name Gemini's operation generate_content and OpenAI's chat.
	gemOp := attribute.String(semOperationName, "generate_content")
	oaiOp := attribute.String(semOperationName, "chat")
	gemini := attribute.String(semProviderName, "gcp.gemini")
	openai := attribute.String(semProviderName, "openai")
	gemReq := attribute.String(semRequestModel, "gemini-2.5-flash")
	oaiReq := attribute.String(semRequestModel, "gpt-4o-mini")
	gemOK := []attribute.KeyValue{gemOp, gemini, gemReq, attribute.String(semResponseModel, "gemini-2.5-flash-001"),
		attribute.Int(semInputTokens, 10), attribute.Int(semOutputTokens, 5)}
	call := func(p, model attribute.KeyValue, outcome string) []attribute.KeyValue {
		a := []attribute.KeyValue{p, model, attribute.String("llmlimit.outcome", outcome)}
		if outcome != "success" {
			a = append(a, attribute.String(semErrorType, outcome))
		}
		return a
	}
	// In the order they end.
	want := []wantSpan{
		{name: "generate_content gemini-2.5-flash", kind: trace.SpanKindClient, parent: 1, attrs: gemOK},
		{name: "llmlimit.generate", kind: trace.SpanKindInternal, parent: -1, attrs: call(gemini, gemReq, "success")},
		{name: "generate_content gemini-2.5-flash", kind: trace.SpanKindClient, parent: 4, status: codes.Error,
			attrs: []attribute.KeyValue{gemOp, gemini, gemReq, attribute.String(semErrorType, "429")}},
		{name: "generate_content gemini-2.5-flash", kind: trace.SpanKindClient, parent: 4,
			attrs: append([]attribute.KeyValue{attribute.Int(semResendCount, 1)}, gemOK...)},
		{name: "llmlimit.generate", kind: trace.SpanKindInternal, parent: -1, attrs: call(gemini, gemReq, "success"),
			events: []string{"llmlimit.cooldown server_hint 2", "llmlimit.wait backoff 2"}},
		{name: "generate_content gemini-2.5-flash", kind: trace.SpanKindClient, parent: 6, status: codes.Error,
			attrs: []attribute.KeyValue{gemOp, gemini, gemReq, attribute.String(semErrorType, "400")}},
		{name: "llmlimit.generate", kind: trace.SpanKindInternal, parent: -1, attrs: call(gemini, gemReq, "permanent"), status: codes.Error},
		{name: "chat gpt-4o-mini", kind: trace.SpanKindClient, parent: 8,
			attrs: []attribute.KeyValue{oaiOp, openai, oaiReq, attribute.String(semResponseModel, "gpt-4o-mini-001"),
				attribute.Int(semInputTokens, 10), attribute.Int(semOutputTokens, 5)}},
		{name: "llmlimit.generate", kind: trace.SpanKindInternal, parent: -1, attrs: call(openai, oaiReq, "success")},
	}
	if len(spans) != len(want) {
		for _, s := range spans {
			t.Logf("span %s %v", s.Name(), s.Attributes())
		}
		t.Fatalf("%d spans, want %d", len(spans), len(want))
	}
	for i, w := range want {
		s := spans[i]
		if s.Name() != w.name || s.SpanKind() != w.kind {
			t.Errorf("span %d: %s (%s), want %s (%s)", i, s.Name(), s.SpanKind(), w.name, w.kind)
		}
		if w.parent < 0 && s.Parent().IsValid() {
			t.Errorf("span %d %s: has a parent", i, w.name)
		}
		if w.parent >= 0 && s.Parent().SpanID() != spans[w.parent].SpanContext().SpanID() {
			t.Errorf("span %d %s: parent is not span %d", i, w.name, w.parent)
		}
		if got, want := attribute.NewSet(s.Attributes()...), attribute.NewSet(w.attrs...); !got.Equals(&want) {
			t.Errorf("span %d %s: attributes\n%v\nwant\n%v", i, w.name, got.Encoded(attribute.DefaultEncoder()), want.Encoded(attribute.DefaultEncoder()))
		}
		if s.Status().Code != w.status {
			t.Errorf("span %d %s: status %v, want %v", i, w.name, s.Status().Code, w.status)
		}
		var events []string
		for _, e := range s.Events() {
			events = append(events, eventString(e))
		}
		if len(events) != len(w.events) {
			t.Errorf("span %d %s: events %q, want %q", i, w.name, events, w.events)
			continue
		}
		for j := range events {
			if events[j] != w.events[j] {
				t.Errorf("span %d %s: events %q, want %q", i, w.name, events, w.events)
				break
			}
		}
	}
}

// eventString renders an llmlimit span event as "name cause seconds".
func eventString(e sdktrace.Event) string {
	s := e.Name
	for _, a := range e.Attributes {
		switch a.Key {
		case "llmlimit.wait.cause", "llmlimit.cooldown.cause":
			s += " " + a.Value.AsString()
		}
	}
	for _, a := range e.Attributes {
		switch a.Key {
		case "llmlimit.wait.duration", "llmlimit.cooldown.pause":
			s += " " + a.Value.String()
		}
	}
	return s
}
