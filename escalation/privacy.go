package escalation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"ayuda/escalation/store"

	"ayuda/bots"
)

// People's data. Customers in Spain and Latin America may see and erase
// what a company keeps about them (GDPR and LOPDGDD; Mexico's LFPDPPP,
// Colombia's Ley 1581, Argentina's Ley 25.326): CustomerData gathers all of
// it, across the platforms the customer is linked on by a shared e-mail or
// phone, and EraseCustomer removes it, keeping the tickets as anonymised
// records so that reports still add up. Both are recorded on the tickets.

// Event names of people's-data requests.
const (
	EventDataExported = "customer_data_exported"
	EventDataErased   = "customer_data_erased"
	EventTrimmed      = "transcript_removed" // retention: a closed ticket's transcript was removed
)

// CustomerData is everything kept about one customer.
type CustomerData struct {
	// Customers are the customer keys ("telegram:100") it covers: the one
	// asked for and those linked to it by a contact.
	Customers     []string          `json:"customers"`
	Contacts      []string          `json:"contacts"`
	Tickets       []Ticket          `json:"tickets"`
	Answers       []Answer          `json:"answers"`
	Conversations map[string][]byte `json:"conversations"`
	Outbox        []Outgoing        `json:"outbox"`
	Undeliverable []Outgoing        `json:"undeliverable"`
}

// Erased says what EraseCustomer removed.
type Erased struct {
	Customers     []string `json:"customers"`
	Tickets       int      `json:"tickets_anonymised"`
	Answers       int      `json:"answers"`
	Conversations int      `json:"conversations"`
	Messages      int      `json:"messages"`
	Contacts      int      `json:"contacts"`
}

// linked returns key and the customers that share a contact with it.
func linked(tx store.Tx, key string) (keys, contacts []string) {
	keys = []string{key}
	c := tx.Bucket(bContacts).Cursor()
	byContact := map[string][]string{}
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		contact, customer, ok := bytes.Cut(k, []byte{0})
		if ok {
			byContact[string(contact)] = append(byContact[string(contact)], string(customer))
		}
	}
	for changed := true; changed; {
		changed = false
		for contact, cs := range byContact {
			if !slices.ContainsFunc(cs, func(c string) bool { return slices.Contains(keys, c) }) {
				continue
			}
			if !slices.Contains(contacts, contact) {
				contacts = append(contacts, contact)
			}
			for _, c := range cs {
				if !slices.Contains(keys, c) {
					keys = append(keys, c)
					changed = true
				}
			}
		}
	}
	slices.Sort(contacts)
	return keys, contacts
}

// convCustomer is the customer key of a conversation key (bots.Address.Key).
func convCustomer(key string) string {
	p := strings.Split(key, "\x1f")
	if len(p) != 3 {
		return ""
	}
	return p[0] + ":" + p[2]
}

// ErrNoPrivacy is an agent without the right to handle people's data
// requests (Agent.Privacy).
var ErrNoPrivacy = fmt.Errorf("%w: handling customers' data needs privacy: true in the agent's configuration", ErrNotAgent)

// privacyAgent checks that agent may handle people's data requests.
func (q *Queue) privacyAgent(agent string) (Agent, error) {
	a, err := q.Agent(agent)
	if err != nil {
		return a, err
	}
	if !a.Privacy {
		return a, fmt.Errorf("%w (%s)", ErrNoPrivacy, a.ID)
	}
	return a, nil
}

