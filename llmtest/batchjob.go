package llmtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// BatchConfig configures an API's batch jobs ([API.Batch]). The zero value
// answers a job at once, fails no request and keeps the API's window and
// limits.
//
// A job's requests are answered evenly over Latency, in input order or,
// with OutOfOrder, in a shuffled one, by the same tagger and with the same
// token usage as the synchronous endpoint gives the same request. Its
// state is worked out from the clock whenever it is asked for, so inside a
// testing/synctest bubble a job of hours runs in virtual time, and no
// goroutine runs between requests. Batch calls count against none of the
// API's quotas: batch quotas are separate at both providers.
//
// A job's parameters are fixed when it is created; [Emulator.Update]
// changes only later jobs. Batch requests appear in [Emulator.BatchCounters],
// not in [Emulator.Counters] or [Emulator.Received].
type BatchConfig struct {
	// Latency is how long a job takes from creation to its last answer.
	// Requests are answered one by one at equal steps over it, so a poll
	// halfway sees half of them done. A job with none answered yet is
	// pending (OpenAI's validating).
	Latency time.Duration
	// Window is how long a job may run: 0 is the API's, the 24 hours of
	// OpenAI's completion window and the 48 hours after which Gemini
	// expires a job. A job whose Latency is longer expires at the end of
	// its window with the requests answered by then: OpenAI returns them,
	// and an error line with code batch_expired for each of the others;
	// Gemini returns none.
	Window time.Duration
	// FailRate is the share of requests answered with a server error: a
	// 500 in the API's error shape, in OpenAI's error file or as a Gemini
	// result's error. A Gemini job with a failed request ends as
	// JOB_STATE_PARTIALLY_SUCCEEDED, the state genai defines for it;
	// OpenAI's is completed, the failures counted.
	FailRate float64
	// OutOfOrder answers requests, and writes their results (result
	// files, Gemini's inlined responses), in a shuffled order rather than
	// input order. Real OpenAI output files are in no promised order;
	// Gemini writes its results in input order.
	OutOfOrder bool
	// StrayLines adds this many results whose custom_id or key belongs to
	// no request of the job, as a client must be ready to ignore.
	StrayLines int
	// CancelLatency is how long a cancelled OpenAI job stays cancelling
	// before it is cancelled; requests answered before the cancel are
	// returned, the others get error lines with code batch_cancelled.
	// Gemini cancels at once and returns no results.
	CancelLatency time.Duration
	// MaxLines bounds the requests of one OpenAI input file: 0 is the
	// API's 50,000. A larger file fails the job at validation, as the real
	// API does (and so does one over 200 MB).
	MaxLines int
}

// Windows and limits of the real batch APIs.
const (
	openaiBatchWindow   = 24 * time.Hour
	geminiBatchWindow   = 48 * time.Hour
	openaiBatchMaxLines = 50_000
	openaiBatchMaxBytes = 200 << 20
	// maxUpload bounds an uploaded file; Gemini takes files of 2 GB, far
	// more than a test kit should hold in memory.
	maxUpload = 256 << 20
)

// batchLine is one request of a job.
type batchLine struct {
	key  string            // OpenAI's custom_id, Gemini's key or metadata key
	meta map[string]string // Gemini's metadata of an inlined request
	rec  Received
	fail bool   // answered with a server error
	bad  string // a request the API refused: the line's 400 message
}

// batchJob is one job; the store's lock guards it.
type batchJob struct {
	id, api, model, display string
	created                 time.Time
	latency, window         time.Duration
	cancelLatency           time.Duration
	lines                   []batchLine
	order                   []int // the order requests are answered in
	stray                   int
	inline                  bool            // Gemini: inlined requests, inlined responses
	inlined                 []geminiInlined // Gemini: those responses, once the job has completed
	inputFile               string          // OpenAI: the input file's id
	invalid                 []jobError      // OpenAI: validation errors; the job failed
	cancelled               time.Time       // when it was cancelled, or zero
	outputFile, errorFile   string          // set once the job has ended
	results                 []int           // the order of its results, once it has ended
	counted                 bool            // its results are in the counters
}

// jobError is an OpenAI validation error of an input file.
type jobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   any    `json:"param"`
	Line    any    `json:"line"`
}

// jobState is a job's state at a moment, in neutral terms.
type jobState int

const (
	jobPending jobState = iota
	jobRunning
	jobCancelling
	jobCompleted
	jobFailed
	jobExpired
	jobCancelled
)

