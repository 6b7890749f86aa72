package llmlimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Batcher is implemented by providers that can run many requests as one
// asynchronous job of their batch API, such as [*Gemini] and [*OpenAI]:
// half the synchronous price at both, a quota of its own, and answers
// within a day, usually within minutes. A caller detects it with a type
// assertion, as it does [Waiter].
//
// A job's life is SubmitBatch, then PollBatch as often as the caller
// likes until the state is [BatchState.Final], then CollectBatch;
// CancelBatch may come at any point. No method waits for the job: each
// sends a bounded number of requests (one per provider job the handle
// names to poll, two to cancel, one more per result file to collect) and
// returns, so the caller owns the polling cadence and its context bounds
// every call. The SDKs' own retries are off, as for Generate: a failed
// call is returned, classified like Generate's ([*ProviderError], without
// secrets), for the caller to retry when it likes.
//
// The handle SubmitBatch returns is a string to persist: a new provider
// value of the same kind, in another process, with a client for the same
// account, takes it up where the first left off. Handles are
// provider-specific; one this provider didn't make is an error.
//
// Implementations are safe for simultaneous use by multiple goroutines.
type Batcher interface {
	// SubmitBatch starts a job answering reqs, each keyed by its ID, and
	// returns the job's handle. IDs must be unique and not empty, and no
	// request nil; an empty set is an error. Requests for different
	// models, or more than one provider job can hold, become several
	// provider jobs under the one handle. On failure SubmitBatch cancels
	// the provider jobs it had started, so that none is left running; if
	// that fails too, the error says so and the handle returned with it
	// names those jobs, for the caller to cancel later.
	SubmitBatch(ctx context.Context, reqs []BatchRequest) (handle string, err error)
	// PollBatch asks the provider how the job is doing, one request per
	// provider job. A job the provider doesn't know (a handle from
	// another account, or one past the provider's retention) is a
	// [*ProviderError] of status 404.
	PollBatch(ctx context.Context, handle string) (BatchStatus, error)
	// CollectBatch returns one result per id, in the order of ids: the
	// reply to the request submitted under that id, or why there is none.
	// Results the provider returns for ids not asked for are ignored. A
	// job that has not ended is an error matching [ErrBatchRunning]; once
	// it has, CollectBatch may be called again, with the same results.
	CollectBatch(ctx context.Context, handle string, ids []string) ([]BatchResult, error)
	// CancelBatch asks the provider to stop every part of the job that has
	// not ended, and leaves ended parts alone. Cancelling takes effect
	// later: poll until the state is final (Cancelled, or Completed when
	// the job finished first), then collect what was answered.
	CancelBatch(ctx context.Context, handle string) error
}

// BatchRequest is one request of a batch job, under an ID chosen by the
// caller.
type BatchRequest struct {
	// ID names the request in the job's results; any non-empty string.
	ID string
	// Request is sent as Generate would send it, to its Model or else the
	// provider's.
	Request *Request
}

// BatchResult is the outcome of one request of a batch job: Response, or
// Err when the request failed or never ran.
//
// Err is a [*ProviderError]. A request the provider answered with an error
// is classified as Generate would classify that reply (a 500 is
// [KindTransient], a 400 [KindPermanent], a reply with no text
// [KindPermanent]). A request the job never ran, because the job expired,
// was cancelled or failed first, or whose result is missing, is
// [KindTransient] and matches [ErrBatchNotRun]: sending it again may
// succeed.
type BatchResult struct {
	ID       string
	Response *Response
	Err      error
}

// BatchState is where a batch job is in its life.
type BatchState uint8

const (
	// BatchPending jobs are accepted but not started (validating, queued).
	BatchPending BatchState = iota
	// BatchRunning jobs are answering their requests.
	BatchRunning
	// BatchCancelling jobs were asked to stop and have not yet.
	BatchCancelling
	// BatchCompleted jobs ended normally: every request has a result,
	// which may be an error of its own (Gemini's partially succeeded jobs
	// are completed ones).
	BatchCompleted
	// BatchFailed jobs ended without running (an input the provider
	// refused) or stopped on a failure of their own.
	BatchFailed
	// BatchExpired jobs ran out of their window (24 hours at OpenAI, 48 at
	// Gemini) before every request was answered; OpenAI keeps what was.
	BatchExpired
	// BatchCancelled jobs were stopped on request; OpenAI keeps what was
	// answered before.
	BatchCancelled
)

