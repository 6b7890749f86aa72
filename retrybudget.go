package llmlimit

// retryBudget bounds how much retries can amplify load on a failing
// provider, after gRPC's retry throttling (gRFC A6): every failed attempt
// takes one token, every success gives back a tenth of one, and a transient
// failure is retried only while more than half the tokens are left.
//
// With 10 tokens, a healthy provider never feels it; when a provider fails
// every request, at most 5 retries are spent before retries stop, so the
// requests sent approach the operations attempted instead of 1 + MaxRetries
// times them; and after recovery about 60 successes restore retries. The
// constants are gRPC's defaults, which were chosen for the same job.
//
// Rate limits are not charged here: they have their own controls (the
// gate, server hints, pacing, halving the slot limit), and a 429 says the
// provider is healthy but busy.
//
// retryBudget has no lock of its own: the Limiter's mutex guards it.
type retryBudget struct {
	tokens float64
}

const (
	retryTokens      = 10
	retryTokensRatio = 0.1
)

func newRetryBudget() retryBudget { return retryBudget{tokens: retryTokens} }

// fail charges a failed attempt.
func (b *retryBudget) fail() { b.tokens = max(0, b.tokens-1) }

// succeed refunds part of a token.
func (b *retryBudget) succeed() { b.tokens = min(retryTokens, b.tokens+retryTokensRatio) }

// allow reports whether a transient failure may be retried.
func (b *retryBudget) allow() bool { return b.tokens > retryTokens/2 }