func (s jobState) final() bool { return s >= jobCompleted }

// snapshot is what a job looks like at a moment.
type snapshot struct {
	state        jobState
	done, failed int       // requests answered, and how many with an error
	ended        time.Time // when the job reached its final state, if it has
}

// at works out the job's state at now: answered requests advance with
// time until the job completes, expires or is cancelled.
func (j *batchJob) at(now time.Time) snapshot {
	n := len(j.lines)
	if len(j.invalid) > 0 {
		return snapshot{state: jobFailed, ended: j.created}
	}
	stop := now
	if !j.cancelled.IsZero() && j.cancelled.Before(stop) {
		stop = j.cancelled
	}
	elapsed := min(stop.Sub(j.created), j.window)
	var s snapshot
	switch {
	case j.latency <= 0 || elapsed >= j.latency:
		s.done = n
	case elapsed > 0:
		// n·elapsed overflows 64 bits for large jobs of days.
		hi, lo := bits.Mul64(uint64(n), uint64(elapsed))
		q, _ := bits.Div64(hi, lo, uint64(j.latency))
		s.done = int(q)
	}
	for _, i := range j.order[:s.done] {
		if j.lines[i].fail || j.lines[i].bad != "" {
			s.failed++
		}
	}
	switch {
	case s.done == n && (j.cancelled.IsZero() || j.created.Add(j.latency).Before(j.cancelled)):
		s.state, s.ended = jobCompleted, j.created.Add(max(j.latency, 0))
	case !j.cancelled.IsZero():
		s.state = jobCancelling
		if end := j.cancelled.Add(j.cancelLatency); !now.Before(end) {
			s.state, s.ended = jobCancelled, end
		}
	case now.Sub(j.created) >= j.window:
		s.state, s.ended = jobExpired, j.created.Add(j.window)
	case s.done == 0:
		s.state = jobPending
	default:
		s.state = jobRunning
	}
	return s
}

// answered reports which requests have a result, by index, once the job
// is in state s.
func (j *batchJob) answered(s snapshot) []bool {
	a := make([]bool, len(j.lines))
	for _, i := range j.order[:s.done] {
		a[i] = true
	}
	return a
}

// reply is the answer a line gets: text and token usage, as the
// synchronous endpoint would give the same request.
func (l batchLine) reply() (text string, in, out int) {
	text = answerOrEmpty(l.rec.Prompt)
	return text, inputTokens(l.rec), tokens(text)
}

// BatchCounters counts what the emulator's batch endpoints served, per
// API.
type BatchCounters struct {
	Gemini, OpenAI APIBatchCounters
}

// APIBatchCounters counts what one API's batch and file endpoints served.
// Results are counted once per job, when a request first finds it ended.
type APIBatchCounters struct {
	Requests  int // HTTP requests to the batch and file endpoints
	Uploads   int // files uploaded (a Gemini upload counts once, whatever its chunks)
	Downloads int // result files read
	Jobs      int // jobs created
	Cancels   int // jobs cancelled
	Lines     int // requests in the jobs created
	// Succeeded and Failed count the results of ended jobs; Unanswered
	// the requests an expired or cancelled job never ran.
	Succeeded, Failed, Unanswered int
	// InputTokens and OutputTokens are the usage of the succeeded
	// results, as their replies report it.
	InputTokens, OutputTokens int
}

// batchStore holds the jobs and files of both APIs, under its own lock;
// the emulator's lock is taken only to read the configuration, never
// while this one is held.
type batchStore struct {
	mu       sync.Mutex
	rng      *rand.Rand
	seq      int
	jobs     map[string]*batchJob
	files    map[string]*storedFile
	uploads  map[string]*pendingUpload
	counters BatchCounters
}

// BatchCounters returns what the batch endpoints have served so far.
func (e *Emulator) BatchCounters() BatchCounters {
	b := &e.batch
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.counters
}

// lock takes the store's lock, making its maps on first use, seeded by
// the configuration's seed at that moment. serveBatch, through which every
// batch request comes, takes it first; the handlers then just lock mu.
func (b *batchStore) lock(seed int64) {
	b.mu.Lock()
	if b.jobs == nil {
		s := uint64(seed) ^ 0xba7c4
		b.rng = rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
		b.jobs, b.files, b.uploads = map[string]*batchJob{}, map[string]*storedFile{}, map[string]*pendingUpload{}
	}
}

