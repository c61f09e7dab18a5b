package escalation

import (
	"ayuda/bots"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"

	"ayuda/escalation/store"
)

// What happens to a ticket: opened, claimed, taken over, answered, noted,
// moved through the service protocol, accepted or reopened.

// continues reports whether t, about to be opened, belongs on prev: prev
// is still open, at the same address, and either anyOpen (OpenOrJoin: one
// open request per chat) or both transcripts start with the same message
// at the same instant (the conversation that opened prev). It returns what
// t has that prev lacks.
func continues(prev, t *Ticket, anyOpen bool) ([]Entry, bool) {
	same := func(a, b Entry) bool { return a.Author == b.Author && a.Text == b.Text && a.Time.Equal(b.Time) }
	if !prev.Status.Open() || prev.Customer.Address != t.Customer.Address {
		return nil, false
	}
	if !anyOpen && (len(prev.Transcript) == 0 || len(t.Transcript) == 0 ||
		t.Transcript[0].Time.IsZero() || !same(prev.Transcript[0], t.Transcript[0])) {
		return nil, false
	}
	start := 1
	if anyOpen {
		start = 0
	}
	var add []Entry
	for _, e := range t.Transcript[min(start, len(t.Transcript)):] {
		if !slices.ContainsFunc(prev.Transcript, func(x Entry) bool { return same(x, e) }) {
			add = append(add, e)
		}
	}
	return add, true
}

// recentTickets is how many of a customer's latest tickets Open checks
// for the message that opened them; maxEarlier, how many it lists on the
// new ticket.
const (
	recentTickets = 3
	maxEarlier    = 20
)

// Open files a new ticket. It assigns the number, due times and the
// customer's earlier tickets, and stores it before returning. If t.OpenedBy
// names a message that already opened a ticket, that ticket is returned
// instead: a re-delivered message never opens two.
func (q *Queue) Open(ctx context.Context, t Ticket) (*Ticket, error) {
	return q.open(ctx, t, false)
}

// OpenOrJoin is Open for a customer's conversation, which has one open
// request per chat: while one is open, what the customer writes is added
// to it. So when the customer's latest tickets include one still open in
// the same chat, t's messages are added to that one, which is returned.
// That happens when the conversation lost track of its ticket (the process
// died between storing the ticket and the conversation) and the customer
// asked again.
func (q *Queue) OpenOrJoin(ctx context.Context, t Ticket) (*Ticket, error) {
	return q.open(ctx, t, true)
}

