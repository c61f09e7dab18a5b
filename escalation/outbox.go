package escalation

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"ayuda/bots"
	"ayuda/escalation/store"
)

// Outgoing is one message owed to someone, waiting in the outbox.
type Outgoing struct {
	Seq      uint64       `json:"seq"`
	To       bots.Address `json:"to"`
	Reply    bots.Reply   `json:"reply"`
	Ticket   ID           `json:"ticket,omitempty"`
	Kind     string       `json:"kind,omitempty"`
	Created  time.Time    `json:"created"`
	Attempts int          `json:"attempts,omitempty"`
	NextAt   time.Time    `json:"next_at,omitzero"`
	LastErr  string       `json:"last_err,omitempty"`
	// Ref names what caused the message, when its cause has an identity of
	// its own: the agent's message given to ReplyRef. Delivery reports
	// carry it back.
	Ref string `json:"ref,omitempty"`
	// Key is the send key (bots.SendKey) the message was first tried with
	// outside the outbox, when Enqueue's ctx carried one: every attempt
	// from the outbox reuses it, so a platform that dedupes by it (Discord
	// nonces) never posts a message twice because its first try timed out
	// after the platform had accepted it.
	Key string `json:"key,omitempty"`
	// Parked is how many times the recipient could not be reached
	// (bots.ErrUnreachable): not failures, but they space the tries out.
	Parked int `json:"parked,omitempty"`
}

// Delivery is what became of one attempt to deliver an outbox message.
type Delivery struct {
	// Message is the message as recorded after the attempt: Attempts and
	// LastErr count this attempt when it failed.
	Message Outgoing
	// Err is nil when the platform accepted the message.
	Err error
	// Final is true when nothing more will happen to the message: it was
	// delivered, or it was given up on and moved aside (Undeliverable).
	Final bool
}

// WatchDeliveries calls f after every delivery attempt of Dispatch or
// DispatchOnce is recorded in the store: delivered, failed and to be
// retried, or given up on; and after a client that pulls its messages
// (Take, Ack: the terminal, the HTTP API) acknowledged them, as delivered.
// f runs on the goroutine that recorded it and must not block or call
// back into the Queue.
func (q *Queue) WatchDeliveries(f func(Delivery)) {
	q.subMu.Lock()
	q.deliverTo = append(q.deliverTo, f)
	q.subMu.Unlock()
}

func (q *Queue) delivered(d Delivery) {
	if d.Message.Ticket != 0 {
		rd := &remoteDelivery{Seq: d.Message.Seq, Ticket: d.Message.Ticket, Ref: d.Message.Ref, Final: d.Final}
		if d.Err != nil {
			rd.Err = d.Err.Error()
		}
		q.share(news{Delivery: rd})
	}
	q.deliveredHere(d)
}

// deliveredHere tells this replica's watchers of a delivery.
func (q *Queue) deliveredHere(d Delivery) {
	q.subMu.Lock()
	fs := q.deliverTo
	q.subMu.Unlock()
	for _, f := range fs {
		f(d)
	}
}

func enqueue(tx store.Tx, to bots.Address, r bots.Reply, ticket ID, kind, ref string, now time.Time) error {
	return enqueueKeyed(tx, to, r, ticket, kind, ref, "", now)
}

func enqueueKeyed(tx store.Tx, to bots.Address, r bots.Reply, ticket ID, kind, ref, key string, now time.Time) error {
	b := tx.Bucket(bOutbox)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	data, err := json.Marshal(Outgoing{Seq: seq, To: to, Reply: r, Ticket: ticket, Kind: kind, Ref: ref, Key: key, Created: now})
	if err != nil {
		return err
	}
	if err := b.Put(itob(seq), data); err != nil {
		return err
	}
	if err := tx.Bucket(bOutboxTo).Put(outboxToKey(to, seq), nil); err != nil {
		return err
	}
	return promote(tx, to)
}