var batchStateNames = [...]string{"pending", "running", "cancelling", "completed", "failed", "expired", "cancelled"}

// String returns the state's lower-case name, as used in logs and reports.
func (s BatchState) String() string {
	if int(s) >= len(batchStateNames) {
		return fmt.Sprintf("batchstate(%d)", int(s))
	}
	return batchStateNames[s]
}

// Final reports whether a job in state s has ended, so that polling can
// stop and its results be collected.
func (s BatchState) Final() bool { return s >= BatchCompleted && s <= BatchCancelled }

// BatchStatus is what one poll of a batch job learned.
type BatchStatus struct {
	// State is the job's state; a handle naming several provider jobs
	// reports the least advanced while any runs, else the worst ending
	// (failed, then expired, then cancelled, then completed).
	State BatchState
	// Total is the number of requests submitted.
	Total int
	// Done counts the requests that have a result, success or failure,
	// and Failed those whose result is a failure. Both are -1 when the
	// provider doesn't say. The genai SDK drops Gemini's batch
	// statistics, so a Gemini job has counts only while pending (0) and
	// once completed: Done is then Total, and Failed counts the failures
	// among inlined results, or stays -1 for results in a file.
	Done, Failed int
}

// Progress returns the share of the job's requests that have a result, in
// [0, 1]. When the counts are unknown it is 0 until the job ends and 1
// after.
func (s BatchStatus) Progress() float64 {
	if s.Done < 0 || s.Total <= 0 {
		if s.State.Final() {
			return 1
		}
		return 0
	}
	return min(float64(s.Done)/float64(s.Total), 1)
}

var (
	// ErrBatchRunning matches the error of [Batcher.CollectBatch] for a
	// job that has not ended yet.
	ErrBatchRunning = errors.New("llmlimit: batch job has not ended")
	// ErrBatchNotRun matches the error of a [BatchResult] whose request
	// the job never ran: it expired, was cancelled or failed first, or
	// the provider returned no result for it.
	ErrBatchNotRun = errors.New("llmlimit: batch job ended before the request ran")
)

// batchKey is the provider-side id of the request the caller calls id:
// both providers bound their ids (OpenAI's custom_id to 64 characters), so
// the caller's ids are hashed, and a new process recomputes the key from
// the id. 128 bits of SHA-256 make a collision in one job beyond reach;
// SubmitBatch refuses one anyway.
func batchKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// batchItem is a request of a submission with its key and model.
type batchItem struct {
	key   string
	model string
	req   *Request
}

// batchGroup is the requests of a submission for one model, in
// submission order.
type batchGroup struct {
	model string
	items []batchItem
}

// groupBatch checks a submission and groups it by model, models in the
// order they first appear; model is the provider's default.
func groupBatch(provider, model string, reqs []BatchRequest) ([]batchGroup, error) {
	if len(reqs) == 0 {
		return nil, fmt.Errorf("llmlimit: %s: empty batch", provider)
	}
	seen := make(map[string]string, len(reqs))
	index := map[string]int{}
	var groups []batchGroup
	for i, r := range reqs {
		switch {
		case r.ID == "":
			return nil, fmt.Errorf("llmlimit: %s: batch request %d has an empty id", provider, i)
		case r.Request == nil:
			return nil, fmt.Errorf("llmlimit: %s: batch request %q is nil", provider, r.ID)
		}
		k := batchKey(r.ID)
		if prev, dup := seen[k]; dup {
			if prev == r.ID {
				return nil, fmt.Errorf("llmlimit: %s: duplicate batch request id %q", provider, r.ID)
			}
			return nil, fmt.Errorf("llmlimit: %s: batch request ids %q and %q hash alike", provider, prev, r.ID)
		}
		seen[k] = r.ID
		m := r.Request.Model
		if m == "" {
			m = model
		}
		g, ok := index[m]
		if !ok {
			g = len(groups)
			index[m] = g
			groups = append(groups, batchGroup{model: m})
		}
		groups[g].items = append(groups[g].items, batchItem{key: k, model: m, req: r.Request})
	}
	return groups, nil
}

// batchLimits lowers a provider's batch limits in tests; zero fields
// are the API's: the lines and bytes of an OpenAI input file, the bytes
// of a Gemini inline submission.
type batchLimits struct{ lines, bytes int }

// batchPart is one provider job of a handle and its number of requests.
type batchPart struct {
	name string
	n    int
}

// handleVersion is the format of handles; a later format gets a new one.
const handleVersion = "v1"

