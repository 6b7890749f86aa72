package llmlimit_test

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// TestTagSpaceBatchJobsMetric follows one job through
// llmlimit.tagspace.batch_jobs: submitted by a run that dies, resumed and
// collected by the next, whose items are counted as tagged.
func TestTagSpaceBatchJobsMetric(t *testing.T) {
	const n = 50
	inBubble(t, batchQuota(llmtest.BatchConfig{Latency: time.Hour}), func(t *testing.T, x e2e) {
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		s := e2eSpace(n)
		store, err := llmlimit.OpenStore(filepath.Join(t.TempDir(), "results.db"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		first := batchSpace(t, x, "gemini", store, llmlimit.WithMode(llmlimit.ModeBatch), llmlimit.WithMeterProvider(mp),
			llmlimit.WithProgress(func(p llmlimit.Progress) {
				if p.Batch.Total > 0 {
					cancel()
				}
			}))
		if _, err := first.Run(ctx, s); !errors.Is(err, context.Canceled) {
			t.Fatalf("first run: %v, want canceled", err)
		}
		if got, want := counts(t, reader, "llmlimit.tagspace.batch_jobs"), map[string]int64{"submitted": 1}; !maps.Equal(got, want) {
			t.Errorf("after the first run, batch jobs %v, want %v", got, want)
		}
		second := batchSpace(t, x, "gemini", store, llmlimit.WithMode(llmlimit.ModeBatch), llmlimit.WithMeterProvider(mp))
		if _, err := second.Run(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		if got, want := counts(t, reader, "llmlimit.tagspace.batch_jobs"), map[string]int64{"submitted": 1, "resumed": 1, "collected": 1}; !maps.Equal(got, want) {
			t.Errorf("after the second run, batch jobs %v, want %v", got, want)
		}
		if got, want := counts(t, reader, "llmlimit.tagspace.items"), map[string]int64{"not_attempted": n, "tagged": n}; !maps.Equal(got, want) {
			t.Errorf("items %v, want %v", got, want)
		}
	})
}

// counts returns an int64 counter's cumulative values by llmlimit.outcome.
func counts(t *testing.T, r *sdkmetric.ManualReader, name string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s is a %T, want an int64 sum", name, m.Data)
			}
			for _, p := range sum.DataPoints {
				v, _ := p.Attributes.Value("llmlimit.outcome")
				got[v.AsString()] += p.Value
			}
		}
	}
	return got
}
