package escalation

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"ayuda/escalation/store"
)

// Every write to the store has a deadline: the caller's context's, and at
// most Config.WriteTimeout (a cancelled context does not stop a write once
// asked for, as before deadlines). A disk that stops answering (a frozen network
// volume, a dying disk) makes writes wait for bbolt's single writer; they
// fail at their deadline instead of hanging the turn, the agent's command
// or the delivery that asked for them.
//
// A write that had not started when its deadline passed never will: it
// fails with ErrStalled and nothing of it is stored, so the caller's retry
// is not a duplicate. Only the write the disk is stuck on can still be
// committed after its caller was told it failed (ErrStalledInFlight); every
// platform message carries an id, and a re-delivered one is recognised.

// DefaultWriteTimeout is Config.WriteTimeout's default.
const DefaultWriteTimeout = 10 * time.Second

var (
	// ErrStalled is a write that had not started by its deadline: nothing
	// of it was stored.
	ErrStalled = errors.New("escalation: the store did not take the write in time (nothing was stored)")
	// ErrStalledInFlight is a write the store was committing when its
	// deadline passed: it may yet be stored.
	ErrStalledInFlight = errors.New("escalation: the store did not finish the write in time (it may still be stored)")

	errAbandoned = errors.New("escalation: write abandoned at its deadline")
)

// Write states.
const (
	writeWaiting int32 = iota
	writeRunning
	writeAbandoned
)

// batch runs fn in the store's Batch (shared with concurrent writes),
// within ctx's deadline and the write timeout.
func (q *Queue) batch(ctx context.Context, fn func(tx store.Tx) error) error {
	return q.write(ctx, q.st.Batch, fn)
}

// updateTx runs fn in a transaction of its own, with the same deadlines.
func (q *Queue) updateTx(ctx context.Context, fn func(tx store.Tx) error) error {
	return q.write(ctx, q.st.Update, fn)
}

func (q *Queue) write(ctx context.Context, run func(context.Context, func(store.Tx) error) error, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var state atomic.Int32
	done := make(chan error, 1)
	go func() {
		// The write goes on when ctx is cancelled (below); its deadline
		// is kept by the wait.
		done <- run(context.WithoutCancel(ctx), func(tx store.Tx) error {
			// Batch may run fn again (alone, after another write in the
			// batch failed): running it again is allowed, starting late is not.
			if !state.CompareAndSwap(writeWaiting, writeRunning) && state.Load() != writeRunning {
				return errAbandoned
			}
			return fn(tx)
		})
	}()
	// Only a deadline ends the wait, not a cancellation: callers cancel
	// when they stop (a channel shutting down), and what they asked for
	// before still has to be stored (where a card was posted, a delivery).
	timeout := q.cfg.WriteTimeout
	if timeout == 0 {
		timeout = DefaultWriteTimeout
	}
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var why error
	select {
	case err := <-done:
		return err
	case <-timer.C:
		why = fmt.Errorf("after %s", timeout.Round(time.Millisecond))
	}
	if state.CompareAndSwap(writeWaiting, writeAbandoned) {
		q.stalled.Add(1)
		q.log.Error("a write to the store did not start in time; it was dropped", "why", why)
		return fmt.Errorf("%w: %v", ErrStalled, why)
	}
	select {
	case err := <-done: // it was finishing as the deadline passed
		return err
	default:
	}
	q.stalled.Add(1)
	q.log.Error("a write to the store did not finish in time; the disk may be stalled", "why", why)
	return fmt.Errorf("%w: %v", ErrStalledInFlight, why)
}

// Stalled is how many writes have missed their deadline since the store
// was opened.
func (q *Queue) Stalled() int64 { return q.stalled.Load() }
