package pgstore

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"ayuda/escalation/store"
)

// What several replicas share besides the tables: advisory locks (one
// owner per role, one turn at a time per conversation) and notifications.

// lockConns is how many connections of its own a replica takes its
// conversations' locks on. A session holds any number of advisory locks,
// so a few connections serve every turn: each lock and unlock is one
// quick statement (pg_try_advisory_lock, which never waits on the server;
// a lock another replica holds is tried again, at growing intervals), and
// the statements asked for while a round trip is on its way go together
// in the next (a pipeline), so under load a turn's lock and unlock cost a
// share of a round trip rather than two.
const lockConns = 2

// lockConn is one of those connections, with the goroutine that sends its
// statements (pgx connections are not safe for concurrent use).
type lockConn struct {
	mu     sync.Mutex
	queue  []lockReq
	closed bool
	wake   chan struct{}  // something is queued
	done   chan struct{}  // the sender stopped
	c      *pgx.Conn      // the sender's
	trips  *atomic.Uint64 // the store's count of round trips
}

// lockReq is one statement on a lock connection, taking key k; done, when
// not nil, hears its result.
type lockReq struct {
	sql  string
	k    int64
	done chan lockResult
}

type lockResult struct {
	ok  bool
	err error
}

var errClosed = errors.New("the store is closed")

// lockKey is the advisory lock's key for name in this store's schema.
func (s *Store) lockKey(kind, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s.space + "\x00" + kind + "\x00" + name))
	return int64(h.Sum64())
}

// lockTimeout bounds a round trip on a lock connection.
const lockTimeout = 5 * time.Second

// startLocks starts the lock connections' senders.
func (s *Store) startLocks() {
	for i := range s.lockers {
		l := &s.lockers[i]
		l.wake, l.done, l.trips = make(chan struct{}, 1), make(chan struct{}), &s.trips
		go l.serve(s.conn)
	}
}

// closeLocks stops the senders, closing their connections (and so letting
// go of their locks); what is still queued fails.
func (s *Store) closeLocks() {
	for i := range s.lockers {
		l := &s.lockers[i]
		if l.wake == nil {
			continue // never started
		}
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.nudge()
		<-l.done
	}
}

func (l *lockConn) nudge() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// do queues r to be sent in the connection's next round trip, in order.
func (l *lockConn) do(r lockReq) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		if r.done != nil {
			r.done <- lockResult{err: errClosed}
		}
		return
	}
	l.queue = append(l.queue, r)
	l.mu.Unlock()
	l.nudge()
}

// serve sends what is queued, all of it in one round trip, until the
// store closes.
func (l *lockConn) serve(cfg *pgx.ConnConfig) {
	defer close(l.done)
	for range l.wake {
		l.mu.Lock()
		batch, closed := l.queue, l.closed
		l.queue = nil
		l.mu.Unlock()
		if closed {
			for _, r := range batch {
				if r.done != nil {
					r.done <- lockResult{err: errClosed}
				}
			}
			if l.c != nil {
				l.c.Close(context.Background())
			}
			return
		}
		if len(batch) > 0 {
			l.send(cfg, batch)
		}
	}
}

