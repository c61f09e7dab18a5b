package escalation

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"ayuda/escalation/store"
)

// How tickets, their indexes, conversations and meta records are kept
// in bbolt.

func itob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func idxKey(prefix string, id ID) []byte {
	return append(append([]byte(prefix), 0), itob(uint64(id))...)
}

// damagedTicket reports, once per ticket, one that List cannot read.
func (q *Queue) damagedTicket(id ID, err error) {
	if _, seen := q.damaged.LoadOrStore(id, err.Error()); !seen {
		q.log.Error("a ticket cannot be read and is skipped; restore the store from a backup to recover it", "ticket", id, "err", err)
	}
}

// Probe writes to the store and syncs it, as every ticket change does: a
// full or failing disk, or a file that became read-only, shows here before
// the customers notice. A probe that has not finished within ctx's
// deadline is reported (and one that had not started is dropped).
func (q *Queue) Probe(ctx context.Context) error {
	return q.updateTx(ctx, func(tx store.Tx) error {
		return tx.Bucket(bMeta).Put([]byte("health/probe"), []byte(q.now().UTC().Format(time.RFC3339Nano)))
	})
}

// Damaged returns the tickets List could not read, with why.
func (q *Queue) Damaged() map[ID]string {
	out := map[ID]string{}
	q.damaged.Range(func(k, v any) bool {
		out[k.(ID)] = v.(string)
		return true
	})
	return out
}

func getTicket(tx store.Tx, id ID) (*Ticket, error) {
	return decodeTicket(id, tx.Bucket(bTickets).Get(itob(uint64(id))))
}

// getTickets reads tickets ids together (one round trip on a database);
// errs[i] is what is wrong with ids[i], if anything.
func getTickets(tx store.Tx, ids []ID) (ts []*Ticket, errs []error) {
	keys := make([][]byte, len(ids))
	for i, id := range ids {
		keys[i] = itob(uint64(id))
	}
	ts, errs = make([]*Ticket, len(ids)), make([]error, len(ids))
	for i, v := range tx.Bucket(bTickets).GetMany(keys) {
		ts[i], errs[i] = decodeTicket(ids[i], v)
	}
	return ts, errs
}

// decodeTicket is ticket id from its record v (nil: there is none).
func decodeTicket(id ID, v []byte) (*Ticket, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: #%d", ErrNotFound, id)
	}
	var t Ticket
	if err := json.Unmarshal(v, &t); err != nil {
		return nil, fmt.Errorf("escalation: ticket #%d: %w", id, err)
	}
	t.apart = [2]int{t.Archived, t.ArchivedEvents}
	return &t, nil
}

// MaxEntryText is the most of one message's text a ticket keeps in line,
// in bytes: a customer pasting a log, or a client sending a megabyte,
// would otherwise make every later change to the ticket rewrite it all.
// What is cut is said on the entry, so the agent knows to ask for it.
const MaxEntryText = 8 << 10

// capEntry cuts e's text to MaxEntryText, at a character boundary, and says
// how much was not kept.
func capEntry(e *Entry) {
	if len(e.Text) <= MaxEntryText {
		return
	}
	n := MaxEntryText
	for n > 0 && !utf8.RuneStart(e.Text[n]) {
		n--
	}
	e.Text = e.Text[:n] + fmt.Sprintf("\n[… %d more bytes of this message are not kept in the ticket]", len(e.Text)-n)
}

