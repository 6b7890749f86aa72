package llmtest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

func TestServerErrors(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := NewEmulator(only(api, API{UnavailableUntil: 30 * time.Second, RequestsPerWindow: 10}))
				if r := call(t.Context(), t, e, api, goodKey, batch(1)); r.status != 503 {
					t.Fatalf("during outage: %d", r.status)
				}
				time.Sleep(30 * time.Second)
				if r := call(t.Context(), t, e, api, goodKey, batch(1)); r.status != 200 {
					t.Fatalf("after outage: %d", r.status)
				}
				e.Update(func(c *Config) { c.Gemini.ServerErrorRate, c.OpenAI.ServerErrorRate = 1, 1 })
				r := call(t.Context(), t, e, api, goodKey, batch(1))
				if r.status != 500 {
					t.Fatalf("injected: %d", r.status)
				}
				if api == "openai" && r.header.Get("retry-after") != "" {
					t.Errorf("500 carries retry-after")
				}
				// 5xx consume no quota: 1 admitted of 10.
				e.Update(func(c *Config) { c.Gemini.ServerErrorRate, c.OpenAI.ServerErrorRate = 0, 0 })
				for range 9 {
					if r := call(t.Context(), t, e, api, goodKey, batch(1)); r.status != 200 {
						t.Fatalf("quota after 5xx: %d", r.status)
					}
				}
				if c := counters(e, api); c.Requests != 12 || c.ServerErrors != 2 || c.Successes != 10 {
					t.Errorf("counters %+v", c)
				}
			})
		})
	}
}

func TestMalformedAndDropped(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := NewEmulator(only(api, API{MalformedRate: 1}))
				r := call(t.Context(), t, e, api, goodKey, batch(3))
				if r.status != 200 || json.Valid([]byte(r.text)) {
					t.Fatalf("malformed reply %q (%d) is valid JSON", r.text, r.status)
				}
				e.Update(func(c *Config) {
					c.Gemini.MalformedRate, c.OpenAI.MalformedRate = 0, 0
					c.Gemini.DropRate, c.OpenAI.DropRate = 1, 1
				})
				p := batch(3)
				r = call(t.Context(), t, e, api, goodKey, p)
				var reply, full prompt.Reply
				a, _ := Answer(p)
				if err := json.Unmarshal([]byte(r.text), &reply); err != nil || json.Unmarshal([]byte(a), &full) != nil {
					t.Fatalf("dropped reply %q: %v", r.text, err)
				}
				if len(reply.Results) != 2 {
					t.Fatalf("dropped reply has %d results, want 2", len(reply.Results))
				}
				// The rest keep their order and tags.
				kept := slices.DeleteFunc(slices.Clone(full.Results), func(it prompt.ReplyItem) bool {
					return !slices.ContainsFunc(reply.Results, func(x prompt.ReplyItem) bool { return x.ID == it.ID })
				})
				for i := range kept {
					if kept[i].ID != reply.Results[i].ID || !slices.Equal(kept[i].Tags, reply.Results[i].Tags) {
						t.Errorf("dropped reply %+v, want a subsequence of %+v", reply.Results, full.Results)
					}
				}
				if c := counters(e, api); c.Successes != 2 || c.Malformed != 1 || c.Dropped != 1 {
					t.Errorf("counters %+v", c)
				}
			})
		})
	}
}

func TestBadKey(t *testing.T) {
	for _, api := range apis {
		t.Run(api, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := NewEmulator(only(api, API{Key: goodKey, RequestsPerWindow: 1}))
				r := call(t.Context(), t, e, api, badKey, batch(1))
				want := map[string]int{"gemini": 400, "openai": 401}[api]
				if r.status != want || r.err == nil || strings.Contains(r.err.Error(), badKey) {
					t.Fatalf("bad key: status %d, err %v", r.status, r.err)
				}
				b, _ := json.Marshal(r.body)
				if strings.Contains(string(b), badKey) || strings.Contains(string(b), "WRONG") {
					t.Errorf("error body echoes the key: %s", b)
				}
				// A refused key consumes no quota.
				if r := call(t.Context(), t, e, api, goodKey, batch(1)); r.status != 200 {
					t.Errorf("good key after bad: %d", r.status)
				}
				if c := counters(e, api); c.Requests != 2 || c.Unauthorized != 1 || c.Successes != 1 {
					t.Errorf("counters %+v", c)
				}
			})
		})
	}
}

func TestDeterministicInjection(t *testing.T) {
	run := func(seed int64) []int {
		var got []int
		synctest.Test(t, func(t *testing.T) {
			e := NewEmulator(Config{Seed: seed, Gemini: API{ServerErrorRate: 0.5}})
			for range 32 {
				got = append(got, call(t.Context(), t, e, "gemini", goodKey, batch(1)).status)
			}
		})
		return got
	}
	a, b, c := run(1), run(1), run(2)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different runs:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 1 and 2 gave the same run %v", a)
	}
	n := 0
	for _, s := range a {
		if s == 500 {
			n++
		}
	}
	if n < 8 || n > 24 {
		t.Errorf("%d of 32 injected at rate 0.5", n)
	}
}
