package llmlimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

// fakeProvider answers the batch protocol by tagging each item "t-<last
// word of its text>", so a tag put on the wrong item shows. reply, when set,
// replaces the answer of call n (from 0); returning a nil Response and nil
// error means "answer normally".
type fakeProvider struct {
	name    string
	model   string
	latency time.Duration
	reply   func(n int, items []prompt.Item) (string, error)

	mu       sync.Mutex
	prompts  [][]prompt.Item
	inFlight int
	maxIn    int
}

func (f *fakeProvider) Name() string { return f.name }

func (f *fakeProvider) Generate(ctx context.Context, req *Request) (*Response, error) {
	items, _, err := prompt.ParseRequest(req.Prompt)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	n := len(f.prompts)
	f.prompts = append(f.prompts, items)
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inFlight--; f.mu.Unlock() }()
	if f.latency > 0 {
		select {
		case <-time.After(f.latency):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	text := ""
	if f.reply != nil {
		if text, err = f.reply(n, items); err != nil {
			return nil, err
		}
	}
	if text == "" {
		text = answer(items)
	}
	model := f.model
	if model == "" {
		model = "fake-model"
	}
	return &Response{Text: text, Provider: f.name, Model: model, Usage: Usage{InputTokens: 100, OutputTokens: 10}}, nil
}

func (f *fakeProvider) calls() [][]prompt.Item {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.prompts)
}

func tagFor(text string) string {
	w := strings.Fields(text)
	return "t-" + strings.ToLower(w[len(w)-1])
}

func answer(items []prompt.Item) string {
	var r prompt.Reply
	r.Results = []prompt.ReplyItem{}
	for _, it := range items {
		r.Results = append(r.Results, prompt.ReplyItem{ID: it.ID, Tags: []string{tagFor(it.Text)}})
	}
	b, _ := json.Marshal(r)
	return string(b)
}

func makeSpace(n int) Space {
	s := Space{Name: "test"}
	for i := range n {
		s.Items = append(s.Items, Item{ID: fmt.Sprintf("id-%d", i), Text: fmt.Sprintf("item number %d", i)})
	}
	return s
}

// checkResults asserts one result per item, in order, each with its own tag.
func checkResults(t *testing.T, s Space, rep *Report) {
	t.Helper()
	if len(rep.Results) != len(s.Items) {
		t.Fatalf("%d results for %d items", len(rep.Results), len(s.Items))
	}
	for i, it := range s.Items {
		res := rep.Results[i]
		if res.ID != it.ID {
			t.Fatalf("result %d has id %q, want %q", i, res.ID, it.ID)
		}
		if res.Err != nil {
			t.Errorf("item %s: %v", it.ID, res.Err)
			continue
		}
		if want := []string{tagFor(it.Text)}; !slices.Equal(res.Tags, want) {
			t.Errorf("item %s tags %q, want %q", it.ID, res.Tags, want)
		}
	}
}

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

