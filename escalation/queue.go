// Package escalation is the human queue: tickets with their full context in
// a bbolt file, their lifecycle, the agents who may act on them, and the
// outbox through which everything owed to a customer is delivered.
//
// Every change is one bbolt transaction, synced to disk before the call
// returns, so nothing is told to a customer before it is stored. What a
// change owes the customer (an agent's answer, "Ana is on it", "is this
// solved?") is written to the outbox in the same transaction as the change,
// and Dispatch delivers it, in order per recipient, retrying with back-off,
// across restarts.
//
// The same file holds the dialog engine's conversations (LoadConversation,
// SaveConversation): one process owns it, and bbolt allows one writer.
package escalation

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"ayuda/bots"
)

// Errors callers branch on.
var (
	ErrNotFound   = errors.New("escalation: no such ticket")
	ErrNotAgent   = errors.New("escalation: not a configured agent")
	ErrClaimed    = errors.New("escalation: ticket is claimed by another agent")
	ErrTransition = errors.New("escalation: status change not allowed")
	ErrLocked     = errors.New("escalation: the data file is in use by another process")
	ErrEmptyText  = errors.New("escalation: empty text")
	// ErrBadAddress is a customer's address with control characters, NUL
	// among them: no platform sends one, and it would reach the indexes.
	ErrBadAddress = errors.New("escalation: the customer's address has control characters")
)

// checkAddress refuses an address no platform sends.
func checkAddress(a bots.Address) error {
	for _, s := range []string{a.Platform, a.Chat, a.User} {
		for _, r := range s {
			if unicode.IsControl(r) {
				return fmt.Errorf("%w: %q", ErrBadAddress, a.String())
			}
		}
	}
	return nil
}

// Agent is a person allowed to act on tickets.
type Agent struct {
	ID   string `json:"id" yaml:"id"`
	Name string `json:"name" yaml:"name"`
	// Privacy lets the agent export and erase customers' data (people's
	// data requests), which are recorded on the tickets.
	Privacy bool `json:"privacy,omitempty" yaml:"privacy"`
	// Slack is the agent's Slack user id (U0123…), so the agents' desk in
	// Slack knows who pressed a button or answered in a thread. Empty: the
	// agent does not work from Slack.
	Slack string `json:"slack,omitempty" yaml:"slack"`
}

// Display is how agents and the desk name the agent: Name, or else the
// id. Customers are told Name only; without one they hear "a person from
// the team", not an id.
func (a Agent) Display() string {
	if a.Name != "" {
		return a.Name
	}
	return a.ID
}

// NoticeKind is what a notice to the customer is about.
type NoticeKind string

// Notice kinds.
const (
	NoticeClaimed   NoticeKind = "claimed"   // an agent took the ticket
	NoticeReply     NoticeKind = "reply"     // an agent's message
	NoticeWaiting   NoticeKind = "waiting"   // the agent needs something from the customer
	NoticeCompleted NoticeKind = "completed" // solved? yes/no
	NoticeClosed    NoticeKind = "closed"
	NoticeReopened  NoticeKind = "reopened"
	// NoticeMissed: a target was missed; Target says which and Due is the
	// new expectation.
	NoticeMissed NoticeKind = "missed"
	// NoticeProgress: the ticket is still being worked on; Text is the
	// agent's last public message, if any.
	NoticeProgress NoticeKind = "progress"
	// NoticeAssumedClosed: the customer did not answer "is it solved?" in
	// time, so the ticket was closed as assumed resolved.
	NoticeAssumedClosed NoticeKind = "assumed_closed"
)

// Notice is something the customer must be told about their ticket.
type Notice struct {
	Kind   NoticeKind
	Ticket *Ticket
	Agent  Agent
	Text   string // the agent's words, for NoticeReply and NoticeProgress
	// Target is TargetFirstResponse or TargetResolution, for NoticeMissed.
	Target string
	// Due is the new expectation for NoticeMissed, and Now the time of the
	// notice; both are in the calendar's time zone, to word them in.
	Due, Now time.Time
}

// Notifier words a notice in the customer's language. The dialog package
// provides the real one; it must be safe for concurrent use.
type Notifier func(Notice) bots.Reply

// Target is a response target.
type Target struct {
	FirstResponse time.Duration `json:"first_response" yaml:"first_response"`
	Resolution    time.Duration `json:"resolution" yaml:"resolution"`
}

// DefaultTargets are the response targets per priority when the
// configuration gives none.
var DefaultTargets = map[Priority]Target{
	Urgente: {FirstResponse: time.Hour, Resolution: 8 * time.Hour},
	Alta:    {FirstResponse: 4 * time.Hour, Resolution: 24 * time.Hour},
	Normal:  {FirstResponse: 8 * time.Hour, Resolution: 72 * time.Hour},
	Baja:    {FirstResponse: 24 * time.Hour, Resolution: 120 * time.Hour},
}

