package llmlimit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
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
