package escalation

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParsePeriod reads a report's period: since is a duration back from now
// ("7d", "36h") or a date or time ("2026-11-01", RFC 3339); until is a date
// or time, or empty for now. Dates are midnight in loc.
func ParsePeriod(since, until string, now time.Time, loc *time.Location) (time.Time, time.Time, error) {
	end := now
	if until != "" {
		t, err := parseWhen(until, loc)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("until: %w", err)
		}
		end = t
	}
	if since == "" {
		since = "7d"
	}
	var start time.Time
	if d, err := parseDays(since); err == nil {
		start = end.Add(-d)
	} else if t, err := parseWhen(since, loc); err == nil {
		start = t
	} else {
		return time.Time{}, time.Time{}, fmt.Errorf("since: %q is neither a duration (7d, 24h) nor a date (2026-11-01)", since)
	}
	if !start.Before(end) {
		return time.Time{}, time.Time{}, fmt.Errorf("the period is empty: %s is not before %s", start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	return start, end, nil
}

// parseDays is time.ParseDuration that also takes whole days ("7d").
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, fmt.Errorf("%q: want a number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: want a positive duration", s)
	}
	return d, nil
}

func parseWhen(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02", s, loc)
}