func (b *batchStore) api(name string) *APIBatchCounters {
	if name == "gemini" {
		return &b.counters.Gemini
	}
	return &b.counters.OpenAI
}

// newID is a fresh id of a job, file or upload: prefix and a sequence
// number.
func (b *batchStore) newID(prefix string) string {
	b.seq++
	return fmt.Sprintf("%s%010d", prefix, b.seq)
}

// newJob fills in a job's schedule from the configuration and registers
// it under a fresh id.
func (b *batchStore) newJob(j *batchJob, cfg BatchConfig, window time.Duration) {
	j.id, j.created, j.latency, j.window = b.newID("emu"), time.Now(), cfg.Latency, window
	if cfg.Window > 0 {
		j.window = cfg.Window
	}
	if j.api == "openai" {
		j.cancelLatency = cfg.CancelLatency
	}
	j.order = make([]int, len(j.lines))
	for i := range j.order {
		j.order[i] = i
	}
	if cfg.OutOfOrder {
		b.rng.Shuffle(len(j.order), func(a, c int) { j.order[a], j.order[c] = j.order[c], j.order[a] })
	}
	for i := range j.lines {
		j.lines[i].fail = cfg.FailRate > 0 && b.rng.Float64() < cfg.FailRate
	}
	j.stray = max(cfg.StrayLines, 0)
	b.jobs[j.id] = j
	c := b.api(j.api)
	c.Jobs++
	c.Lines += len(j.lines)
}

// cancel cancels j at now unless it has ended or is being cancelled
// already, and reports whether it did, with the job's state after.
// (A Gemini job, cancelled at once, is never seen cancelling.)
func (b *batchStore) cancel(j *batchJob, now time.Time) (snapshot, bool) {
	if s := j.at(now); s.state.final() || s.state == jobCancelling {
		return s, false
	}
	j.cancelled = now
	b.api(j.api).Cancels++
	return j.at(now), true
}

// count adds an ended job's results to the counters, once.
func (b *batchStore) count(j *batchJob, s snapshot) {
	if j.counted || !s.state.final() {
		return
	}
	j.counted = true
	c := b.api(j.api)
	answered := j.answered(s)
	for i, l := range j.lines {
		switch {
		case !answered[i]: // an invalid job's snapshot has none answered
			c.Unanswered++
		case l.fail || l.bad != "":
			c.Failed++
		default:
			_, in, out := l.reply()
			c.Succeeded++
			c.InputTokens += in
			c.OutputTokens += out
		}
	}
}

// resultOrder is the order an ended job's results are written in: the
// order requests were answered, with stray results (index -1) among them.
// It is drawn once, so that every read of the results agrees.
func (b *batchStore) resultOrder(j *batchJob, s snapshot) []int {
	if j.results != nil {
		return j.results
	}
	order := append([]int{}, j.order[:s.done]...)
	for range j.stray {
		at := len(order)
		if len(order) > 0 {
			at = b.rng.IntN(len(order) + 1)
		}
		order = slices.Insert(order, at, -1)
	}
	j.results = order
	return order
}

// eachJSONL calls line with each non-blank line of a JSONL file, trimmed,
// and its number (blank lines count), and returns the error that stopped
// the reading early, such as a line over limit bytes.
func eachJSONL(data []byte, limit int, line func(n int, raw []byte)) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), limit)
	for n := 1; sc.Scan(); n++ {
		if raw := bytes.TrimSpace(sc.Bytes()); len(raw) > 0 {
			line(n, raw)
		}
	}
	return sc.Err()
}

// writeJSONL appends v to a JSONL result file as one line.
func writeJSONL(buf *bytes.Buffer, v any) {
	enc, _ := json.Marshal(v)
	buf.Write(enc)
	buf.WriteByte('\n')
}

// strayKey is the custom_id or key of the k-th stray result.
func strayKey(j *batchJob, k int) string { return "stray-" + j.id + "-" + strconv.Itoa(k) }

// apiConfig reads what the batch endpoints need of one API's
// configuration, under the emulator's lock.
func (e *Emulator) apiConfig(api string) (API, int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg.api(api), e.cfg.Seed
}

// authorized checks the request's key as the synchronous endpoints do,
// and writes the refusal when it fails.
func authorized(w http.ResponseWriter, r *http.Request, wire apiWire, api API) bool {
	o := keyOutcome(r, wire, api)
	if o != outOK {
		wire.writeRefusal(w, decision{outcome: o})
	}
	return o == outOK
}
