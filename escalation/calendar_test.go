package escalation

import (
	"testing"
	"time"
)

var madrid = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		panic(err)
	}
	return loc
}()

func shopCalendar(t testing.TB, holidays ...string) *Calendar {
	t.Helper()
	c, err := NewCalendar(madrid, DefaultHours(), holidays)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, madrid)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCalendarAdd(t *testing.T) {
	cal := shopCalendar(t, "2026-12-08")
	for _, tc := range []struct {
		from string
		d    time.Duration
		want string
	}{
		{"2026-11-24 10:00", 8 * time.Hour, "2026-11-24 18:00"},  // Tuesday, within the day
		{"2026-11-24 10:00", 9 * time.Hour, "2026-11-24 19:00"},  // due at closing time
		{"2026-11-24 10:00", 10 * time.Hour, "2026-11-25 10:00"}, // into the next morning
		{"2026-11-24 07:30", time.Hour, "2026-11-24 10:00"},      // before opening
		{"2026-11-24 22:00", time.Hour, "2026-11-25 10:00"},      // after closing
		{"2026-11-27 18:30", 8 * time.Hour, "2026-11-30 12:30"},  // Friday: ½ h + Saturday 4 h + Monday 3½ h
		{"2026-11-28 15:00", time.Hour, "2026-11-30 10:00"},      // Saturday afternoon: closed until Monday
		{"2026-12-07 18:00", 2 * time.Hour, "2026-12-09 10:00"},  // the 8th is a holiday
		{"2026-11-24 10:00", 0, "2026-11-24 10:00"},
		{"2026-03-27 18:00", 7 * time.Hour, "2026-03-30 11:00"}, // over the change to summer time
	} {
		got := cal.Add(at(tc.from), tc.d)
		if !got.Equal(at(tc.want)) {
			t.Errorf("Add(%s, %v) = %s, want %s", tc.from, tc.d, got.In(madrid).Format("Mon 2006-01-02 15:04"), tc.want)
		}
		if tc.d > 0 {
			if back := cal.Between(at(tc.from), got); back != tc.d {
				t.Errorf("Between(%s, Add(…, %v)) = %v", tc.from, tc.d, back)
			}
		}
	}
}

func TestCalendarBetween(t *testing.T) {
	cal := shopCalendar(t)
	for _, tc := range []struct {
		a, b string
		want time.Duration
	}{
		{"2026-11-24 10:00", "2026-11-24 12:30", 150 * time.Minute},
		{"2026-11-24 18:00", "2026-11-25 10:00", 2 * time.Hour},
		{"2026-11-27 12:00", "2026-11-30 12:00", 7*time.Hour + 4*time.Hour + 3*time.Hour},
		{"2026-11-29 09:00", "2026-11-29 20:00", 0}, // Sunday
		{"2026-11-24 12:00", "2026-11-24 10:00", 0},
		{"2026-11-23 00:00", "2026-11-30 00:00", 5*10*time.Hour + 4*time.Hour}, // a whole week
	} {
		if got := cal.Between(at(tc.a), at(tc.b)); got != tc.want {
			t.Errorf("Between(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	if !cal.IsOpen(at("2026-11-28 11:00")) || cal.IsOpen(at("2026-11-28 14:00")) || cal.IsOpen(at("2026-11-29 11:00")) {
		t.Error("IsOpen is wrong around Saturday's hours")
	}
	var always *Calendar
	if got := always.Add(at("2026-11-29 11:00"), time.Hour); !got.Equal(at("2026-11-29 12:00")) {
		t.Errorf("a nil calendar is always open: got %v", got)
	}
}

func TestParseHours(t *testing.T) {
	spans, err := ParseHours("9:00-14:00, 15:30-19:00")
	if err != nil || len(spans) != 2 || spans[0] != (Span{540, 840}) || spans[1] != (Span{930, 1140}) {
		t.Fatalf("got %v %v", spans, err)
	}
	if s, err := ParseHours("closed"); err != nil || s != nil {
		t.Errorf("closed: %v %v", s, err)
	}
	for _, bad := range []string{"9-8", "9:00", "25:00-26:00", "9:00-12:00,11:00-13:00", "nueve-diez"} {
		if _, err := ParseHours(bad); err == nil {
			t.Errorf("ParseHours(%q) accepted", bad)
		}
	}
	if _, err := NewCalendar(madrid, map[time.Weekday][]Span{}, nil); err == nil {
		t.Error("a calendar that is never open was accepted")
	}
	if _, err := NewCalendar(madrid, DefaultHours(), []string{"25/12"}); err == nil {
		t.Error("a bad holiday was accepted")
	}
}
