package redisstate_test

import (
	"context"
	"log"
	"os"

	"github.com/redis/go-redis/v9"
	"google.golang.org/genai"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/redisstate"
)

// Every replica of a service builds its Limiter the same way: the same key,
// so the same quota state in Redis. It needs a Redis server and an API key,
// so it has no output.
func ExampleNew() {
	ctx := context.Background()
	apiKey := os.Getenv("GEMINI_API_KEY")
	gc, err := genai.NewClient(ctx, &genai.ClientConfig{APIKey: apiKey, Backend: genai.BackendGeminiAPI})
	if err != nil {
		log.Fatal(err)
	}
	// ContextTimeoutEnabled lets the Limiter's short timeout on each call
	// cut a hung connection; NewClient bounds what the client reads.
	rc := redisstate.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR"), ContextTimeoutEnabled: true})
	defer rc.Close()

	const model = "gemini-2.5-flash"
	shared := redisstate.New(rc, redisstate.Key("gemini", model, apiKey))
	l, err := llmlimit.New(llmlimit.NewGemini(gc, model),
		llmlimit.WithState(shared),
		llmlimit.WithRequestsPerMinute(60), // the project's quota, for all replicas together
	)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := l.Generate(ctx, &llmlimit.Request{Prompt: "Say hello."})
	if err != nil {
		log.Fatal(err)
	}
	log.Println(resp.Text)
}
