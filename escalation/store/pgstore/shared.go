package pgstore

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// What several replicas share besides the tables: advisory locks (one
// owner per role, one turn at a time per conversation) and notifications.

// lockConns is how many connections of its own a replica takes its
// conversations' locks on. A session holds any number of advisory locks,
// so a few connections serve every turn: each lock and unlock is one
// quick statement (pg_try_advisory_lock, which never waits on the server;
// a lock another replica holds is tried again, at growing intervals).
const lockConns = 4

// lockConn is one of those connections; pgx connections are not safe for
// concurrent use, hence the mutex.
type lockConn struct {
	mu sync.Mutex
	c  *pgx.Conn
}

// lockKey is the advisory lock's key for name in this store's schema.
func (s *Store) lockKey(kind, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s.space + "\x00" + kind + "\x00" + name))
	return int64(h.Sum64())
}

// exec runs one statement on the lock connection, connecting first if it
// has none (or lost it). A lost connection loses its locks with it: the
// server lets go of them.
func (l *lockConn) exec(ctx context.Context, cfg *pgx.ConnConfig, sql string, k int64) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c == nil || l.c.IsClosed() {
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return false, err
		}
		l.c = c
	}
	var ok bool
	err := l.c.QueryRow(ctx, sql, k).Scan(&ok)
	if err != nil && !l.c.IsClosed() {
		// A failure that left the connection open may have left it in a
		// state no one can tell: start afresh (letting go of its locks).
		l.c.Close(context.Background())
	}
	return ok, err
}

// Lock waits for key's lock. The lock is a session's: if this process
// dies, PostgreSQL lets go of it with the connection.
func (s *Store) Lock(ctx context.Context, key string) (func(), error) {
	k := s.lockKey("lock", key)
	l := &s.lockers[uint64(k)%lockConns]
	wait := time.Millisecond
	for {
		// A statement cancelled half way closes its connection, and with
		// it every lock it holds for other turns: the turn's cancellation
		// is only heeded between tries.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		got, err := l.exec(qctx, s.conn, "SELECT pg_try_advisory_lock($1)", k)
		cancel()
		if err != nil {
			return nil, dbErr(err)
		}
		if got {
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
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if ok, err := l.exec(ctx, s.conn, "SELECT pg_advisory_unlock($1)", k); err != nil || !ok {
			// The only sure way to let go now: end the session.
			l.mu.Lock()
			if l.c != nil {
				l.c.Close(ctx)
			}
			l.mu.Unlock()
		}
	}, nil
}

func (s *Store) closeLocks() {
	for i := range s.lockers {
		l := &s.lockers[i]
		l.mu.Lock()
		if l.c != nil {
			l.c.Close(context.Background())
		}
		l.mu.Unlock()
	}
}

// How leadership is kept: the owner checks its session every checkEvery
// and stops fn at once when a check fails (the server has then let go of
// the lock, or will when it notices); a new owner waits grace after
// taking the lock before it starts, by which time the old one has
// stopped. A process that died lets go with its connection, so a role
// changes hands within tryEvery + grace.
const (
	tryEvery   = time.Second
	checkEvery = 300 * time.Millisecond
	grace      = 1200 * time.Millisecond
)

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
	fctx, stop := context.WithCancel(ctx)
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
			pctx, cancel := context.WithTimeout(ctx, checkEvery)
			err := c.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				stop()
				<-result
				return false, nil
			}
		}
	}
}

// channel is where this store's replicas hear from each other.
func (s *Store) channel() string { return pgx.Identifier{"ayuda_" + s.space}.Sanitize() }

// Broadcast sends payload to every listening replica.
func (s *Store) Broadcast(ctx context.Context, payload string) error {
	_, err := s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", "ayuda_"+s.space, payload)
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
