// Package llmlimit makes rate-limited calls to large language models.
//
// A [Limiter] wraps a [Provider] (one LLM backend: [Gemini], [OpenAI], or
// your own) and keeps that backend's quota for every caller in the process:
// it bounds concurrency, paces requests, retries rate-limited and transient
// failures with exponential backoff and jitter, obeys the server's own retry
// hints, and shares one cooldown gate between all callers so that a burst of
// 429s slows everyone down instead of each caller hammering the API on its
// own.
//
// [Fallback] chains providers, typically Gemini first and OpenAI second, so
// that work the first cannot serve in time is served by the next.
//
// [TagSpace] tags every item of a [Space] in batches through a cache and
// reports what happened: success and fallback rates, 429s, cooldowns, cost
// and cache hits.
//
// [WithMeterProvider] and [WithTracerProvider] record all of it as
// OpenTelemetry metrics and traces, following the GenAI semantic
// conventions where they apply; without them nothing is recorded.
//
// The llmtest package provides a scriptable fake [Provider] and a wire-level
// emulator of both APIs for tests that must not touch the network.
package llmlimit
