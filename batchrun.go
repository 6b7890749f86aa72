package llmlimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"time"

	"github.com/llmlimit/llmlimit/internal/wait"
)

// maxJobErrors is how many polls or collections of a job may fail in a row
// before the run gives up on the job and serves its items synchronously.
const maxJobErrors = 5

// cancelTimeout bounds the cancellation of a stopped run's jobs, which
// runs after the run's context has ended.
const cancelTimeout = 30 * time.Second

// runJob is a batch job the run waits for.
type runJob struct {
	rec    jobRecord
	status BatchStatus
	done   bool // collected, or given up on
	errs   int  // polls or collections failed in a row
}

// batchRun is what batch mode adds to a run. Only the run's goroutine that
// waits for the jobs touches it, before any batch is sent synchronously.
type batchRun struct {
	b     Batcher
	name  string // the Batcher's Name, recorded with its jobs
	jobs  []*runJob
	left  []*group // what the jobs did not answer
	items int      // items tagged from the jobs' results
	wait  time.Duration
	drop  []string // handles whose records the run removes at its end
	byKey map[resultKey]*group
}

// loadJobs finds the jobs an earlier run submitted for some of groups and
// did not collect, and how many of their requests ask about groups.
func (r *run) loadJobs(ctx context.Context, groups []*group) int {
	b, bp := findBatcher(r.t.p)
	if b == nil {
		return 0
	}
	br := &batchRun{b: b, name: bp.Name(), byKey: make(map[resultKey]*group, len(groups))}
	r.br = br
	for _, g := range groups {
		br.byKey[g.key] = g
	}
	if r.t.store == nil || len(groups) == 0 {
		return 0
	}
	recs, err := r.t.store.jobs(ctx)
	if err != nil {
		r.t.cfg.logger.Warn("batch jobs not read", "store", r.t.store.Path(), "error", err)
		return 0
	}
	reqs := 0
	for _, rec := range recs {
		if rec.Provider != br.name || rec.Emulated != r.t.cfg.emulated {
			continue
		}
		n := 0
		for _, q := range rec.Requests {
			if slices.ContainsFunc(q.Items, func(it jobItem) bool { return br.byKey[it.Key] != nil }) {
				n++
			}
		}
		if n > 0 {
			br.jobs = append(br.jobs, &runJob{rec: rec})
			reqs += n
			r.t.tel.job(ctx, jobResumed)
		}
	}
	return reqs
}

// batchMode tags groups through batch jobs: the jobs loadJobs found, and
// one new job for the groups they don't cover. It returns the groups the
// jobs left untagged, for the synchronous path.
func (r *run) batchMode(ctx context.Context, groups []*group) []*group {
	br := r.br
	if br == nil {
		return groups // unreachable: NewTagSpace requires a Batcher
	}
	begin := time.Now()
	defer func() { br.wait = time.Since(begin) }()
	br.jobs = r.probeJobs(ctx, br.jobs)
	if ctx.Err() != nil {
		return nil
	}
	covered := map[resultKey]bool{}
	for _, j := range br.jobs {
		for _, q := range j.rec.Requests {
			for _, it := range q.Items {
				covered[it.Key] = true
			}
		}
	}
	var fresh []*group
	for _, g := range groups {
		if !covered[g.key] {
			fresh = append(fresh, g)
		}
	}
	if len(fresh) > 0 {
		if j := r.submit(ctx, fresh); j != nil {
			br.jobs = append(br.jobs, j)
		} else {
			br.left = append(br.left, fresh...)
		}
	}
	r.await(ctx)
	return r.unsettled(br.left)
}

// probeJobs polls each resumed job once, dropping those the provider no
// longer knows, whose groups the new job then asks about.
func (r *run) probeJobs(ctx context.Context, jobs []*runJob) []*runJob {
	br := r.br
	live := jobs[:0]
	for _, j := range jobs {
		st, err := br.b.PollBatch(ctx, j.rec.Handle)
		switch {
		case ctx.Err() != nil:
			return live
		case jobLost(err):
			r.t.cfg.logger.Warn("batch job lost", "provider", br.name, "error", err)
			br.drop = append(br.drop, j.rec.Handle)
			continue
		case err == nil:
			j.status = st
		}
		r.t.cfg.logger.Info("batch job resumed", "provider", br.name, "requests", len(j.rec.Requests), "state", j.status.State)
		live = append(live, j)
	}
	return live
}