// Config configures a Queue. The zero value of every field but Notify is a
// documented default.
type Config struct {
	// Agents may act on tickets. Empty means nobody may.
	Agents []Agent
	// CommitDelay is how long a write waits for concurrent ones to share
	// its commit (and fsync): 0 means 2 ms; negative, no wait (a single
	// writer, such as a test that runs one conversation at a time).
	CommitDelay time.Duration
	// Redact removes secrets from an error's text before it is stored (a
	// failed delivery's error, which an upstream may have filled with the
	// request it got, token and all); nil keeps the text.
	Redact func(string) string
	// Retention says how long customers' messages are kept; the watchdog
	// applies it.
	Retention Retention
	// Notify words notices to customers. Required.
	Notify Notifier
	// Targets per priority, and per type and priority (TypeTargets wins).
	// Zero means DefaultTargets.
	Targets     map[Priority]Target
	TypeTargets map[Type]map[Priority]Target
	// Calendar is when the targets' clock runs; nil means always, in UTC.
	Calendar *Calendar
	// Protocol configures the watchdog: warnings, missed targets, progress
	// messages, closing unanswered completed tickets, recurring problems.
	Protocol Protocol
	// Teams and Routes send tickets to teams (see Route); none means every
	// ticket waits in one queue to be claimed.
	Teams  []Team
	Routes []Route
	// PhonePrefix is the country calling code of phone numbers customers
	// write without one; empty means "34".
	PhonePrefix string
	// Logger receives delivery problems; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Timeout is how long Open waits for the file lock; zero means 1 s.
	Timeout time.Duration
}

// Queue is the ticket store. It is safe for concurrent use.
type Queue struct {
	db  *bolt.DB
	cfg Config
	log *slog.Logger
	// damaged holds the tickets that could not be read (ID → why).
	damaged sync.Map
	now     func() time.Time
	agents  map[string]Agent
	wake    chan struct{} // pokes the dispatcher when the outbox grows

	subMu     sync.Mutex
	subs      []func(Change)
	deliverTo []func(Delivery)
}

// Change is a ticket change, for watchers such as an agents' desk.
type Change struct {
	Ticket Ticket
	Event  Event
}

var (
	bTickets   = []byte("tickets")
	bStatus    = []byte("idx_status")
	bAssignee  = []byte("idx_assignee")
	bCustomer  = []byte("idx_customer")
	bOutbox    = []byte("outbox")
	bDead      = []byte("outbox_dead")
	bConvs     = []byte("conversations")
	bMeta      = []byte("meta")
	bContacts  = []byte("idx_contact")    // contact \x00 customer key
	bAnswers   = []byte("answers")        // time, customer → Answer
	bOutboxTo  = []byte("idx_outbox_to")  // recipient's Address.Key() \x00 seq → its due key when it is the recipient's first
	bOutboxDue = []byte("idx_outbox_due") // due time, seq: each recipient's first message
	bRetention = []byte("idx_retention")  // closing time \x00 id: closed tickets whose transcript has text
	allBuckets = [][]byte{bTickets, bStatus, bAssignee, bCustomer, bOutbox, bDead, bConvs, bMeta, bContacts, bAnswers}
)

