package pacific

import (
	"testing"
	"testing/synctest"
	"time"
	_ "time/tzdata" // the reference the rules are checked against, whatever the machine has

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func utc(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The table walks both switches of a year under each rule set, including
// the 23- and 25-hour days they make.
func TestUntilMidnight(t *testing.T) {
	tests := []struct {
		name string
		now  string // UTC
		want time.Duration
		off  time.Duration
	}{
		{"winter, the start of a synctest bubble", "2000-01-01 00:00:00", 8 * time.Hour, Standard},
		{"winter, one second before midnight PST", "2025-01-15 07:59:59", time.Second, Standard},
		{"winter, exactly midnight PST is the next day's start", "2025-01-15 08:00:00", 24 * time.Hour, Standard},
		{"2025: the 23-hour day, from its midnight", "2025-03-09 08:00:00", 23 * time.Hour, Standard},
		{"2025: a second before 02:00 PST", "2025-03-09 09:59:59", 21*time.Hour + time.Second, Standard},
		{"2025: 03:00 PDT, just after the switch", "2025-03-09 10:00:00", 21 * time.Hour, Daylight},
		{"2025: summer", "2025-07-04 19:00:00", 12 * time.Hour, Daylight},
		{"2025: the 25-hour day, from its midnight", "2025-11-02 07:00:00", 25 * time.Hour, Daylight},
		{"2025: a second before 02:00 PDT", "2025-11-02 08:59:59", 23*time.Hour + time.Second, Daylight},
		{"2025: 01:00 PST, the repeated hour", "2025-11-02 09:00:00", 23 * time.Hour, Standard},
		{"2000: March is still standard time", "2000-03-12 12:00:00", 20 * time.Hour, Standard},
		{"2000: the 23-hour day", "2000-04-02 08:00:00", 23 * time.Hour, Standard},
		{"2000: the 25-hour day", "2000-10-29 07:00:00", 25 * time.Hour, Daylight},
		{"2000: early November is standard time", "2000-11-01 08:00:00", 24 * time.Hour, Standard},
		{"New Year's Eve in Pacific time is New Year in UTC", "2025-01-01 02:00:00", 6 * time.Hour, Standard},
		{"leap day", "2024-02-29 20:00:00", 12 * time.Hour, Standard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := utc(tt.now)
			if got := UntilMidnight(now); got != tt.want {
				t.Errorf("UntilMidnight(%s) = %v, want %v", tt.now, got, tt.want)
			}
			if got := Offset(now); got != tt.off {
				t.Errorf("Offset(%s) = %v, want %v", tt.now, got, tt.off)
			}
		})
	}
}

// The rules agree with the time zone database at every sampled instant of
// 1990–2040 and at every switch in it.
func TestAgainstTZData(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	check := func(u time.Time) {
		t.Helper()
		_, sec := u.In(la).Zone()
		if got := Offset(u); got != time.Duration(sec)*time.Second {
			t.Fatalf("Offset(%v) = %v, tzdata says %ds", u, got, sec)
		}
		l := u.In(la)
		want := time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, la)
		if got := NextMidnight(u); !got.Equal(want) {
			t.Fatalf("NextMidnight(%v) = %v, tzdata says %v", u, got, want)
		}
	}
	end := utc("2040-12-31 23:59:59")
	for u := utc("1990-01-01 00:00:00"); u.Before(end); u = u.Add(97 * time.Minute) {
		check(u)
	}
	for y := 1990; y <= 2040; y++ {
		start, stop := daylightSpan(y)
		for _, sw := range []time.Time{start, stop} {
			for _, d := range []time.Duration{-time.Second, 0, time.Second} {
				check(sw.Add(d))
			}
		}
	}
}

// Inside a synctest bubble the clock starts at 2000-01-01 00:00 UTC, which is
// 16:00 PST on New Year's Eve, and the answer follows virtual time.
func TestInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		if got := UntilMidnight(time.Now()); got != 8*time.Hour {
			t.Fatalf("UntilMidnight at the bubble's start = %v, want 8h", got)
		}
		time.Sleep(3 * time.Hour)
		if got := UntilMidnight(time.Now()); got != 5*time.Hour {
			t.Fatalf("three hours later = %v, want 5h", got)
		}
	})
}
