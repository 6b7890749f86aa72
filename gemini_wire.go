package llmlimit

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/llmlimit/llmlimit/internal/pacific"
)

// ParseGeminiError classifies a failed reply in the Gemini API's wire format
// (google.rpc.Status), for a [Provider] that speaks it without the genai
// SDK: Vertex AI, a gateway, a proxy. [Gemini] reads its replies the same
// way. status is the HTTP status (0: take the body's code), header the
// reply's headers and body the reply body: {"error":{...}}, a one-element
// array of it (as streaming endpoints answer), or anything else, such as a
// proxy's HTML page, which is classified by status alone.
//
// The result is never nil, whatever the body holds:
//
//   - Kind follows the status (429 rate-limited, 408 and 5xx transient, the
//     rest permanent); a 429 is [KindQuotaExhausted]
//     when a violation of its google.rpc.QuotaFailure is per day, or has a
//     limit of zero (the model has no quota on this tier at all).
//   - Quotas holds one [Quota] per violation, all Exceeded, classified by
//     quotaId and quotaMetric: requests or input tokens, per minute or per
//     day; Limit is the quotaValue, else the message's "limit: N" for that
//     metric when the message gives one; Remaining is 0 for requests and
//     unknown for tokens. A per-day quota resets at the next midnight in
//     Pacific time, as Google documents; the others when the hint ends.
//     Violations whose unit can't be told are left out.
//   - RetryAfter is the longest hint of the reply: RetryInfo.retryDelay,
//     "Please retry in 58.217843437s." in the message, and Retry-After or
//     retry-after-ms headers. It is not bounded by the quota (a per-day
//     429's hint is often 30 s); only values past a week are clamped.
//   - QuotaID is the first per-day violation's quotaId, else the first's.
//   - Err describes the server's status and message, clipped, with
//     anything shaped like a key removed.
//
// It reads the clock (time.Now) for per-day resets and is safe for
// simultaneous use.
func ParseGeminiError(provider string, status int, header http.Header, body []byte) *ProviderError {
	var s secrets
	r := decodeGeminiBody(body)
	r.status, r.header = status, header
	pe := classifyGemini(provider, r, &s, time.Now())
	pe.Err = &replyError{msg: geminiMessage(r.name, r.message, &s)}
	return pe
}

// geminiReply is a failed Gemini reply, from the wire or from genai.APIError.
type geminiReply struct {
	status  int    // the HTTP status, or 0
	code    int    // the body's error.code, or 0
	name    string // the body's error.status, a google.rpc.Code name
	message string
	details []map[string]any
	header  http.Header
}

// decodeGeminiBody reads a google.rpc.Status error body. A body that is
// not one gives its text as the message, as genai does.
func decodeGeminiBody(body []byte) geminiReply {
	type status struct {
		Code    any    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []any  `json:"details"`
	}
	var env struct {
		Error *status `json:"error"`
	}
	b := bytes.TrimSpace(body)
	var err error
	if len(b) > 0 && b[0] == '[' {
		var list []struct {
			Error *status `json:"error"`
		}
		if err = json.Unmarshal(b, &list); err == nil && len(list) > 0 {
			env.Error = list[0].Error
		}
	} else {
		err = json.Unmarshal(b, &env)
	}
	if err != nil || env.Error == nil {
		return geminiReply{message: string(b)}
	}
	r := geminiReply{message: env.Error.Message, name: env.Error.Status}
	r.code, _ = jsonCount(env.Error.Code)
	for _, d := range env.Error.Details {
		if m, ok := d.(map[string]any); ok {
			r.details = append(r.details, m)
		}
	}
	return r
}

// grpcStatusHTTP maps google.rpc.Code names to HTTP statuses, for error
// bodies that carry a status name but no code.
var grpcStatusHTTP = map[string]int{
	"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
	"UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404,
	"ABORTED": 409, "ALREADY_EXISTS": 409, "RESOURCE_EXHAUSTED": 429,
	"CANCELLED": 499, "INTERNAL": 500, "UNKNOWN": 500, "DATA_LOSS": 500,
	"NOT_IMPLEMENTED": 501, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504,
}

const (
	typeRetryInfo    = "type.googleapis.com/google.rpc.RetryInfo"
	typeQuotaFailure = "type.googleapis.com/google.rpc.QuotaFailure"
)

