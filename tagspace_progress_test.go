package llmlimit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

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
		if rep.Tagged != 8 || rep.NotAttempted != 12 || rep.Failed != 0 || len(rep.Results) != 20 || len(streamed) != 20 {
			t.Fatalf("tagged %d not attempted %d failed %d results %d streamed %d", rep.Tagged, rep.NotAttempted, rep.Failed, len(rep.Results), len(streamed))
		}
		for i, res := range rep.Results {
			if res.ID != s.Items[i].ID {
				t.Fatalf("result %d is %s", i, res.ID)
			}
			if i < 8 {
				if res.Err != nil || !slices.Equal(res.Tags, []string{tagFor(s.Items[i].Text)}) {
					t.Errorf("done item %s: %+v", res.ID, res)
				}
			} else if !errors.Is(res.Err, ErrNotAttempted) || !errors.Is(res.Err, context.Canceled) {
				t.Errorf("item %s error %v, want not attempted: context.Canceled", res.ID, res.Err)
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
