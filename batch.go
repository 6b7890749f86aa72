package llmlimit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/llmlimit/llmlimit/internal/prompt"
	"github.com/llmlimit/llmlimit/internal/wait"
)

// run is the state of one Run.
type run struct {
	t     *TagSpace
	items []Item
	vocab []string
	keyer keyer
	cache *runCache
	sched *schedule
	tally *tally
	// held is how long dispatch held the run's tail; only dispatch writes it.
	held time.Duration
	// ops and fallback measure the operations served, and those a later
	// provider than the primary served, for the tail hold; primary is the
	// primary's Name.
	ops, fallback opTimes
	primary       string
	// br is batch mode's part of the run; nil in sync mode.
	br *batchRun
	// schema and schemaChecked are shared by the run's requests;
	// providers only read them.
	schema, schemaChecked map[string]any

	// cbMu serializes callbacks, so that progress never goes backwards;
	// mu guards the results and is never held while calling out.
	cbMu     sync.Mutex
	mu       sync.Mutex
	results  []Result
	settled  []bool
	progress Progress
}

// group is the items sharing one text, tagged once. The first item's id
// stands for the group in batches.
type group struct {
	key  resultKey
	text string
	idx  []int
}

func (r *run) id(g *group) string { return r.items[g.idx[0]].ID }

// prepare settles items that need no call (bad text, cached results) and
// groups the rest by text, in order of first appearance.
func (r *run) prepare(ctx context.Context) []*group {
	var groups []*group
	byKey := map[resultKey]*group{}
	max := r.t.cfg.maxItemBytes
	for i, it := range r.items {
		var err error
		switch {
		case it.Text == "":
			err = fmt.Errorf("llmlimit: item %s: empty text", it.ID)
		case len(it.Text) > max:
			err = fmt.Errorf("llmlimit: item %s: text of %d bytes exceeds the limit of %d", it.ID, len(it.Text), max)
		case !utf8.ValidString(it.Text):
			err = fmt.Errorf("llmlimit: item %s: text is not valid UTF-8", it.ID)
		}
		if err != nil {
			r.settle(&group{idx: []int{i}}, nil, "", false, func(string) error { return err })
			continue
		}
		key := r.keyer.key(it.Text)
		if g := byKey[key]; g != nil {
			g.idx = append(g.idx, i)
			continue
		}
		g := &group{key: key, text: it.Text, idx: []int{i}}
		byKey[key] = g
		groups = append(groups, g)
	}
	return r.serveCached(ctx, groups)
}

