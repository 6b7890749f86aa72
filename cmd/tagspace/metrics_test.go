package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// TestMetricsScrapedDuringRun runs the command against its emulator with
// -metrics-addr and scrapes /metrics while the run goes on, until the
// GenAI and llmlimit series are all there.
func TestMetricsScrapedDuringRun(t *testing.T) {
	dir := t.TempDir()
	var items []llmlimit.Item
	for i := range 200 {
		items = append(items, llmlimit.Item{ID: fmt.Sprintf("m-%03d", i), Text: fmt.Sprintf("Item %d: a vaccination campaign in school %d.", i, i)})
	}
	in, tags := writeSpace(t, dir, items, smallTags)

	prevCfg, prevEmu, prevMetrics := emulatorConfig, onEmulator, onMetrics
	t.Cleanup(func() { emulatorConfig, onEmulator, onMetrics = prevCfg, prevEmu, prevMetrics })
	latency := func(*rand.Rand) time.Duration { return 50 * time.Millisecond }
	emulatorConfig = func() llmtest.Config {
		return llmtest.Config{
			Gemini: llmtest.API{Key: emulatorGeminiKey, RequestsPerWindow: 1000, Latency: latency},
			OpenAI: llmtest.API{Key: emulatorOpenAIKey, RequestsPerWindow: 1000, Latency: latency},
			Seed:   1,
		}
	}
	onEmulator = func(*llmtest.Emulator) {}
	addr := make(chan string, 1)
	onMetrics = func(a string) { addr <- a }

	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		args := []string{"-in", in, "-tags", tags, "-no-cache", "-out", filepath.Join(dir, "out.jsonl"), "-metrics-addr", "127.0.0.1:0"}
		done <- run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
	}()

	want := []string{
		`gen_ai_client_operation_duration_seconds_bucket{`,
		`gen_ai_client_token_usage_bucket{`,
		`gen_ai_provider_name="gcp.gemini"`,
		`gen_ai_operation_name="generate_content"`,
		`gen_ai_token_type="input"`,
		`llmlimit_requests_total{`,
		`llmlimit_slots_limit{`,
		`llmlimit_slots_in_flight{`,
		`llmlimit_tagspace_items_total{`,
		`llmlimit_tagspace_batches_total{`,
	}
	var a string
	select {
	case a = <-addr:
	case code := <-done:
		t.Fatalf("run ended (exit %d) before serving metrics; stderr:\n%s", code, stderr.String())
	}
	var body string
	var missing []string
	for scraped := false; !scraped; {
		select {
		case code := <-done:
			t.Fatalf("run ended (exit %d) before the scrape found %q; last scrape:\n%s\nstderr:\n%s", code, missing, body, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		body = scrape(t, "http://"+a+"/metrics")
		missing = missing[:0]
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = append(missing, w)
			}
		}
		scraped = len(missing) == 0
	}
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "serving metrics at http://"+a+"/metrics") {
		t.Errorf("metrics address not announced; stderr:\n%s", stderr.String())
	}
	if _, err := http.Get("http://" + a + "/metrics"); err == nil {
		t.Error("/metrics still served after the run")
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", url, resp.Status)
	}
	return string(b)
}

// TestMetricsAddr: TAG_SPACE_METRICS_ADDR serves /metrics as the flag
// does, and an address that can't be listened on is bad usage, before any
// call.
func TestMetricsAddr(t *testing.T) {
	dir := t.TempDir()
	in, tags := writeSpace(t, dir, smallItems, smallTags)
	args := []string{"-in", in, "-tags", tags, "-no-cache", "-out", filepath.Join(dir, "out.jsonl")}
	r := runCLI(t, nil, map[string]string{metricsAddrEnv: "127.0.0.1:0"}, args...)
	if r.code != exitOK || !strings.Contains(r.stderr, "serving metrics at http://127.0.0.1:") {
		t.Errorf("%s=127.0.0.1:0: exit %d; stderr:\n%s", metricsAddrEnv, r.code, r.stderr)
	}
	r = runCLI(t, nil, nil, append(args, "-metrics-addr", "127.0.0.1:no-such-port")...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "-metrics-addr 127.0.0.1:no-such-port") {
		t.Errorf("bad -metrics-addr: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if r.emulator != nil {
		t.Error("bad -metrics-addr: the emulator was started")
	}
}
