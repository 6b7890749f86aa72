package llmtest

// Counters counts what an [Emulator] served, per API.
type Counters struct {
	Gemini, OpenAI APICounters
}

// APICounters counts what one emulated API served. Every count is taken
// when a request arrives, except Successes and the token usage, which count
// replies sent.
type APICounters struct {
	Requests      int // every HTTP request received for this API
	Successes     int // 200 replies, malformed and dropped ones included
	RateLimited   int // quota 429s citing only per-window quotas
	QuotaExceeded int // quota 429s citing a per-day quota, and insufficient_quota
	ServerErrors  int // 5xx replies
	Unauthorized  int // requests with a missing or wrong key
	Malformed     int // 200 replies whose model text is not valid JSON
	Dropped       int // 200 replies that omitted an item
	InputTokens   int // prompt tokens of 200 replies
	OutputTokens  int // reply tokens of 200 replies
	// Limited counts quota 429s by the quota they cite: a Gemini 429 that
	// lists several violations counts once for each; an OpenAI 429 cites
	// one.
	Limited Limits
	// TooLarge counts requests refused because their tokens exceed what a
	// token quota can ever hold (OpenAI's "Request too large"; Gemini's
	// ordinary token 429, which no wait can get past). They count in
	// Limited and RateLimited or QuotaExceeded too.
	TooLarge int
	// TokensAdmitted is the tokens admitted requests counted against the
	// token quotas (see [API]), set or not: what the server saw, to compare
	// with what a client estimated or was told in usage.
	TokensAdmitted int
}

// Limits counts 429s per quota of an [API].
type Limits struct {
	Requests, Tokens, RequestsPerDay, TokensPerDay int
}

// add counts one 429 that cites quota k.
func (l *Limits) add(k quotaKind) {
	switch k {
	case requestsPerWindow:
		l.Requests++
	case tokensPerWindow:
		l.Tokens++
	case requestsPerDay:
		l.RequestsPerDay++
	case tokensPerDay:
		l.TokensPerDay++
	}
}
