// Package llmtest is a test kit for code that calls language models through
// llmlimit: a scriptable fake [llmlimit.Provider] ([Fake]) and a wire-level
// [Emulator] of the Gemini and OpenAI HTTP APIs, with request and token
// quotas per window and per day in the shapes real servers refill them
// ([Quota], [Shape]), 429 bodies and headers as the real APIs write them,
// injected failures and a deterministic tagger ([Tags], [Answer]) that
// answers the batch protocol of [llmlimit.TagSpace].
//
// The emulator serves over loopback (httptest.NewServer) and in-process
// through [Emulator.Transport], which is what tests inside testing/synctest
// bubbles need: there, every latency, quota window and bucket refill runs
// in virtual time. [Emulator.GeminiClient] and [Emulator.OpenAIClient]
// return the real SDK clients pointed at it.
//
// Nothing here touches the network.
package llmtest
