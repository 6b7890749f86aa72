package llmlimit

import (
	"testing"
	"time"
)

func TestBackoffDelaySequence(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name   string
		jitter Jitter
		r      float64
		hint   time.Duration
		want   []time.Duration // retries 0..7
	}{
		{"additive, jitter at min", JitterAdditive, 0, 0,
			[]time.Duration{1100 * ms, 2100 * ms, 4100 * ms, 8100 * ms, 16100 * ms, 32100 * ms, 60100 * ms, 60100 * ms}},
		{"additive, jitter near max", JitterAdditive, 0.999999999, 0,
			[]time.Duration{1400 * ms, 2400 * ms, 4400 * ms, 8400 * ms, 16400 * ms, 32400 * ms, 60400 * ms, 60400 * ms}},
		{"full, r=0.5", JitterFull, 0.5, 0,
			[]time.Duration{500 * ms, 1000 * ms, 2000 * ms, 4000 * ms, 8000 * ms, 16000 * ms, 30000 * ms, 30000 * ms}},
		{"hint is a floor", JitterAdditive, 0, 26 * time.Second,
			[]time.Duration{26 * time.Second, 26 * time.Second, 26 * time.Second, 26 * time.Second, 26 * time.Second, 32100 * ms, 60100 * ms, 60100 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, want := range tt.want {
				got := backoffDelay(k, time.Second, time.Minute, tt.jitter, tt.r, tt.hint)
				// Float rounding of r·300ms may lose a nanosecond.
				if d := got - want; d < -time.Microsecond || d > time.Microsecond {
					t.Errorf("retry %d: %v, want %v", k, got, want)
				}
			}
		})
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	for k := 0; k < 80; k++ {
		for _, r := range []float64{0, 0.25, 0.5, 0.75, 0.999999} {
			exp := min(time.Second<<min(k, 30), time.Minute)
			if d := backoffDelay(k, time.Second, time.Minute, JitterAdditive, r, 0); d < exp+100*time.Millisecond || d > exp+400*time.Millisecond {
				t.Fatalf("additive retry %d r=%v: %v outside [%v, %v]", k, r, d, exp+100*time.Millisecond, exp+400*time.Millisecond)
			}
			if d := backoffDelay(k, time.Second, time.Minute, JitterFull, r, 0); d < 0 || d > exp {
				t.Fatalf("full retry %d r=%v: %v outside [0, %v]", k, r, d, exp)
			}
		}
	}
}

func TestParseRetryDelay(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"26s", 26 * time.Second, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"0.000001s", time.Microsecond, true},
		{" 3s ", 3 * time.Second, true},
		{"0s", 0, true},
		{"99999999999s", maxHint, true},
		{"99999999s", maxHint, true},
		{"45.837906927s", 45837906927 * time.Nanosecond, true},
		{"26", 0, false},
		{"s", 0, false},
		{"-1s", 0, false},
		{"1e3s", 0, false},
		{"NaNs", 0, false},
		{"infs", 0, false},
		{"26ms", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseRetryDelay(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseRetryDelay(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"20", 20 * time.Second, true},
		{"0.5", 500 * time.Millisecond, true},
		{"Thu, 26 Nov 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Thu, 26 Nov 2026 11:00:00 GMT", 0, true},
		{"Fri, 26 Nov 2027 12:00:00 GMT", maxHint, true},
		{"Thu, 01 Jan 2099 00:00:00 GMT", maxHint, true},
		{"1e30", maxHint, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	for in, want := range map[string]time.Duration{"120": 120 * time.Millisecond, "1.5": 1500 * time.Microsecond, "0": 0, "1e30": maxHint} {
		if got, ok := parseRetryAfterMS(in); !ok || got != want {
			t.Errorf("parseRetryAfterMS(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "NaN"} {
		if _, ok := parseRetryAfterMS(in); ok {
			t.Errorf("parseRetryAfterMS(%q) accepted", in)
		}
	}
}

func FuzzParseRetryDelay(f *testing.F) {
	for _, s := range []string{"26s", "1.5s", "0.000001s", "1e3s", "s", "-1s", "99999999999999999999s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseRetryDelay(s)
		if err == nil && (d < 0 || d > maxHint) {
			t.Fatalf("parseRetryDelay(%q) = %v out of [0, %v]", s, d, maxHint)
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"20", "0.5", "Thu, 26 Nov 2026 12:00:30 GMT", "-3", "1e400", "NaN"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := parseRetryAfter(s, now); ok && (d < 0 || d > maxHint) {
			t.Fatalf("parseRetryAfter(%q) = %v out of range", s, d)
		}
		if d, ok := parseRetryAfterMS(s); ok && (d < 0 || d > maxHint) {
			t.Fatalf("parseRetryAfterMS(%q) = %v out of range", s, d)
		}
	})
}
