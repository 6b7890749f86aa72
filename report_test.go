package llmlimit

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

// statsNode is a provider that keeps Stats and counts its resets.
type statsNode struct {
	fakeProvider
	resets int
	stats  Stats
}

func (s *statsNode) Reset()       { s.resets++ }
func (s *statsNode) Stats() Stats { return s.stats }

// plainChain is a Chain that is not a Resetter, so walks must descend.
type plainChain struct{ members []Provider }

func (c *plainChain) Name() string       { return "chain" }
func (c *plainChain) Unwrap() []Provider { return c.members }
func (c *plainChain) Generate(ctx context.Context, req *Request) (*Response, error) {
	return c.members[0].Generate(ctx, req)
}

func TestProviderTree(t *testing.T) {
	a := &statsNode{fakeProvider: fakeProvider{name: "a"}}
	b := &fakeProvider{name: "b"}
	c := &statsNode{fakeProvider: fakeProvider{name: "c"}}
	fb, err := Fallback(a, b)
	if err != nil {
		t.Fatal(err)
	}
	root := &plainChain{members: []Provider{fb, c}}
	resetTree(root)
	if a.resets != 1 || c.resets != 1 {
		t.Errorf("resets a=%d c=%d, want 1 each", a.resets, c.resets)
	}
	var names []string
	for _, n := range providerTree(root) {
		names = append(names, n.p.Name())
		if (n.stats != nil) != (n.p.Name() != "b") {
			t.Errorf("node %s stats %v", n.p.Name(), n.stats)
		}
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Errorf("nodes %q, want [a b c]", names)
	}
	if got := primaryName(root); got != "a" {
		t.Errorf("primary %q, want a", got)
	}
}