// dispatch sends the groups in batches until done or ctx ends, batches
// deferred by an outage included (see schedule). Once a slot is free for
// the next batch it asks the primary whether to hold the rest of the run
// for the primary's next quota window (see [tailHold]).
func (r *run) dispatch(ctx context.Context, groups []*group) {
	slots := r.t.cfg.batchesInFlight()
	free := make(chan struct{}, slots)
	for range slots {
		free <- struct{}{}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	primary := primaryAvailability(r.t.p)
	r.sched = newSchedule(slices.Collect(slices.Chunk(groups, r.t.cfg.batchSize)),
		r.t.cfg.baseDelay, r.t.cfg.maxDelay, r.t.cfg.outageWait)
	for {
		select {
		case <-free:
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil {
			return // both were ready; select chose the slot
		}
		b, batches, err := r.sched.next(ctx)
		if err != nil {
			return
		}
		if primary != nil {
			if hold := tailHold(primary.Availability(), batches, r.fallbackOpTime(), slots); hold > 0 {
				r.t.cfg.logger.Info("holding the tail for the primary", "batches", batches, "wait", hold)
				begin := time.Now()
				err := wait.Sleep(ctx, hold)
				r.held += time.Since(begin)
				if err != nil {
					r.sched.done()
					return
				}
			}
		}
		wg.Go(func() {
			defer func() { free <- struct{}{} }()
			defer r.sched.done()
			r.batch(ctx, b)
		})
	}
}

// batch tags one batch, repeating what the replies left out, as described
// on TagSpace.
func (r *run) batch(ctx context.Context, groups []*group) {
	type attempt struct {
		groups []*group
		tries  int // failed attempts so far
	}
	maxRetries := r.t.cfg.replyRetries()
	queue := []attempt{{groups: groups}}
	for len(queue) > 0 {
		a := queue[0]
		queue = queue[1:]
		if ctx.Err() != nil {
			return
		}
		missing, cause, ok := r.call(ctx, a.groups)
		if !ok || len(missing) == 0 {
			continue
		}
		if errors.Is(cause, ErrRequestTooLarge) {
			// No quota window can ever admit the batch: halves may fit,
			// and the repeat costs none of the batch's tries.
			if len(missing) == 1 {
				r.failedFor(missing, cause)
				continue
			}
			h := len(missing) / 2
			queue = append(queue, attempt{groups: missing[:h], tries: a.tries}, attempt{groups: missing[h:], tries: a.tries})
			continue
		}
		tries := a.tries + 1
		switch {
		case tries <= maxRetries:
			queue = append(queue, attempt{groups: missing, tries: tries})
		case len(missing) > 1:
			// A batch that keeps failing may fail because of one item;
			// one last try each finds the items that can be tagged.
			for _, g := range missing {
				queue = append(queue, attempt{groups: []*group{g}, tries: maxRetries})
			}
		default:
			r.settle(missing[0], nil, "", false, func(id string) error {
				return fmt.Errorf("llmlimit: item %s: %w after %d attempts: %v", id, ErrBadReply, tries, cause)
			})
		}
	}
}

// call sends one batch and settles the items the reply tags. It returns the
// items left untagged and why; ok is false when nothing is to be retried
// (a provider error settled every item, or ctx ended).
func (r *run) call(ctx context.Context, groups []*group) (missing []*group, cause error, ok bool) {
	req, ids, checked := r.request(groups)
	begin := time.Now()
	resp, err := r.t.p.Generate(ctx, req)
	took := time.Since(begin)
	r.t.tel.batch(ctx, err)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, false // finish marks them not attempted
		}
		r.tally.fail(err)
		if errors.Is(err, ErrRequestTooLarge) {
			return groups, err, true // batch splits it
		}
		r.failed(groups, err)
		return nil, nil, false
	}
	r.tally.serve(resp, took)
	r.ops.add(took)
	if resp.Provider != r.primary {
		r.fallback.add(took)
	}
	r.sched.up()
	missing, cause = r.accept(resp, groups, ids, checked)
	return missing, cause, true
}

// request is the call that tags groups, the ids it names them by, and
// whether it asks for the checked protocol.
func (r *run) request(groups []*group) (req *Request, ids []string, checked bool) {
	ids = make([]string, len(groups))
	items := make([]prompt.Item, len(groups))
	for i, g := range groups {
		ids[i] = r.id(g)
		items[i] = prompt.Item{ID: ids[i], Text: g.text}
	}
	req = &Request{
		Model:      r.t.cfg.model,
		System:     prompt.System,
		Prompt:     prompt.Build(items, r.vocab),
		JSONSchema: r.schema,
	}
	// A batch of one has no other item to mix it up with.
	checked = r.t.cfg.swapCheck && len(groups) > 1
	if checked {
		req.System, req.Prompt, req.JSONSchema = prompt.SystemChecked, prompt.BuildChecked(items, r.vocab), r.schemaChecked
	}
	return req, ids, checked
}

// accept reads resp, the reply to a request that named groups by ids, with
// the batch protocol's validator; it keeps and settles the groups the reply
// tags and returns the others and why they are left.
func (r *run) accept(resp *Response, groups []*group, ids []string, checked bool) (missing []*group, cause error) {
	var got map[string][]string
	var perr error
	if checked {
		starts := make([]string, len(groups))
		for i, g := range groups {
			starts[i] = prompt.Start(g.text)
		}
		got, perr = prompt.ParseReplyChecked(resp.Text, ids, starts, r.vocab)
	} else {
		got, perr = prompt.ParseReply(resp.Text, ids, r.vocab)
	}
	o := r.cache.policy.originOf(resp)
	o.at = time.Now()
	if r.cache.on() {
		keep := make([]record, 0, len(got))
		for i, g := range groups {
			if tags, found := got[ids[i]]; found {
				keep = append(keep, record{key: g.key, val: stored{tags: tags, origin: o}})
			}
		}
		r.cache.keep(keep)
	}
	for i, g := range groups {
		if tags, found := got[ids[i]]; found {
			r.settle(g, tags, resp.Provider, false, nil)
		} else {
			missing = append(missing, g)
		}
	}
	switch {
	case len(missing) == 0:
		return nil, nil
	case perr != nil:
		cause = perr
	case len(missing) == len(groups):
		cause = errors.New("reply tagged no item of the batch")
	default:
		cause = fmt.Errorf("reply left %d of %d items untagged", len(missing), len(groups))
	}
	r.t.cfg.logger.Warn("bad reply", "provider", resp.Provider, "items", len(groups),
		"missing", len(missing), "error", cause)
	return missing, cause
}