// Open opens (or creates) the store at path. If another process holds the
// file it fails with ErrLocked after cfg.Timeout; a file that is not a
// bbolt database fails with a clear error and is never overwritten.
func Open(path string, cfg Config) (*Queue, error) {
	if cfg.Notify == nil {
		return nil, errors.New("escalation: Config.Notify is required")
	}
	agents := map[string]Agent{}
	for _, a := range cfg.Agents {
		agents[strings.ToLower(a.ID)] = a
	}
	if err := checkRouting(cfg.Teams, cfg.Routes, agents); err != nil {
		return nil, err
	}
	if err := cfg.Protocol.check(); err != nil {
		return nil, err
	}
	if cfg.PhonePrefix == "" {
		cfg.PhonePrefix = "34"
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = time.Second
	}
	// The freelist is rebuilt when the file opens instead of written at
	// every commit: commits write less, and durability is the same (the
	// data and meta pages are still synced). The map is reserved at 1 GiB of
	// address space (not memory): growing the file past the mapped size
	// remaps it, which waits for every reader and stopped all turns for
	// 300-500 ms each time the store doubled under load.
	db, err := openChecked(path, &bolt.Options{Timeout: timeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType, InitialMmapSize: 1 << 30})
	if err != nil {
		if errors.Is(err, ErrDamaged) {
			return nil, err
		}
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s (is ayuda serve running? stop it or use its API)", ErrLocked, path)
		}
		return nil, fmt.Errorf("escalation: open %s: %w (the file is not overwritten; move it away only if you mean to start afresh)", path, err)
	}
	// Group commit: concurrent changes share one transaction and one fsync.
	// bbolt waits up to MaxBatchDelay for company (10 ms by default, most
	// of a turn's latency, since a commit takes about 0.3 ms here); 2 ms
	// still gathers dozens of turns a commit under load.
	db.MaxBatchDelay = 2 * time.Millisecond
	if cfg.CommitDelay != 0 {
		db.MaxBatchDelay = max(cfg.CommitDelay, 0)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if tx.Bucket(bOutboxTo) == nil || tx.Bucket(bOutboxDue) == nil {
			// A store from before the outbox was indexed.
			if err := indexOutbox(tx); err != nil {
				return err
			}
		}
		if tx.Bucket(bRetention) == nil {
			// A store from before closed tickets were indexed for retention.
			return indexRetention(tx)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("escalation: open %s: %w", path, err)
	}
	q := &Queue{db: db, cfg: cfg, log: cfg.Logger, now: cfg.Now, agents: agents, wake: make(chan struct{}, 1)}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	if q.now == nil {
		q.now = time.Now
	}
	return q, nil
}

// Close closes the file.
func (q *Queue) Close() error { return q.db.Close() }

// Agent returns the configured agent with id (case-insensitive).
func (q *Queue) Agent(id string) (Agent, error) {
	a, ok := q.agents[strings.ToLower(strings.TrimSpace(id))]
	if !ok {
		return Agent{}, fmt.Errorf("%w: %q", ErrNotAgent, id)
	}
	return a, nil
}

// Agents returns the configured agents, sorted by id.
func (q *Queue) Agents() []Agent {
	out := make([]Agent, 0, len(q.agents))
	for _, a := range q.agents {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Watch calls f after every committed ticket change. f runs on the
// caller's goroutine and must not block or call back into the Queue.
func (q *Queue) Watch(f func(Change)) {
	q.subMu.Lock()
	q.subs = append(q.subs, f)
	q.subMu.Unlock()
}

func (q *Queue) changed(t *Ticket) {
	if t == nil || len(t.Events) == 0 {
		return
	}
	q.changedSince(t, len(t.Events)-1)
}

// changedSince tells watchers about each of t's events from index from on:
// one change can be several events (a warning and a progress message).
func (q *Queue) changedSince(t *Ticket, from int) {
	if t == nil {
		return
	}
	q.subMu.Lock()
	subs := q.subs
	q.subMu.Unlock()
	for _, ev := range t.Events[min(from, len(t.Events)):] {
		for _, f := range subs {
			f(Change{Ticket: *t, Event: ev})
		}
	}
}

// Target returns the response target for a type and priority.
func (q *Queue) Target(typ Type, p Priority) Target {
	if m, ok := q.cfg.TypeTargets[typ]; ok {
		if t, ok := m[p]; ok {
			return t
		}
	}
	if t, ok := q.cfg.Targets[p]; ok {
		return t
	}
	return DefaultTargets[p]
}

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
// deadline is reported, and left to finish on its own.
func (q *Queue) Probe(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		done <- q.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bMeta).Put([]byte("health/probe"), []byte(q.now().UTC().Format(time.RFC3339Nano)))
		})
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("a write to the store has not finished: %w", ctx.Err())
	}
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