// classifyGemini is the core ParseGeminiError documents, without Err. Every
// server string it keeps is redacted with s.
func classifyGemini(provider string, r geminiReply, s *secrets, now time.Time) *ProviderError {
	status := r.status
	if status == 0 {
		status = r.code
	}
	if status == 0 {
		status = grpcStatusHTTP[r.name]
	}
	pe := &ProviderError{Provider: provider, StatusCode: status, Kind: kindOfStatus(status)}
	hint := headerHint(r.header, now)
	if d, ok := parseHintText(r.message); ok {
		hint = max(hint, d)
	}
	var violations []map[string]any
	for _, m := range r.details {
		switch t, _ := m["@type"].(string); t {
		case typeRetryInfo:
			if v, ok := m["retryDelay"].(string); ok {
				if d, err := parseRetryDelay(v); err == nil {
					hint = max(hint, d)
				}
			}
		case typeQuotaFailure:
			vs, _ := m["violations"].([]any)
			for _, v := range vs {
				if vm, ok := v.(map[string]any); ok {
					violations = append(violations, vm)
				}
			}
		}
	}
	pe.RetryAfter = hint
	limits := messageLimits(r.message)
	exhausted, chosen, chosenPerDay := false, false, false
	for _, v := range violations {
		id, _ := v["quotaId"].(string)
		metric, _ := v["quotaMetric"].(string)
		window := geminiWindow(id, metric)
		limit, known := jsonCount(v["quotaValue"])
		if !known {
			limit, known = limits.of(metric)
		}
		perDay := window == 24*time.Hour
		if perDay || (known && limit == 0) {
			exhausted = true
		}
		if !chosen || perDay && !chosenPerDay {
			pe.QuotaID, chosen, chosenPerDay = s.redact(id), true, perDay
		}
		unit, ok := geminiUnit(id, metric)
		if !ok {
			continue
		}
		q := Quota{ID: s.redact(id), Unit: unit, Limit: limit, Remaining: -1, Reset: hint, Window: window, Exceeded: true}
		if unit == UnitRequests {
			q.Remaining = 0
		}
		if perDay {
			q.Reset = pacific.UntilMidnight(now)
		}
		pe.Quotas = append(pe.Quotas, q)
	}
	if status == 429 && exhausted {
		pe.Kind = KindQuotaExhausted
	}
	return pe
}

// geminiUnit tells what a violation counts from its quotaId and
// quotaMetric, such as "GenerateContentInputTokensPerModelPerMinute-FreeTier"
// and "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count".
func geminiUnit(id, metric string) (Unit, bool) {
	s := asciiLower(id + " " + metric)
	switch {
	case strings.Contains(s, "inputtoken") || strings.Contains(s, "input_token"):
		return UnitInputTokens, true
	case strings.Contains(s, "token"):
		return UnitTokens, true
	case strings.Contains(s, "request"):
		return UnitRequests, true
	}
	return UnitRequests, false
}

// geminiWindow tells a violation's window from its quotaId or quotaMetric
// ("...PerMinute...", Vertex AI's "..._per_minute_..."), or 0.
func geminiWindow(id, metric string) time.Duration {
	s := strings.ReplaceAll(asciiLower(id+" "+metric), "_", "")
	switch {
	case strings.Contains(s, "perday"):
		return 24 * time.Hour
	case strings.Contains(s, "perhour"):
		return time.Hour
	case strings.Contains(s, "perminute"):
		return time.Minute
	}
	return 0
}

// quotaLine is one line of a Gemini 429 message: "* Quota exceeded for
// metric: generativelanguage.googleapis.com/generate_content_free_tier_requests,
// limit: 20, model: gemini-2.5-flash".
var quotaLine = regexp.MustCompile(`Quota exceeded for metric: ([^\s,]+), limit: (\d+)`)

// metricLimits maps a quota metric to the limits a message gave for it.
type metricLimits map[string][]int

// messageLimits reads the "limit: N" of every quotaLine in msg.
func messageLimits(msg string) metricLimits {
	var m metricLimits
	for _, sub := range quotaLine.FindAllStringSubmatch(msg, -1) {
		n, err := strconv.Atoi(sub[2])
		if err != nil {
			continue
		}
		if m == nil {
			m = metricLimits{}
		}
		m[sub[1]] = append(m[sub[1]], n)
	}
	return m
}

// of returns the limit the message gave for metric, when it gave one and
// only one: per-minute and per-day request quotas share a metric, so two
// different limits can't be told apart.
func (m metricLimits) of(metric string) (int, bool) {
	ls := m[metric]
	if len(ls) == 0 {
		return 0, false
	}
	for _, l := range ls[1:] {
		if l != ls[0] {
			return 0, false
		}
	}
	return ls[0], true
}

// jsonCount reads a non-negative integer that proto3 JSON writes as a
// string (int64 quotaValue) but a lenient server may write as a number.
// Values that don't fit an int are unknown.
func jsonCount(v any) (int, bool) {
	switch x := v.(type) {
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		return max(n, 0), err == nil && n >= 0
	case float64:
		if x >= 0 && x < float64(math.MaxInt) && x == math.Trunc(x) {
			return int(x), true
		}
	}
	return 0, false
}

// geminiMessage describes a Gemini error without its details (genai's
// APIError.Error prints every detail map) and without secrets.
func geminiMessage(name, message string, s *secrets) string {
	m := "gemini api error"
	if name != "" {
		m += " " + s.redact(name)
	}
	if t := strings.TrimSpace(message); t != "" {
		m += ": " + clipMessage(s.redact(t))
	}
	return m
}