// The outbox is indexed by recipient (bOutboxTo), so what waits for one
// person (a terminal client polling its inbox, an acknowledgement) is read
// without reading what waits for everyone else; and each recipient's first
// message is indexed by when it is due (bOutboxDue), so the dispatcher
// reads only what is due, however many messages wait for people who cannot
// be reached.

func outboxToKey(to bots.Address, seq uint64) []byte {
	return append(append([]byte(to.Key()), 0), itob(seq)...)
}

func outboxDueKey(at time.Time, seq uint64) []byte {
	var n uint64
	if !at.IsZero() && at.UnixNano() > 0 {
		n = uint64(at.UnixNano())
	}
	return append(itob(n), itob(seq)...)
}

// promote makes to's first message the one the due index has for to.
func promote(tx store.Tx, to bots.Address) error {
	prefix := append([]byte(to.Key()), 0)
	idx := tx.Bucket(bOutboxTo)
	c := idx.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+8 {
			continue
		}
		if len(v) > 0 {
			return nil // already the indexed first message
		}
		seq := binary.BigEndian.Uint64(k[len(prefix):])
		raw := tx.Bucket(bOutbox).Get(itob(seq))
		if raw == nil {
			continue
		}
		var o Outgoing
		if err := json.Unmarshal(raw, &o); err != nil {
			return fmt.Errorf("outbox entry %d: %w", seq, err)
		}
		dk := outboxDueKey(o.NextAt, seq)
		if err := tx.Bucket(bOutboxDue).Put(dk, nil); err != nil {
			return err
		}
		return idx.Put(append([]byte(nil), k...), dk)
	}
	return nil
}

// reschedule records that o, its recipient's first message, is next due
// at o.NextAt.
func reschedule(tx store.Tx, o Outgoing) error {
	idx := tx.Bucket(bOutboxTo)
	tk := outboxToKey(o.To, o.Seq)
	if old := idx.Get(tk); len(old) > 0 {
		if err := tx.Bucket(bOutboxDue).Delete(old); err != nil {
			return err
		}
	}
	dk := outboxDueKey(o.NextAt, o.Seq)
	if err := tx.Bucket(bOutboxDue).Put(dk, nil); err != nil {
		return err
	}
	return idx.Put(tk, dk)
}

// outboxDelete removes message o from the outbox and its indexes; the
// recipient's next message, if any, becomes the one due.
func outboxDelete(tx store.Tx, o Outgoing) error {
	if err := tx.Bucket(bOutbox).Delete(itob(o.Seq)); err != nil {
		return err
	}
	idx := tx.Bucket(bOutboxTo)
	tk := outboxToKey(o.To, o.Seq)
	if dk := idx.Get(tk); len(dk) > 0 {
		if err := tx.Bucket(bOutboxDue).Delete(dk); err != nil {
			return err
		}
	}
	if err := idx.Delete(tk); err != nil {
		return err
	}
	return promote(tx, o.To)
}

// outboxFor returns the messages waiting for to with sequence numbers up
// to upTo (0: all), oldest first.
func outboxFor(tx store.Tx, to bots.Address, upTo uint64) ([]Outgoing, error) {
	prefix := append([]byte(to.Key()), 0)
	b := tx.Bucket(bOutbox)
	var out []Outgoing
	c := tx.Bucket(bOutboxTo).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) != len(prefix)+8 {
			continue
		}
		seq := binary.BigEndian.Uint64(k[len(prefix):])
		if upTo > 0 && seq > upTo {
			break
		}
		v := b.Get(itob(seq))
		if v == nil {
			continue
		}
		var o Outgoing
		if err := json.Unmarshal(v, &o); err != nil {
			return nil, fmt.Errorf("outbox entry %d: %w", seq, err)
		}
		if o.To == to {
			out = append(out, o)
		}
	}
	return out, nil
}

