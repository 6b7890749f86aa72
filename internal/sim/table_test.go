package sim

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func sampleSummaries() []Summary {
	a := Metrics{Scenario: "1-15rpm-fixed", Policy: "llmlimit", Seed: 1, Operations: 300, QuotaPerWindow: 15, WindowSeconds: 60,
		MakespanSeconds: 340, PrimaryBoundShare: 0.35, PrimaryShare: 0.34, FallbackShare: 0.66, P50Seconds: 4}
	b := a
	b.Seed, b.MakespanSeconds, b.P50Seconds = 2, 360, 5
	c := Metrics{Scenario: "5-outage-60s", Policy: "seed-v2", Seed: 1, Operations: 300, PrimaryShare: 0.5, FallbackShare: 0.5,
		TokenGoodput: math.NaN(), FirstWindowUse: math.NaN()}
	d := c
	d.Seed = 2
	return []Summary{Summarize([]Metrics{a, b}), Summarize([]Metrics{c, d})}
}

func TestWriteJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sampleSummaries()); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rows); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	required := []string{"scenario", "policy", "operations", "quota_per_window", "window_seconds",
		"makespan_seconds", "primary_bound_share", "primary_share", "fallback_share", "rate_limited_per_op",
		"goodput_share", "op_seconds", "p50_seconds", "p99_seconds", "cost_per_100_ops_usd", "items_lost"}
	for _, k := range required {
		if _, ok := rows[0][k]; !ok {
			t.Errorf("row has no %q", k)
		}
	}
	if got := rows[0]["makespan_seconds"]; got != 350.0 {
		t.Errorf("makespan_seconds = %v, want the mean 350", got)
	}
	if got := rows[0]["p50_seconds"]; got != 4.5 {
		t.Errorf("p50_seconds = %v, want 4.5", got)
	}
	if got, ok := rows[1]["token_goodput_share"]; !ok || got != nil {
		t.Errorf("token_goodput_share = %v, want null when undefined", got)
	}
	if ci, _ := rows[1]["ci95"].(map[string]any); ci == nil || ci["token_goodput_share"] != nil {
		t.Errorf("ci95.token_goodput_share = %v, want null when undefined", ci["token_goodput_share"])
	}
	if got := rows[1]["quota_per_window"]; got != 0.0 {
		t.Errorf("quota_per_window = %v, want 0 without a quota", got)
	}
	ci, _ := rows[0]["ci95"].(map[string]any)
	// sd of 340 and 360 is 14.14; t(1) = 12.706; / √2.
	if got, _ := ci["makespan_seconds"].(float64); got < 126.9 || got > 127.1 {
		t.Errorf("ci95.makespan_seconds = %v, want 127.06", got)
	}
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, sampleSummaries()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"scenario 1-15rpm-fixed: 300 operations, Gemini 15 requests a minute in fixed windows at a random phase\n",
		"scenario 5-outage-60s: 300 operations, Gemini answers 503 for 1m0s\n",
		"policy  seeds", "llmlimit      2", "seed-v2      2", "429/op", "p99 s", "350 ±127", "0.340 ±0.000",
		"0.000 ±0.000       —      —", // tok gp and win 1 undefined in the outage
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
