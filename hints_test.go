package llmlimit

import (
	"testing"
	"time"
)

func TestParseHintText(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		msg  string
		want time.Duration
		ok   bool
	}{
		{"You exceeded your current quota.\nPlease retry in 58.217843437s.", 58217843437 * time.Nanosecond, true},
		{"Limit 200000, Used 162960, Requested 42288. Please try again in 1.574s. Visit https://platform.openai.com/account/rate-limits", 1574 * ms, true},
		{"Please try again in 644ms.", 644 * ms, true},
		{"Please try again in 20s. Contact support@openai.com", 20 * time.Second, true},
		{"Please try again in 1m9.696s.", time.Minute + 9696*ms, true},
		{"Please try again in 7m12s. Visit", 7*time.Minute + 12*time.Second, true},
		{"Please try again in 6m 11.52s.", 6*time.Minute + 11520*ms, true},
		{"Please try again in 1h23m45.6s.", time.Hour + 23*time.Minute + 45600*ms, true},
		{"Please try again in 1.984999999s.", 1984999999 * time.Nanosecond, true},
		{"Please retry after 6 seconds.", 6 * time.Second, true},
		{"PLEASE RETRY IN 3S", 3 * time.Second, true},
		{"retry in 2s, or else try again in 5s", 5 * time.Second, true},
		{"Please try again in 99999999999999999999999h.", maxHint, true},
		{"Please try again later.", 0, false},
		{"Please retry in 5 sheep.", 0, false},
		{"Please retry in 26.", 0, false},
		{"Please retry or report in https://developers.generativeai.google/guide/troubleshooting", 0, false},
		{"İİİ Please retry in 4s", 4 * time.Second, true}, // lower-casing can't shift offsets
		{"", 0, false},
	}
	for _, tt := range tests {
		if got, ok := parseHintText(tt.msg); got != tt.want || ok != tt.ok {
			t.Errorf("parseHintText(%q) = %v, %v; want %v, %v", tt.msg, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseResetHeader(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"6m0s", 6 * time.Minute, true},
		{"120ms", 120 * time.Millisecond, true},
		{"11m32.334s", 11*time.Minute + 32334*time.Millisecond, true},
		{"0s", 0, true},
		{"0", 0, true},
		{"60", time.Minute, true},
		{"2m59.56s", 2*time.Minute + 59560*time.Millisecond, true},
		{"1e3", 0, false},
		{"inf", 0, false},
		{"-1s", 0, false},
		{"6 minutes later", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		if got, ok := parseResetHeader(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("parseResetHeader(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// clampHint reads decimals exactly and never overflows.
func TestClampHint(t *testing.T) {
	tests := []struct {
		num      string
		unit     time.Duration
		exponent bool
		want     time.Duration
		ok       bool
	}{
		{"36.429760048", time.Second, false, 36429760048 * time.Nanosecond, true},
		{"45.837906927", time.Second, false, 45837906927 * time.Nanosecond, true},
		{"0.5", time.Hour, false, 30 * time.Minute, true},
		{"1.5", time.Millisecond, true, 1500 * time.Microsecond, true},
		{"604800", time.Second, false, maxHint, true},
		{"604799.999999999", time.Second, false, maxHint - time.Nanosecond, true},
		{"99999999999999999999999999999", time.Second, false, maxHint, true},
		{"1e30", time.Millisecond, true, maxHint, true},
		{"1e400", time.Second, true, maxHint, true},
		{"1e3", time.Second, false, 0, false},
		{"1e3", time.Second, true, 1000 * time.Second, true},
		{"0x1p4", time.Second, true, 0, false},
		{"Inf", time.Second, true, 0, false},
		{"NaN", time.Second, true, 0, false},
		{"-1", time.Second, true, 0, false},
		{"+1", time.Second, true, 0, false},
		{".5", time.Second, true, 0, false},
		{"1..5", time.Second, true, 0, false},
		{"", time.Second, true, 0, false},
	}
	for _, tt := range tests {
		if got, ok := clampHint(tt.num, tt.unit, tt.exponent); got != tt.want || ok != tt.ok {
			t.Errorf("clampHint(%q, %v, %v) = %v, %v; want %v, %v", tt.num, tt.unit, tt.exponent, got, ok, tt.want, tt.ok)
		}
	}
}