// indexOutbox builds the outbox's indexes afresh (a store from before
// they were kept).
func indexOutbox(tx store.Tx) error {
	for _, name := range [][]byte{bOutboxTo, bOutboxDue} {
		if err := tx.Bucket(name).Clear(); err != nil {
			return err
		}
	}
	idx := tx.Bucket(bOutboxTo)
	seen := map[bots.Address]bool{}
	return tx.Bucket(bOutbox).ForEach(func(k, v []byte) error {
		var o Outgoing
		if err := json.Unmarshal(v, &o); err != nil {
			return nil // reported when it is delivered
		}
		var dk []byte
		if !seen[o.To] {
			seen[o.To] = true
			dk = outboxDueKey(o.NextAt, o.Seq)
			if err := tx.Bucket(bOutboxDue).Put(dk, nil); err != nil {
				return err
			}
		}
		return idx.Put(outboxToKey(o.To, o.Seq), dk)
	})
}

// Enqueue puts a message for someone in the outbox, durably, and wakes the
// dispatcher. A send key in ctx (bots.WithSendKey: the key an inline send
// already tried the message with) is kept for every delivery attempt.
func (q *Queue) Enqueue(ctx context.Context, to bots.Address, r bots.Reply) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key := bots.SendKey(ctx)
	err := q.batch(ctx, func(tx store.Tx) error {
		return enqueueKeyed(tx, to, r, 0, "message", "", key, q.now())
	})
	if err != nil {
		return fmt.Errorf("escalation: enqueue: %w", err)
	}
	q.poke()
	q.share(news{})
	return nil
}

// poke wakes this replica's dispatcher: the outbox grew. When another
// replica runs it, it hears of the change (replicas.go) and pokes its own.
func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Pending returns what waits in the outbox, oldest first.
func (q *Queue) Pending(ctx context.Context) ([]Outgoing, error) {
	return q.outgoing(ctx, bOutbox)
}

// outgoing reads every message in bucket, oldest first.
func (q *Queue) outgoing(ctx context.Context, bucket []byte) ([]Outgoing, error) {
	var out []Outgoing
	err := q.st.View(ctx, func(tx store.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var o Outgoing
			if err := json.Unmarshal(v, &o); err != nil {
				return err
			}
			out = append(out, o)
			return nil
		})
	})
	return out, err
}

// Take removes and returns every message waiting for to, oldest first. It
// is how a channel that pulls receives its messages when the caller shows
// them at once, in the same process.
func (q *Queue) Take(ctx context.Context, to bots.Address) ([]Outgoing, error) {
	msgs, err := q.Peek(ctx, to)
	if err != nil || len(msgs) == 0 {
		return msgs, err
	}
	return msgs, q.Ack(ctx, to, msgs[len(msgs)-1].Seq)
}

// Peek returns every message waiting for to, oldest first, and leaves them
// in the outbox until Ack: a client that pulls over a network acknowledges
// what it has shown, so a crash on either side loses nothing.
func (q *Queue) Peek(ctx context.Context, to bots.Address) ([]Outgoing, error) {
	var out []Outgoing
	err := q.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = outboxFor(tx, to, 0)
		return err
	})
	return out, err
}

// Ack removes the messages for to up to and including sequence number upTo.
func (q *Queue) Ack(ctx context.Context, to bots.Address, upTo uint64) error {
	if upTo == 0 {
		return nil
	}
	// Clients acknowledge on every poll, mostly what they already did: a
	// read says whether there is anything to delete before a write (and
	// its fsync) is spent on it.
	var any bool
	err := q.st.View(ctx, func(tx store.Tx) error {
		os, err := outboxFor(tx, to, upTo)
		any = len(os) > 0
		return err
	})
	if err != nil || !any {
		return err
	}
	var taken []Outgoing
	err = q.updateTx(ctx, func(tx store.Tx) error {
		var err error
		if taken, err = outboxFor(tx, to, upTo); err != nil {
			return err
		}
		for _, o := range taken {
			if err := outboxDelete(tx, o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range taken {
		q.delivered(Delivery{Message: o, Final: true})
	}
	return nil
}
