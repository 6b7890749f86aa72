package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/llmlimit/llmlimit"
)

// metricsAddrEnv is the variable -metrics-addr mirrors.
const metricsAddrEnv = "TAG_SPACE_METRICS_ADDR"

// onMetrics is told the address /metrics is served at; tests scrape it.
var onMetrics = func(addr string) {}

// metricsServer serves the run's OpenTelemetry metrics in the Prometheus
// format for as long as the run lasts.
type metricsServer struct {
	srv  *http.Server
	mp   *sdkmetric.MeterProvider
	done chan struct{}
}

// serveMetrics listens on addr and serves /metrics there. A bad or busy
// address is bad usage, found before any call is made.
func serveMetrics(addr string, stderr io.Writer) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("metrics exporter: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usagef("-metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m := &metricsServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		mp:   sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)),
		done: make(chan struct{}),
	}
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "tagspace: metrics: %v\n", err)
		}
	}()
	fmt.Fprintf(stderr, "tagspace: serving metrics at http://%s/metrics for the length of the run\n", ln.Addr())
	onMetrics(ln.Addr().String())
	return m, nil
}

// option is the library option that records into the served metrics.
func (m *metricsServer) option() llmlimit.Option { return llmlimit.WithMeterProvider(m.mp) }

// close stops serving, letting a scrape in progress finish for a moment.
func (m *metricsServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = m.srv.Shutdown(ctx)
	<-m.done
	_ = m.mp.Shutdown(ctx)
}
