// Package pacific tells where midnight falls in America/Los_Angeles, where
// Google resets its per-day quotas, without the time zone database: the US
// daylight-saving rules are a few lines, and a program that only needs this
// one zone should not fail on a machine without tzdata.
//
// The rules are those in force since 1987: daylight time from the first
// Sunday of April to the last Sunday of October until 2006, and from the
// second Sunday of March to the first Sunday of November since 2007, each
// switch at 02:00 local time. Earlier years are computed with the 1987 rules,
// and a future change of the law would need a new rule here.
package pacific

import "time"

const (
	// Standard is the UTC offset of Pacific Standard Time (PST).
	Standard = -8 * time.Hour
	// Daylight is the UTC offset of Pacific Daylight Time (PDT).
	Daylight = -7 * time.Hour
)

// Offset returns the UTC offset of Pacific time at t: [Daylight] while
// daylight-saving time is in force, else [Standard].
func Offset(t time.Time) time.Duration {
	u := t.UTC()
	start, end := daylightSpan(u.Year())
	if !u.Before(start) && u.Before(end) {
		return Daylight
	}
	return Standard
}

// NextMidnight returns the first instant after t at which the Pacific
// calendar date changes, in UTC. A day is 23 hours long when daylight time
// starts and 25 when it ends; midnight itself is never skipped or repeated,
// because the clocks change at 02:00.
func NextMidnight(t time.Time) time.Time {
	wall := t.UTC().Add(Offset(t))
	y, m, d := wall.Date()
	next := time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC) // a wall clock reading
	at := next.Add(-Standard)
	if Offset(at) == Daylight {
		at = next.Add(-Daylight)
	}
	return at
}

// UntilMidnight returns how long after now the Pacific date next changes:
// always more than zero and at most 25 hours.
func UntilMidnight(now time.Time) time.Duration {
	return NextMidnight(now).Sub(now)
}

// daylightSpan returns the UTC instants at which daylight time starts and
// ends in year y.
func daylightSpan(y int) (start, end time.Time) {
	// 02:00 PST is 10:00 UTC; 02:00 PDT is 09:00 UTC.
	if y >= 2007 {
		start = sunday(y, time.March, 2).Add(10 * time.Hour)
		end = sunday(y, time.November, 1).Add(9 * time.Hour)
	} else {
		start = sunday(y, time.April, 1).Add(10 * time.Hour)
		end = lastSunday(y, time.October).Add(9 * time.Hour)
	}
	return start, end
}

// sunday returns the nth Sunday of month m in year y, at 00:00 UTC.
func sunday(y int, m time.Month, n int) time.Time {
	first := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	days := (7 - int(first.Weekday())) % 7
	return first.AddDate(0, 0, days+7*(n-1))
}

// lastSunday returns the last Sunday of month m in year y, at 00:00 UTC.
func lastSunday(y int, m time.Month) time.Time {
	last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC)
	return last.AddDate(0, 0, -int(last.Weekday()))
}