// Bare providers behind a Fallback: TagSpace sees the operations they served
// and the failures in a joined error when every member failed, but not a
// member failure the Fallback absorbed.
func TestReportFallbackOfBareProviders(t *testing.T) {
	limited := &ProviderError{Provider: "a", StatusCode: 429, Kind: KindRateLimited, Err: errors.New("quota")}
	a := &fakeProvider{name: "a", reply: func(n int, _ []prompt.Item) (string, error) {
		if n%2 == 0 {
			return "", limited
		}
		return "", nil
	}}
	b := &fakeProvider{name: "b", model: "gpt-4o-mini-2024-07-18", reply: func(n int, _ []prompt.Item) (string, error) {
		if n == 0 {
			return "", &ProviderError{Provider: "b", StatusCode: 500, Kind: KindTransient, Err: errors.New("oops")}
		}
		return "", nil
	}}
	fb, _ := Fallback(a, b)
	// No outage wait: the batch both members failed fails, rather than waits
	// for them to answer again.
	ts, _ := NewTagSpace(fb, WithBatchSize(5), WithConcurrency(1), WithMaxConcurrency(1), WithOutageWait(0))
	s := makeSpace(40)
	rep, err := ts.Run(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	// Batch 1: both fail. Then a serves every other batch, b the rest.
	for i, res := range rep.Results {
		if (i < 5) != (res.Err != nil) {
			t.Fatalf("item %d: %+v", i, res)
		}
		if i < 5 && (!errors.Is(res.Err, ErrRateLimited) || !strings.Contains(res.Err.Error(), "oops")) {
			t.Fatalf("item %d error %v, want both members' failures", i, res.Err)
		}
	}
	checkResults(t, Space{Items: s.Items[5:]}, &Report{Results: rep.Results[5:]})
	if rep.Operations != 7 || rep.Failed != 5 || rep.Primary != "a" ||
		math.Abs(rep.PrimarySuccessRate-4.0/7) > 1e-12 || math.Abs(rep.FallbackRate-3.0/7) > 1e-12 {
		t.Fatalf("ops %d failed %d primary %q %v fallback %v", rep.Operations, rep.Failed, rep.Primary, rep.PrimarySuccessRate, rep.FallbackRate)
	}
	if got, want := *rep.Providers["a"], (ProviderReport{Calls: 5, Successes: 4, RateLimited: 1, InputTokens: 400, OutputTokens: 40}); got != want {
		t.Errorf("provider a %+v, want %+v", got, want)
	}
	pb := rep.Providers["b"]
	wantCost := 3 * (100*0.15 + 10*0.60) / 1e6
	if pb.Calls != 4 || pb.Successes != 3 || pb.Errors != 1 || math.Abs(pb.CostUSD-wantCost) > 1e-12 || math.Abs(rep.CostUSD-wantCost) > 1e-12 {
		t.Errorf("provider b %+v, report cost %v; want cost %v", *pb, rep.CostUSD, wantCost)
	}
	if math.Abs(rep.CostPer100OpsUSD-100*wantCost/7) > 1e-12 {
		t.Errorf("cost per 100 ops %v", rep.CostPer100OpsUSD)
	}
	if !slices.Equal(rep.UnpricedModels, []string{"fake-model"}) {
		t.Errorf("unpriced %q", rep.UnpricedModels)
	}
}

func TestReportLimiterStatsAreTheRunsDifference(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeProvider{name: "f", reply: func(n int, _ []prompt.Item) (string, error) {
			if n == 0 {
				return "", &ProviderError{Provider: "f", StatusCode: 503, Kind: KindTransient, Err: errors.New("overloaded")}
			}
			return "", nil
		}}
		l, err := New(f, WithSuccessCooldown(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		ts, _ := NewTagSpace(l, WithBatchSize(5), WithCacheEnabled(false),
			WithPrices(map[string]Price{"fake-model": {InputPerMillion: 1e6, OutputPerMillion: 0}}))
		for run := range 2 {
			rep, err := ts.Run(t.Context(), makeSpace(20))
			if err != nil {
				t.Fatal(err)
			}
			want := ProviderReport{Calls: 4, Successes: 4, InputTokens: 400, OutputTokens: 40, CostUSD: 400}
			if run == 0 {
				want.Calls, want.Retries, want.Errors = 5, 1, 1
			}
			if got := *rep.Providers["f"]; got != want {
				t.Errorf("run %d: provider f %+v, want %+v", run, got, want)
			}
			if rep.CostUSD != 400 || rep.UnpricedModels != nil {
				t.Errorf("run %d: cost %v unpriced %q", run, rep.CostUSD, rep.UnpricedModels)
			}
			if len(rep.Cooldowns) != 3 {
				t.Errorf("cooldowns %v, want the three causes", rep.Cooldowns)
			}
		}
	})
}

func TestPriceOf(t *testing.T) {
	prices := DefaultPrices()
	prices["custom"] = Price{InputPerMillion: 1}
	tests := []struct {
		model string
		want  string // key of the price expected, "" for none
	}{
		{"gemini-2.5-flash", "gemini-2.5-flash"},
		{"models/gemini-2.5-flash", "gemini-2.5-flash"},
		{"gemini-2.5-flash-lite", "gemini-2.5-flash-lite"},
		{"gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"},
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"gpt-4o-2024-08-06", "gpt-4o"},
		{"custom-v2", "custom"},
		{"fake-model", ""},
		{"", ""},
	}
	for _, tt := range tests {
		p, ok := priceOf(prices, tt.model)
		if ok != (tt.want != "") || (ok && p != prices[tt.want]) {
			t.Errorf("priceOf(%q) = %v, %v; want the price of %q", tt.model, p, ok, tt.want)
		}
	}
	d := DefaultPrices()
	d["gpt-4o-mini"] = Price{}
	if DefaultPrices()["gpt-4o-mini"] == (Price{}) {
		t.Error("DefaultPrices returned the shared map")
	}
	for m, p := range DefaultPrices() {
		if p.InputPerMillion <= 0 || p.OutputPerMillion < p.InputPerMillion {
			t.Errorf("implausible default price for %s: %+v", m, p)
		}
	}
}
