package llmlimit

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestNewTagSpaceValidation(t *testing.T) {
	p := &fakeProvider{name: "f"}
	tests := []struct {
		opt  Option
		want string
	}{
		{WithBatchSize(0), "batch size"},
		{WithCacheSize(0), "cache size"},
		{WithMaxItemBytes(0), "max item bytes"},
		{WithConcurrency(0), "concurrency"},
		{WithMaxConcurrency(1), "max concurrency"},
		{WithMaxRetries(-1), "max retries"},
		{WithPrices(map[string]Price{"m": {InputPerMillion: -1}}), "price of m"},
		{WithPrices(map[string]Price{"": {}}), "empty model"},
	}
	for _, tt := range tests {
		_, err := NewTagSpace(p, tt.opt)
		if err == nil || !strings.HasPrefix(err.Error(), "llmlimit: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewTagSpace error = %v, want one naming %q", err, tt.want)
		}
	}
	if _, err := NewTagSpace(nil); err == nil {
		t.Error("NewTagSpace(nil) succeeded")
	}
	ts, err := NewTagSpace(p)
	if err != nil || ts.Cache() == nil {
		t.Fatalf("NewTagSpace defaults: %v, cache %v", err, ts.Cache())
	}
	for _, opts := range [][]Option{{WithCacheEnabled(false)}, {WithCache(nil)}, {WithCache((*LRUCache)(nil))}} {
		if ts, _ := NewTagSpace(p, opts...); ts.Cache() != nil {
			t.Errorf("cache %v, want nil", ts.Cache())
		}
	}
}

func TestRunRejectsBadSpace(t *testing.T) {
	tests := []struct {
		name  string
		space Space
	}{
		{"empty id", Space{Items: []Item{{ID: "a", Text: "x"}, {Text: "y"}}}},
		{"duplicate id", Space{Items: []Item{{ID: "a", Text: "x"}, {ID: "b", Text: "y"}, {ID: "a", Text: "z"}}}},
		{"empty vocabulary tag", Space{Items: []Item{{ID: "a", Text: "x"}}, Tags: []string{"ok", "  "}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProvider{name: "f"}
			ts, _ := NewTagSpace(p)
			rep, err := ts.Run(t.Context(), tt.space)
			if err == nil || rep != nil {
				t.Fatalf("Run = %v, %v; want nil, error", rep, err)
			}
			if n := len(p.calls()); n != 0 {
				t.Fatalf("%d calls made", n)
			}
		})
	}
}

func TestRunTagsEveryItemInOrder(t *testing.T) {
	for _, batch := range []int{1, 5, 7, 100} {
		t.Run(fmt.Sprint("batch ", batch), func(t *testing.T) {
			p := &fakeProvider{name: "f"}
			ts, _ := NewTagSpace(p, WithBatchSize(batch))
			s := makeSpace(23)
			rep, err := ts.Run(t.Context(), s)
			if err != nil {
				t.Fatal(err)
			}
			checkResults(t, s, rep)
			wantOps := (23 + batch - 1) / batch
			calls := p.calls()
			if len(calls) != wantOps || rep.Operations != wantOps {
				t.Errorf("%d calls, %d operations; want %d", len(calls), rep.Operations, wantOps)
			}
			for _, c := range calls {
				if len(c) > batch {
					t.Errorf("batch of %d items, limit %d", len(c), batch)
				}
			}
			if rep.Items != 23 || rep.Tagged != 23 || rep.Failed != 0 || rep.Cached != 0 {
				t.Errorf("report counts %+v", rep)
			}
			if rep.PrimarySuccessRate != 1 || rep.FallbackRate != 0 || rep.Primary != "f" {
				t.Errorf("primary %q rate %v, fallback %v", rep.Primary, rep.PrimarySuccessRate, rep.FallbackRate)
			}
			pr := rep.Providers["f"]
			if pr == nil || pr.Calls != int64(wantOps) || pr.Successes != int64(wantOps) || pr.InputTokens != int64(100*wantOps) {
				t.Errorf("provider report %+v", pr)
			}
			if !slices.Equal(rep.UnpricedModels, []string{"fake-model"}) || rep.CostUSD != 0 {
				t.Errorf("unpriced %q, cost %v", rep.UnpricedModels, rep.CostUSD)
			}
		})
	}
}

