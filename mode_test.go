package llmlimit

import (
	"strings"
	"testing"
	"time"
)

func TestPollDelay(t *testing.T) {
	want := []time.Duration{
		30 * time.Second, 45 * time.Second, 67500 * time.Millisecond, 101250 * time.Millisecond,
		151875 * time.Millisecond, 227812500 * time.Microsecond, 5 * time.Minute, 5 * time.Minute,
	}
	for i, w := range want {
		if got := pollDelay(defaultPollFirst, defaultPollMax, i); got != w {
			t.Errorf("poll delay %d: %v, want %v", i, got, w)
		}
	}
	if got := pollDelay(time.Second, time.Second, 0); got != time.Second {
		t.Errorf("first = max: %v", got)
	}
	if got := pollDelay(time.Second, 5*time.Second, 1000); got != 5*time.Second {
		t.Errorf("after many polls: %v", got)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"sync": ModeSync, "BATCH": ModeBatch, " auto ": ModeAuto} {
		if m, err := ParseMode(in); err != nil || m != want || m.String() != strings.ToLower(strings.TrimSpace(in)) {
			t.Errorf("ParseMode(%q) = %v, %v", in, m, err)
		}
	}
	for _, in := range []string{"", "fast", "0"} {
		if _, err := ParseMode(in); err == nil {
			t.Errorf("ParseMode(%q) accepted", in)
		}
	}
	if s := Mode(9).String(); s != "mode(9)" {
		t.Errorf("unknown mode: %q", s)
	}
}

func TestSyncCapacity(t *testing.T) {
	l, err := New(&stubProvider{}, WithRequestsPerMinute(60))
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(&stubProvider{name: "other"}, WithRequestsPerMinute(30))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := Fallback(l, m)
	if err != nil {
		t.Fatal(err)
	}
	if n, known := syncCapacity(fb, 2*time.Minute); n != 180 || !known {
		t.Errorf("two Limiters over 2 minutes: %d, %v; want 180", n, known)
	}
	if _, known := syncCapacity(&stubProvider{}, time.Minute); known {
		t.Error("a bare provider's quota is known")
	}
}
