package llmlimit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ParseOpenAIError classifies a failed reply in the OpenAI API's wire
// format, for a [Provider] that speaks it without openai-go: a proxy, a
// gateway, an OpenAI-compatible server such as Groq's. [OpenAI] reads its
// replies the same way. status is the HTTP status, header the reply's
// headers and body the reply body: {"error":{"message","type","param",
// "code"}}, or anything else, such as a proxy's HTML page, which is
// classified by status and headers alone.
//
// The result is never nil, whatever the body holds:
//
//   - Kind follows the status (429 rate-limited, 408 and 5xx transient, the
//     rest permanent). A 429 (or 413) whose message
//     says "Request too large", or asks for more than the quota's whole
//     limit, is [KindTooLarge]: no wait lets it pass. insufficient_quota
//     (billing) and a per-day quota (TPD, RPD) are [KindQuotaExhausted].
//   - Quotas holds what [ParseOpenAIQuotas] reads from the headers; the
//     quota the 429 names, by its error.type (requests, tokens) and its
//     message ("on tokens per min (TPM): Limit 200000, Used 162960,
//     Requested 42288"), is marked Exceeded and given the message's Window
//     and Limit (and, with Used, Remaining). When the headers describe a
//     quota of the same unit with another limit, the message's quota is a
//     different one (a day's beside a minute's) and is added.
//   - RetryAfter is the longest hint of the reply: retry-after-ms,
//     Retry-After (seconds or an HTTP-date) and the message's "Please try
//     again in 1m9.696s.", which is the only hint of many real 429s. It is
//     not bounded by the quota; only values past a week are clamped.
//   - QuotaID is "insufficient_quota", or the 429's (or 413's) error.type.
//   - Err lists the error's code, type, param and message, clipped, with
//     anything shaped like a key removed.
//
// It is safe for simultaneous use.
func ParseOpenAIError(provider string, status int, header http.Header, body []byte) *ProviderError {
	var s secrets
	r := decodeOpenAIBody(body)
	r.status, r.header = status, header
	pe := classifyOpenAI(provider, r, &s, time.Now())
	if r.isError {
		pe.Err = &replyError{msg: openaiMessage(r, &s)}
	} else {
		pe.Err = &replyError{msg: "openai api error: " + clipMessage(s.redact(strings.TrimSpace(string(body))))}
	}
	return pe
}

// ParseOpenAIQuotas reads the x-ratelimit-* headers OpenAI sends with
// every reply, successful or not: x-ratelimit-limit-, -remaining- and
// -reset-requests become a [UnitRequests] quota, and the -tokens ones a
// [UnitTokens] quota. Both refill continuously ([RefillContinuous]), Reset
// being the time until the quota is whole again (a Go-style duration such
// as "11m32.334s", or bare seconds), and their Window is 0: the headers
// don't say which window they describe (Groq's requests headers describe
// the day, OpenAI's the minute). Unreadable or negative values are unknown
// (Azure sends -1); a quota with no readable value but a zero reset is
// left out, so the result is nil when there is none. It is safe for simultaneous use.
func ParseOpenAIQuotas(header http.Header) []Quota {
	var qs []Quota
	for _, d := range [...]struct {
		name string
		unit Unit
	}{{"requests", UnitRequests}, {"tokens", UnitTokens}} {
		q := Quota{Unit: d.unit, Remaining: -1, Refill: RefillContinuous}
		found := false
		if n, ok := headerCount(header.Get("X-Ratelimit-Limit-" + d.name)); ok {
			q.Limit, found = n, true
		}
		if n, ok := headerCount(header.Get("X-Ratelimit-Remaining-" + d.name)); ok {
			q.Remaining, found = n, true
		}
		if r, ok := parseResetHeader(header.Get("X-Ratelimit-Reset-" + d.name)); ok {
			// A bare "0" beside unknown counts (Azure's -1s) says nothing.
			q.Reset, found = r, found || r > 0
		}
		if found {
			qs = append(qs, q)
		}
	}
	return qs
}

