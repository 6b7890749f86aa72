package llmtest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	geminiRateLimitsURL = "https://ai.google.dev/gemini-api/docs/rate-limits"
	geminiUsageURL      = "https://ai.dev/rate-limit"
	geminiOpaqueMessage = "Resource has been exhausted (e.g. check quota)."
)

// geminiQuota is how a Gemini 429 names one quota.
type geminiQuota struct{ metric, id string }

// geminiQuotaName returns the metric and id a real reply gives quota v. A
// window that is not a minute gets an id naming no length, on either tier
// (see [QuotaIDPerWindow]).
func geminiQuotaName(v violation, paid bool) geminiQuota {
	minute := v.q.Window == time.Minute
	switch {
	case v.kind.perDay() && paid:
		return geminiQuota{"generativelanguage.googleapis.com/generate_requests_per_model_per_day", "GenerateRequestsPerDayPerProjectPerModel"}
	case v.kind.perDay():
		return geminiQuota{geminiRequestsMetric, QuotaIDPerDay}
	case v.kind.tokens() && paid:
		id := "GenerateContentPaidTierInputTokensPerModelPerMinute"
		if !minute {
			id = quotaIDTokensPerWindow
		}
		return geminiQuota{"generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count", id}
	case v.kind.tokens():
		id := QuotaIDInputTokensPerMinute
		if !minute {
			id = quotaIDTokensPerWindow
		}
		return geminiQuota{"generativelanguage.googleapis.com/generate_content_free_tier_input_token_count", id}
	case paid:
		id := "GenerateRequestsPerMinutePerProjectPerModel"
		if !minute {
			id = QuotaIDPerWindow
		}
		return geminiQuota{"generativelanguage.googleapis.com/generate_requests_per_model", id}
	}
	id := QuotaIDPerMinute
	if !minute {
		id = QuotaIDPerWindow
	}
	return geminiQuota{geminiRequestsMetric, id}
}

const (
	geminiRequestsMetric = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
	// quotaIDTokensPerWindow is QuotaIDPerWindow's counterpart for a token
	// quota whose window is not a minute, on either tier.
	quotaIDTokensPerWindow = "GenerateContentInputTokensPerModelPerWindow-Emulated"
)

// writeQuota writes the RESOURCE_EXHAUSTED 429 the real API sends: Help,
// one QuotaFailure violation per refusing quota, RetryInfo, and a message
// with one line per violation. A 429 of a spent per-day quota carries the
// same short hint as the others, which is why clients must read the quota
// id, not the hint.
func (g *geminiWire) writeQuota(w http.ResponseWriter, d decision) {
	if d.opaque {
		writeGeminiError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", geminiOpaqueMessage)
		return
	}
	var msg strings.Builder
	fmt.Fprintf(&msg, "You exceeded your current quota, please check your plan and billing details. "+
		"For more information on this error, head to: %s. To monitor your current usage, head to: %s. ",
		geminiRateLimitsURL, geminiUsageURL)
	violations := make([]quotaViolation, 0, len(d.violations))
	for _, v := range d.violations {
		name := geminiQuotaName(v, d.paid)
		fmt.Fprintf(&msg, "\n* Quota exceeded for metric: %s, limit: %d, model: %s", name.metric, v.q.Limit, d.model)
		violations = append(violations, quotaViolation{
			QuotaMetric:     name.metric,
			QuotaID:         name.id,
			QuotaDimensions: quotaDimensions{Location: "global", Model: d.model},
			QuotaValue:      strconv.Itoa(v.q.Limit),
		})
	}
	details := []any{
		map[string]any{
			"@type": "type.googleapis.com/google.rpc.Help",
			"links": []any{map[string]string{"description": "Learn more about Gemini API quotas", "url": geminiRateLimitsURL}},
		},
		map[string]any{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": violations},
	}
	if !d.noHint {
		msg.WriteString("\nPlease retry in " + exactSeconds(d.hint) + "s.")
		details = append(details, map[string]any{
			"@type":      "type.googleapis.com/google.rpc.RetryInfo",
			"retryDelay": retryDelay(d.hint),
		})
	}
	writeGeminiError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", msg.String(), details...)
}

// quotaViolation keeps the field order of the real reply, for readers of
// recorded bodies.
type quotaViolation struct {
	QuotaMetric     string          `json:"quotaMetric"`
	QuotaID         string          `json:"quotaId"`
	QuotaDimensions quotaDimensions `json:"quotaDimensions"`
	QuotaValue      string          `json:"quotaValue"`
}

type quotaDimensions struct {
	Location string `json:"location"`
	Model    string `json:"model"`
}

// exactSeconds formats d in seconds with as many decimals as it needs, as
// the real "Please retry in 26.547889357s." does.
func exactSeconds(d time.Duration) string {
	s := fmt.Sprintf("%d.%09d", d/time.Second, d%time.Second)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// retryDelay is RetryInfo.retryDelay as the real API writes it: whole
// seconds, truncated ("Please retry in 58.217843437s." beside "58s", "0s"
// under a second). A client that waits only that long may be early.
func retryDelay(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}
