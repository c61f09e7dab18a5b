package escalation

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"ayuda/escalation/store"
)

// A ticket's record keeps its latest messages and events in line, and
// moves the older ones, once, to records of their own (one per entry,
// keyed by ticket and number): adding a message to a ticket that has a
// thousand reads and writes about as much as adding one to a new ticket,
// and the watchdog, List and the reports read bounded records. Get loads
// the whole ticket; the change functions and List see the latest part,
// with Ticket.Archived saying how many entries came before it.

// How much of a ticket stays in line: its newest inlineEntries entries
// while they hold at most inlineBytes, and its newest inlineEvents events.
// 64 KB keeps a flood of 8 KB messages cheap (BenchmarkTurnBesideFlood:
// 256 KB stored 58 of its 100 a second, 64 KB 91); short messages keep
// 64 in line, which the look-ups for re-delivered ones scan.
const (
	inlineEntries = 64
	inlineBytes   = 64 << 10
	inlineEvents  = 64
)

var (
	bEntries = []byte("ticket_entries") // ticket id, number → Entry moved out of the ticket's record
	bEvents  = []byte("ticket_events")  // ticket id, number → Event moved out of the ticket's record
)

func archiveKey(id ID, n int) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(id))
	binary.BigEndian.PutUint64(k[8:], uint64(n))
	return k
}

// Len is the number of entries in the whole transcript, those kept apart
// from the record included.
func (t *Ticket) Len() int { return t.Archived + len(t.Transcript) }

func entrySize(e Entry) int {
	n := len(e.Text) + len(e.Name) + len(e.MessageID) + 80
	for _, a := range e.Attachments {
		n += len(a.Ref) + len(a.Name) + len(a.Caption) + 40
	}
	return n
}

// spill writes the oldest of items, whose first is number base of the
// whole list, to b until at most keep (and, when size is not nil, at most
// budget bytes) remain, and returns how many it wrote. Those numbered
// from base+n to base+had-1, kept apart before and in line now, are
// deleted.
func spill[T any](b store.Bucket, id ID, base, had int, items []T, keep, budget int, size func(T) int) (int, error) {
	cut := max(0, len(items)-keep)
	total := 0
	for i := len(items) - 1; size != nil && i >= cut; i-- {
		total += size(items[i])
		if total > budget && i < len(items)-1 {
			cut = i + 1
			break
		}
	}
	for i := range cut {
		data, err := json.Marshal(items[i])
		if err != nil {
			return 0, err
		}
		if err := b.Put(archiveKey(id, base+i), data); err != nil {
			return 0, err
		}
	}
	for n := base + cut; n < base+had; n++ {
		if err := b.Delete(archiveKey(id, n)); err != nil {
			return 0, err
		}
	}
	return cut, nil
}

// unspill reads the n items of ticket id kept apart in b, in order.
func unspill[T any](b store.Bucket, id ID, n int) ([]T, error) {
	out := make([]T, 0, n)
	prefix := archiveKey(id, 0)[:8]
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < n; k, v = c.Next() {
		if len(k) != 16 || binary.BigEndian.Uint64(k[8:]) != uint64(len(out)) {
			return nil, fmt.Errorf("escalation: ticket #%d: entry %d of %d kept apart is missing", id, len(out), n)
		}
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return nil, fmt.Errorf("escalation: ticket #%d: entry %d kept apart: %w", id, len(out), err)
		}
		out = append(out, x)
	}
	if len(out) < n {
		return nil, fmt.Errorf("escalation: ticket #%d: %d of %d entries kept apart are missing", id, n-len(out), n)
	}
	return out, nil
}

// getFull reads ticket id with every entry and event, those kept apart
// included: Archived and ArchivedEvents are 0 on what it returns.
func getFull(tx store.Tx, id ID) (*Ticket, error) {
	t, err := getTicket(tx, id) // which sets t.apart
	if err != nil {
		return nil, err
	}
	if t.Archived > 0 {
		early, err := unspill[Entry](tx.Bucket(bEntries), id, t.Archived)
		if err != nil {
			return nil, err
		}
		t.Transcript, t.Archived = append(early, t.Transcript...), 0
	}
	if t.ArchivedEvents > 0 {
		early, err := unspill[Event](tx.Bucket(bEvents), id, t.ArchivedEvents)
		if err != nil {
			return nil, err
		}
		t.Events, t.ArchivedEvents = append(early, t.Events...), 0
	}
	return t, nil
}

// record returns what putTicket writes for t: t with its older entries and
// events kept apart. t is either as getTicket read it (with the latest
// entries only) or whole, as getFull read it (Archived 0), which writes
// again what was kept apart: erasing and trimming change old entries, and
// what a whole ticket now keeps in line is deleted from where it was kept
// apart.
func record(tx store.Tx, t *Ticket) (*Ticket, error) {
	had := t.apart
	if t.Archived != had[0] && t.Archived != 0 || t.ArchivedEvents != had[1] && t.ArchivedEvents != 0 {
		return nil, fmt.Errorf("escalation: ticket #%d: a change from an out-of-date copy", t.ID)
	}
	rec := *t
	n, err := spill(tx.Bucket(bEntries), t.ID, t.Archived, had[0]-t.Archived, t.Transcript, inlineEntries, inlineBytes, entrySize)
	if err != nil {
		return nil, err
	}
	rec.Archived, rec.Transcript = t.Archived+n, t.Transcript[n:]
	m, err := spill(tx.Bucket(bEvents), t.ID, t.ArchivedEvents, had[1]-t.ArchivedEvents, t.Events, inlineEvents, 0, nil)
	if err != nil {
		return nil, err
	}
	rec.ArchivedEvents, rec.Events = t.ArchivedEvents+m, t.Events[m:]
	rec.apart = [2]int{rec.Archived, rec.ArchivedEvents}
	return &rec, nil
}
