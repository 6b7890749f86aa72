package llmtest

import (
	"context"
	"encoding/json"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/internal/prompt"
	"github.com/llmlimit/llmlimit/internal/wait"
)

// FakeModel is the Model of every [Fake] reply.
const FakeModel = "fake-model"

// emptyReply is what the fake and the emulator answer to a prompt that
// carries no batch: a valid reply with no results.
const emptyReply = `{"results":[]}`

// Step is one scripted outcome of a [Fake.Generate] call.
type Step struct {
	// Text is the reply text. An empty Text with a nil Err means "answer
	// like a well-behaved model": [Answer] of the request's prompt.
	Text string
	// Err, when not nil, is returned instead of a reply.
	Err error
	// Latency, when positive, is how long this call takes instead of the
	// default set by [Fake.SetLatency].
	Latency time.Duration
}

// Reply returns a step that answers with text.
func Reply(text string) Step { return Step{Text: text} }

// Fail returns a step that fails with err.
func Fail(err error) Step { return Step{Err: err} }

// Fake is a scriptable [llmlimit.Provider] for tests. Each Generate call
// consumes the next scripted [Step]; when none is left it answers batch
// prompts correctly with [Answer] and any other prompt with {"results":[]}.
// Every call takes the step's latency or the default one, in whatever clock
// the caller runs (virtual inside a testing/synctest bubble).
//
// The zero value is not usable; call [NewFake]. A Fake is safe for
// simultaneous use by multiple goroutines; steps are consumed in the order
// calls arrive.
type Fake struct {
	name string

	mu       sync.Mutex
	steps    []Step
	latency  time.Duration
	calls    int
	requests []llmlimit.Request
	swapRate float64
	answers  int // default answers to batches of two or more
	swapped  int
}

// NewFake returns a Fake whose Name is name, with no scripted steps and no
// latency.
func NewFake(name string) *Fake { return &Fake{name: name} }

// Name returns the name given to [NewFake].
func (f *Fake) Name() string { return f.name }

// Push appends steps to the script.
func (f *Fake) Push(steps ...Step) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps = append(f.steps, steps...)
}

// SetLatency sets how long every call takes when its step sets no latency of
// its own.
func (f *Fake) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// SetSwapRate makes a share rate (0 to 1) of the Fake's default answers to
// batches of two or more items swap the ids of their first and last
// entries, keeping the tags and starts: a model that mixed up which item
// it answers. Which answers swap is deterministic (answer n swaps when the
// fractional part of n·φ is below rate), so a run is reproducible; the
// share is exact to within one answer.
func (f *Fake) SetSwapRate(rate float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.swapRate = rate
}

// Swapped returns how many answers SetSwapRate has swapped so far.
func (f *Fake) Swapped() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.swapped
}

// Calls returns the number of Generate calls so far, including calls that
// failed or were canceled.
func (f *Fake) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Requests returns copies of the requests received, in the order the calls
// arrived; changing them doesn't change the Fake.
func (f *Fake) Requests() []llmlimit.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]llmlimit.Request, len(f.requests))
	for i, r := range f.requests {
		out[i] = copyRequest(r)
	}
	return out
}

// Generate records req, takes the next step (or the default answer) and
// returns it after the step's latency. When ctx is already done it returns
// ctx.Err() and consumes no step; when ctx is done during the latency it
// returns ctx.Err() and the step is spent, as a request a real server
// received would be.
func (f *Fake) Generate(ctx context.Context, req *llmlimit.Request) (*llmlimit.Response, error) {
	f.mu.Lock()
	f.calls++
	var r llmlimit.Request
	if req != nil {
		r = copyRequest(*req)
	}
	f.requests = append(f.requests, r)
	if err := ctx.Err(); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	var step Step
	if len(f.steps) > 0 {
		step = f.steps[0]
		f.steps = f.steps[1:]
	}
	latency := f.latency
	f.mu.Unlock()

	if step.Latency > 0 {
		latency = step.Latency
	}
	if err := wait.Sleep(ctx, latency); err != nil {
		return nil, err
	}
	if step.Err != nil {
		return nil, step.Err
	}
	text := step.Text
	if text == "" {
		text = f.swap(answerOrEmpty(r.Prompt))
	}
	return &llmlimit.Response{
		Text:     text,
		Provider: f.name,
		Model:    FakeModel,
		Usage:    llmlimit.Usage{InputTokens: len(r.Prompt) / 4, OutputTokens: len(text) / 4},
	}, nil
}

// swap applies SetSwapRate to a default answer.
func (f *Fake) swap(text string) string {
	var r prompt.Reply
	if json.Unmarshal([]byte(text), &r) != nil || len(r.Results) < 2 {
		return text
	}
	f.mu.Lock()
	f.answers++
	_, frac := math.Modf(float64(f.answers) * math.Phi)
	do := frac < f.swapRate
	if do {
		f.swapped++
	}
	f.mu.Unlock()
	if !do {
		return text
	}
	last := len(r.Results) - 1
	r.Results[0].ID, r.Results[last].ID = r.Results[last].ID, r.Results[0].ID
	b, err := json.Marshal(r)
	if err != nil {
		return text
	}
	return string(b)
}

// answerOrEmpty answers a batch prompt, and any other prompt with a reply
// that has no results.
func answerOrEmpty(p string) string {
	a, err := Answer(p)
	if err != nil {
		return emptyReply
	}
	return a
}

// copyRequest copies r deeply enough that the caller's later changes to its
// schema map or temperature don't show through.
func copyRequest(r llmlimit.Request) llmlimit.Request {
	if r.JSONSchema != nil {
		r.JSONSchema = maps.Clone(r.JSONSchema)
	}
	if r.Temperature != nil {
		t := *r.Temperature
		r.Temperature = &t
	}
	return r
}
