package escalation

import (
	"context"
	"sync"

	"ayuda/escalation/store"
)

// On a database shared by replicas every transaction is serializable, and
// two that read and write the same small, busy tables (the outbox and its
// indexes) while both are open make PostgreSQL abort one of them: with the
// dispatcher recording thirty deliveries at once, each was run 2.7 times
// on average. What the dispatcher records therefore goes in one
// transaction for all the deliveries that finished meanwhile, one such
// transaction at a time, as bbolt's Batch does for every write.

// together runs fn in a transaction shared with the other fns that came
// while the previous one ran. If the shared one fails, each fn is run in
// one of its own, so one fn's failure is its own. fn may run more than
// once.
type together struct {
	mu      sync.Mutex
	pending []*joined
	running bool
}

type joined struct {
	fn   func(store.Tx) error
	done chan error
}

// record runs fn with the others waiting (see together).
func (q *Queue) record(ctx context.Context, fn func(store.Tx) error) error {
	if !q.Shared() {
		return q.batch(ctx, fn) // bbolt's Batch already does it
	}
	j := &joined{fn: fn, done: make(chan error, 1)}
	q.joint.mu.Lock()
	q.joint.pending = append(q.joint.pending, j)
	if !q.joint.running {
		q.joint.running = true
		go q.recordJoined(context.WithoutCancel(ctx))
	}
	q.joint.mu.Unlock()
	return <-j.done
}

// recordJoined runs what waits, in turns, until nothing does.
func (q *Queue) recordJoined(ctx context.Context) {
	for {
		q.joint.mu.Lock()
		batch := q.joint.pending
		q.joint.pending = nil
		if len(batch) == 0 {
			q.joint.running = false
			q.joint.mu.Unlock()
			return
		}
		q.joint.mu.Unlock()
		err := q.batch(ctx, func(tx store.Tx) error {
			for _, j := range batch {
				if err := j.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		for _, j := range batch {
			if err != nil && len(batch) > 1 {
				j.done <- q.batch(ctx, j.fn)
				continue
			}
			j.done <- err
		}
	}
}
