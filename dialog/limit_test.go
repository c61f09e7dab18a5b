package dialog

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := newLimiter(1, 3)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got := ""
	for range 5 {
		if l.allow("a", now, 1) {
			got += "y"
		} else {
			got += "n"
		}
	}
	if got != "yyynn" {
		t.Errorf("a burst of 5 with burst 3: %s", got)
	}
	if !l.allow("b", now, 1) {
		t.Error("another person was limited")
	}
	if !l.allow("a", now.Add(1100*time.Millisecond), 1) {
		t.Error("no token after a second")
	}
}

// Many people at once: the map is swept when it has grown, not at every
// new person, and what is swept is only those whose bucket is full again.
func TestLimiterSweep(t *testing.T) {
	l := newLimiter(1, 2)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 * minSweep {
		l.allow(fmt.Sprint(i), now, 1)
	}
	if l.sweepAt < 2*minSweep {
		t.Errorf("after %d active people the next sweep is at %d: it would sweep at every new person", 3*minSweep, l.sweepAt)
	}
	later := now.Add(time.Minute)
	for i := range l.sweepAt - len(l.buckets) + 1 {
		l.allow(fmt.Sprint("new", i), later, 1)
	}
	if n := len(l.buckets); n > l.sweepAt {
		t.Errorf("%d buckets after a sweep that should have dropped the idle ones (next at %d)", n, l.sweepAt)
	}
}
