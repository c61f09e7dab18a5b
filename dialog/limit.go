package dialog

import (
	"sync"
	"time"
)

// limiter is a token bucket per conversation: a person may send burst
// messages at once and rate a second after that. It forgets people whose
// bucket is full again, so its memory follows the active conversations.
type limiter struct {
	rate  float64
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
	sweepAt int // sweep when the map reaches this size
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}, sweepAt: minSweep}
}

// allow takes a token for key at now, if there are at least need. Asking
// for more than one (a person already told to slow down) and being refused
// still spends one: a flood that goes on keeps the bucket empty instead of
// being let through each time it refills.
func (l *limiter) allow(key string, now time.Time, need float64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		// Sweep when the map has doubled since the last sweep, not at every
		// new key: while everyone is active a sweep frees nothing, and
		// sweeping each time held this lock for every turn.
		if len(l.buckets) >= l.sweepAt {
			l.sweep(now)
			l.sweepAt = max(minSweep, 2*len(l.buckets))
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < max(need, 1) {
		if need > 1 {
			b.tokens = max(0, b.tokens-1)
		}
		return false
	}
	b.tokens--
	return true
}

// minSweep is the size under which the limiter never sweeps.
const minSweep = 10000

// sweep drops the buckets that have refilled: they hold nothing to remember.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
