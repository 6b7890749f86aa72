package llmtest

import "math"

// tokens estimates a token count the way providers' rules of thumb do: about
// four bytes a token.
func tokens(s string) int { return (len(s) + 3) / 4 }

// inputTokens is the emulator's count of a request's prompt tokens, the
// promptTokenCount or prompt_tokens its reply reports.
func inputTokens(rec Received) int { return tokens(rec.System) + tokens(rec.Prompt) }

// quotaTokens is what a request counts against a token quota when it
// arrives. Gemini's token quotas count input tokens only. OpenAI counts the
// prompt plus the most the reply may take, max_completion_tokens or
// max_tokens, or, when neither is set, the emulator's estimate of the reply
// it will send (its tokens are those of reply, the model text). The sum
// saturates rather than overflow, so an absurd max_tokens is merely too
// large for every quota.
func quotaTokens(api string, rec Received, reply string) int {
	in := inputTokens(rec)
	if api == "gemini" {
		return in
	}
	out := max(rec.MaxOutputTokens, tokens(reply))
	if out > math.MaxInt32-in {
		return math.MaxInt32
	}
	return in + out
}
