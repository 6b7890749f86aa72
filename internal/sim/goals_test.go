package sim

import (
	"reflect"
	"strings"
	"testing"
)

// goodMatrix returns summaries, two runs each, that meet every goal.
func goodMatrix() []Summary {
	var sums []Summary
	for _, s := range Scenarios() {
		for _, p := range Policies(s) {
			m := Metrics{Scenario: s.Name, Policy: p.Name, Operations: 300, PrimaryBoundShare: 1,
				PrimaryShare: 1, GoodputAttainable: 1, MakespanSeconds: 300, P50Seconds: 3}
			switch {
			case p.Name == "seed-v2":
				m.PrimaryShare, m.FallbackShare, m.RateLimitedPerOp, m.P50Seconds = 0.9, 0.1, 1.5, 10
				if s.GeminiPerDay > 0 {
					m.PerDayViolations = 500
				}
			case p.Name == "llmlimit-rpm":
				// Within 3 points of the bound when told the quota is met.
				m.PrimaryShare, m.FallbackShare = 0.975, 0.025
			case p.Name == "llmlimit-wait10s":
				m.PrimaryShare, m.FallbackShare, m.PrimaryBoundShare, m.MakespanSeconds = 0.5, 0.5, 0.5, 200
			}
			if s.Outage > 0 {
				m.PrimaryShare, m.FallbackShare = 0.7, 0.3
			}
			a, b := m, m
			a.Seed, b.Seed = 1, 2
			sums = append(sums, Summarize([]Metrics{a, b}))
		}
	}
	return sums
}