// jobLost reports whether err says the provider doesn't know the job: a
// 404, or a handle it can't read.
func jobLost(err error) bool {
	if err == nil {
		return false
	}
	var pe *ProviderError
	if errors.As(err, &pe) {
		return pe.StatusCode == 404
	}
	return true
}

// submit sends groups as one batch job, in requests of the batch size
// built as the synchronous path builds its calls, and records the job in
// the store. It returns nil when the submission failed.
func (r *run) submit(ctx context.Context, groups []*group) *runJob {
	br := r.br
	rec := jobRecord{Provider: br.name, Emulated: r.t.cfg.emulated}
	var reqs []BatchRequest
	for chunk := range slices.Chunk(groups, r.t.cfg.batchSize) {
		req, ids, checked := r.request(chunk)
		q := jobRequest{ID: requestID(chunk), Checked: checked, Items: make([]jobItem, len(chunk))}
		for i, g := range chunk {
			q.Items[i] = jobItem{ID: ids[i], Key: g.key}
		}
		reqs = append(reqs, BatchRequest{ID: q.ID, Request: req})
		rec.Requests = append(rec.Requests, q)
	}
	handle, err := br.b.SubmitBatch(ctx, reqs)
	if err != nil {
		r.t.tel.job(ctx, jobSubmitFailed)
		if handle != "" {
			r.t.cfg.logger.Error("batch jobs left running", "provider", br.name, "handle", handle, "error", err)
		}
		if ctx.Err() == nil {
			r.t.cfg.logger.Warn("batch submission failed: sending synchronously", "provider", br.name,
				"requests", len(reqs), "error", err)
		}
		return nil
	}
	rec.Handle, rec.Submitted = handle, time.Now()
	r.t.tel.job(ctx, jobSubmitted)
	r.t.cfg.logger.Info("batch job submitted", "provider", br.name, "requests", len(reqs), "items", len(groups))
	if r.t.store != nil {
		if err := r.t.store.putJob(ctx, rec); err != nil {
			r.t.cfg.logger.Warn("batch job not recorded: a rerun can't resume it", "store", r.t.store.Path(), "error", err)
		}
	}
	return &runJob{rec: rec, status: BatchStatus{Total: len(reqs)}}
}

