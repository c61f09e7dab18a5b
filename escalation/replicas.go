package escalation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"ayuda/escalation/store"
)

// Several replicas may share one store (PostgreSQL). What each replica's
// watchers see must then include what the others changed, what must run
// once runs on one replica (Lead), and a conversation's turns are taken
// one at a time across all of them (LockConversation). On a store for one
// process (bbolt) all three are done in process.

// news is what one replica tells the others after a commit.
type news struct {
	From string `json:"r"`
	// A ticket's events [Events, To) (counted from its first).
	Ticket ID  `json:"t,omitempty"`
	Events int `json:"e,omitempty"`
	To     int `json:"n,omitempty"`
	// A delivery attempt on a ticket's message.
	Delivery *remoteDelivery `json:"d,omitempty"`
}

type remoteDelivery struct {
	Seq    uint64 `json:"s"`
	Ticket ID     `json:"t"`
	Ref    string `json:"ref,omitempty"`
	Err    string `json:"err,omitempty"`
	Final  bool   `json:"f,omitempty"`
}

// replicaID names this process among those sharing the store.
func replicaID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startSharing listens to the other replicas when the store is shared.
func (q *Queue) startSharing() {
	b, ok := q.st.(store.Broadcaster)
	if !ok {
		return
	}
	q.news = make(chan news, 4096)
	ctx, stop := context.WithCancel(context.Background())
	q.stopSharing = stop
	q.sharing.Add(2)
	listening := make(chan struct{})
	var once sync.Once
	go func() {
		defer q.sharing.Done()
		b.Listen(ctx, func(payload string) {
			if payload == "" {
				once.Do(func() { close(listening) })
			}
			q.heard(payload)
		})
	}()
	// What other replicas change once this queue is open reaches its
	// watchers: the queue is open when it listens (or after 5 s without,
	// when it goes on and catches up as it can).
	select {
	case <-listening:
	case <-time.After(5 * time.Second):
		q.log.Warn("not listening to the other replicas yet; their changes reach this one's desks once it does")
	}
	go func() {
		defer q.sharing.Done()
		q.tell(ctx, b)
	}()
}

// tellAtOnce is the most news sent in one broadcast.
const tellAtOnce = 256

// tell sends this replica's news in order, without holding up the change
// that made it: a watcher on another replica learns of it a moment later.
// What queued while a broadcast was on its way goes in the next one, so
// under load the news cost a round trip per batch, not per change.
func (q *Queue) tell(ctx context.Context, b store.Broadcaster) {
	payloads := make([]string, 0, tellAtOnce)
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-q.news:
			payloads = append(payloads[:0], encodeNews(n))
		}
	more:
		for len(payloads) < tellAtOnce {
			select {
			case n := <-q.news:
				payloads = append(payloads, encodeNews(n))
			default:
				break more
			}
		}
		if err := b.Broadcast(ctx, payloads...); err != nil && ctx.Err() == nil {
			q.log.Warn("telling the other replicas of a change failed; their desks catch up at their next resync", "err", err)
		}
	}
}

func encodeNews(n news) string {
	data, _ := json.Marshal(n)
	return string(data)
}

// share queues n for the other replicas (dropped if the queue of news is
// full: their desks resync on their own).
func (q *Queue) share(n news) {
	if q.news == nil {
		return
	}
	n.From = q.id
	select {
	case q.news <- n:
	default:
	}
}

// heard is news from a replica: its ticket's events go to this replica's
// watchers, and the outbox may have grown.
func (q *Queue) heard(payload string) {
	q.poke()
	if payload == "" {
		return
	}
	var n news
	if json.Unmarshal([]byte(payload), &n) != nil || n.From == q.id {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch {
	case n.Delivery != nil:
		d := Delivery{Message: Outgoing{Seq: n.Delivery.Seq, Ticket: n.Delivery.Ticket, Ref: n.Delivery.Ref}, Final: n.Delivery.Final}
		if n.Delivery.Err != "" {
			d.Err = errors.New(n.Delivery.Err)
		}
		q.deliveredHere(d)
	case n.Ticket != 0:
		q.subMu.Lock()
		watched := len(q.subs) > 0
		q.subMu.Unlock()
		if !watched {
			return // no one here to tell: not worth reading the ticket
		}
		t, err := q.Recent(ctx, n.Ticket)
		if err != nil {
			q.log.Warn("a change another replica made cannot be read", "ticket", n.Ticket, "err", err)
			return
		}
		from, to := n.Events-t.ArchivedEvents, n.To-t.ArchivedEvents
		q.tellWatchers(t, max(from, 0), min(to, len(t.Events)))
	}
}

// Lead runs fn while this replica owns role among those sharing the store
// (see store.Leader); on a store of one process, at once.
func (q *Queue) Lead(ctx context.Context, role string, fn func(context.Context) error) error {
	lead := func(ctx context.Context) error {
		q.leadMu.Lock()
		if q.leading == nil {
			q.leading = map[string]int{}
		}
		q.leading[role]++
		q.leadMu.Unlock()
		defer func() {
			q.leadMu.Lock()
			if q.leading[role]--; q.leading[role] <= 0 {
				delete(q.leading, role)
			}
			q.leadMu.Unlock()
		}()
		return fn(ctx)
	}
	if l, ok := q.st.(store.Leader); ok {
		return l.Lead(ctx, role, lead)
	}
	return lead(ctx)
}

// Leading returns the roles this replica leads now, sorted.
func (q *Queue) Leading() []string {
	q.leadMu.Lock()
	defer q.leadMu.Unlock()
	out := make([]string, 0, len(q.leading))
	for r := range q.leading {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// RoundTrips is how many times the store has waited for its database: 0
// for a store in this process.
func (q *Queue) RoundTrips() uint64 {
	if c, ok := q.st.(interface{ RoundTrips() uint64 }); ok {
		return c.RoundTrips()
	}
	return 0
}

// Shared reports whether other replicas may share the store.
func (q *Queue) Shared() bool {
	_, ok := q.st.(store.Leader)
	return ok
}

// LockConversation takes key's conversation for one turn across the
// replicas sharing the store; on a store of one process it costs nothing
// (the engine's own lock does).
func (q *Queue) LockConversation(ctx context.Context, key string) (func(), error) {
	if l, ok := q.st.(store.Locker); ok {
		return l.Lock(ctx, "conversation:"+key)
	}
	return func() {}, nil
}