func TestCheckGoals(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m *Metrics) // applied to the second run of the matching summaries
		match  string           // scenario/policy prefix to mutate
		want   string           // substring of an error expected; "" for none at all
	}{
		{"all met", nil, "", ""},
		{"an item lost", func(m *Metrics) { m.ItemsLost = 1 }, "3-under-quota/seed-v2", "1 items lost"},
		{"an item mistagged", func(m *Metrics) { m.Mistagged = 2 }, "5-outage-60s/llmlimit", "2 mistagged"},
		{"above the bound", func(m *Metrics) { m.PrimaryShare, m.PrimaryBoundShare = 0.8, 0.78 }, "1-15rpm-bucket/oracle", "not an upper bound"},
		{"oracle refused", func(m *Metrics) { m.Gemini.ServerErrors = 1 }, "5-outage-60s/oracle", "refused the oracle 1 times"},
		{"llmlimit 429s", func(m *Metrics) { m.RateLimitedPerOp = 0.1 }, "1-15rpm-fixed/llmlimit-wait60s", "429s per operation, want <= 0.01"},
		{"llmlimit 429s on tokens", func(m *Metrics) { m.RateLimitedPerOp = 0.05 }, "6-250ktpm/llmlimit", "429s per operation, want <= 0.01"},
		{"opaque 429s", func(m *Metrics) { m.RateLimitedPerOp = 0.3 }, "2-60rpm-opaque/llmlimit-nosc", "want <= 0.10"},
		{"told, two 429s in one run on a bucket", func(m *Metrics) { m.RateLimitedPerOp, m.Gemini.RateLimited = 0.0067, 2 }, "2-60rpm-bucket/llmlimit-rpm", "want 0 when told"},
		{"told, a 429 on a rolling window", func(m *Metrics) { m.RateLimitedPerOp, m.Gemini.RateLimited = 0.0033, 1 }, "2-60rpm-rolling/llmlimit-rpm", "want 0 when told"},
		{"429s over the bar on a rolling window", func(m *Metrics) { m.RateLimitedPerOp = 0.06 }, "1-15rpm-rolling/llmlimit", "want <= 0.02"},
		{"below the bound", func(m *Metrics) { m.PrimaryShare, m.GoodputAttainable = 0.9, 0.99 }, "2-60rpm-rolling/llmlimit-nosc", "below the bound"},
		{"told, below the bound", func(m *Metrics) { m.PrimaryShare, m.GoodputAttainable = 0.9, 0.99 }, "2-60rpm-rolling/llmlimit-rpm", "want within 3"},
		{"goodput", func(m *Metrics) { m.GoodputAttainable = 0.9 }, "1-15rpm-bucket/llmlimit-rpm", "attainable quota"},
		{"makespan over seed-v2's", func(m *Metrics) { m.MakespanSeconds = 2000 }, "5-outage-60s/llmlimit", "longer than seed-v2's"},
		{"p50 not lower", func(m *Metrics) { m.P50Seconds = 30 }, "4-daily-cap/llmlimit", "not lower than seed-v2"},
		{"seed too polite", func(m *Metrics) { m.RateLimitedPerOp = 0 }, "1-15rpm-fixed/seed-v2", "expected the seed above 1"},
		{"opaque against the twin's seed-v2", func(m *Metrics) { m.P50Seconds = 30 }, "2-60rpm-opaque/llmlimit", "not lower than seed-v2's 10.00 s"},
		{"under quota", func(m *Metrics) { m.PrimaryShare, m.FallbackShare = 0.98, 0.02 }, "3-under-quota/llmlimit-nosc", "under quota"},
		{"success cooldown under quota", func(m *Metrics) { m.MakespanSeconds = 400 }, "3-under-quota/llmlimit", "more than without the success cooldown"},
		{"per-day retried", func(m *Metrics) { m.PerDayViolations = 1 }, "4-daily-cap/llmlimit", "after a per-day 429"},
		{"no outage fallback", func(m *Metrics) { m.PrimaryShare, m.FallbackShare = 1, 0 }, "5-outage-60s/seed-v2", "fallback served nothing"},
		{"frontier", func(m *Metrics) { m.MakespanSeconds = 900 }, "2-60rpm-fixed/llmlimit-wait10s", "does not trade"},
		{"unserved operation", func(m *Metrics) { m.FallbackShare = 0 }, "5-outage-60s/llmlimit", "of the operations served"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sums := goodMatrix()
			for i, s := range sums {
				if tt.mutate != nil && s.Scenario+"/"+s.Policy == tt.match {
					runs := append([]Metrics(nil), s.Runs...)
					tt.mutate(&runs[1])
					sums[i] = Summarize(runs)
				}
			}
			errs := CheckGoals(sums)
			if tt.want == "" {
				for _, e := range errs {
					t.Errorf("unexpected: %v", e)
				}
				return
			}
			for _, e := range errs {
				msg := strings.TrimPrefix(e.Error(), ErrTargetMissed.Error()+": ")
				if strings.HasPrefix(msg, tt.match) && strings.Contains(msg, tt.want) {
					return
				}
			}
			t.Errorf("errors %v, want one from %s containing %q", errs, tt.match, tt.want)
		})
	}
}

// TestScenarioTwins checks that a scenario and its twin differ only in
// what Gemini's 429s say, which is what lets the policies that never read
// one run only in the twin.
func TestScenarioTwins(t *testing.T) {
	twins := 0
	for _, s := range Scenarios() {
		if s.Twin == "" {
			continue
		}
		twins++
		twin, ok := scenarioOf(s.Twin)
		if !ok {
			t.Fatalf("%s: no twin %s", s.Name, s.Twin)
		}
		same := s
		same.Name, same.Twin, same.Opaque = twin.Name, "", twin.Opaque
		if !reflect.DeepEqual(same, twin) || !s.Opaque || twin.Opaque {
			t.Errorf("%s and its twin %s differ in more than opaque 429s", s.Name, twin.Name)
		}
		for _, p := range Policies(s) {
			if p.Kind != KindLimiter {
				t.Errorf("%s runs %s, which its twin stands for", s.Name, p.Name)
			}
		}
	}
	if twins != 2 {
		t.Errorf("%d scenarios with a twin, want the 2 opaque ones", twins)
	}
}
