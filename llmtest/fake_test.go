package llmtest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/internal/prompt"
)

func TestFakeScript(t *testing.T) {
	f := NewFake("gemini")
	boom := errors.New("boom")
	f.Push(Reply("first"), Fail(boom))
	batch := prompt.Build([]prompt.Item{{ID: "1", Text: "water"}}, []string{"water", "noise"})
	want, _ := Answer(batch)

	tests := []struct {
		prompt   string
		wantText string
		wantErr  error
	}{
		{batch, "first", nil},
		{batch, "", boom},
		{batch, want, nil},                     // script spent: answers the batch
		{"hello there", `{"results":[]}`, nil}, // not a batch
	}
	for i, tt := range tests {
		resp, err := f.Generate(context.Background(), &llmlimit.Request{Prompt: tt.prompt})
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("call %d: err = %v, want %v", i, err, tt.wantErr)
		}
		if err != nil {
			continue
		}
		if resp.Text != tt.wantText || resp.Provider != "gemini" || resp.Model != FakeModel {
			t.Errorf("call %d: resp = %+v, want text %q", i, resp, tt.wantText)
		}
		if resp.Usage != (llmlimit.Usage{InputTokens: len(tt.prompt) / 4, OutputTokens: len(tt.wantText) / 4}) {
			t.Errorf("call %d: usage = %+v", i, resp.Usage)
		}
	}
	if f.Calls() != len(tests) || f.Name() != "gemini" {
		t.Errorf("Calls() = %d, Name() = %q", f.Calls(), f.Name())
	}
}

func TestFakeLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := NewFake("p")
		f.SetLatency(2 * time.Second)
		f.Push(Step{Text: "slow", Latency: 7 * time.Second}, Reply("default"))
		for _, want := range []time.Duration{7 * time.Second, 2 * time.Second} {
			start := time.Now()
			if _, err := f.Generate(t.Context(), &llmlimit.Request{}); err != nil {
				t.Fatal(err)
			}
			if got := time.Since(start); got != want {
				t.Errorf("call took %v, want %v", got, want)
			}
		}
	})
}

func TestFakeCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := NewFake("p")
		f.Push(Step{Text: "late", Latency: time.Minute}, Reply("next"))

		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		start := time.Now()
		_, err := f.Generate(ctx, &llmlimit.Request{})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 3*time.Second {
			t.Fatalf("Generate = %v after %v, want deadline exceeded after 3s", err, time.Since(start))
		}

		// A call that starts with a done context consumes no step.
		done, cancel2 := context.WithCancel(t.Context())
		cancel2()
		if _, err := f.Generate(done, &llmlimit.Request{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Generate(done ctx) = %v", err)
		}
		resp, err := f.Generate(t.Context(), &llmlimit.Request{})
		if err != nil || resp.Text != "next" {
			t.Fatalf("Generate after cancel = %v, %v; want the next step", resp, err)
		}
		if f.Calls() != 3 {
			t.Errorf("Calls() = %d, want 3", f.Calls())
		}
	})
}

func TestFakeRequestsAreCopies(t *testing.T) {
	f := NewFake("p")
	temp := 0.5
	req := &llmlimit.Request{Model: "m", System: "s", Prompt: "p1", JSONSchema: map[string]any{"type": "object"}, Temperature: &temp}
	if _, err := f.Generate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	req.Prompt = "changed"
	req.JSONSchema["type"] = "changed"
	temp = 9
	got := f.Requests()
	if len(got) != 1 || got[0].Prompt != "p1" || got[0].JSONSchema["type"] != "object" || *got[0].Temperature != 0.5 || got[0].Model != "m" {
		t.Fatalf("Requests() = %+v, want the request as sent", got)
	}
	got[0].JSONSchema["type"] = "mine"
	if f.Requests()[0].JSONSchema["type"] != "object" {
		t.Error("changing Requests() result changed the Fake")
	}
}

func TestErrorHelpers(t *testing.T) {
	tests := []struct {
		err        *llmlimit.ProviderError
		status     int
		kind       llmlimit.Kind
		sentinel   error
		retryAfter time.Duration
		quota      string
	}{
		{RateLimited("gemini", 3*time.Second), 429, llmlimit.KindRateLimited, llmlimit.ErrRateLimited, 3 * time.Second, QuotaIDPerMinute},
		{QuotaExhausted("gemini", time.Hour), 429, llmlimit.KindQuotaExhausted, llmlimit.ErrQuotaExhausted, time.Hour, QuotaIDPerDay},
		{ServerError("openai", 503), 503, llmlimit.KindTransient, nil, 0, ""},
		{BadRequest("openai"), 400, llmlimit.KindPermanent, nil, 0, ""},
	}
	for _, tt := range tests {
		e := tt.err
		if e.StatusCode != tt.status || e.Kind != tt.kind || e.RetryAfter != tt.retryAfter || e.QuotaID != tt.quota {
			t.Errorf("%v: got status %d kind %v hint %v quota %q", e, e.StatusCode, e.Kind, e.RetryAfter, e.QuotaID)
		}
		if llmlimit.KindOf(e) != tt.kind {
			t.Errorf("%v: KindOf = %v", e, llmlimit.KindOf(e))
		}
		for _, s := range []error{llmlimit.ErrRateLimited, llmlimit.ErrQuotaExhausted} {
			if errors.Is(e, s) != (s == tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = %v", e, s, errors.Is(e, s))
			}
		}
	}
}

// TestFakeSwapRate swaps the first and last ids of a share of the answers
// to batches, never those to a single item.
func TestFakeSwapRate(t *testing.T) {
	f := NewFake("f")
	f.SetSwapRate(1)
	items := []prompt.Item{{ID: "a", Text: "water"}, {ID: "b", Text: "noise"}, {ID: "c", Text: "air"}}
	resp, err := f.Generate(t.Context(), &llmlimit.Request{Prompt: prompt.Build(items, nil)})
	if err != nil {
		t.Fatal(err)
	}
	var r prompt.Reply
	json.Unmarshal([]byte(resp.Text), &r)
	if r.Results[0].ID != "c" || r.Results[2].ID != "a" || r.Results[0].Tags[0] != "water" || f.Swapped() != 1 {
		t.Errorf("swapped answer %s", resp.Text)
	}
	resp, _ = f.Generate(t.Context(), &llmlimit.Request{Prompt: prompt.Build(items[:1], nil)})
	if json.Unmarshal([]byte(resp.Text), &r); r.Results[0].ID != "a" || f.Swapped() != 1 {
		t.Errorf("a single item was swapped: %s", resp.Text)
	}
	f.SetSwapRate(0.25)
	for range 100 {
		f.Generate(t.Context(), &llmlimit.Request{Prompt: prompt.Build(items, nil)})
	}
	if n := f.Swapped() - 1; n < 24 || n > 26 {
		t.Errorf("%d of 100 answers swapped at rate 0.25", n)
	}
}
