package llmlimit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmlimit/llmlimit"
	"github.com/llmlimit/llmlimit/llmtest"
)

// redisCache is a Cache in Redis, shared by every process and machine that
// tags with it. Get and Add have no error to return: a Redis that fails or
// hangs (each call is bounded by the timeout) reads as a miss and drops the
// write, and the run goes on without the cache.
type redisCache struct {
	rc      *redis.Client
	prefix  string
	ttl     time.Duration
	timeout time.Duration
}

func (c *redisCache) Get(key string) ([]string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	b, err := c.rc.Get(ctx, c.prefix+key).Bytes()
	if err != nil {
		return nil, false
	}
	var tags []string
	if json.Unmarshal(b, &tags) != nil || len(tags) == 0 {
		return nil, false
	}
	return tags, true
}

func (c *redisCache) Add(key string, tags []string) {
	b, err := json.Marshal(tags)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	c.rc.Set(ctx, c.prefix+key, b, c.ttl)
}

// Any Cache can stand in for the in-memory one, here Redis, so that
// replicas share their results. A Cache keeps tags only, so TagSpace can't
// tell one model's results from another's in it (a Store can); it does
// keep an emulator's apart, under other keys. This example needs a Redis
// server, so it has no output to check.
func ExampleCache_redis() {
	rc := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
	defer rc.Close()
	cache := &redisCache{rc: rc, prefix: "tags:", ttl: 30 * 24 * time.Hour, timeout: 250 * time.Millisecond}

	ts, err := llmlimit.NewTagSpace(llmtest.NewFake("gemini"), llmlimit.WithCache(cache))
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := ts.Run(context.Background(), llmlimit.Space{
		Name:  "demo",
		Tags:  []string{"tobacco", "vaccination"},
		Items: []llmlimit.Item{{ID: "1", Text: "A tobacco tax rise."}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Results[0].Tags, rep.Cached)
}
