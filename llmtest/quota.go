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
	outPerDay      // a quota 429 citing a per-day quota
	outRateLimited // a quota 429 citing per-window quotas only
	outTooLarge    // OpenAI's "Request too large"
)

// decision is everything decided about a request when it arrived, so that a
// reply depends only on the order of arrivals, not on timing.
type decision struct {
	outcome outcome
	seq     int
	model   string
	message string // outBadRequest: the API's message

	// violations are the quotas a 429 cites, in the order its reply lists
	// them; hint is when a retry can succeed, as the reply states it.
	violations []violation
	hint       time.Duration
	// The API's reply options for 429s.
	noHint, bodyOnly, opaque, paid bool
	// requests and tokens are the quota state OpenAI's x-ratelimit-*
	// headers report, after the request counted.
	requests, tokens quotaState

	latency   time.Duration
	malformed bool
	drop      float64 // in [0, 1): which item to drop, or -1 for none
}

// quota429 tells whether the decision is a 429 of the quotas.
func (d decision) quota429() bool {
	return d.outcome == outPerDay || d.outcome == outRateLimited || d.outcome == outTooLarge
}

// violation is one quota that refused a request.
type violation struct {
	kind  quotaKind
	q     Quota // with its defaults
	used  int   // units counted against it when the request arrived
	units int   // units the request asked for
	wait  time.Duration
}

// quotaState is a quota as rate-limit headers report it.
type quotaState struct {
	set              bool
	limit, remaining int
	reset            time.Duration
}

// apiState is one API's quota meters and counters; the Emulator's lock
// guards it.
type apiState struct {
	counters APICounters
	meters   [numKinds]meter
}

// decide applies outage, injection and the quotas, in that order, and
// counts an admitted request against every quota. cost is the request's
// tokens for the token quotas.
func (s *apiState) decide(d decision, api API, start, now time.Time, rng *rand.Rand, openai bool, cost int) decision {
	d.noHint, d.opaque, d.paid = api.NoRetryHint, api.Opaque, api.PaidTier
	d.bodyOnly = openai && api.HintsInBodyOnly
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

	if !s.applyQuotas(&d, api, start, now, openai, cost) {
		return d
	}
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

// applyQuotas checks the request against every quota the API sets and
// either counts it against all of them or fills in the 429 that cites the
// refusing ones. It reports whether the request was admitted.
func (s *apiState) applyQuotas(d *decision, api API, start, now time.Time, openai bool, cost int) bool {
	var frames [numKinds]frame
	var set [numKinds]bool
	units := [numKinds]int{requestsPerDay: 1, tokensPerDay: cost, requestsPerWindow: 1, tokensPerWindow: cost}
	for k := range numKinds {
		if frames[k], set[k] = api.frame(k, start, !openai); set[k] {
			s.meters[k].sync(frames[k], now)
		}
	}
	defer func() { d.requests, d.tokens = s.headerState(frames, set, now) }()
	var refused []violation
	tooLarge := false
	for k := range numKinds {
		if !set[k] {
			continue
		}
		m, f := &s.meters[k], frames[k]
		over := units[k] > f.q.capacity()
		if w := m.wait(f, now, units[k]); w > 0 || over {
			tooLarge = tooLarge || over
			refused = append(refused, violation{kind: k, q: f.q, used: m.used(f), units: units[k], wait: w})
		}
	}
	if len(refused) > 0 {
		if tooLarge {
			s.counters.TooLarge++
		}
		if openai {
			s.refuseOpenAI(d, refused, tooLarge)
		} else {
			s.refuseGemini(d, refused, shortHint(api, start, now))
		}
		return false
	}
	for k := range numKinds {
		if set[k] {
			s.meters[k].take(frames[k], now, units[k])
		}
	}
	s.counters.TokensAdmitted += cost
	return true
}

// refuseGemini cites every refusing quota. The hint is the longest wait of
// the per-window ones; a per-day quota alone gets the short hint real
// replies carry.
func (s *apiState) refuseGemini(d *decision, refused []violation, short time.Duration) {
	d.violations, d.outcome, d.hint = refused, outRateLimited, 0
	for _, v := range refused {
		s.counters.Limited.add(v.kind)
		if v.kind.perDay() {
			d.outcome = outPerDay
		} else {
			d.hint = max(d.hint, v.wait)
		}
	}
	if d.hint == 0 {
		d.hint = short
	}
	s.countOutcome(d.outcome)
}

// refuseOpenAI cites one quota, as OpenAI's error names one type: a token
// quota the request can never fit, else the one whose wait is longest (the
// first in kind order among equals).
func (s *apiState) refuseOpenAI(d *decision, refused []violation, tooLarge bool) {
	pick := refused[0]
	for _, v := range refused[1:] {
		if v.wait > pick.wait {
			pick = v
		}
	}
	if tooLarge {
		for _, v := range refused {
			if v.kind.tokens() && v.units > v.q.capacity() {
				pick = v
				break
			}
		}
	}
	d.violations, d.hint = []violation{pick}, pick.wait
	d.outcome = outRateLimited
	switch {
	case tooLarge:
		d.outcome = outTooLarge
	case pick.kind.perDay():
		d.outcome = outPerDay
	}
	s.counters.Limited.add(pick.kind)
	if pick.kind.perDay() {
		s.countOutcome(outPerDay)
	} else {
		s.countOutcome(outRateLimited)
	}
}

func (s *apiState) countOutcome(o outcome) {
	if o == outPerDay {
		s.counters.QuotaExceeded++
	} else {
		s.counters.RateLimited++
	}
}

// headerState reports the per-window request and token quotas, or the
// per-day ones where no per-window one is set.
func (s *apiState) headerState(frames [numKinds]frame, set [numKinds]bool, now time.Time) (requests, tokens quotaState) {
	state := func(window, perDay quotaKind) quotaState {
		k := window
		if !set[k] {
			k = perDay
		}
		if !set[k] {
			return quotaState{}
		}
		m, f := &s.meters[k], frames[k]
		return quotaState{set: true, limit: f.q.Limit, remaining: m.remaining(f), reset: m.reset(f, now)}
	}
	return state(requestsPerWindow, requestsPerDay), state(tokensPerWindow, tokensPerDay)
}

// shortHint is the time to the end of the current minute of the request
// quota (its window when it is a FixedWindow, else whole minutes from the
// start): what Gemini says to a request refused by a per-day quota only.
func shortHint(api API, start, now time.Time) time.Duration {
	f, _ := api.frame(requestsPerWindow, start, true)
	if f.q.Shape != FixedWindow {
		f.q = Quota{Window: time.Minute}
	}
	_, end := f.bounds(now)
	return end.Sub(now)
}

// reply is the model text for an admitted request: the batch answer, maybe
// with one item dropped or cut off halfway.
func reply(answer string, d decision) (text string, malformed, dropped bool) {
	text = answer
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