func (q *Queue) open(ctx context.Context, t Ticket, anyOpen bool) (*Ticket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkAddress(t.Customer.Address); err != nil {
		return nil, err
	}
	if t.Type == "" {
		t.Type = Consulta
	}
	if t.Priority == "" {
		t.Priority = Normal
	}
	if t.Channel == "" {
		t.Channel = t.Customer.Address.Platform
	}
	now := q.now()
	var out *Ticket
	fresh := false
	err := q.batch(ctx, func(tx store.Tx) error {
		fresh = false
		earlier := scanIndex(tx, bCustomer, t.Customer.Address.Customer())
		// Among the customer's latest tickets (a few, not all of them): the
		// one a re-delivered message already opened, or one opened from
		// this same conversation whose opening was not remembered (the
		// process died between the two), which the new request joins
		// instead of opening a second ticket with the same history.
		var joins *Ticket
		var add []Entry
		prevs, errs := getTickets(tx, earlier[max(0, len(earlier)-recentTickets):])
		for i, prev := range prevs {
			if err := errs[i]; err != nil {
				return err
			}
			if t.OpenedBy != "" && prev.OpenedBy == t.OpenedBy {
				out = prev
				return nil
			}
			if joins == nil && prev.Archived > 0 && prev.Status.Open() {
				// continues compares with all of its entries.
				var err error
				if prev, err = getFull(tx, prev.ID); err != nil {
					return err
				}
			}
			if joins == nil {
				if more, ok := continues(prev, &t, anyOpen); ok {
					joins, add = prev, more
				}
			}
		}
		if joins != nil {
			cp := *joins
			cp.Transcript = append(slices.Clone(joins.Transcript), add...)
			cp.Events = append(slices.Clone(joins.Events), Event{Time: now, Actor: "customer", What: "message", Detail: "the conversation that opened it went on"})
			cp.Updated = now
			if err := putTicket(tx, joins, &cp); err != nil {
				return err
			}
			out = &cp
			return nil
		}
		n := t
		seq, err := tx.Bucket(bTickets).NextSequence()
		if err != nil {
			return err
		}
		n.ID = ID(seq)
		n.Status = New
		n.Created, n.Updated = now, now
		// The latest earlier tickets; List by customer has them all.
		n.Earlier = earlier[max(0, len(earlier)-maxEarlier):]
		n.Events = []Event{{Time: now, Actor: "customer", What: "opened", Detail: string(n.Reason)}}
		n.Transcript = append([]Entry(nil), t.Transcript...)
		n.Contacts = customerContacts(n.Transcript, q.cfg.PhonePrefix)
		// What the customer gave before counts too. Each ticket carries the
		// contacts of the ones before it, so the latest one has them all.
		if len(earlier) > 0 {
			prev, err := getTicket(tx, earlier[len(earlier)-1])
			if err != nil {
				return err
			}
			for _, c := range prev.Contacts {
				if !slices.Contains(n.Contacts, c) {
					n.Contacts = append(n.Contacts, c)
				}
			}
		}
		others, shared, err := linkContacts(tx, n.Contacts, n.Customer.Address.Customer())
		if err != nil {
			return err
		}
		q.linkEarlier(tx, &n, shared, others)
		if err := q.repeatedContact(tx, &n); err != nil {
			return err
		}
		q.setDue(&n)
		if err := q.routeAndAssign(tx, &n); err != nil {
			return err
		}
		if err := putTicket(tx, nil, &n); err != nil {
			return err
		}
		out, fresh = &n, true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("escalation: open ticket: %w", err)
	}
	if fresh {
		q.changedSince(out, 0)
	}
	return out, nil
}

// Get returns ticket id, whole.
func (q *Queue) Get(ctx context.Context, id ID) (*Ticket, error) { return q.read(ctx, id, getFull) }

// Recent returns ticket id with its latest entries and events only
// (Ticket.Archived says how many entries came before them): what a turn
// needs to know about a ticket, at the same cost however long it is.
func (q *Queue) Recent(ctx context.Context, id ID) (*Ticket, error) {
	// One record: on a database, a statement of its own (a turn reads its
	// ticket this way, and a transaction would cost its COMMIT's round
	// trip too); in process, read where it lies, without a copy.
	d, ok := q.st.(store.Direct)
	if !ok {
		return q.read(ctx, id, getTicket)
	}
	v, err := d.GetOne(ctx, bTickets, itob(uint64(id)))
	if err != nil {
		return nil, err
	}
	return decodeTicket(id, v)
}

func (q *Queue) read(ctx context.Context, id ID, get func(store.Tx, ID) (*Ticket, error)) (*Ticket, error) {
	var t *Ticket
	err := q.st.View(ctx, func(tx store.Tx) error {
		var err error
		t, err = get(tx, id)
		return err
	})
	return t, err
}

// listChunk is how many tickets List reads at a time.
const listChunk = 32

// Filter selects tickets for List. Zero fields select everything.
type Filter struct {
	Status   []Status
	Assignee string
	Customer string // bots.Address.Customer() form
	Limit    int
}

// List returns tickets matching f, newest first.
func (q *Queue) List(ctx context.Context, f Filter) ([]Ticket, error) {
	var out []Ticket
	err := q.st.View(ctx, func(tx store.Tx) error {
		var ids []ID
		switch {
		case f.Customer != "":
			ids = scanIndex(tx, bCustomer, f.Customer)
		case f.Assignee != "":
			ids = scanIndex(tx, bAssignee, f.Assignee)
		case len(f.Status) > 0:
			for _, s := range f.Status {
				ids = append(ids, scanIndex(tx, bStatus, string(s))...)
			}
		default:
			c := tx.Bucket(bTickets).Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				ids = append(ids, ID(binary.BigEndian.Uint64(k)))
			}
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] > ids[j] })
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), listChunk)]
			ids = ids[len(chunk):]
			ts, errs := getTickets(tx, chunk)
			for i, t := range ts {
				if errs[i] != nil {
					// One damaged record must not stop the watchdog for
					// every ticket nor the reports: it is skipped and
					// reported.
					q.damagedTicket(chunk[i], errs[i])
					continue
				}
				if !f.match(t) {
					continue
				}
				out = append(out, *t)
				if f.Limit > 0 && len(out) >= f.Limit {
					return nil
				}
			}
		}
		return nil
	})
	return out, err
}

