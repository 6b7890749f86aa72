package llmtest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

const (
	openaiRateLimitsURL = "https://platform.openai.com/account/rate-limits"
	openaiOrg           = "org-emulator"
)

// openaiQuotaNames are the words OpenAI's messages use for each quota.
var openaiQuotaNames = [numKinds]string{
	requestsPerDay:    "requests per day (RPD)",
	tokensPerDay:      "tokens per day (TPD)",
	requestsPerWindow: "requests per min (RPM)",
	tokensPerWindow:   "tokens per min (TPM)",
}

// writeQuota writes a rate_limit_exceeded 429 for the one quota the
// decision cites: "Request too large" when no wait can help (its Limit is
// the most the quota can hold, a bucket's Burst), "Rate limit reached" with
// the time a retry needs otherwise.
func (o *openaiWire) writeQuota(w http.ResponseWriter, d decision) {
	v := d.violations[0]
	typ := "requests"
	if v.kind.tokens() {
		typ = "tokens"
	}
	if d.opaque {
		writeOpenAIError(w, http.StatusTooManyRequests, typ, "rate_limit_exceeded", "Rate limit reached for "+typ+".")
		return
	}
	if d.outcome == outTooLarge {
		writeOpenAIError(w, http.StatusTooManyRequests, typ, "rate_limit_exceeded", fmt.Sprintf(
			"Request too large for %s in organization %s on %s: Limit %d, Requested %d. "+
				"The input or output tokens must be reduced in order to run successfully. Visit %s to learn more.",
			d.model, openaiOrg, openaiQuotaNames[v.kind], v.q.capacity(), v.units, openaiRateLimitsURL))
		return
	}
	if !d.noHint && !d.bodyOnly {
		w.Header().Set("retry-after", strconv.FormatInt(ceilDiv(d.hint, time.Second), 10))
		w.Header().Set("retry-after-ms", strconv.FormatInt(ceilDiv(d.hint, time.Millisecond), 10))
	}
	writeOpenAIError(w, http.StatusTooManyRequests, typ, "rate_limit_exceeded", fmt.Sprintf(
		"Rate limit reached for %s in organization %s on %s: Limit %d, Used %d, Requested %d. Please try again in %s. Visit %s to learn more.",
		d.model, openaiOrg, openaiQuotaNames[v.kind], v.q.Limit, v.used, v.units, goDuration(d.hint), openaiRateLimitsURL))
}

// writeHeaders sets the headers OpenAI sends on every reply that went
// through the quotas: x-request-id, and the state of the request and token
// quotas unless the API hides it (Opaque, or HintsInBodyOnly on a 429).
func (o *openaiWire) writeHeaders(w http.ResponseWriter, d decision, refusal bool) {
	h := w.Header()
	h.Set("x-request-id", fmt.Sprintf("req_%032x", d.seq))
	if d.opaque || (refusal && d.bodyOnly && d.quota429()) {
		return
	}
	for _, q := range []struct {
		unit string
		s    quotaState
	}{{"requests", d.requests}, {"tokens", d.tokens}} {
		if !q.s.set {
			continue
		}
		h.Set("x-ratelimit-limit-"+q.unit, strconv.Itoa(q.s.limit))
		h.Set("x-ratelimit-remaining-"+q.unit, strconv.Itoa(q.s.remaining))
		h.Set("x-ratelimit-reset-"+q.unit, goDuration(q.s.reset))
	}
}

// goDuration formats d like OpenAI's headers and messages, Go's
// Duration.String rounded to the millisecond: "644ms", "1.574s", "20s",
// "1m9.696s", "7m12s".
func goDuration(d time.Duration) string {
	return d.Round(time.Millisecond).String()
}

// ceilDiv is d/unit rounded up, so a client that waits that long is past the
// moment it was told about.
func ceilDiv(d, unit time.Duration) int64 {
	return int64((d + unit - 1) / unit)
}
