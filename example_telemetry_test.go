package llmlimit_test

import (
	"context"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

func ExampleWithMeterProvider() {
	// In a service the reader is an exporter's (Prometheus, OTLP).
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	gemini := llmtest.NewFake("gemini")
	gemini.Push(llmtest.Reply("hello"))
	l, err := llmlimit.New(gemini, llmlimit.WithMeterProvider(mp), llmlimit.WithTracerProvider(tp))
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := l.Generate(context.Background(), &llmlimit.Request{Model: "gemini-2.5-flash", Prompt: "hi"}); err != nil {
		fmt.Println(err)
		return
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "llmlimit.requests" {
			outcome, _ := s.DataPoints[0].Attributes.Value("llmlimit.outcome")
			fmt.Println(m.Name, outcome.AsString(), s.DataPoints[0].Value)
		}
	}
	for _, s := range spans.Ended() {
		fmt.Println("span:", s.Name())
	}
	// Output:
	// llmlimit.requests success 1
	// span: generate_content gemini-2.5-flash
	// span: llmlimit.generate
}