func (f Filter) match(t *Ticket) bool {
	if f.Assignee != "" && !strings.EqualFold(t.Assignee, f.Assignee) {
		return false
	}
	if f.Customer != "" && t.Customer.Address.Customer() != f.Customer {
		return false
	}
	if len(f.Status) > 0 {
		ok := false
		for _, s := range f.Status {
			ok = ok || t.Status == s
		}
		return ok
	}
	return true
}

// OpenFor returns the customer's open ticket in the given chat, if any: the
// one their messages go to.
func (q *Queue) OpenFor(ctx context.Context, a bots.Address) (*Ticket, error) {
	ts, err := q.List(ctx, Filter{Customer: a.Customer()})
	if err != nil {
		return nil, err
	}
	for i := range ts {
		if ts[i].Customer.Address == a && ts[i].Status.Open() {
			return &ts[i], nil
		}
	}
	return nil, nil
}

func (q *Queue) event(t *Ticket, actor, what, detail string) {
	t.Events = append(t.Events, Event{Time: q.now(), Actor: actor, What: what, Detail: detail})
}

// notify words a notice and puts it in the outbox within tx.
func (q *Queue) notify(tx store.Tx, n Notice) error {
	return q.notifyRef(tx, n, "")
}

// notifyRef is notify for a message that carries the ref of what caused it.
func (q *Queue) notifyRef(tx store.Tx, n Notice, ref string) error {
	r := q.cfg.Notify(n)
	if r.IsZero() {
		return nil
	}
	return enqueue(tx, n.Ticket.Customer.Address, r, n.Ticket.ID, string(n.Kind), ref, q.now())
}

// Claim gives the ticket to agent. Claiming a ticket someone else holds is
// ErrClaimed; claiming your own is a no-op. The customer is told who is on it.
func (q *Queue) Claim(ctx context.Context, id ID, agent string) (*Ticket, error) {
	a, err := q.Agent(agent)
	if err != nil {
		return nil, err
	}
	return q.update(ctx, id, func(tx store.Tx, t *Ticket) error {
		return q.claim(tx, t, a, true)
	})
}

// held refuses an action by a on a ticket another agent holds: only the
// holder acts on it, and anyone else takes it over first (Takeover), which
// is recorded. A new or reopened ticket, or a closed one, is nobody's.
func held(t *Ticket, a Agent) error {
	if t.Assignee == "" || strings.EqualFold(t.Assignee, a.ID) {
		return nil
	}
	switch t.Status {
	case New, Reopened, Closed:
		return nil
	}
	return fmt.Errorf("%w: #%d is %s's; take it over first to act on it", ErrClaimed, t.ID, t.Assignee)
}

// Takeover gives ticket id to agent even when another agent holds it, with
// why in the ticket's events, and tells the customer who answers now. It is
// the only way to act on someone else's ticket.
func (q *Queue) Takeover(ctx context.Context, id ID, agent, why string) (*Ticket, error) {
	a, err := q.Agent(agent)
	if err != nil {
		return nil, err
	}
	why = strings.TrimSpace(why)
	return q.update(ctx, id, func(tx store.Tx, t *Ticket) error {
		if !t.Status.Open() {
			return fmt.Errorf("%w: #%d is %s", ErrTransition, t.ID, t.Status)
		}
		from := t.Assignee
		if from == "" || strings.EqualFold(from, a.ID) || t.Status == New || t.Status == Reopened {
			return q.claim(tx, t, a, true)
		}
		t.Assignee = a.ID
		detail := "from " + from
		if why != "" {
			detail += ": " + why
		}
		q.event(t, a.ID, EventTakenOver, detail)
		return q.notify(tx, Notice{Kind: NoticeClaimed, Ticket: t, Agent: a})
	})
}