// headerCount parses a non-negative count.
func headerCount(v string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// openaiReply is a failed OpenAI reply, from the wire or from *openai.Error.
type openaiReply struct {
	status                    int
	header                    http.Header
	code, typ, param, message string
	isError                   bool // the body held an error object
}

// decodeOpenAIBody reads an OpenAI error body. code and param may be null,
// strings or, from some compatible servers, numbers.
func decodeOpenAIBody(body []byte) openaiReply {
	var env struct {
		Error *struct {
			Message string `json:"message"`
			Type    any    `json:"type"`
			Param   any    `json:"param"`
			Code    any    `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(bytes.TrimSpace(body), &env) != nil || env.Error == nil {
		return openaiReply{}
	}
	e := env.Error
	return openaiReply{message: e.Message, typ: jsonText(e.Type), param: jsonText(e.Param), code: jsonText(e.Code), isError: true}
}

// jsonText renders a decoded JSON scalar; null and objects are empty.
func jsonText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// classifyOpenAI is the core ParseOpenAIError documents, without Err.
func classifyOpenAI(provider string, r openaiReply, s *secrets, now time.Time) *ProviderError {
	pe := &ProviderError{Provider: provider, StatusCode: r.status, Kind: kindOfStatus(r.status)}
	pe.RetryAfter = headerHint(r.header, now)
	if d, ok := parseHintText(r.message); ok {
		pe.RetryAfter = max(pe.RetryAfter, d)
	}
	pe.Quotas = ParseOpenAIQuotas(r.header)
	if r.code == "insufficient_quota" || r.typ == "insufficient_quota" {
		pe.Kind, pe.QuotaID = KindQuotaExhausted, "insufficient_quota"
		return pe
	}
	if r.status != 429 && r.status != 413 {
		return pe
	}
	pe.QuotaID = s.redact(r.typ)
	mq, named := parseOpenAIMessage(r.message)
	if !named {
		if u, ok := map[string]Unit{"requests": UnitRequests, "tokens": UnitTokens}[r.typ]; ok {
			mq.Quota, named = Quota{Unit: u, Remaining: -1, Refill: RefillContinuous, Exceeded: true}, true
		}
	}
	if named {
		pe.Quotas = markExceeded(pe.Quotas, mq.Quota)
	}
	switch {
	case mq.tooLarge:
		pe.Kind = KindTooLarge
	case r.status == 429 && mq.Window == 24*time.Hour:
		pe.Kind = KindQuotaExhausted
	}
	return pe
}

// markExceeded marks the quota of qs that q, read from a 429's message,
// names, or adds q when qs holds none of its unit and limit.
func markExceeded(qs []Quota, q Quota) []Quota {
	for i := range qs {
		h := &qs[i]
		if h.Unit != q.Unit || h.Limit != 0 && q.Limit != 0 && h.Limit != q.Limit {
			continue
		}
		h.Exceeded = true
		if q.ID != "" {
			h.ID = q.ID
		}
		if q.Window != 0 {
			h.Window = q.Window
		}
		if h.Limit == 0 {
			h.Limit = q.Limit
		}
		if h.Remaining < 0 {
			h.Remaining = q.Remaining
		}
		return qs
	}
	return append(qs, q)
}

// messageQuota is what a 429's message says about the quota it hit.
type messageQuota struct {
	Quota
	tooLarge bool // no window of the quota can admit the request
}

var (
	// openaiDimension finds the quota in "... on tokens per min (TPM): ...",
	// "on requests per day (RPD)", Groq's "on tokens per minute (TPM)" and
	// the older "on requests per min. Limit: 3 / min.".
	openaiDimension = regexp.MustCompile(`(?i)\bon (requests|tokens) per (min|minute|hour|day)\b(?:\s*\(([A-Za-z]{2,4})\))?`)
	// openaiFigure finds "Limit 200000", "Used 162960", "Requested ~12903",
	// "Limit: 150000.000000 / min", "Current: 176000", "Limit 200,000".
	openaiFigure = regexp.MustCompile(`(?i)\b(limit|used|current|requested):?\s*~?([0-9][0-9,]*)`)
	tooLargeText = regexp.MustCompile(`(?i)request too large|must be reduced|reduce your message size`)
)

// parseOpenAIMessage reads the quota a 429's message names, and whether
// it names one.
func parseOpenAIMessage(msg string) (messageQuota, bool) {
	mq := messageQuota{tooLarge: tooLargeText.MatchString(msg)}
	m := openaiDimension.FindStringSubmatchIndex(msg)
	if m == nil {
		return mq, false
	}
	q := &mq.Quota
	q.Remaining, q.Refill, q.Exceeded = -1, RefillContinuous, true
	if strings.EqualFold(msg[m[2]:m[3]], "tokens") {
		q.Unit = UnitTokens
	}
	switch asciiLower(msg[m[4]:m[5]]) {
	case "day":
		q.Window = 24 * time.Hour
	case "hour":
		q.Window = time.Hour
	default:
		q.Window = time.Minute
	}
	if m[6] >= 0 {
		q.ID = strings.ToUpper(msg[m[6]:m[7]])
	}
	used, requested := -1, -1
	for _, f := range openaiFigure.FindAllStringSubmatch(msg[m[1]:], -1) {
		n, err := strconv.Atoi(strings.ReplaceAll(f[2], ",", ""))
		if err != nil {
			continue
		}
		switch asciiLower(f[1]) {
		case "limit":
			q.Limit = n
		case "used", "current":
			used = n
		case "requested":
			requested = n
		}
	}
	if q.Limit > 0 && used >= 0 {
		q.Remaining = max(q.Limit-used, 0)
	}
	if q.Limit > 0 && requested > q.Limit {
		mq.tooLarge = true
	}
	return mq, true
}

// openaiMessage lists an error's fields without secrets: openai-go's own
// message is only a status line.
func openaiMessage(r openaiReply, s *secrets) string {
	var b strings.Builder
	b.WriteString("openai api error")
	for _, f := range [...]struct{ name, v string }{{"code", r.code}, {"type", r.typ}, {"param", r.param}} {
		if f.v != "" {
			fmt.Fprintf(&b, " %s=%s", f.name, s.redact(f.v))
		}
	}
	if m := strings.TrimSpace(r.message); m != "" {
		b.WriteString(": ")
		b.WriteString(clipMessage(s.redact(m)))
	} else if b.Len() == len("openai api error") {
		b.WriteString(": the reply holds no error object")
	}
	return b.String()
}
