package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/llmlimit/llmlimit"
)

func TestWriteResults(t *testing.T) {
	results := []llmlimit.Result{
		{ID: "b", Tags: []string{"cancer", "screening"}, Provider: "gemini"},
		{ID: "a", Tags: []string{"tobacco"}, Cached: true},
		{ID: "c", Err: errors.New("llmlimit: item c: empty text")},
		{ID: "d <&>", Provider: "openai"},
	}
	var b bytes.Buffer
	if err := writeResults(&b, results); err != nil {
		t.Fatal(err)
	}
	want := `{"id":"b","tags":["cancer","screening"],"provider":"gemini","cached":false}
{"id":"a","tags":["tobacco"],"provider":"","cached":true}
{"id":"c","error":"llmlimit: item c: empty text"}
{"id":"d <&>","tags":[],"provider":"openai","cached":false}
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteReportAndSummary(t *testing.T) {
	r := &llmlimit.Report{
		Space: "s", Items: 10, Tagged: 9, Failed: 1, Cached: 2, Operations: 4,
		PrimarySuccessRate: 0.75, FallbackRate: 0.25, CacheHitRate: 0.2, AvgOpSeconds: 1.5,
		CostUSD: 0.001, CostPer100OpsUSD: 0.025, ElapsedSeconds: 7,
		Cooldowns: map[string]int64{"successes": 1, "rate_limit": 0, "server_hint": 2},
		Providers: map[string]*llmlimit.ProviderReport{
			"openai": {Calls: 1, Successes: 1},
			"gemini": {Calls: 5, Successes: 3, RateLimited: 2, Retries: 1},
			"extra":  {},
		},
		Results: []llmlimit.Result{{ID: "x"}},
	}
	var b bytes.Buffer
	if err := writeReport(&b, r, nil); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["Results"]; ok {
		t.Error("report holds the results")
	}
	if _, ok := m["emulator"]; ok {
		t.Error("report has emulator counters without an emulator")
	}
	if g := m["providers"].(map[string]any)["gemini"].(map[string]any); g["rate_limited"] != 2.0 || g["calls"] != 5.0 {
		t.Errorf("providers.gemini = %v", g)
	}
	if m["primary_success_rate"] != 0.75 || m["cooldowns"].(map[string]any)["server_hint"] != 2.0 {
		t.Errorf("report = %s", b.String())
	}

	b.Reset()
	writeSummary(&b, r, &pipeline{names: []string{"gemini", "openai"}}, nil)
	s := b.String()
	for _, want := range []string{"primary success rate  75.0%", "fallback rate         25.0%", "cache hit rate        20.0%",
		"avg s/op              1.50", "cooldowns: successes 1, rate_limit 0, server_hint 2"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	// Providers in fallback order, then the rest by name.
	g, o, e := strings.Index(s, "gemini"), strings.Index(s, "openai"), strings.Index(s, "extra")
	if g < 0 || o < g || e < o {
		t.Errorf("provider rows out of order:\n%s", s)
	}
}