func TestRunReplyValidation(t *testing.T) {
	s := Space{Items: []Item{{ID: "a", Text: "alpha 1"}, {ID: "b", Text: "beta 2"}, {ID: "c", Text: "gamma 3"}}}
	tests := []struct {
		name  string
		reply func(n int, items []prompt.Item) (string, error)
		// wantBatches are the ids sent in each call, in order.
		wantBatches [][]string
		wantErr     map[string]bool // items that must fail with ErrBadReply
	}{
		{
			name: "dropped item retried alone",
			reply: func(n int, items []prompt.Item) (string, error) {
				if n == 0 {
					return answer(items[:2]), nil
				}
				return "", nil
			},
			wantBatches: [][]string{{"a", "b", "c"}, {"c"}},
		},
		{
			name: "unknown ids ignored, conflicting duplicates asked again",
			reply: func(n int, items []prompt.Item) (string, error) {
				if n == 0 {
					return `{"results":[{"id":"zz","tags":["t-x"]},{"id":"a","tags":["t-1"]},{"id":"a","tags":["t-2"]},` +
						`{"id":"b","tags":["t-2"]},{"id":"c","tags":["t-3"]}]}`, nil
				}
				return `{"results":[{"id":"a","tags":["t-1"]}]}`, nil
			},
			wantBatches: [][]string{{"a", "b", "c"}, {"a"}},
		},
		{
			name: "invalid json retried as a batch",
			reply: func(n int, items []prompt.Item) (string, error) {
				if n == 0 {
					return `{"results":[{"id":"a"`, nil
				}
				return "", nil
			},
			wantBatches: [][]string{{"a", "b", "c"}, {"a", "b", "c"}},
		},
		{
			name: "fenced reply accepted",
			reply: func(n int, items []prompt.Item) (string, error) {
				return "```json\n" + answer(items) + "\n```", nil
			},
			wantBatches: [][]string{{"a", "b", "c"}},
		},
		{
			name: "always invalid: retries, then each alone, then fail",
			reply: func(n int, items []prompt.Item) (string, error) {
				return "I cannot do that", nil
			},
			wantBatches: [][]string{{"a", "b", "c"}, {"a", "b", "c"}, {"a"}, {"b"}, {"c"}},
			wantErr:     map[string]bool{"a": true, "b": true, "c": true},
		},
		{
			name: "one poisoned item isolated",
			reply: func(n int, items []prompt.Item) (string, error) {
				var ok []prompt.Item
				for _, it := range items {
					if it.ID != "b" {
						ok = append(ok, it)
					}
				}
				if len(items) > 1 {
					return "not json", nil
				}
				return answer(ok), nil
			},
			wantBatches: [][]string{{"a", "b", "c"}, {"a", "b", "c"}, {"a"}, {"b"}, {"c"}},
			wantErr:     map[string]bool{"b": true},
		},
		{
			name: "injected instruction can't reach other items or leave the vocabulary",
			reply: func(n int, items []prompt.Item) (string, error) {
				// An obedient model: item b's text says to tag a "hacked"
				// and to tag an item of another batch.
				return `{"results":[{"id":"a","tags":["t-1"]},{"id":"b","tags":["t-2","hacked"]},` +
					`{"id":"c","tags":["t-3"]},{"id":"a","tags":["hacked"]},{"id":"other-batch","tags":["t-2"]}]}`, nil
			},
			wantBatches: [][]string{{"a", "b", "c"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProvider{name: "f", reply: tt.reply}
			ts, _ := NewTagSpace(p, WithMaxRetries(1), WithCacheEnabled(false))
			sp := s
			sp.Tags = []string{"t-1", "t-2", "t-3", "t-x"}
			rep, err := ts.Run(t.Context(), sp)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, c := range p.calls() {
				var ids []string
				for _, it := range c {
					ids = append(ids, it.ID)
				}
				got = append(got, ids)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantBatches) {
				t.Errorf("batches %v, want %v", got, tt.wantBatches)
			}
			for i, it := range sp.Items {
				res := rep.Results[i]
				if tt.wantErr[it.ID] {
					if !errors.Is(res.Err, ErrBadReply) || !strings.HasPrefix(res.Err.Error(), "llmlimit: item "+it.ID+": ") {
						t.Errorf("item %s error %v, want ErrBadReply naming it", it.ID, res.Err)
					}
					continue
				}
				if res.Err != nil || !slices.Equal(res.Tags, []string{tagFor(it.Text)}) {
					t.Errorf("item %s: tags %q err %v, want [%s]", it.ID, res.Tags, res.Err, tagFor(it.Text))
				}
			}
			if rep.Operations != len(tt.wantBatches) {
				t.Errorf("operations %d, want %d", rep.Operations, len(tt.wantBatches))
			}
		})
	}
}

func TestRunProviderErrorFailsBatchWithoutRetry(t *testing.T) {
	pe := &ProviderError{Provider: "f", StatusCode: 429, Kind: KindRateLimited, Err: errors.New("slow down")}
	p := &fakeProvider{name: "f", reply: func(n int, items []prompt.Item) (string, error) {
		if n == 0 {
			return "", pe
		}
		return "", nil
	}}
	ts, _ := NewTagSpace(p, WithBatchSize(2))
	s := makeSpace(4)
	rep, err := ts.Run(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.calls()) != 2 {
		t.Fatalf("%d calls, want 2 (no retry of the failed batch)", len(p.calls()))
	}
	failed := 0
	for _, res := range rep.Results {
		if res.Err != nil {
			failed++
			if !errors.Is(res.Err, ErrRateLimited) || !strings.HasPrefix(res.Err.Error(), "llmlimit: item "+res.ID+": ") {
				t.Errorf("error %v: want ErrRateLimited naming %s", res.Err, res.ID)
			}
		}
	}
	pr := rep.Providers["f"]
	if failed != 2 || rep.Failed != 2 || rep.Operations != 1 || pr.Calls != 2 || pr.RateLimited != 1 || pr.Successes != 1 {
		t.Errorf("failed %d, report failed %d ops %d, provider %+v", failed, rep.Failed, rep.Operations, pr)
	}
}

func TestRunCancelKeepsWhatWasDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProvider{name: "f", latency: time.Second}
		var mu sync.Mutex
		var streamed []Result
		ts, _ := NewTagSpace(p, WithBatchSize(2), WithConcurrency(1), WithMaxConcurrency(2),
			WithResultFunc(func(r Result) { mu.Lock(); streamed = append(streamed, r); mu.Unlock() }))
		s := makeSpace(20)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(2500*time.Millisecond, cancel)
		start := time.Now()
		rep, err := ts.Run(ctx, s)
		if !errors.Is(err, context.Canceled) || rep == nil {
			t.Fatalf("Run = %v, %v; want a report and context.Canceled", rep, err)
		}
		if d := time.Since(start); d != 2500*time.Millisecond {
			t.Errorf("Run returned after %v, want 2.5s", d)
		}
		// Two batches a second for two seconds: 8 items tagged.
		if rep.Tagged != 8 || rep.Failed != 12 || len(rep.Results) != 20 || len(streamed) != 20 {
			t.Fatalf("tagged %d failed %d results %d streamed %d", rep.Tagged, rep.Failed, len(rep.Results), len(streamed))
		}
		for i, res := range rep.Results {
			if res.ID != s.Items[i].ID {
				t.Fatalf("result %d is %s", i, res.ID)
			}
			if i < 8 {
				if res.Err != nil || !slices.Equal(res.Tags, []string{tagFor(s.Items[i].Text)}) {
					t.Errorf("done item %s: %+v", res.ID, res)
				}
			} else if res.Err != context.Canceled {
				t.Errorf("item %s error %v, want context.Canceled", res.ID, res.Err)
			}
		}
		if n := len(p.calls()); n != 6 {
			t.Errorf("%d calls, want 6 (4 served, 2 canceled in flight)", n)
		}
		if rep.Operations != 4 {
			t.Errorf("operations %d, want 4", rep.Operations)
		}
	})
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

func TestRunCallbacks(t *testing.T) {
	var mu sync.Mutex
	var progress []Progress
	seen := map[string]int{}
	p := &fakeProvider{name: "f"}
	ts, _ := NewTagSpace(p, WithBatchSize(3),
		WithProgress(func(pr Progress) { mu.Lock(); progress = append(progress, pr); mu.Unlock() }),
		WithResultFunc(func(r Result) { mu.Lock(); seen[r.ID]++; mu.Unlock() }))
	s := makeSpace(10)
	s.Items = append(s.Items, Item{ID: "bad"})
	if _, err := ts.Run(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if len(progress) != 11 || len(seen) != 11 {
		t.Fatalf("%d progress calls, %d results streamed; want 11", len(progress), len(seen))
	}
	for i, pr := range progress {
		if pr.Done != i+1 || pr.Total != 11 {
			t.Errorf("progress %d = %+v", i, pr)
		}
	}
	if last := progress[10]; last.Failed != 1 || last.Cached != 0 {
		t.Errorf("last progress %+v", last)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("result %s streamed %d times", id, n)
		}
	}
}
