package llmtest

import (
	"encoding/json"
	"math/rand/v2"
	"time"

	"github.com/llmlimit/llmlimit/internal/prompt"
)

// outcome is how the emulator answers a request.
type outcome int

const (
	outOK outcome = iota
	outBadRequest
	outNoKey
	outBadKey
	outInsufficientQuota
	outUnavailable
	outServerError
	outPerDay
	outRateLimited
)

// decision is everything decided about a request when it arrived, so that a
// reply depends only on the order of arrivals, not on timing.
type decision struct {
	outcome outcome
	seq     int
	model   string
	message string // outBadRequest: the API's message

	// Quota state for 429 bodies and OpenAI x-ratelimit-* headers.
	limit      int           // the quota that was hit (window or day)
	used       int           // requests counted against it
	retry      time.Duration // when a retry can succeed
	hint       bool          // whether to send retry hints
	window     bool          // whether the window quota is set (headers)
	winLimit   int
	winLeft    int
	winReset   time.Duration
	windowHint time.Duration // time to the window's end, Gemini's short hint
	perMinute  bool          // whether the window is a minute, as real quotas are

	latency   time.Duration
	malformed bool
	drop      float64 // in [0, 1): which item to drop, or -1 for none
}

// day is the period of the daily cap.
const day = 24 * time.Hour

// apiState is one API's quota counts and counters; the Emulator's lock
// guards it.
type apiState struct {
	counters    APICounters
	windowIdx   int64
	windowCount int
	dayIdx      int64
	dayCount    int
}

// decide applies outage, injection, daily cap and window quota, in that
// order, and counts an admitted request against both quotas.
func (s *apiState) decide(d decision, api API, start, now time.Time, rng *rand.Rand, openai bool) decision {
	d.hint = !api.NoRetryHint
	if openai && api.InsufficientQuota {
		s.counters.QuotaExceeded++
		d.outcome = outInsufficientQuota
		return d
	}
	if now.Before(start.Add(api.UnavailableUntil)) {
		s.counters.ServerErrors++
		d.outcome = outUnavailable
		return d
	}
	if api.ServerErrorRate > 0 && rng.Float64() < api.ServerErrorRate {
		s.counters.ServerErrors++
		d.outcome = outServerError
		return d
	}

	w := api.Window
	if w <= 0 {
		w = time.Minute
	}
	phase := api.Phase % w
	if phase < 0 {
		phase += w
	}
	elapsed := now.Sub(start) + phase
	if idx := int64(elapsed / w); idx != s.windowIdx {
		s.windowIdx, s.windowCount = idx, 0
	}
	windowEnd := start.Add(-phase + time.Duration(s.windowIdx+1)*w)
	d.windowHint, d.perMinute = windowEnd.Sub(now), w == time.Minute
	if idx := int64(now.Sub(start) / day); idx != s.dayIdx {
		s.dayIdx, s.dayCount = idx, 0
	}
	dayEnd := start.Add(time.Duration(s.dayIdx+1) * day)
	setWindow := func() {
		if api.RequestsPerWindow > 0 {
			d.window = true
			d.winLimit = api.RequestsPerWindow
			d.winLeft = max(api.RequestsPerWindow-s.windowCount, 0)
			d.winReset = d.windowHint
		}
	}

	if api.PerDay > 0 && s.dayCount >= api.PerDay {
		s.counters.QuotaExceeded++
		d.outcome, d.limit, d.used, d.retry = outPerDay, api.PerDay, s.dayCount, dayEnd.Sub(now)
		setWindow()
		return d
	}
	if api.RequestsPerWindow > 0 && s.windowCount >= api.RequestsPerWindow {
		s.counters.RateLimited++
		d.outcome, d.limit, d.used, d.retry = outRateLimited, api.RequestsPerWindow, s.windowCount, d.windowHint
		setWindow()
		return d
	}
	s.windowCount++
	s.dayCount++
	setWindow()

	if api.Latency != nil {
		d.latency = api.Latency(rng)
	}
	d.malformed = api.MalformedRate > 0 && rng.Float64() < api.MalformedRate
	d.drop = -1
	if api.DropRate > 0 && rng.Float64() < api.DropRate {
		d.drop = rng.Float64()
	}
	return d
}

// reply is the model text for an admitted request: the batch answer, maybe
// with one item dropped or cut off halfway.
func reply(p string, d decision) (text string, malformed, dropped bool) {
	text = answerOrEmpty(p)
	if d.malformed {
		return text[:len(text)/2], true, false
	}
	if d.drop < 0 {
		return text, false, false
	}
	var r prompt.Reply
	if err := json.Unmarshal([]byte(text), &r); err != nil || len(r.Results) == 0 {
		return text, false, false
	}
	i := int(d.drop * float64(len(r.Results)))
	r.Results = append(r.Results[:i:i], r.Results[i+1:]...)
	b, err := json.Marshal(r)
	if err != nil {
		return text, false, false
	}
	return string(b), false, true
}

// tokens estimates a token count the way providers' rules of thumb do: about
// four bytes a token.
func tokens(s string) int { return (len(s) + 3) / 4 }
