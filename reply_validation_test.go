package llmlimit

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

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

// TestRunProviderError fails a batch's call once: a permanent error fails
// its items at once, without a retry; an outage (a 429 after the
// provider's own retries) defers the batch until a later call succeeds,
// which then tags it.
func TestRunProviderError(t *testing.T) {
	for _, tt := range []struct {
		name       string
		err        *ProviderError
		wantCalls  int
		wantFailed int
	}{
		{"permanent", &ProviderError{Provider: "f", StatusCode: 400, Kind: KindPermanent, Err: errors.New("bad request")}, 2, 2},
		{"outage", &ProviderError{Provider: "f", StatusCode: 429, Kind: KindRateLimited, Err: errors.New("slow down")}, 3, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProvider{name: "f", reply: func(n int, items []prompt.Item) (string, error) {
				if n == 0 {
					return "", tt.err
				}
				return "", nil
			}}
			ts, _ := NewTagSpace(p, WithBatchSize(2), WithConcurrency(1), WithMaxConcurrency(1))
			s := makeSpace(4)
			rep, err := ts.Run(t.Context(), s)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.calls()) != tt.wantCalls {
				t.Fatalf("%d calls, want %d", len(p.calls()), tt.wantCalls)
			}
			failed := 0
			for _, res := range rep.Results {
				if res.Err != nil {
					failed++
					if !errors.Is(res.Err, tt.err) || !strings.HasPrefix(res.Err.Error(), "llmlimit: item "+res.ID+": ") {
						t.Errorf("error %v: want %v naming %s", res.Err, tt.err, res.ID)
					}
				}
			}
			pr := rep.Providers["f"]
			if failed != tt.wantFailed || rep.Failed != tt.wantFailed || rep.Operations != tt.wantCalls-1 ||
				pr.Calls != int64(tt.wantCalls) || pr.Successes != int64(tt.wantCalls-1) {
				t.Errorf("failed %d, report failed %d ops %d, provider %+v", failed, rep.Failed, rep.Operations, pr)
			}
		})
	}
}
