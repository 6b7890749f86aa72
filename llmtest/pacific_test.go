package llmtest

import (
	"testing"
	"time"

	// The zone database is embedded in this test binary only, to check the
	// emulator's own DST rule against it on any machine; the package
	// itself never reads it.
	_ "time/tzdata"
)

func TestPacificDay(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct{ at, begin, end string }{
		// A synctest bubble starts here: 16:00 PST on 31 December.
		{"2000-01-01T00:00:00Z", "1999-12-31T08:00:00Z", "2000-01-01T08:00:00Z"},
		{"2000-01-01T08:00:00Z", "2000-01-01T08:00:00Z", "2000-01-02T08:00:00Z"},
		// 1987–2006 rule: DST from the first Sunday of April (2 April
		// 2000) to the last Sunday of October (29 October 2000).
		{"2000-04-02T12:00:00Z", "2000-04-02T08:00:00Z", "2000-04-03T07:00:00Z"},
		{"2000-10-29T08:30:00Z", "2000-10-29T07:00:00Z", "2000-10-30T08:00:00Z"},
		{"2006-10-29T06:59:59Z", "2006-10-28T07:00:00Z", "2006-10-29T07:00:00Z"},
		// 2007 rule: second Sunday of March to first Sunday of November.
		{"2007-03-11T09:59:59Z", "2007-03-11T08:00:00Z", "2007-03-12T07:00:00Z"},
		{"2025-03-09T10:00:00Z", "2025-03-09T08:00:00Z", "2025-03-10T07:00:00Z"},
		{"2025-11-02T08:59:59Z", "2025-11-02T07:00:00Z", "2025-11-03T08:00:00Z"},
		{"2025-11-02T09:00:00Z", "2025-11-02T07:00:00Z", "2025-11-03T08:00:00Z"},
		{"2026-01-28T21:47:59Z", "2026-01-28T08:00:00Z", "2026-01-29T08:00:00Z"},
	}
	for _, tt := range tests {
		begin, end := pacificDay(utc(tt.at))
		if !begin.Equal(utc(tt.begin)) || !end.Equal(utc(tt.end)) {
			t.Errorf("pacificDay(%s) = %s, %s; want %s, %s", tt.at, begin.Format(time.RFC3339), end.Format(time.RFC3339), tt.begin, tt.end)
		}
	}
}

// TestPacificOffsetMatchesTZData compares the rule with the zone database
// every hour from 1990 to 2040, and the day's midnights every day.
func TestPacificOffsetMatchesTZData(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	for at := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC); at.Before(end); at = at.Add(time.Hour) {
		_, off := at.In(la).Zone()
		if got := pacificOffset(at); got != time.Duration(off)*time.Second {
			t.Fatalf("pacificOffset(%s) = %v, tzdata says %ds", at.Format(time.RFC3339), got, off)
		}
		if at.Hour() == 12 {
			l := at.In(la)
			want := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, la)
			if begin, _ := pacificDay(at); !begin.Equal(want) {
				t.Fatalf("pacificDay(%s) starts %s, tzdata says %s", at.Format(time.RFC3339), begin, want.UTC())
			}
		}
	}
}
