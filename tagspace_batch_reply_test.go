package llmlimit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/internal/prompt"
	"github.com/llmlimit/llmlimit/llmtest"
)

// scriptedBatcher is a Fake with a batch API whose jobs end at once and
// answer every request as the emulator's tagger would, except those
// corrupt rewrites; its sync calls are the Fake's.
type scriptedBatcher struct {
	*llmtest.Fake
	corrupt func(i int, req *llmlimit.Request, answer string) string

	mu      sync.Mutex
	reqs    []llmlimit.BatchRequest
	submits int
	cancels int
}

func (b *scriptedBatcher) SubmitBatch(_ context.Context, reqs []llmlimit.BatchRequest) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.submits++
	b.reqs = reqs
	return "scripted:v1:job=" + fmt.Sprint(len(reqs)), nil
}

func (b *scriptedBatcher) PollBatch(context.Context, string) (llmlimit.BatchStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return llmlimit.BatchStatus{State: llmlimit.BatchCompleted, Total: len(b.reqs), Done: len(b.reqs)}, nil
}

func (b *scriptedBatcher) CollectBatch(_ context.Context, _ string, ids []string) ([]llmlimit.BatchResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	byID := map[string]int{}
	for i, r := range b.reqs {
		byID[r.ID] = i
	}
	out := make([]llmlimit.BatchResult, len(ids))
	for k, id := range ids {
		i := byID[id]
		req := b.reqs[i].Request
		text, err := llmtest.Answer(req.Prompt)
		if err != nil {
			return nil, err
		}
		out[k] = llmlimit.BatchResult{ID: id, Response: &llmlimit.Response{
			Text: b.corrupt(i, req, text), Provider: b.Name(), Model: "gemini-2.5-flash",
			Usage: llmlimit.Usage{InputTokens: 100, OutputTokens: 20},
		}}
	}
	return out, nil
}

func (b *scriptedBatcher) CancelBatch(context.Context, string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cancels++
	return nil
}

// TestTagSpaceBatchBadLines answers a job's requests with what the
// validator must refuse: invalid JSON, entries for the items of another
// request (an item's text steering the model to tag others), tags outside
// the vocabulary. Those items are asked again synchronously and get their
// own tags; the rest come from the job.
func TestTagSpaceBatchBadLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := e2eSpace(50)
		b := &scriptedBatcher{Fake: llmtest.NewFake("scripted")}
		var other []prompt.Item
		b.corrupt = func(i int, req *llmlimit.Request, answer string) string {
			items, _, err := prompt.ParseRequest(req.Prompt)
			if err != nil {
				t.Fatal(err)
			}
			switch i {
			case 0:
				return "not json: " + answer
			case 1:
				other = items
				return answer
			case 2:
				// Tags for request 1's items, under their ids.
				res := []map[string]any{}
				for _, it := range other {
					res = append(res, map[string]any{"id": it.ID, "tags": []string{"cancer"}})
				}
				data, _ := json.Marshal(map[string]any{"results": res})
				return string(data)
			case 3:
				return fmt.Sprintf(`{"results":[{"id":%q,"tags":["not-in-the-vocabulary"]}]}`, items[0].ID)
			}
			return answer
		}
		ts, err := llmlimit.NewTagSpace(b, llmlimit.WithMode(llmlimit.ModeBatch), llmlimit.WithBatchPoll(time.Second, time.Second))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := ts.Run(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		if checkTags(t, s, rep) != 50 || rep.BatchItems != 35 || b.Calls() != 3 || b.submits != 1 {
			t.Errorf("%d tagged, %d from the job, %d sync calls, %d submissions", rep.Tagged, rep.BatchItems, b.Calls(), b.submits)
		}
	})
}

// flakyPolls is a scriptedBatcher whose first fails polls fail with a
// server error.
type flakyPolls struct {
	*scriptedBatcher
	fails, polls int
}

func (f *flakyPolls) PollBatch(ctx context.Context, h string) (llmlimit.BatchStatus, error) {
	f.polls++
	if f.polls <= f.fails {
		return llmlimit.BatchStatus{}, &llmlimit.ProviderError{Provider: f.Name(), StatusCode: 503, Kind: llmlimit.KindTransient,
			Err: fmt.Errorf("unavailable")}
	}
	return f.scriptedBatcher.PollBatch(ctx, h)
}

// TestTagSpaceBatchPollFailures fails polls: a few in a row are polled
// through; five in a row give the job up, cancelled so that it bills
// nothing, its items served synchronously.
func TestTagSpaceBatchPollFailures(t *testing.T) {
	for _, c := range []struct{ fails, fromJob, syncCalls, cancels int }{{4, 50, 0, 0}, {5, 0, 10, 1}} {
		t.Run(fmt.Sprint(c.fails), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := e2eSpace(50)
				b := &flakyPolls{scriptedBatcher: &scriptedBatcher{Fake: llmtest.NewFake("scripted"),
					corrupt: func(_ int, _ *llmlimit.Request, a string) string { return a }}, fails: c.fails}
				ts, err := llmlimit.NewTagSpace(b, llmlimit.WithMode(llmlimit.ModeBatch))
				if err != nil {
					t.Fatal(err)
				}
				rep, err := ts.Run(t.Context(), s)
				if err != nil {
					t.Fatal(err)
				}
				if checkTags(t, s, rep) != 50 || rep.BatchItems != c.fromJob || b.Calls() != c.syncCalls || b.cancels != c.cancels {
					t.Errorf("%d tagged, %d from the job, %d sync calls, %d cancels", rep.Tagged, rep.BatchItems, b.Calls(), b.cancels)
				}
			})
		})
	}
}
