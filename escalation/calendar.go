package escalation

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Span is one stretch of opening hours within a day, as wall-clock minutes
// since midnight: 9:00–19:00 is {540, 1140}. End may be 24:00 (1440).
type Span struct {
	Start, End int
}

func (s Span) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", s.Start/60, s.Start%60, s.End/60, s.End%60)
}

// ParseHours reads opening hours such as "9:00-14:00, 15:00-19:00"; an
// empty string or "closed" is a day without hours.
func ParseHours(s string) ([]Span, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "closed") || strings.EqualFold(s, "cerrado") {
		return nil, nil
	}
	var out []Span
	for _, part := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(part), "-")
		if !ok {
			return nil, fmt.Errorf("escalation: hours %q: want HH:MM-HH:MM", part)
		}
		a, err := parseClock(from)
		if err != nil {
			return nil, err
		}
		b, err := parseClock(to)
		if err != nil {
			return nil, err
		}
		if b <= a {
			return nil, fmt.Errorf("escalation: hours %q: the end is not after the start", part)
		}
		out = append(out, Span{a, b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	for i := 1; i < len(out); i++ {
		if out[i].Start < out[i-1].End {
			return nil, fmt.Errorf("escalation: hours %q overlap", s)
		}
	}
	return out, nil
}

func parseClock(s string) (int, error) {
	h, m, _ := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm := 0
	var err2 error
	if m != "" {
		mm, err2 = strconv.Atoi(m)
	}
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh*60+mm > 24*60 {
		return 0, fmt.Errorf("escalation: %q is not a time of day (HH:MM)", s)
	}
	return hh*60 + mm, nil
}

// Calendar is when the team works: opening hours per weekday in a time
// zone, minus holidays. Response targets run only while it is open. A nil
// *Calendar is always open, in UTC. A Calendar is immutable and safe for
// concurrent use.
type Calendar struct {
	loc      *time.Location
	hours    [7][]Span
	holidays map[string]bool // "2006-01-02" in loc
}

// NewCalendar returns a calendar in loc (nil means UTC) with the given hours
// per weekday and holidays ("2006-01-02"). At least one weekday must have
// hours.
func NewCalendar(loc *time.Location, hours map[time.Weekday][]Span, holidays []string) (*Calendar, error) {
	if loc == nil {
		loc = time.UTC
	}
	c := &Calendar{loc: loc, holidays: map[string]bool{}}
	open := false
	for d, spans := range hours {
		if d < time.Sunday || d > time.Saturday {
			return nil, fmt.Errorf("escalation: calendar: no weekday %d", d)
		}
		for _, s := range spans {
			if s.Start < 0 || s.End > 24*60 || s.End <= s.Start {
				return nil, fmt.Errorf("escalation: calendar: %s: bad hours %s", d, s)
			}
		}
		c.hours[d] = append([]Span(nil), spans...)
		sort.Slice(c.hours[d], func(i, j int) bool { return c.hours[d][i].Start < c.hours[d][j].Start })
		open = open || len(spans) > 0
	}
	if !open {
		return nil, errors.New("escalation: calendar: no opening hours on any day")
	}
	for _, h := range holidays {
		d, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(h), loc)
		if err != nil {
			return nil, fmt.Errorf("escalation: calendar: holiday %q: want YYYY-MM-DD", h)
		}
		c.holidays[d.Format("2006-01-02")] = true
	}
	return c, nil
}

// DefaultHours are a shop's usual hours: Monday to Friday 9:00–19:00 and
// Saturday 10:00–14:00.
func DefaultHours() map[time.Weekday][]Span {
	week := []Span{{9 * 60, 19 * 60}}
	return map[time.Weekday][]Span{
		time.Monday: week, time.Tuesday: week, time.Wednesday: week, time.Thursday: week, time.Friday: week,
		time.Saturday: {{10 * 60, 14 * 60}},
	}
}

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location {
	if c == nil {
		return time.UTC
	}
	return c.loc
}

// maxDays bounds the search for open hours (a calendar of holidays only).
const maxDays = 3 * 366

// spans returns the open intervals of the day that starts at day (midnight
// in the calendar's zone), as instants.
func (c *Calendar) spans(day time.Time) [][2]time.Time {
	if c.holidays[day.Format("2006-01-02")] {
		return nil
	}
	y, m, d := day.Date()
	var out [][2]time.Time
	for _, s := range c.hours[day.Weekday()] {
		// time.Date normalises the minutes, so DST days get the wall clock right.
		out = append(out, [2]time.Time{time.Date(y, m, d, 0, s.Start, 0, 0, c.loc), time.Date(y, m, d, 0, s.End, 0, 0, c.loc)})
	}
	return out
}

func (c *Calendar) midnight(t time.Time) time.Time {
	y, m, d := t.In(c.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, c.loc)
}

// Add returns the instant at which d of open time has passed since t. A
// target that ends exactly at closing time is due at closing time.
func (c *Calendar) Add(t time.Time, d time.Duration) time.Time {
	if c == nil || d <= 0 {
		return t.Add(max(d, 0))
	}
	day := c.midnight(t)
	for range maxDays {
		for _, s := range c.spans(day) {
			if !s[1].After(t) {
				continue
			}
			start := s[0]
			if t.After(start) {
				start = t
			}
			if avail := s[1].Sub(start); d <= avail {
				return start.Add(d)
			} else {
				d -= avail
			}
		}
		y, m, dd := day.Date()
		day = time.Date(y, m, dd+1, 0, 0, 0, 0, c.loc)
	}
	return t.Add(d)
}

// Between returns the open time from a to b; zero when b is not after a.
func (c *Calendar) Between(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	if c == nil {
		return b.Sub(a)
	}
	var total time.Duration
	day := c.midnight(a)
	for day.Before(b) {
		for _, s := range c.spans(day) {
			from, to := s[0], s[1]
			if a.After(from) {
				from = a
			}
			if b.Before(to) {
				to = b
			}
			if to.After(from) {
				total += to.Sub(from)
			}
		}
		y, m, dd := day.Date()
		day = time.Date(y, m, dd+1, 0, 0, 0, 0, c.loc)
	}
	return total
}

// IsOpen reports whether the team works at t.
func (c *Calendar) IsOpen(t time.Time) bool {
	if c == nil {
		return true
	}
	for _, s := range c.spans(c.midnight(t)) {
		if !t.Before(s[0]) && t.Before(s[1]) {
			return true
		}
	}
	return false
}