// CustomerData returns everything kept about customer key, and records
// on each of their tickets that by (an agent with Privacy) exported it.
func (q *Queue) CustomerData(ctx context.Context, key, by string) (*CustomerData, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := q.privacyAgent(by)
	if err != nil {
		return nil, err
	}
	by = a.ID
	out := &CustomerData{Conversations: map[string][]byte{}}
	var ids []ID
	err = q.st.View(ctx, func(tx store.Tx) error {
		out.Customers, out.Contacts = linked(tx, key)
		for _, k := range out.Customers {
			ids = append(ids, scanIndex(tx, bCustomer, k)...)
		}
		slices.Sort(ids)
		for _, id := range ids {
			t, err := getFull(tx, id)
			if err != nil {
				q.damagedTicket(id, err)
				continue
			}
			out.Tickets = append(out.Tickets, *t)
		}
		if err := tx.Bucket(bAnswers).ForEach(func(k, v []byte) error {
			var a Answer
			if json.Unmarshal(v, &a) == nil && slices.Contains(out.Customers, a.Customer) {
				out.Answers = append(out.Answers, a)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bConvs).ForEach(func(k, v []byte) error {
			if slices.Contains(out.Customers, convCustomer(string(k))) {
				out.Conversations[string(k)] = append([]byte(nil), v...)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, b := range []struct {
			bucket []byte
			into   *[]Outgoing
		}{{bOutbox, &out.Outbox}, {bDead, &out.Undeliverable}} {
			if err := tx.Bucket(b.bucket).ForEach(func(k, v []byte) error {
				var o Outgoing
				if json.Unmarshal(v, &o) == nil && slices.Contains(out.Customers, o.To.Customer()) {
					*b.into = append(*b.into, o)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, exported := range out.Tickets {
		id := exported.ID
		if _, err := q.update(ctx, id, func(tx store.Tx, t *Ticket) error {
			q.event(t, by, EventDataExported, "")
			return nil
		}); err != nil {
			return nil, fmt.Errorf("escalation: recording the export on #%d: %w", id, err)
		}
	}
	return out, nil
}

// erasedAddress stands for an erased customer's address: the platform
// stays (reports count by channel), the person does not.
func erasedAddress(a bots.Address) bots.Address {
	h := sha256.Sum256([]byte("ayuda-erased:" + a.Customer()))
	id := "erased-" + hex.EncodeToString(h[:6])
	return bots.Address{Platform: a.Platform, Chat: id, User: id}
}

// anonymise removes from t what says who the customer is and what they
// wrote, keeping what reports count.
func anonymise(t *Ticket) {
	t.Customer = Customer{Address: erasedAddress(t.Customer.Address), Lang: t.Customer.Lang}
	t.Summary = "(erased)"
	t.Contacts = nil
	t.OpenedBy = ""
	trimTranscript(t)
	if t.Rating != nil {
		t.Rating.Comment = ""
	}
	for i := range t.Events {
		if t.Events[i].What == EventLinked {
			t.Events[i].Detail = ""
		}
	}
}

// trimTranscript removes every message of t's transcript but who wrote it
// and when.
func trimTranscript(t *Ticket) {
	for i := range t.Transcript {
		e := &t.Transcript[i]
		e.Text, e.Attachments, e.MessageID = "", nil, ""
		if e.Author == AuthorCustomer {
			e.Name = ""
		}
	}
}

// EraseCustomer removes what is kept about customer key (and the customers
// linked to it by a contact): their messages, names, contacts and
// conversation state, the answers they were given, what the outbox holds
// for them and the contacts index. Their tickets stay as anonymised records
// (times, type, priority, status, who handled them), each with an event
// saying by whom and when it was erased. It is one transaction: all or
// nothing.
func (q *Queue) EraseCustomer(ctx context.Context, key, by string) (*Erased, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := q.privacyAgent(by)
	if err != nil {
		return nil, err
	}
	by = a.ID
	out := &Erased{}
	var changed []*Ticket
	err = q.updateTx(ctx, func(tx store.Tx) error {
		*out, changed = Erased{}, nil
		var contacts []string
		out.Customers, contacts = linked(tx, key)
		var ids []ID
		for _, k := range out.Customers {
			ids = append(ids, scanIndex(tx, bCustomer, k)...)
		}
		for _, id := range ids {
			old, err := getFull(tx, id)
			if err != nil {
				return fmt.Errorf("escalation: erase: %w (nothing was erased)", err)
			}
			cp := *old
			t := &cp
			t.Transcript = slices.Clone(old.Transcript)
			t.Events = slices.Clone(old.Events)
			if old.Rating != nil {
				r := *old.Rating
				t.Rating = &r
			}
			anonymise(t)
			q.event(t, by, EventDataErased, "")
			if via := ViaOf(ctx); via != "" {
				t.Events[len(t.Events)-1].Via = via
			}
			t.Updated = q.now()
			if err := putTicket(tx, old, t); err != nil {
				return err
			}
			changed = append(changed, t)
			out.Tickets++
		}
		del := func(bucket []byte, match func(k, v []byte) bool) (int, error) {
			b := tx.Bucket(bucket)
			var keys [][]byte
			if err := b.ForEach(func(k, v []byte) error {
				if match(k, v) {
					keys = append(keys, append([]byte(nil), k...))
				}
				return nil
			}); err != nil {
				return 0, err
			}
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return 0, err
				}
			}
			return len(keys), nil
		}
		mine := func(customer string) bool { return slices.Contains(out.Customers, customer) }
		var err error
		if out.Answers, err = del(bAnswers, func(k, v []byte) bool {
			var a Answer
			return json.Unmarshal(v, &a) == nil && mine(a.Customer)
		}); err != nil {
			return err
		}
		if out.Conversations, err = del(bConvs, func(k, v []byte) bool { return mine(convCustomer(string(k))) }); err != nil {
			return err
		}
		var queued []Outgoing
		if err := tx.Bucket(bOutbox).ForEach(func(k, v []byte) error {
			var o Outgoing
			if json.Unmarshal(v, &o) == nil && mine(o.To.Customer()) {
				queued = append(queued, o)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, o := range queued {
			if err := outboxDelete(tx, o); err != nil {
				return err
			}
		}
		dead, err := del(bDead, func(k, v []byte) bool {
			var o Outgoing
			return json.Unmarshal(v, &o) == nil && mine(o.To.Customer())
		})
		if err != nil {
			return err
		}
		out.Messages = len(queued) + dead
		if out.Contacts, err = del(bContacts, func(k, v []byte) bool {
			contact, customer, ok := bytes.Cut(k, []byte{0})
			return ok && (mine(string(customer)) || slices.Contains(contacts, string(contact)))
		}); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, t := range changed {
		q.changed(t)
	}
	return out, nil
}

// Retention says how long what customers wrote is kept.
type Retention struct {
	// ClosedTranscripts is how long a closed ticket keeps its transcript;
	// after it, the messages are removed (who wrote and when stays, as do
	// the ticket's figures). 0 keeps them.
	ClosedTranscripts time.Duration
}

// closedKey is a closed ticket's key in the retention index, its closing
// time in a fixed-width form that sorts as time does; "" for a ticket
// that is not closed.
func closedKey(t *Ticket) string {
	if t == nil || t.Status != Closed || t.Closed.IsZero() {
		return ""
	}
	return t.Closed.UTC().Format(retentionLayout)
}

const retentionLayout = "2006-01-02T15:04:05.000000000Z"

// retentionKey is t's key in the retention index: closed tickets with text
// left to remove.
func retentionKey(t *Ticket) string {
	if !slices.ContainsFunc(t.Transcript, func(e Entry) bool { return e.Text != "" }) {
		return ""
	}
	return closedKey(t)
}

// indexRetention builds the retention index afresh (a store from before
// it was kept).
func indexRetention(tx store.Tx) error {
	b := tx.Bucket(bRetention)
	if err := b.Clear(); err != nil {
		return err
	}
	return tx.Bucket(bTickets).ForEach(func(k, v []byte) error {
		var t Ticket
		if json.Unmarshal(v, &t) != nil {
			return nil // reported where it is read
		}
		if key := retentionKey(&t); key != "" {
			return b.Put(idxKey(key, t.ID), nil)
		}
		return nil
	})
}

// applyRetention removes the transcripts of tickets closed longer ago than
// the retention allows. It reads only those tickets, from the retention
// index (closed tickets with text, by closing time), so it costs the same
// however many tickets the store keeps. It reports how many it trimmed.
func (q *Queue) applyRetention(ctx context.Context, now time.Time) (int, error) {
	keep := q.cfg.Retention.ClosedTranscripts
	if keep <= 0 {
		return 0, nil
	}
	cutoff := now.Add(-keep).UTC().Format(retentionLayout)
	var ids []ID
	err := q.st.View(ctx, func(tx store.Tx) error {
		c := tx.Bucket(bRetention).Cursor()
		for k, _ := c.First(); k != nil && len(k) == len(cutoff)+9 && string(k[:len(cutoff)]) < cutoff; k, _ = c.Next() {
			ids = append(ids, ID(binary.BigEndian.Uint64(k[len(cutoff)+1:])))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		_, err := q.updateAll(ctx, id, func(tx store.Tx, t *Ticket) error {
			if t.Status != Closed {
				return errNoChange
			}
			trimTranscript(t)
			t.Summary = "(removed after the retention period)"
			q.event(t, "system", EventTrimmed, "retention "+keep.String())
			return nil
		})
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
