package escalation

// The dispatcher: what delivers the outbox, retries it with back-off,
// parks it for someone away, and gives up on it.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"ayuda/bots"
	"ayuda/escalation/store"
)

// Sender delivers a message to an address; cmd/ayuda routes by platform to
// the right adapter. It returns bots.ErrUnreachable when the person cannot
// be reached now, and a bots.Permanent error when retrying cannot help.
type Sender interface {
	Send(ctx context.Context, to bots.Address, r bots.Reply) error
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, to bots.Address, r bots.Reply) error

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, to bots.Address, r bots.Reply) error {
	return f(ctx, to, r)
}

// parkAfter is how long a message waits for an unreachable recipient
// after its n-th try: 1, 2, 4, 8, then 15 minutes.
func parkAfter(n int) time.Duration {
	return min(maxPark, parkBackoff<<min(max(n-1, 0), 4))
}

// Back-off for failed deliveries.
const (
	minBackoff  = time.Second
	maxBackoff  = 5 * time.Minute
	parkBackoff = time.Minute      // for an unreachable recipient, doubling…
	maxPark     = 15 * time.Minute // …up to this; pulled messages are read at once
	// maxAway is how long a message waits for a recipient who cannot be
	// reached (a website visitor who left, a terminal customer) before it
	// is given up on and shown on its ticket as undeliverable.
	maxAway     = 30 * 24 * time.Hour
	sendTimeout = 30 * time.Second
	// maxAttempts before a message is moved aside as undeliverable, after
	// about a day of retrying at the maximum back-off.
	maxAttempts = 300
)

func backoff(attempts int) time.Duration {
	d := minBackoff
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// Dispatch delivers the outbox through s until ctx is done. Messages to one
// address go in order: a message waits while an earlier one to the same
// address is being retried. Recipients are served concurrently, up to
// `workers` at a time (zero means 8). A message is deleted only after s
// accepted it, so a crash between the two re-sends it once on restart:
// delivery is at least once, and exactly once whenever the process is not
// killed mid-send.
func (q *Queue) Dispatch(ctx context.Context, s Sender, workers int) error {
	if workers <= 0 {
		workers = 8
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		case <-timer.C:
		}
		next, err := q.dispatchOnce(ctx, s, workers)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			q.log.ErrorContext(ctx, "outbox scan failed", "err", err)
			next = q.now().Add(minBackoff)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		wait := time.Until(next)
		if next.IsZero() {
			wait = time.Hour
		}
		timer.Reset(max(wait, 10*time.Millisecond))
	}
}

// DispatchOnce makes one pass over the outbox: every recipient's first due
// message is tried once. It returns when the next retry is due (zero if
// nothing waits). Tests and command-line tools use it directly.
func (q *Queue) DispatchOnce(ctx context.Context, s Sender) (time.Time, error) {
	return q.dispatchOnce(ctx, s, 8)
}

func (q *Queue) dispatchOnce(ctx context.Context, s Sender, workers int) (time.Time, error) {
	for {
		if !store.Held(ctx) {
			// Ownership of the outbox is not confirmed (this replica was
			// paused): nothing is sent until it is, or until another
			// replica has taken over and this one stopped.
			return q.now().Add(50 * time.Millisecond), nil
		}
		due, next, err := q.due(ctx)
		if err != nil || len(due) == 0 {
			return next, err
		}
		sem := make(chan struct{}, workers)
		done := make(chan struct{})
		for _, o := range due {
			sem <- struct{}{}
			go func(o Outgoing) {
				defer func() { <-sem; done <- struct{}{} }()
				q.deliver(ctx, s, o)
			}(o)
		}
		for range due {
			<-done
		}
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
	}
}

// due returns the first message of each recipient that is due now, and the
// earliest time one that is not will be. It reads the due index up to now
// (its keys begin with the time), then those messages together.
func (q *Queue) due(ctx context.Context) ([]Outgoing, time.Time, error) {
	now := q.now()
	var due []Outgoing
	var next time.Time
	err := q.st.View(ctx, func(tx store.Tx) error {
		var keys [][]byte
		c := tx.Bucket(bOutboxDue).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) != 16 {
				continue
			}
			at, seq := binary.BigEndian.Uint64(k), binary.BigEndian.Uint64(k[8:])
			if at > 0 && time.Unix(0, int64(at)).After(now) {
				next = time.Unix(0, int64(at))
				break
			}
			keys = append(keys, itob(seq))
		}
		for i, v := range tx.Bucket(bOutbox).GetMany(keys) {
			if v == nil {
				continue
			}
			var o Outgoing
			if err := json.Unmarshal(v, &o); err != nil {
				return fmt.Errorf("outbox entry %d: %w", binary.BigEndian.Uint64(keys[i]), err)
			}
			due = append(due, o)
		}
		return nil
	})
	return due, next, err
}

// SendKey returns the key of the outbox message being delivered when ctx
// is the context Dispatch (or DispatchOnce) passed to Sender.Send, and ""
// otherwise; see bots.SendKey, which adapters use.
func SendKey(ctx context.Context) string { return bots.SendKey(ctx) }