// requestID names a request after its items' cache keys: a rerun that
// asks about the same items gets the same id, and 32 hex characters fit
// every provider's bound.
func requestID(groups []*group) string {
	h := sha256.New()
	for _, g := range groups {
		h.Write(g.key[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// await polls the jobs, backing off, and collects each as it ends, until
// all have or ctx ends; then, told to ([WithCancelJobs]), it cancels those
// still running.
func (r *run) await(ctx context.Context) {
	br := r.br
	cfg := &r.t.cfg
	for i := 0; ; i++ {
		open := 0
		for _, j := range br.jobs {
			if !j.done {
				r.pollJob(ctx, j)
			}
			if !j.done {
				open++
			}
		}
		r.batchProgress()
		if open == 0 || ctx.Err() != nil || wait.Sleep(ctx, pollDelay(cfg.pollFirst, cfg.pollMax, i)) != nil {
			break
		}
	}
	if ctx.Err() == nil || !cfg.cancelJobs {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	for _, j := range br.jobs {
		if j.done {
			continue
		}
		if err := br.b.CancelBatch(cctx, j.rec.Handle); err != nil {
			cfg.logger.Warn("batch job not cancelled", "provider", br.name, "error", err)
			continue
		}
		cfg.logger.Info("batch job cancelled", "provider", br.name, "requests", len(j.rec.Requests))
		br.drop = append(br.drop, j.rec.Handle)
	}
}

// pollJob polls j once and collects it if it has ended.
func (r *run) pollJob(ctx context.Context, j *runJob) {
	br := r.br
	st, err := br.b.PollBatch(ctx, j.rec.Handle)
	if err == nil {
		j.status = st
		if !st.State.Final() {
			j.errs = 0
			return
		}
		err = r.collect(ctx, j)
		if err == nil {
			return
		}
	}
	if ctx.Err() != nil {
		return
	}
	j.errs++
	r.t.cfg.logger.Warn("batch job poll failed", "provider", br.name, "failures", j.errs, "error", err)
	switch {
	case jobLost(err):
		r.giveUp(j)
	case j.errs >= maxJobErrors:
		// Its items are about to be sent synchronously: a job that runs
		// on would bill them twice.
		if cerr := br.b.CancelBatch(ctx, j.rec.Handle); cerr != nil {
			r.t.cfg.logger.Warn("batch job not cancelled", "provider", br.name, "error", cerr)
		}
		r.giveUp(j)
	}
}

// giveUp sends what j asked about to the synchronous path.
func (r *run) giveUp(j *runJob) {
	br := r.br
	r.t.cfg.logger.Warn("batch job given up: sending its items synchronously", "provider", br.name,
		"requests", len(j.rec.Requests))
	j.done = true
	br.drop = append(br.drop, j.rec.Handle)
	r.t.tel.job(context.Background(), jobGivenUp)
	for _, q := range j.rec.Requests {
		for _, it := range q.Items {
			if g := br.byKey[it.Key]; g != nil {
				br.left = append(br.left, g)
			}
		}
	}
}

// collect reads an ended job's results and settles what they tag, through
// the same validator as a synchronous reply; the rest is left for the
// synchronous path.
func (r *run) collect(ctx context.Context, j *runJob) error {
	br := r.br
	ids := make([]string, len(j.rec.Requests))
	for i, q := range j.rec.Requests {
		ids[i] = q.ID
	}
	res, err := br.b.CollectBatch(ctx, j.rec.Handle, ids)
	if err != nil {
		return err
	}
	j.done = true
	br.drop = append(br.drop, j.rec.Handle)
	r.t.tel.job(ctx, jobCollected)
	r.t.cfg.logger.Info("batch job collected", "provider", br.name, "state", j.status.State, "requests", len(res))
	for i, q := range j.rec.Requests {
		var groups []*group
		var qids []string
		for _, it := range q.Items {
			if g := br.byKey[it.Key]; g != nil {
				groups, qids = append(groups, g), append(qids, it.ID)
			}
		}
		if len(groups) == 0 {
			continue
		}
		if i >= len(res) || res[i].Err != nil || res[i].Response == nil {
			br.left = append(br.left, groups...)
			continue
		}
		resp := res[i].Response
		r.tally.serveBatch(resp)
		missing, _ := r.accept(resp, groups, qids, q.Checked)
		br.left = append(br.left, missing...)
		for _, g := range groups {
			if !slices.Contains(missing, g) {
				br.items += len(g.idx)
			}
		}
	}
	return nil
}

// batchProgress reports the jobs' state, added up, to the progress
// callback.
func (r *run) batchProgress() {
	br := r.br
	parts := make([]batchPart, len(br.jobs))
	ss := make([]partStatus, len(br.jobs))
	for i, j := range br.jobs {
		parts[i] = batchPart{n: len(j.rec.Requests)}
		ss[i] = partStatus{state: j.status.State, done: j.status.Done, failed: j.status.Failed}
	}
	st := combineStatus(parts, ss)
	r.cbMu.Lock()
	defer r.cbMu.Unlock()
	r.mu.Lock()
	r.progress.Batch = st
	p := r.progress
	r.mu.Unlock()
	if f := r.t.cfg.onProgress; f != nil {
		f(p)
	}
}

// unsettled returns the groups, once each, that have no outcome yet.
func (r *run) unsettled(groups []*group) []*group {
	seen := make(map[*group]bool, len(groups))
	var out []*group
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range groups {
		if !seen[g] && !r.settled[g.idx[0]] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

// dropJobs removes the records of the jobs the run collected, gave up or
// cancelled; it runs once the run's results are written.
func (r *run) dropJobs() {
	br := r.br
	if br == nil || r.t.store == nil || len(br.drop) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
	defer cancel()
	if err := r.t.store.deleteJobs(ctx, br.drop); err != nil {
		r.t.cfg.logger.Warn("batch job records not removed", "store", r.t.store.Path(), "error", err)
	}
}