// failed handles a batch whose call failed: during an outage its groups
// wait for the providers to answer again (see schedule); otherwise, or
// once the outage has lasted the outage wait, they fail with err, and so
// do the batches still waiting.
func (r *run) failed(groups []*group, err error) {
	if outage(err) {
		groups = r.sched.deferBatch(groups)
		if groups == nil {
			r.t.cfg.logger.Warn("batch deferred: providers down", "error", err)
			return
		}
	}
	r.failedFor(groups, err)
}

// failedFor fails every item of groups with err.
func (r *run) failedFor(groups []*group, err error) {
	r.t.cfg.logger.Warn("batch failed", "items", len(groups), "error", err)
	for _, g := range groups {
		r.settle(g, nil, "", false, func(id string) error {
			return fmt.Errorf("llmlimit: item %s: %w", id, err)
		})
	}
}

// fallbackOpTime estimates how long a later provider takes to serve an
// operation: the mean of those it served so far, else the mean of all
// operations, else 0. Operations the primary served include their waits for
// the primary, which say nothing about the fallback.
func (r *run) fallbackOpTime() time.Duration {
	if d := r.fallback.mean(); d > 0 {
		return d
	}
	return r.ops.mean()
}

// opTimes measures operations: how many and how long in all. It is safe
// for simultaneous use.
type opTimes struct {
	mu    sync.Mutex
	n     int
	total time.Duration
}

func (o *opTimes) add(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	o.total += d
}

// mean is the mean operation's time, or 0 before any.
func (o *opTimes) mean() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == 0 {
		return 0
	}
	return o.total / time.Duration(o.n)
}

// settle records the outcome of every item of g and calls the callbacks.
// errFor gives each item's error from its id.
func (r *run) settle(g *group, tags []string, provider string, cached bool, errFor func(id string) error) {
	onResult, onProgress := r.t.cfg.onResult, r.t.cfg.onProgress
	for _, i := range g.idx {
		res := Result{ID: r.items[i].ID, Cached: cached}
		if errFor != nil {
			res.Err = errFor(res.ID)
		} else {
			res.Tags, res.Provider = slices.Clone(tags), provider
		}
		r.cbMu.Lock()
		r.mu.Lock()
		if r.settled[i] {
			r.mu.Unlock()
			r.cbMu.Unlock()
			continue
		}
		r.settled[i] = true
		r.results[i] = res
		r.progress.Done++
		if res.Err != nil && !errors.Is(res.Err, ErrNotAttempted) {
			r.progress.Failed++
		} else if cached {
			r.progress.Cached++
		}
		p := r.progress
		r.mu.Unlock()
		r.t.tel.item(&res)
		if onResult != nil {
			onResult(res)
		}
		if onProgress != nil {
			onProgress(p)
		}
		r.cbMu.Unlock()
	}
}

// finish marks every unsettled item not attempted, with ctx's error, and
// reports whether there was any.
func (r *run) finish(ctx context.Context) bool {
	var left []int
	r.mu.Lock()
	for i, done := range r.settled {
		if !done {
			left = append(left, i)
		}
	}
	r.mu.Unlock()
	if len(left) == 0 {
		return false
	}
	cause := ctx.Err()
	if cause == nil {
		// Unreachable unless a batch returned without settling its items.
		cause = errors.New("llmlimit: item was not tagged")
	}
	for _, i := range left {
		r.settle(&group{idx: []int{i}}, nil, "", false, func(id string) error { return &notAttemptedError{id: id, cause: cause} })
	}
	return ctx.Err() != nil
}

// notAttemptedError is the error of an item a stopped run had no outcome
// for: errors.Is matches both ErrNotAttempted and the cause.
type notAttemptedError struct {
	id    string
	cause error
}

func (e *notAttemptedError) Error() string {
	return fmt.Sprintf("llmlimit: item %s: not attempted: %v", e.id, e.cause)
}

func (e *notAttemptedError) Is(target error) bool { return target == ErrNotAttempted }
func (e *notAttemptedError) Unwrap() error        { return e.cause }
