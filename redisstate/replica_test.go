package redisstate

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// Replicas in these tests are what separate processes would have: their own
// Redis client, their own HTTP transport and genai client, their own
// Limiter. Only the emulator (the provider's quota) and Redis are shared.
// They run in real time, since Redis's clock can't be virtual, against the
// emulator over loopback (httptest.NewServer hangs a synctest bubble).

const geminiKey = "AIza-redisstate-test-key"

// emulator serves a Gemini quota of q requests per window w over loopback.
func emulator(t *testing.T, q int, w, latency time.Duration) (*llmtest.Emulator, string) {
	t.Helper()
	emu := llmtest.NewEmulator(llmtest.Config{Gemini: llmtest.API{
		Key: geminiKey, RequestsPerWindow: q, Window: w,
		Latency: func(r *rand.Rand) time.Duration {
			return latency + time.Duration(r.Int64N(int64(latency/4)+1))
		},
	}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv.URL + "/"
}

// sends records when a replica's requests left it, and their statuses.
type sends struct {
	base http.RoundTripper
	mu   sync.Mutex
	at   []time.Time
	sent []time.Time // when the reply arrived
	code []int
}

func (s *sends) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := s.base.RoundTrip(req)
	code := 0
	if err == nil {
		code = resp.StatusCode
	}
	s.mu.Lock()
	s.at, s.sent, s.code = append(s.at, start), append(s.sent, time.Now()), append(s.code, code)
	s.mu.Unlock()
	return resp, err
}

// log returns the send times, reply times and statuses so far.
func (s *sends) log() (at, replied []time.Time, codes []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.at...), append([]time.Time(nil), s.sent...), append([]int(nil), s.code...)
}

type replica struct {
	lim   *llmlimit.Limiter
	sends *sends
	logs  *syncBuffer
}

// newReplica builds one replica against the emulator at url. redisAddr ""
// keeps its state in memory; otherwise it shares the quota key through its
// own client of that address.
func newReplica(t *testing.T, url, redisAddr, key string, opts ...llmlimit.Option) *replica {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	rec := &sends{base: tr}
	gc, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		APIKey: geminiKey, Backend: genai.BackendGeminiAPI,
		HTTPClient: &http.Client{Transport: rec}, HTTPOptions: genai.HTTPOptions{BaseURL: url},
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	opts = append([]llmlimit.Option{
		llmlimit.WithLogger(slog.New(slog.NewTextHandler(logs, nil))),
		// The seed's crude pause after every 12 successes would only
		// waste quota that pacing already keeps.
		llmlimit.WithSuccessCooldown(0, 0),
	}, opts...)
	if redisAddr != "" {
		opts = append(opts, llmlimit.WithState(New(newClient(t, redisAddr), key)))
	}
	l, err := llmlimit.New(llmlimit.NewGemini(gc, "gemini-2.5-flash"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &replica{lim: l, sends: rec, logs: logs}
}

var request = &llmlimit.Request{Prompt: "Say hello."}

// syncBuffer is a bytes.Buffer safe for the Limiter's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