// send runs batch in one round trip, connecting first if the connection
// was lost (a lost connection loses its locks with it: the server lets go
// of them).
func (l *lockConn) send(cfg *pgx.ConnConfig, batch []lockReq) {
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	results := make([]lockResult, len(batch))
	var err error
	if l.c == nil || l.c.IsClosed() {
		l.c, err = pgx.ConnectConfig(ctx, cfg)
	}
	if err == nil {
		b := &pgx.Batch{}
		for _, r := range batch {
			b.Queue(r.sql, r.k)
		}
		l.trips.Add(1)
		br := l.c.SendBatch(ctx, b)
		for i := range batch {
			if err = br.QueryRow().Scan(&results[i].ok); err != nil {
				break
			}
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil && !l.c.IsClosed() {
			// A failure that left the connection open may have left it
			// in a state no one can tell: start afresh (letting go of its
			// locks).
			l.c.Close(context.Background())
		}
	}
	for i, r := range batch {
		if err != nil {
			results[i] = lockResult{err: err}
		}
		if r.done != nil {
			r.done <- results[i]
		}
	}
}

// Lock waits for key's lock. The lock is a session's: if this process
// dies, PostgreSQL lets go of it with the connection.
func (s *Store) Lock(ctx context.Context, key string) (func(), error) {
	k := s.lockKey("lock", key)
	l := &s.lockers[uint64(k)%lockConns]
	wait := time.Millisecond
	done := make(chan lockResult, 1)
	for {
		// A statement is never cancelled half way (that would close the
		// connection, and with it every lock it holds for other turns):
		// the turn's cancellation is only heeded between tries.
		l.do(lockReq{sql: "SELECT pg_try_advisory_lock($1)", k: k, done: done})
		r := <-done
		if r.err != nil {
			return nil, dbErr(r.err)
		}
		if r.ok {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
			wait = min(2*wait, 50*time.Millisecond)
		}
	}
	return func() {
		// The unlock goes in the connection's next round trip, before any
		// later try for the key from this replica (the same connection, in
		// order); the turn does not wait for it. If it fails, the
		// connection is closed, which lets go of the lock too.
		l.do(lockReq{sql: "SELECT pg_advisory_unlock($1)", k: k})
	}, nil
}

// How leadership is kept: the owner checks its session every checkEvery
// and stops fn at once when a check fails (the server has then let go of
// the lock, or will when it notices); a new owner waits grace after
// taking the lock before it starts, by which time the old one has
// stopped. A process that died lets go with its connection, so a role
// changes hands within tryEvery + grace. An owner acts (store.Held) only
// within lease of its last confirmed check: a new owner starts at least
// grace after it, so an owner that was paused while its session was lost
// does not act on waking before its next check stops it.
const (
	tryEvery   = time.Second
	checkEvery = 300 * time.Millisecond
	grace      = 1200 * time.Millisecond
	lease      = grace - checkEvery
)

// now is the clock of the lease (tests pause it).
var now = time.Now

// Lead runs fn while this process owns role.
func (s *Store) Lead(ctx context.Context, role string, fn func(context.Context) error) error {
	k := s.lockKey("lead", role)
	cc := s.conn.Copy()
	// Who leads shows in pg_stat_activity.
	cc.RuntimeParams["application_name"] = LeaderName(s.space, role)
	for {
		c, err := s.own(ctx, cc, k)
		if err != nil {
			return nil // ctx is done
		}
		done, err := s.serve(ctx, c, fn)
		c.Close(context.Background())
		if done {
			return err
		}
	}
}

// LeaderName is the application_name of the sessions that lead, or wait
// to lead, role in schema.
func LeaderName(schema, role string) string {
	n := "ayuda lead " + schema + " " + role
	return n[:min(len(n), 63)]
}

// own waits until it holds lock k on a connection of its own, trying
// every tryEvery on the same connection (connecting again if it is lost).
func (s *Store) own(ctx context.Context, cc *pgx.ConnConfig, k int64) (*pgx.Conn, error) {
	var c *pgx.Conn
	for {
		if c == nil || c.IsClosed() {
			c, _ = pgx.ConnectConfig(ctx, cc)
		}
		if c != nil {
			var got bool
			err := c.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", k).Scan(&got)
			if err == nil && got {
				select {
				case <-ctx.Done():
					c.Close(context.Background())
					return nil, ctx.Err()
				case <-time.After(grace):
					return c, nil
				}
			}
			if err != nil {
				c.Close(context.Background())
				c = nil
			}
		}
		select {
		case <-ctx.Done():
			if c != nil {
				c.Close(context.Background())
			}
			return nil, ctx.Err()
		case <-time.After(tryEvery):
		}
	}
}

// serve runs fn while c's session is alive. done is false when the
// session was lost and fn stopped for it.
func (s *Store) serve(ctx context.Context, c *pgx.Conn, fn func(context.Context) error) (done bool, err error) {
	var mu sync.Mutex
	confirmed := now() // the lock was just taken
	held := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return now().Sub(confirmed) < lease
	}
	fctx, stop := context.WithCancel(store.WithLease(ctx, held))
	defer stop()
	result := make(chan error, 1)
	go func() { result <- fn(fctx) }()
	t := time.NewTicker(checkEvery)
	defer t.Stop()
	for {
		select {
		case err := <-result:
			return true, err
		case <-t.C:
			asked := now()
			pctx, cancel := context.WithTimeout(ctx, checkEvery)
			err := c.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				stop()
				<-result
				return false, nil
			}
			mu.Lock()
			confirmed = asked // the session was alive when the check was asked
			mu.Unlock()
		}
	}
}

// channel is where this store's replicas hear from each other.
func (s *Store) channel() string { return pgx.Identifier{"ayuda_" + s.space}.Sanitize() }

// Broadcast sends payloads to every listening replica, in one statement
// (one round trip, one transaction: PostgreSQL delivers a transaction's
// notifications in order, and the same payload twice once).
func (s *Store) Broadcast(ctx context.Context, payloads ...string) error {
	if len(payloads) == 0 {
		return nil
	}
	var err error
	s.trips.Add(1)
	switch len(payloads) {
	case 1:
		_, err = s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", "ayuda_"+s.space, payloads[0])
	default:
		_, err = s.pool.Exec(ctx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS u(p, i) ORDER BY i", "ayuda_"+s.space, payloads)
	}
	return dbErr(err)
}

// Listen calls fn with every payload broadcast until ctx is done, on a
// connection of its own. It calls fn("") once it listens, and again each
// time it listens again after losing its connection (for what it may have
// missed).
func (s *Store) Listen(ctx context.Context, fn func(string)) error {
	wait := 100 * time.Millisecond
	for {
		c, err := pgx.ConnectConfig(ctx, s.conn)
		if err == nil {
			_, err = c.Exec(ctx, "LISTEN "+s.channel())
		}
		if err == nil {
			wait = 100 * time.Millisecond
			fn("") // listening from now on (and after a gap, what was missed)
			for {
				n, err := c.WaitForNotification(ctx)
				if err != nil {
					break
				}
				fn(n.Payload)
			}
		}
		if c != nil {
			c.Close(context.Background())
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
			wait = min(wait*2, 5*time.Second)
		}
	}
}
