// Command service is an HTTP service that answers every request with one
// LLM call under a deadline: Gemini first, OpenAI when Gemini can't start
// the call within the request's time, through llmlimit.
//
//	go run ./examples/service            # no API keys: the built-in emulator
//	curl 'http://127.0.0.1:8080/summarize?text=...'
//
// Each request has 5 s. A Limiter never waits past that: when Gemini's
// quota, cooldown or queue would take longer, it refuses at once with a
// *llmlimit.WaitError and the Fallback sends the call to OpenAI with the
// time that is left. A request no provider can start in time gets a 503
// with a Retry-After; one that runs out of time in the provider gets a
// 504.
//
// Sizing: a Limiter's slots bound the calls in flight. For a quota of R
// requests a second and calls of L seconds, the steady state needs R·L
// slots (Little's law); a burst of B requests that must all be served within
// a deadline D needs about B·L/D. The primary keeps the defaults (3 slots,
// growing to 6): its quota, not its slots, is what runs out. The fallback
// takes the overflow of a burst, so it gets slots for the burst.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"google.golang.org/genai"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// requestTimeout is the time each request has.
const requestTimeout = 5 * time.Second

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	gemini, openAI, err := providers(ctx, logger)
	if err != nil {
		log.Fatal(err)
	}
	p, err := newPipeline(gemini, openAI, logger)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: newHandler(p, requestTimeout), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	logger.Info("listening", "addr", *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// newPipeline puts a Limiter around each provider and chains them.
func newPipeline(gemini, openAI llmlimit.Provider, logger *slog.Logger) (llmlimit.Provider, error) {
	g, err := llmlimit.New(gemini, llmlimit.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	o, err := llmlimit.New(openAI, llmlimit.WithLogger(logger),
		llmlimit.WithConcurrency(64), llmlimit.WithMaxConcurrency(256))
	if err != nil {
		return nil, err
	}
	return llmlimit.NewFallback([]llmlimit.Provider{g, o}, llmlimit.WithLogger(logger))
}

// handler answers GET /summarize?text=... with {"summary", "provider"}.
type handler struct {
	p       llmlimit.Provider
	timeout time.Duration
}

func newHandler(p llmlimit.Provider, timeout time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /summarize", handler{p: p, timeout: timeout})
	return mux
}

// maxText bounds the text of one request.
const maxText = 32 << 10

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	text := r.FormValue("text")
	if text == "" || len(text) > maxText {
		http.Error(w, "give text, at most 32 KiB", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	resp, err := h.p.Generate(ctx, &llmlimit.Request{
		System: "Summarise the user's text in one sentence.", Prompt: text, MaxOutputTokens: 200,
	})
	var we *llmlimit.WaitError
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"summary": resp.Text, "provider": resp.Provider})
	case errors.As(err, &we):
		// No provider could start in time; say when one expects to.
		w.Header().Set("Retry-After", strconv.Itoa(int(we.Wait.Seconds())+1))
		http.Error(w, "busy", http.StatusServiceUnavailable)
	case errors.Is(err, context.DeadlineExceeded):
		http.Error(w, "timed out", http.StatusGatewayTimeout)
	default:
		http.Error(w, "upstream failed", http.StatusBadGateway)
	}
}

// providers returns Gemini and OpenAI from GEMINI_API_KEY and
// OPENAI_API_KEY, or both on the built-in emulator when neither is set.
func providers(ctx context.Context, logger *slog.Logger) (gemini, openAI llmlimit.Provider, err error) {
	gk, ok := os.Getenv("GEMINI_API_KEY"), os.Getenv("OPENAI_API_KEY")
	if gk == "" && ok == "" {
		srv := httptest.NewServer(llmtest.NewEmulator(emulatorConfig()))
		logger.Info("no API keys: using the built-in emulator", "url", srv.URL)
		gk, ok = "emulator", "emulator"
		gc, err := genai.NewClient(ctx, &genai.ClientConfig{APIKey: gk, Backend: genai.BackendGeminiAPI,
			HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL + "/"}})
		if err != nil {
			return nil, nil, err
		}
		oc := openai.NewClient(option.WithAPIKey(ok), option.WithBaseURL(srv.URL+"/v1/"))
		return llmlimit.NewGemini(gc, ""), llmlimit.NewOpenAI(oc, ""), nil
	}
	if gk == "" || ok == "" {
		return nil, nil, fmt.Errorf("set both GEMINI_API_KEY and OPENAI_API_KEY, or neither for the emulator")
	}
	gc, err := genai.NewClient(ctx, &genai.ClientConfig{APIKey: gk, Backend: genai.BackendGeminiAPI})
	if err != nil {
		return nil, nil, err
	}
	return llmlimit.NewGemini(gc, ""), llmlimit.NewOpenAI(openai.NewClient(option.WithAPIKey(ok)), ""), nil
}

// emulatorConfig is a small Gemini quota (10 requests per 10 s) and a
// larger OpenAI one (500 a minute), with latencies like the real ones.
func emulatorConfig() llmtest.Config {
	return llmtest.Config{
		Gemini: llmtest.API{RequestsPerWindow: 10, Window: 10 * time.Second, Latency: uniform(800*time.Millisecond, 1200*time.Millisecond)},
		OpenAI: llmtest.API{RequestsPerWindow: 500, Latency: uniform(time.Second, 1500*time.Millisecond)},
	}
}

// uniform draws latencies uniformly from [lo, hi).
func uniform(lo, hi time.Duration) func(*rand.Rand) time.Duration {
	return func(r *rand.Rand) time.Duration { return lo + time.Duration(r.Int64N(int64(hi-lo))) }
}