func getTicket(tx *bolt.Tx, id ID) (*Ticket, error) {
	v := tx.Bucket(bTickets).Get(itob(uint64(id)))
	if v == nil {
		return nil, fmt.Errorf("%w: #%d", ErrNotFound, id)
	}
	var t Ticket
	if err := json.Unmarshal(v, &t); err != nil {
		return nil, fmt.Errorf("escalation: ticket #%d: %w", id, err)
	}
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
// The entries t has beyond old's are capped (capEntry).
func putTicket(tx *bolt.Tx, old, t *Ticket) error {
	from := 0
	if old != nil && len(old.Transcript) <= len(t.Transcript) {
		from = len(old.Transcript)
	}
	for i := from; i < len(t.Transcript); i++ {
		capEntry(&t.Transcript[i])
	}
	data, err := json.Marshal(t)
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
	if was, is := closedKey(old), retentionKey(t); was != is {
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
func scanIndex(tx *bolt.Tx, bucket []byte, value string) []ID {
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
func (q *Queue) update(ctx context.Context, id ID, fn func(tx *bolt.Tx, t *Ticket) error) (*Ticket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *Ticket
	var events int
	err := q.db.Batch(func(tx *bolt.Tx) error {
		old, err := getTicket(tx, id)
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

// continues reports whether t, about to be opened, comes from the
// conversation that opened prev: prev is still open, at the same address,
// and both transcripts start with the same message (at the same instant).
// It returns what t has that prev lacks.
func continues(prev, t *Ticket) ([]Entry, bool) {
	same := func(a, b Entry) bool { return a.Author == b.Author && a.Text == b.Text && a.Time.Equal(b.Time) }
	if !prev.Status.Open() || prev.Customer.Address != t.Customer.Address || len(prev.Transcript) == 0 || len(t.Transcript) == 0 ||
		t.Transcript[0].Time.IsZero() || !same(prev.Transcript[0], t.Transcript[0]) {
		return nil, false
	}
	var add []Entry
	for _, e := range t.Transcript[1:] {
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
	err := q.db.Batch(func(tx *bolt.Tx) error {
		fresh = false
		earlier := scanIndex(tx, bCustomer, t.Customer.Address.Customer())
		// Among the customer's latest tickets (a few, not all of them): the
		// one a re-delivered message already opened, or one opened from
		// this same conversation whose opening was not remembered (the
		// process died between the two), which the new request joins
		// instead of opening a second ticket with the same history.
		var joins *Ticket
		var add []Entry
		for _, id := range earlier[max(0, len(earlier)-recentTickets):] {
			prev, err := getTicket(tx, id)
			if err != nil {
				return err
			}
			if t.OpenedBy != "" && prev.OpenedBy == t.OpenedBy {
				out = prev
				return nil
			}
			if joins == nil {
				if more, ok := continues(prev, &t); ok {
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

// Get returns ticket id.
func (q *Queue) Get(ctx context.Context, id ID) (*Ticket, error) {
	var t *Ticket
	err := q.db.View(func(tx *bolt.Tx) error {
		var err error
		t, err = getTicket(tx, id)
		return err
	})
	return t, err
}

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
	err := q.db.View(func(tx *bolt.Tx) error {
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
		for _, id := range ids {
			t, err := getTicket(tx, id)
			if err != nil {
				// One damaged record must not stop the watchdog for every
				// ticket nor the reports: it is skipped and reported.
				q.damagedTicket(id, err)
				continue
			}
			if !f.match(t) {
				continue
			}
			out = append(out, *t)
			if f.Limit > 0 && len(out) >= f.Limit {
				break
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
func (q *Queue) notify(tx *bolt.Tx, n Notice) error {
	return q.notifyRef(tx, n, "")
}

// notifyRef is notify for a message that carries the ref of what caused it.
func (q *Queue) notifyRef(tx *bolt.Tx, n Notice, ref string) error {
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
	return q.update(ctx, id, func(tx *bolt.Tx, t *Ticket) error {
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
	return q.update(ctx, id, func(tx *bolt.Tx, t *Ticket) error {
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
func (q *Queue) claim(tx *bolt.Tx, t *Ticket, a Agent, notify bool) error {
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
	return q.update(ctx, id, func(tx *bolt.Tx, t *Ticket) error {
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
	return q.update(ctx, id, func(tx *bolt.Tx, t *Ticket) error {
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
	return q.update(ctx, id, func(tx *bolt.Tx, t *Ticket) error {
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
	return q.update(ctx, id, func(tx *bolt.Tx, t *Ticket) error {
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
	return q.update(ctx, id, func(tx *bolt.Tx, t *Ticket) error {
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
	return q.update(ctx, id, func(tx *bolt.Tx, t *Ticket) error {
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

// LoadConversation reads the dialog state stored under key; nil if none.
func (q *Queue) LoadConversation(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := q.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bConvs).Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// SaveConversation stores the dialog state under key, durably. Concurrent
// saves are committed together (one fsync for many conversations).
func (q *Queue) SaveConversation(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return q.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bConvs).Put([]byte(key), data)
	})
}

// GetMeta reads a small value kept for a channel (an update offset, say);
// nil if none.
func (q *Queue) GetMeta(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := q.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bMeta).Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// ScanMeta calls fn with every value kept under a key that starts with
// prefix, in key order. fn must not keep v.
func (q *Queue) ScanMeta(ctx context.Context, prefix string, fn func(key string, v []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return q.db.View(func(tx *bolt.Tx) error {
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
	return q.db.Batch(func(tx *bolt.Tx) error {
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
	if err := ctx.Err(); err != nil {
		return err
	}
	return q.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bMeta).Put([]byte(key), value)
	})
}