// claim gives t to a; notify tells the customer (a reply that claims says
// who is answering already).
func (q *Queue) claim(tx store.Tx, t *Ticket, a Agent, notify bool) error {
	if strings.EqualFold(t.Assignee, a.ID) {
		return nil
	}
	if t.Assignee != "" && t.Status.Open() && t.Status != Reopened && t.Status != New {
		return fmt.Errorf("%w: #%d is %s's", ErrClaimed, t.ID, t.Assignee)
	}
	if !t.Status.Open() {
		return fmt.Errorf("%w: #%d is %s", ErrTransition, t.ID, t.Status)
	}
	t.Assignee = a.ID
	if t.Status == New || t.Status == Reopened {
		t.Status = Assigned
	}
	q.event(t, a.ID, "claimed", "")
	if !notify {
		return nil
	}
	return q.notify(tx, Notice{Kind: NoticeClaimed, Ticket: t, Agent: a})
}

// Reply records the agent's message and queues it for the customer. A reply
// on an unclaimed ticket claims it; the first reply is the first response.
func (q *Queue) Reply(ctx context.Context, id ID, agent, text string) (*Ticket, error) {
	return q.ReplyRef(ctx, id, agent, text, "")
}

// ReplyRef is Reply for an agent's message that has an identity of its own,
// ref: for example "slack:C0123:1700000000.000100", the Slack message the
// agent wrote. The transcript entry keeps ref as its MessageID and the
// outbox message as its Ref, so a message that is handled twice (a platform
// re-delivered it, or the process died midway) is recorded and sent once,
// and WatchDeliveries reports what became of it under ref. An empty ref is
// Reply.
func (q *Queue) ReplyRef(ctx context.Context, id ID, agent, text, ref string) (*Ticket, error) {
	a, text, err := q.agentSays(agent, text)
	if err != nil {
		return nil, err
	}
	return q.update(ctx, id, func(tx store.Tx, t *Ticket) error {
		if hasMessage(t, ref) {
			return errNoChange
		}
		if t.Status == Closed {
			return fmt.Errorf("%w: #%d is closed; reopen it first", ErrTransition, t.ID)
		}
		if err := held(t, a); err != nil {
			return err
		}
		if t.Assignee == "" || t.Status == New || t.Status == Reopened {
			if err := q.claim(tx, t, a, false); err != nil {
				return err
			}
		}
		now := q.now()
		t.Transcript = append(t.Transcript, Entry{Time: now, Author: AuthorAgent, Name: a.Display(), Text: text, MessageID: ref})
		if t.FirstResponse.IsZero() {
			t.FirstResponse = now
		}
		t.LastReply = now
		if t.Status == Assigned {
			t.Status = InProgress
		}
		q.event(t, a.ID, "replied", "")
		return q.notifyRef(tx, Notice{Kind: NoticeReply, Ticket: t, Agent: a, Text: text}, ref)
	})
}

// hasMessage reports whether one of t's last 50 entries has MessageID ref.
func hasMessage(t *Ticket, ref string) bool {
	if ref == "" {
		return false
	}
	for i := len(t.Transcript) - 1; i >= 0 && i >= len(t.Transcript)-50; i-- {
		if t.Transcript[i].MessageID == ref {
			return true
		}
	}
	return false
}

// agentSays checks that agent may act and has something to say.
func (q *Queue) agentSays(agent, text string) (Agent, string, error) {
	a, err := q.Agent(agent)
	if err != nil {
		return Agent{}, "", err
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return Agent{}, "", ErrEmptyText
	}
	return a, text, nil
}

// Note records an internal note. Notes never reach the customer.
func (q *Queue) Note(ctx context.Context, id ID, agent, text string) (*Ticket, error) {
	return q.NoteRef(ctx, id, agent, text, "")
}

// NoteRef is Note for an agent's message with an identity of its own, ref
// (see ReplyRef): the same ref is noted once.
func (q *Queue) NoteRef(ctx context.Context, id ID, agent, text, ref string) (*Ticket, error) {
	a, text, err := q.agentSays(agent, text)
	if err != nil {
		return nil, err
	}
	return q.update(ctx, id, func(tx store.Tx, t *Ticket) error {
		if hasMessage(t, ref) {
			return errNoChange
		}
		if err := held(t, a); err != nil {
			return err
		}
		t.Transcript = append(t.Transcript, Entry{Time: q.now(), Author: AuthorAgent, Name: a.Display(), Text: text, Note: true, MessageID: ref})
		q.event(t, a.ID, "noted", "")
		return nil
	})
}

