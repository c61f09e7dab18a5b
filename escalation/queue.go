// Package escalation is the human queue: tickets with their full context,
// their lifecycle, the agents who may act on them, and the outbox through
// which everything owed to a customer is delivered. It keeps them in a
// store.Store: a bbolt file (Open) or PostgreSQL (OpenDatabase).
//
// Every change is one transaction, synced to disk before the call
// returns, so nothing is told to a customer before it is stored. What a
// change owes the customer (an agent's answer, "Ana is on it", "is this
// solved?") is written to the outbox in the same transaction as the change,
// and Dispatch delivers it, in order per recipient, retrying with back-off,
// across restarts.
//
// The same store holds the dialog engine's conversations (LoadConversation,
// SaveConversation) and the channels' small records (GetMeta, PutMeta).
package escalation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"ayuda/bots"
	"ayuda/escalation/store"
	"ayuda/escalation/store/boltstore"
)

// Errors callers branch on.
var (
	ErrNotFound   = errors.New("escalation: no such ticket")
	ErrNotAgent   = errors.New("escalation: not a configured agent")
	ErrClaimed    = errors.New("escalation: ticket is claimed by another agent")
	ErrTransition = errors.New("escalation: status change not allowed")
	ErrLocked     = store.ErrLocked
	ErrDamaged    = store.ErrDamaged
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
	// WriteTimeout is the longest a write may wait for the store
	// (deadline.go); zero means DefaultWriteTimeout.
	WriteTimeout time.Duration
}

// Queue is the ticket store. It is safe for concurrent use.
type Queue struct {
	st  store.Store
	cfg Config
	log *slog.Logger
	// joint gathers the dispatcher's records on a shared store (record).
	joint together
	// damaged holds the tickets that could not be read (ID → why).
	damaged sync.Map
	now     func() time.Time
	agents  map[string]Agent
	wake    chan struct{} // pokes the dispatcher when the outbox grows
	stalled atomic.Int64  // writes that missed their deadline

	subMu     sync.Mutex
	subs      []func(Change)
	deliverTo []func(Delivery)

	// With a store shared by replicas (replicas.go): this one's name, its
	// news for the others, and the goroutines that tell and listen.
	id          string
	news        chan news
	stopSharing context.CancelFunc
	sharing     sync.WaitGroup
	leadMu      sync.Mutex
	leading     map[string]int // roles led now (Lead)
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
	// Buckets are the key spaces a store for the queue holds.
	Buckets = [][]byte{bTickets, bStatus, bAssignee, bCustomer, bOutbox, bDead, bConvs, bMeta, bContacts, bAnswers, bEntries, bEvents, bOutboxTo, bOutboxDue, bRetention}
)

// Open opens (or creates) the bbolt store at path. If another process holds
// the file it fails with ErrLocked after cfg.Timeout; a file that is not a
// bbolt database fails with a clear error and is never overwritten.
func Open(path string, cfg Config) (*Queue, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	st, err := boltstore.Open(path, boltstore.Options{Buckets: Buckets, Timeout: cfg.Timeout, CommitDelay: cfg.CommitDelay})
	if err != nil {
		return nil, err
	}
	// A store from before the outbox, or closed tickets, were indexed.
	var rebuild []func(store.Tx) error
	if slices.ContainsFunc(st.Created, func(b []byte) bool { return bytes.Equal(b, bOutboxTo) || bytes.Equal(b, bOutboxDue) }) {
		rebuild = append(rebuild, indexOutbox)
	}
	if slices.ContainsFunc(st.Created, func(b []byte) bool { return bytes.Equal(b, bRetention) }) {
		rebuild = append(rebuild, indexRetention)
	}
	if len(rebuild) > 0 {
		err := st.Update(context.Background(), func(tx store.Tx) error {
			for _, f := range rebuild {
				if err := f(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("escalation: open %s: %w", path, err)
		}
	}
	return OpenStore(st, cfg)
}

// OpenStore makes a queue over st, which must hold Buckets. The queue closes st
// when it is closed.
func OpenStore(st store.Store, cfg Config) (*Queue, error) {
	if err := cfg.check(); err != nil {
		st.Close()
		return nil, err
	}
	agents := map[string]Agent{}
	for _, a := range cfg.Agents {
		agents[strings.ToLower(a.ID)] = a
	}
	if cfg.PhonePrefix == "" {
		cfg.PhonePrefix = "34"
	}
	q := &Queue{st: st, cfg: cfg, log: cfg.Logger, now: cfg.Now, agents: agents, wake: make(chan struct{}, 1), id: replicaID()}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	if q.now == nil {
		q.now = time.Now
	}
	q.startSharing()
	return q, nil
}

// check says what is wrong with a configuration before anything is opened.
func (cfg Config) check() error {
	if cfg.Notify == nil {
		return errors.New("escalation: Config.Notify is required")
	}
	agents := map[string]Agent{}
	for _, a := range cfg.Agents {
		agents[strings.ToLower(a.ID)] = a
	}
	if err := checkRouting(cfg.Teams, cfg.Routes, agents); err != nil {
		return err
	}
	return cfg.Protocol.check()
}

// Close closes the store.
func (q *Queue) Close() error {
	if q.stopSharing != nil {
		q.stopSharing()
		q.sharing.Wait()
	}
	return q.st.Close()
}

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

// changedSince tells watchers about each of t's events from index from on
// (one change can be several events: a warning and a progress message),
// here and on the other replicas.
func (q *Queue) changedSince(t *Ticket, from int) {
	if t == nil {
		return
	}
	from = min(from, len(t.Events))
	q.share(news{Ticket: t.ID, Events: t.ArchivedEvents + from, To: t.ArchivedEvents + len(t.Events)})
	q.tellWatchers(t, from, len(t.Events))
}

// tellWatchers tells this replica's watchers of t's events [from, to).
func (q *Queue) tellWatchers(t *Ticket, from, to int) {
	if from >= to {
		return
	}
	q.subMu.Lock()
	subs := q.subs
	q.subMu.Unlock()
	for _, ev := range t.Events[from:to] {
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