// encodeHandle writes a handle: "<provider>:v1:<job>=<n>,<job>=<n>...".
func encodeHandle(provider string, parts []batchPart) string {
	var b strings.Builder
	b.WriteString(provider)
	b.WriteString(":" + handleVersion + ":")
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(p.n))
	}
	return b.String()
}

// maxHandleParts bounds what a handle may name, so that a corrupt one
// can't make a poll send thousands of requests.
const maxHandleParts = 1000

// decodeHandle reads a handle encodeHandle wrote for provider.
func decodeHandle(provider, h string) ([]batchPart, error) {
	bad := func(why string) error {
		return fmt.Errorf("llmlimit: %s: bad batch handle %q: %s", provider, clipMessage(h), why)
	}
	rest, ok := strings.CutPrefix(h, provider+":"+handleVersion+":")
	if !ok {
		return nil, bad("not a " + provider + " " + handleVersion + " handle")
	}
	fields := strings.Split(rest, ",")
	if len(fields) > maxHandleParts {
		return nil, bad("too many jobs")
	}
	parts := make([]batchPart, 0, len(fields))
	for _, f := range fields {
		i := strings.LastIndexByte(f, '=')
		if i <= 0 {
			return nil, bad("a job without a name or count")
		}
		name := f[:i]
		n, err := strconv.Atoi(f[i+1:])
		if err != nil || n <= 0 || strconv.Itoa(n) != f[i+1:] {
			return nil, bad("a job's count is not a positive number")
		}
		if strings.ContainsAny(name, " \t\r\n=?#") {
			return nil, bad("a job name with a reserved character")
		}
		parts = append(parts, batchPart{name: name, n: n})
	}
	return parts, nil
}

// partStatus is one provider job's status.
type partStatus struct {
	state        BatchState
	done, failed int // -1: unknown
}

// combineStatus adds the parts' statuses up as BatchStatus documents.
func combineStatus(parts []batchPart, ss []partStatus) BatchStatus {
	st := BatchStatus{}
	running, ended := BatchCompleted, BatchCompleted
	anyRunning, anyEnded := false, false
	for i, s := range ss {
		st.Total += parts[i].n
		if s.state.Final() {
			anyEnded = true
			if endRank(s.state) > endRank(ended) {
				ended = s.state
			}
		} else {
			running = min(running, s.state)
			anyRunning = true
		}
		if st.Done >= 0 {
			if s.done < 0 {
				st.Done = -1
			} else {
				st.Done += s.done
			}
		}
		if st.Failed >= 0 {
			if s.failed < 0 {
				st.Failed = -1
			} else {
				st.Failed += s.failed
			}
		}
	}
	st.State = ended
	if anyRunning {
		st.State = running
		if running == BatchPending && anyEnded {
			// A part that ended while others wait is progress.
			st.State = BatchRunning
		}
	}
	return st
}

// endRank orders the final states from the best ending to the worst.
func endRank(s BatchState) int {
	switch s {
	case BatchCancelled:
		return 1
	case BatchExpired:
		return 2
	case BatchFailed:
		return 3
	}
	return 0
}

// abandon is SubmitBatch's failure after parts were started: err, and
// the handle of those parts when cancelling them failed (cancelErr).
func abandon(provider string, parts []batchPart, err, cancelErr error) (string, error) {
	if cancelErr == nil {
		return "", err
	}
	return encodeHandle(provider, parts), errors.Join(err, cancelErr)
}

// notRun is the result error of a request that a job, ended in state,
// never ran; why adds what the provider said, if anything.
func notRun(provider string, state BatchState, why string) error {
	msg := fmt.Sprintf("llmlimit: %s: batch job %s without a result for the request", provider, state)
	if why != "" {
		msg += " (" + why + ")"
	}
	return &ProviderError{Provider: provider, Kind: KindTransient, Err: fmt.Errorf("%s: %w", msg, ErrBatchNotRun)}
}

// lineResult is a result line of a provider job, under its key.
type lineResult struct {
	resp *Response
	err  error
}

// assemble gives each id its result from found, or, when there is none,
// the error missing returns for its key.
func assemble(ids []string, found map[string]lineResult, missing func(key string) error) []BatchResult {
	out := make([]BatchResult, len(ids))
	for i, id := range ids {
		k := batchKey(id)
		out[i].ID = id
		if r, ok := found[k]; ok {
			out[i].Response, out[i].Err = r.resp, r.err
			continue
		}
		out[i].Err = missing(k)
	}
	return out
}