func (o Outgoing) sendKey() string {
	if o.Key != "" {
		return o.Key
	}
	return strconv.FormatUint(o.Seq, 10) + "." + strconv.FormatInt(o.Created.UnixNano(), 36)
}

func (q *Queue) deliver(ctx context.Context, s Sender, o Outgoing) {
	if !store.Held(ctx) {
		return // not sent: see dispatchOnce
	}
	sctx, cancel := context.WithTimeout(bots.WithSendKey(ctx, o.sendKey()), sendTimeout)
	err := s.Send(sctx, o.To, o.Reply)
	cancel()
	if ctx.Err() != nil && err != nil {
		return // shutting down: the message stays for next time
	}
	var (
		recorded bool    // the outcome is in the store
		final    bool    // delivered or moved aside
		failed   *Ticket // the ticket that now shows the failure
	)
	// Batch: many deliveries (and turns) share one commit instead of each
	// holding bbolt's single writer through its own fsync. The function may
	// run more than once, so it resets what it reports and re-reads the entry.
	// The outcome is recorded even when shutdown began meanwhile: a sent
	// message left in the outbox would be sent again after the restart.
	err2 := q.record(context.WithoutCancel(ctx), func(tx store.Tx) error {
		recorded, final, failed = false, false, nil
		b := tx.Bucket(bOutbox)
		key := itob(o.Seq)
		if b.Get(key) == nil {
			return nil // taken meanwhile
		}
		recorded = true
		if err == nil {
			final = true
			return outboxDelete(tx, o)
		}
		o.LastErr = err.Error()
		if q.cfg.Redact != nil {
			o.LastErr = q.cfg.Redact(o.LastErr)
		}
		if errors.Is(err, bots.ErrUnreachable) {
			// Waiting for the person to connect is not a failed attempt,
			// and the longer they are away the less often it is tried:
			// a website visitor who left, or a platform not configured,
			// must not cost a write a minute per message for ever. What
			// pulls its messages (the terminal, the website chat) reads
			// them from the outbox itself, at once.
			o.Parked++
			o.NextAt = q.now().Add(parkAfter(o.Parked))
		} else {
			o.Attempts++
		}
		switch {
		case errors.Is(err, bots.ErrUnreachable) && q.now().Sub(o.Created) > maxAway:
			// They never came back: given up on like a failure, so the
			// outbox does not keep every visitor who left for ever.
			o.LastErr = fmt.Sprintf("the customer was not reachable for %d days (%s)", int(maxAway.Hours()/24), o.LastErr)
			final = true
			var berr error
			failed, berr = q.bury(tx, o)
			return berr
		case errors.Is(err, bots.ErrUnreachable):
		case bots.IsPermanent(err) || o.Attempts >= maxAttempts:
			final = true
			var berr error
			failed, berr = q.bury(tx, o)
			return berr
		default:
			o.NextAt = q.now().Add(backoff(o.Attempts))
		}
		data, merr := json.Marshal(o)
		if merr != nil {
			return merr
		}
		if err := b.Put(key, data); err != nil {
			return err
		}
		return reschedule(tx, o)
	})
	if err2 != nil {
		q.log.ErrorContext(ctx, "outbox update failed", "seq", o.Seq, "err", err2)
	}
	if err != nil && !errors.Is(err, bots.ErrUnreachable) {
		q.log.WarnContext(ctx, "delivery failed", "seq", o.Seq, "to", o.To.String(), "attempts", o.Attempts, "err", err)
	}
	if err2 != nil || !recorded {
		return
	}
	q.changed(failed)
	q.delivered(Delivery{Message: o, Err: err, Final: final})
}

// bury moves an undeliverable message aside and records the failure on its
// ticket, so an agent sees that the customer did not get it. It returns
// the ticket it changed, if any.
func (q *Queue) bury(tx store.Tx, o Outgoing) (*Ticket, error) {
	data, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	if err := tx.Bucket(bDead).Put(itob(o.Seq), data); err != nil {
		return nil, err
	}
	if err := outboxDelete(tx, o); err != nil {
		return nil, err
	}
	if o.Ticket == 0 {
		return nil, nil
	}
	t, err := getTicket(tx, o.Ticket)
	if err != nil {
		return nil, nil // the ticket is gone; the dead letter is kept
	}
	old := *t
	what := fmt.Sprintf("Could not deliver to the customer after %d attempts: %s", o.Attempts, o.LastErr)
	if o.Attempts == 0 {
		what = "Could not deliver to the customer: " + o.LastErr
	}
	t.Transcript = append(append([]Entry(nil), t.Transcript...), Entry{Time: q.now(), Author: AuthorSystem, Note: true, Text: what})
	q.event(t, "system", "delivery_failed", o.LastErr)
	t.Updated = q.now()
	return t, putTicket(tx, &old, t)
}

// Undeliverable returns the messages given up on, oldest first.
func (q *Queue) Undeliverable(ctx context.Context) ([]Outgoing, error) {
	return q.outgoing(ctx, bDead)
}