// SetStatus moves the ticket, as agent, and tells the customer what it
// means for them. An invalid move is ErrTransition.
func (q *Queue) SetStatus(ctx context.Context, id ID, agent string, to Status) (*Ticket, error) {
	a, err := q.Agent(agent)
	if err != nil {
		return nil, err
	}
	return q.update(ctx, id, func(tx store.Tx, t *Ticket) error {
		if t.Status == to {
			return nil
		}
		if !CanMove(t.Status, to) {
			return fmt.Errorf("%w: #%d cannot go from %s to %s", ErrTransition, t.ID, t.Status, to)
		}
		if err := held(t, a); err != nil {
			return err
		}
		from := t.Status
		if t.Assignee == "" && to != New {
			t.Assignee = a.ID
		}
		if to == New {
			t.Assignee = ""
		}
		now := q.now()
		q.resume(t, now)
		t.Status = to
		q.event(t, a.ID, "status", fmt.Sprintf("%s → %s", from, to))
		switch to {
		case Waiting:
			t.WaitingSince = now
			return q.notify(tx, Notice{Kind: NoticeWaiting, Ticket: t, Agent: a})
		case Completed:
			t.Completed = now
			return q.notify(tx, Notice{Kind: NoticeCompleted, Ticket: t, Agent: a})
		case Closed:
			t.Closed, t.ClosedAs = now, ClosedByAgent
			return q.notify(tx, Notice{Kind: NoticeClosed, Ticket: t, Agent: a})
		case Reopened:
			q.reopen(t, now)
			return q.notify(tx, Notice{Kind: NoticeReopened, Ticket: t, Agent: a})
		case InProgress, Assigned:
			if from == New || from == Reopened {
				return q.notify(tx, Notice{Kind: NoticeClaimed, Ticket: t, Agent: a})
			}
		}
		return nil
	})
}

// CustomerMessage adds the customer's message to the ticket. A message that
// was already added (same MessageID) is not added twice. A customer who
// answers while the ticket waits on them moves it back to in progress.
func (q *Queue) CustomerMessage(ctx context.Context, id ID, e Entry) (*Ticket, error) {
	return q.update(ctx, id, func(tx store.Tx, t *Ticket) error {
		if e.MessageID != "" {
			for i := len(t.Transcript) - 1; i >= 0 && i >= len(t.Transcript)-50; i-- {
				if t.Transcript[i].MessageID == e.MessageID {
					return nil
				}
			}
		}
		if e.Time.IsZero() {
			e.Time = q.now()
		}
		e.Author = AuthorCustomer
		t.Transcript = append(t.Transcript, e)
		if t.Status == Waiting {
			q.resume(t, q.now())
			t.Status = InProgress
			q.event(t, "customer", "status", "waiting → in_progress")
		} else {
			q.event(t, "customer", "message", "")
		}
		return q.newContacts(tx, t, e)
	})
}

// Accept records that the customer confirmed the solution: the ticket closes.
func (q *Queue) Accept(ctx context.Context, id ID) (*Ticket, error) {
	return q.update(ctx, id, func(tx store.Tx, t *Ticket) error {
		if t.Status != Completed {
			return fmt.Errorf("%w: #%d is %s, not completed", ErrTransition, t.ID, t.Status)
		}
		t.Status = Closed
		t.Closed, t.ClosedAs = q.now(), ClosedConfirmed
		q.event(t, "customer", "accepted", "")
		return nil
	})
}

// Reopen records that the customer says the problem is not solved: the
// ticket goes back to its agent (or the queue) with the same history.
func (q *Queue) Reopen(ctx context.Context, id ID, why Entry) (*Ticket, error) {
	return q.update(ctx, id, func(tx store.Tx, t *Ticket) error {
		if t.Status != Completed && t.Status != Closed {
			return fmt.Errorf("%w: #%d is %s", ErrTransition, t.ID, t.Status)
		}
		if why.Text != "" || len(why.Attachments) > 0 {
			if why.Time.IsZero() {
				why.Time = q.now()
			}
			why.Author = AuthorCustomer
			t.Transcript = append(t.Transcript, why)
		}
		q.reopen(t, q.now())
		q.event(t, "customer", "reopened", "")
		return nil
	})
}
