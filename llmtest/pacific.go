package llmtest

import "time"

// Gemini's per-day quotas reset at midnight Pacific time. The rule is
// computed here rather than read from the zone database so that the
// emulator behaves the same on machines without tzdata and in binaries that
// do not embed it: America/Los_Angeles is UTC−8 (PST), and UTC−7 (PDT)
// from 2:00 local time on the DST start Sunday to 2:00 local time on the
// end Sunday. Midnight is never inside a transition, so a Pacific day
// always starts at 07:00 or 08:00 UTC.
const (
	pst = -8 * time.Hour
	pdt = -7 * time.Hour
)

// pacificOffset is America/Los_Angeles' offset from UTC at t. DST runs from
// the second Sunday of March to the first Sunday of November since 2007,
// and from the first Sunday of April to the last Sunday of October from
// 1987 to 2006; earlier years get the 1987 rule, which is enough for an
// emulator whose clock starts in 2000 inside a testing/synctest bubble.
func pacificOffset(t time.Time) time.Duration {
	begin, end := dstBounds(t.UTC().Year())
	if !t.Before(begin) && t.Before(end) {
		return pdt
	}
	return pst
}

// dstBounds returns the UTC instants DST starts (2:00 PST) and ends
// (2:00 PDT) in year.
func dstBounds(year int) (begin, end time.Time) {
	if year >= 2007 {
		begin = nthSunday(year, time.March, 2)
		end = nthSunday(year, time.November, 1)
	} else {
		begin = nthSunday(year, time.April, 1)
		end = lastSunday(year, time.October)
	}
	return begin.Add(2*time.Hour - pst), end.Add(2*time.Hour - pdt)
}

// nthSunday is 00:00 UTC on the n-th Sunday of month.
func nthSunday(year int, month time.Month, n int) time.Time {
	first := time.Date(year, month, 1, 0, 0, 0, 0, time.UTC)
	offset := (7 - int(first.Weekday())) % 7
	return first.AddDate(0, 0, offset+7*(n-1))
}

// lastSunday is 00:00 UTC on the last Sunday of month.
func lastSunday(year int, month time.Month) time.Time {
	last := time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC)
	return last.AddDate(0, 0, -int(last.Weekday()))
}

// pacificDay returns the Pacific calendar day that holds t, as the UTC
// instants of its midnight and the next.
func pacificDay(t time.Time) (begin, end time.Time) {
	y, m, d := t.UTC().Add(pacificOffset(t)).Date()
	return pacificMidnight(y, m, d), pacificMidnight(y, m, d+1)
}

// pacificMidnight is the UTC instant of 00:00 Pacific time on the given
// date (day may overflow the month, as in time.Date).
func pacificMidnight(year int, month time.Month, day int) time.Time {
	wall := time.Date(year, month, day, 0, 0, 0, 0, time.UTC)
	if t := wall.Add(-pdt); pacificOffset(t) == pdt {
		return t
	}
	return wall.Add(-pst)
}
