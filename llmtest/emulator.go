package llmtest

import (
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/llmlimit/llmlimit/internal/wait"
)

// Received is one request as the emulator read it, for tests that check
// what a provider sends. It never holds the API key.
type Received struct {
	// API is "gemini" or "openai".
	API   string
	Model string
	// System is the system instruction (Gemini systemInstruction, OpenAI
	// system or developer messages).
	System string
	// Prompt is the user text (Gemini contents, OpenAI user messages),
	// parts joined by newlines.
	Prompt string
	// ResponseFormat is Gemini's generationConfig.responseMimeType or
	// OpenAI's response_format.type; "" when not set.
	ResponseFormat string
	// Schema is the JSON schema the request asked the reply to follow, or
	// nil.
	Schema          map[string]any
	MaxOutputTokens int
	Temperature     *float64
}

// Emulator is an http.Handler that emulates the Gemini generateContent and
// OpenAI chat completions endpoints well enough for the real SDK clients:
// API keys, request and token quotas per window and per day in the shapes
// real servers use ([Quota], [Shape]), 429 bodies and headers as the real
// APIs write them (see [API]), injected 5xx, outages, malformed and
// incomplete replies, latency and token usage. Batch prompts are answered by
// [Answer].
//
// Each request is checked in this order: route, key, body, (OpenAI)
// insufficient_quota, outage (503), injected 500, (OpenAI) too large for a
// token quota, then every quota at once. Quotas are counted when a request
// arrives, under the emulator's lock, so the replies depend only on the
// order of arrivals; a refused request consumes no quota. An admitted
// request is answered after its latency, or not at all when its context
// ends first.
//
// An Emulator is safe for simultaneous use by multiple goroutines. Its clock
// is time.Now, so inside a testing/synctest bubble (through [Emulator.Transport])
// windows, buckets, outages and latency run in virtual time; such a bubble
// starts at 2000-01-01 00:00 UTC, eight hours before Gemini's first
// midnight Pacific.
type Emulator struct {
	start time.Time

	mu       sync.Mutex
	cfg      Config
	rng      *rand.Rand
	gemini   apiState
	openai   apiState
	seq      int
	received []Received

	batch batchStore // batch jobs and files, under a lock of their own
}

// NewEmulator returns an emulator whose clock starts now.
func NewEmulator(cfg Config) *Emulator {
	seed := uint64(cfg.Seed)
	return &Emulator{
		start: time.Now(),
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// Counters returns what the emulator has served so far.
func (e *Emulator) Counters() Counters {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Counters{Gemini: e.gemini.counters, OpenAI: e.openai.counters}
}

// Received returns the requests read so far, in arrival order.
func (e *Emulator) Received() []Received {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Received(nil), e.received...)
}

// Update changes the configuration under the emulator's lock, for example
// to start an outage mid-run. Quota counts and the clock carry over.
func (e *Emulator) Update(f func(*Config)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(&e.cfg)
}

// maxBody bounds a request body; real APIs reject far smaller ones.
const maxBody = 20 << 20

// ServeHTTP answers POST /v1beta/models/{model}:generateContent (Gemini) and
// POST /v1/chat/completions (OpenAI), the batch and file endpoints of both
// (see [BatchConfig]); anything else is a 404.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.serveBatch(w, r) {
		return
	}
	var wire apiWire
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1beta/models/"):
		model, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/v1beta/models/"), ":generateContent")
		if !ok || model == "" || strings.Contains(model, "/") {
			writeGeminiError(w, http.StatusNotFound, "NOT_FOUND", "Method not found.")
			return
		}
		wire = &geminiWire{model: model}
	case r.URL.Path == "/v1/chat/completions":
		wire = &openaiWire{}
	default:
		http.Error(w, "llmtest: no such endpoint", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		wire.writeBadRequest(w, http.StatusMethodNotAllowed, "Method not allowed.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		wire.writeBadRequest(w, http.StatusBadRequest, "Could not read the request body.")
		return
	}
	rec, perr := wire.parse(body)
	// The answer is a pure function of the prompt: work it out before the
	// lock, since an OpenAI token quota counts its size on arrival.
	answer := answerOrEmpty(rec.Prompt)

	d := e.admit(r, wire, rec, perr, quotaTokens(wire.name(), rec, answer))
	if d.outcome != outOK {
		wire.writeRefusal(w, d)
		return
	}
	if err := wait.Sleep(r.Context(), d.latency); err != nil {
		return
	}
	text, malformed, dropped := reply(answer, d)
	in, out := inputTokens(rec), tokens(text)
	e.mu.Lock()
	c := e.state(wire.name())
	c.counters.Successes++
	if malformed {
		c.counters.Malformed++
	}
	if dropped {
		c.counters.Dropped++
	}
	c.counters.InputTokens += in
	c.counters.OutputTokens += out
	e.mu.Unlock()
	wire.writeSuccess(w, d, text, in, out)
}

// apiWire is what differs between the two APIs: reading a request and the
// shape of every reply.
type apiWire interface {
	name() string
	apiKey(r *http.Request) (key string, present bool)
	parse(body []byte) (Received, error)
	writeBadRequest(w http.ResponseWriter, status int, msg string)
	writeRefusal(w http.ResponseWriter, d decision)
	writeSuccess(w http.ResponseWriter, d decision, text string, in, out int)
}

func (e *Emulator) state(api string) *apiState {
	if api == "gemini" {
		return &e.gemini
	}
	return &e.openai
}

// admit applies the checks in order and counts the request, all under the
// lock so that concurrent requests see one consistent quota.
func (e *Emulator) admit(r *http.Request, wire apiWire, rec Received, perr error, cost int) decision {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	st := e.state(wire.name())
	st.counters.Requests++
	api := e.cfg.api(wire.name())
	d := decision{seq: e.seq, model: rec.Model}
	if d.outcome = keyOutcome(r, wire, api); d.outcome != outOK {
		st.counters.Unauthorized++
		return d
	}
	if perr != nil {
		d.outcome, d.message = outBadRequest, perr.Error()
		return d
	}
	e.received = append(e.received, rec)
	return st.decide(d, api, e.start, now, e.rng, wire.name() == "openai", cost)
}

// keyOutcome checks r's API key: outOK when it is api's (or api needs
// none), else outNoKey or outBadKey.
func keyOutcome(r *http.Request, wire apiWire, api API) outcome {
	key, present := wire.apiKey(r)
	switch {
	case api.Key == "" || key == api.Key:
		return outOK
	case !present:
		return outNoKey
	}
	return outBadKey
}