// putTicket writes t and moves its index keys from old's values to t's.
// The entries t has beyond old's are capped (capEntry), and its older
// entries and events are kept apart from the record (record, archive.go).
func putTicket(tx store.Tx, old, t *Ticket) error {
	from := 0
	if old != nil && old.Len() <= t.Len() {
		from = old.Len() - t.Archived
	}
	for i := max(from, 0); i < len(t.Transcript); i++ {
		capEntry(&t.Transcript[i])
	}
	rec, err := record(tx, t)
	if err != nil {
		return err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bTickets).Put(itob(uint64(t.ID)), data); err != nil {
		return err
	}
	type idx struct {
		b        []byte
		old, new string
	}
	var o Ticket
	if old != nil {
		o = *old
	}
	for _, x := range []idx{
		{bStatus, string(o.Status), string(t.Status)},
		{bAssignee, o.Assignee, t.Assignee},
		{bCustomer, o.Customer.Address.Customer(), t.Customer.Address.Customer()},
	} {
		if old != nil && x.old == x.new {
			continue
		}
		b := tx.Bucket(x.b)
		if old != nil && x.old != "" {
			if err := b.Delete(idxKey(x.old, t.ID)); err != nil {
				return err
			}
		}
		if x.new != "" {
			if err := b.Put(idxKey(x.new, t.ID), nil); err != nil {
				return err
			}
		}
	}
	// The retention index: old's key is taken from its status and closing
	// time only, which fn cannot have changed under it (a transcript
	// trimmed in place is trimmed in old too, since they share it).
	if was, is := closedKey(old), retentionKey(rec); was != is {
		b := tx.Bucket(bRetention)
		if was != "" {
			if err := b.Delete(idxKey(was, t.ID)); err != nil {
				return err
			}
		}
		if is != "" {
			if err := b.Put(idxKey(is, t.ID), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// scanIndex returns the ids under one index value, oldest first.
func scanIndex(tx store.Tx, bucket []byte, value string) []ID {
	prefix := append([]byte(value), 0)
	var ids []ID
	c := tx.Bucket(bucket).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) != len(prefix)+8 {
			continue // another value that starts with this one and a NUL
		}
		ids = append(ids, ID(binary.BigEndian.Uint64(k[len(prefix):])))
	}
	return ids
}

// errNoChange, returned by an update's fn, leaves the ticket as it was.
var errNoChange = errors.New("escalation: nothing to change")

// update runs fn on ticket id in one transaction (merged with concurrent
// ones by bbolt's Batch) and tells watchers of each new event. fn may run
// more than once and must only change t and call enqueue; when it returns
// errNoChange nothing is written and the ticket is returned as it is.
//
// fn sees the ticket's latest entries and events (Ticket.Archived says how
// many came before them), which costs the same however long the ticket
// is; updateAll gives it the whole ticket.
func (q *Queue) update(ctx context.Context, id ID, fn func(tx store.Tx, t *Ticket) error) (*Ticket, error) {
	return q.change(ctx, id, getTicket, fn)
}

// updateAll is update with the whole ticket, entries and events kept apart
// included: for changes to old entries (trimming, erasing).
func (q *Queue) updateAll(ctx context.Context, id ID, fn func(tx store.Tx, t *Ticket) error) (*Ticket, error) {
	return q.change(ctx, id, getFull, fn)
}

func (q *Queue) change(ctx context.Context, id ID, get func(store.Tx, ID) (*Ticket, error), fn func(tx store.Tx, t *Ticket) error) (*Ticket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *Ticket
	var events int
	err := q.batch(ctx, func(tx store.Tx) error {
		old, err := get(tx, id)
		if err != nil {
			return err
		}
		cp := *old
		t := &cp
		t.Transcript = append([]Entry(nil), old.Transcript...)
		t.Events = append([]Event(nil), old.Events...)
		t.Offered = append([]Offer(nil), old.Offered...)
		t.Earlier = append([]ID(nil), old.Earlier...)
		t.Contacts = append([]string(nil), old.Contacts...)
		events = len(old.Events)
		if err := fn(tx, t); err != nil {
			if errors.Is(err, errNoChange) {
				out, events = old, len(old.Events)
				return nil
			}
			return err
		}
		if via := ViaOf(ctx); via != "" {
			for i := events; i < len(t.Events); i++ {
				if t.Events[i].Via == "" {
					t.Events[i].Via = via
				}
			}
		}
		t.Updated = q.now()
		if err := putTicket(tx, old, t); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out.Events) > events {
		q.poke()
		q.changedSince(out, events)
	}
	return out, nil
}

// LoadConversation reads the dialog state stored under key; nil if none.
func (q *Queue) LoadConversation(ctx context.Context, key string) ([]byte, error) {
	return q.getOne(ctx, bConvs, []byte(key))
}

// SaveConversation stores the dialog state under key, durably. Concurrent
// saves are committed together (one fsync for many conversations).
func (q *Queue) SaveConversation(ctx context.Context, key string, data []byte) error {
	return q.putOne(ctx, bConvs, []byte(key), data)
}

// GetMeta reads a small value kept for a channel (an update offset, say);
// nil if none.
func (q *Queue) GetMeta(ctx context.Context, key string) ([]byte, error) {
	return q.getOne(ctx, bMeta, []byte(key))
}

// getOne reads one key: in a statement of its own where the store can
// (store.Direct), else in a read transaction.
func (q *Queue) getOne(ctx context.Context, bucket, key []byte) ([]byte, error) {
	if d, ok := q.st.(store.Direct); ok {
		return d.GetOne(ctx, bucket, key)
	}
	var out []byte
	err := q.st.View(ctx, func(tx store.Tx) error {
		if v := tx.Bucket(bucket).Get(key); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// putOne writes one key, durably, within the write deadlines: in a
// statement of its own where the store can (store.Direct), else in a
// batch.
func (q *Queue) putOne(ctx context.Context, bucket, key, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d, ok := q.st.(store.Direct)
	if !ok {
		return q.batch(ctx, func(tx store.Tx) error { return tx.Bucket(bucket).Put(key, value) })
	}
	return q.write(ctx, func(ctx context.Context, start func(store.Tx) error) error {
		if err := start(nil); err != nil { // too late: not started
			return err
		}
		return d.PutOne(ctx, bucket, key, value)
	}, func(store.Tx) error { return nil })
}

// ScanMeta calls fn with every value kept under a key that starts with
// prefix, in key order. fn must not keep v.
func (q *Queue) ScanMeta(ctx context.Context, prefix string, fn func(key string, v []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return q.st.View(ctx, func(tx store.Tx) error {
		c := tx.Bucket(bMeta).Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if err := fn(string(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteMeta removes the values kept under keys, durably, in one commit.
func (q *Queue) DeleteMeta(ctx context.Context, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	return q.batch(ctx, func(tx store.Tx) error {
		b := tx.Bucket(bMeta)
		for _, k := range keys {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutMeta stores a small value for a channel, durably.
func (q *Queue) PutMeta(ctx context.Context, key string, value []byte) error {
	return q.putOne(ctx, bMeta, []byte(key), value)
}

// UpdateMeta replaces the value kept under key with f(current) (nil when
// there is none) in one transaction, durably: two processes changing it
// at once both have their change, one after the other. f may run more
// than once.
func (q *Queue) UpdateMeta(ctx context.Context, key string, f func(current []byte) ([]byte, error)) error {
	return q.updateTx(ctx, func(tx store.Tx) error {
		b := tx.Bucket(bMeta)
		var cur []byte
		if v := b.Get([]byte(key)); v != nil {
			cur = append([]byte(nil), v...)
		}
		next, err := f(cur)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), next)
	})
}
