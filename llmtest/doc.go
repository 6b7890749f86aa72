// Package llmtest is a test kit for code that calls language models through
// llmlimit: a scriptable fake [llmlimit.Provider] ([Fake]) and a wire-level
// [Emulator] of the Gemini and OpenAI HTTP APIs, with request quotas,
// real-shaped 429 bodies and headers, injected failures and a deterministic
// tagger ([Tags], [Answer]) that answers the batch protocol of
// [llmlimit.TagSpace].
//
// The emulator serves over loopback (httptest.NewServer) and in-process
// through [Emulator.Transport], which is what tests inside testing/synctest
// bubbles need: there, every latency and quota window runs in virtual time.
// [Emulator.GeminiClient] and [Emulator.OpenAIClient] return the real SDK
// clients pointed at it.
//
// Nothing here touches the network.
package llmtest
