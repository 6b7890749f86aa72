package llmlimit

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/metric"
)

// fallbackTel counts a Fallback's passes from one member to the next; a
// nil one counts nothing.
type fallbackTel struct {
	passes metric.Int64Counter
}

func newFallbackTel(cfg *config) (*fallbackTel, error) {
	if cfg.meterProvider == nil {
		return nil, nil
	}
	var e instrumentErr
	t := &fallbackTel{passes: counter(cfg.meterProvider.Meter(instrumentationName), &e,
		"llmlimit.fallbacks", "{fallback}", "Calls a Fallback passed from one member to another.")}
	return t, e.result()
}

// pass counts a call passed from the member named from to the one named to.
func (t *fallbackTel) pass(ctx context.Context, from, to string) {
	if t == nil {
		return
	}
	t.passes.Add(ctx, 1, measure(keyFallbackFrom.String(from), keyFallbackTo.String(to)))
}

// tagSpaceTel counts a TagSpace's items, batches and batch jobs; a nil one
// counts nothing.
type tagSpaceTel struct {
	items, hits, batches, jobs metric.Int64Counter
	byItem, byBatch, byJob     map[string]measured
}

// What can happen to a batch job, as llmlimit.tagspace.batch_jobs counts it.
const (
	jobSubmitted    = "submitted"     // a new job started
	jobSubmitFailed = "submit_failed" // its groups went to the synchronous path
	jobResumed      = "resumed"       // an earlier run's job, found in the store
	jobCollected    = "collected"     // its results read
	jobGivenUp      = "given_up"      // polls kept failing: cancelled, items sent synchronously
)

func newTagSpaceTel(cfg *config) (*tagSpaceTel, error) {
	if cfg.meterProvider == nil {
		return nil, nil
	}
	m := cfg.meterProvider.Meter(instrumentationName)
	var e instrumentErr
	t := &tagSpaceTel{
		items:   counter(m, &e, "llmlimit.tagspace.items", "{item}", "Items a TagSpace run settled, by outcome."),
		hits:    counter(m, &e, "llmlimit.tagspace.cache.hits", "{item}", "Items a TagSpace run answered from its cache."),
		batches: counter(m, &e, "llmlimit.tagspace.batches", "{batch}", "Batches a TagSpace run sent, by outcome."),
		jobs:    counter(m, &e, "llmlimit.tagspace.batch_jobs", "{job}", "Batch jobs of TagSpace's batch mode, by what happened to them."),
		byItem:  sets(keyOutcome, []string{"tagged", "cached", "failed", "not_attempted"}),
		byBatch: sets(keyOutcome, []string{"served", "failed"}),
		byJob:   sets(keyOutcome, []string{jobSubmitted, jobSubmitFailed, jobResumed, jobCollected, jobGivenUp}),
	}
	return t, e.result()
}

// item counts a settled item.
func (t *tagSpaceTel) item(res *Result) {
	if t == nil {
		return
	}
	ctx := context.Background()
	out := "tagged"
	switch {
	case errors.Is(res.Err, ErrNotAttempted):
		out = "not_attempted"
	case res.Err != nil:
		out = "failed"
	case res.Cached:
		out = "cached"
		t.hits.Add(ctx, 1)
	}
	t.items.Add(ctx, 1, t.byItem[out].add...)
}

// batch counts a batch sent, served or not.
func (t *tagSpaceTel) batch(ctx context.Context, err error) {
	if t == nil {
		return
	}
	out := "served"
	if err != nil {
		out = "failed"
	}
	t.batches.Add(ctx, 1, t.byBatch[out].add...)
}

// job counts what happened to a batch job: one of the job* outcomes.
func (t *tagSpaceTel) job(ctx context.Context, outcome string) {
	if t == nil {
		return
	}
	t.jobs.Add(context.WithoutCancel(ctx), 1, t.byJob[outcome].add...)
}