func TestRunIdenticalTextsTaggedOnce(t *testing.T) {
	p := &fakeProvider{name: "f"}
	ts, _ := NewTagSpace(p, WithCacheEnabled(false))
	s := Space{Items: []Item{
		{ID: "a", Text: "same words 1"}, {ID: "b", Text: "other 2"}, {ID: "c", Text: "same words 1"}, {ID: "d", Text: "same words 1"},
	}}
	rep, err := ts.Run(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, s, rep)
	calls := p.calls()
	if len(calls) != 1 || len(calls[0]) != 2 {
		t.Fatalf("calls %v, want one call with the 2 distinct texts", calls)
	}
	for _, res := range rep.Results {
		if res.Provider != "f" || res.Cached {
			t.Errorf("result %+v: want provider f, not cached", res)
		}
	}
}

func TestRunCache(t *testing.T) {
	p := &fakeProvider{name: "f"}
	ts, _ := NewTagSpace(p, WithBatchSize(4))
	s := makeSpace(10)
	if _, err := ts.Run(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	first := len(p.calls())
	rep, err := ts.Run(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, s, rep)
	if n := len(p.calls()) - first; n != 0 || rep.Operations != 0 {
		t.Fatalf("second run made %d calls, %d operations; want 0", n, rep.Operations)
	}
	if rep.CacheHitRate != 1 || rep.Cached != 10 || rep.Tagged != 10 {
		t.Fatalf("cache hit rate %v, cached %d, tagged %d", rep.CacheHitRate, rep.Cached, rep.Tagged)
	}
	for _, res := range rep.Results {
		if !res.Cached || res.Provider != "" {
			t.Errorf("result %+v: want cached, no provider", res)
		}
	}
	// A different vocabulary is a different key.
	s.Tags = []string{"t-1"}
	rep, _ = ts.Run(t.Context(), s)
	if rep.Cached != 0 {
		t.Errorf("cached %d with another vocabulary, want 0", rep.Cached)
	}
}

func TestRunBadItemsFailWithoutCall(t *testing.T) {
	p := &fakeProvider{name: "f"}
	ts, _ := NewTagSpace(p, WithMaxItemBytes(20))
	s := Space{Items: []Item{
		{ID: "empty"}, {ID: "long", Text: strings.Repeat("x", 21)}, {ID: "utf8", Text: "bad \xff 1"}, {ID: "ok", Text: "fine 1"},
	}}
	rep, err := ts.Run(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"empty text", "exceeds the limit of 20", "not valid UTF-8", ""} {
		got := rep.Results[i].Err
		if (want == "") != (got == nil) || (got != nil && !strings.Contains(got.Error(), want)) {
			t.Errorf("item %s: error %v, want %q", s.Items[i].ID, got, want)
		}
		if got != nil && !strings.HasPrefix(got.Error(), "llmlimit: item "+s.Items[i].ID+": ") {
			t.Errorf("error %q does not name the item", got)
		}
	}
	if calls := p.calls(); len(calls) != 1 || len(calls[0]) != 1 {
		t.Fatalf("calls %v, want one call for the one good item", calls)
	}
	if rep.Failed != 3 || rep.Tagged != 1 {
		t.Errorf("failed %d tagged %d", rep.Failed, rep.Tagged)
	}
}

func TestRunBatchesInFlightBoundedByMaxConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProvider{name: "f", latency: time.Second}
		ts, _ := NewTagSpace(p, WithBatchSize(5), WithMaxConcurrency(4))
		start := time.Now()
		rep, err := ts.Run(t.Context(), makeSpace(200))
		if err != nil {
			t.Fatal(err)
		}
		// 40 batches, 4 at a time, one second each.
		if d := time.Since(start); d != 10*time.Second {
			t.Errorf("run took %v, want 10s", d)
		}
		if p.maxIn != 4 || rep.Operations != 40 || rep.AvgOpSeconds != 1 {
			t.Errorf("max in flight %d, operations %d, avg %vs", p.maxIn, rep.Operations, rep.AvgOpSeconds)
		}
	})
}
