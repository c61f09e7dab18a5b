// Package pgstore keeps the queue's buckets in PostgreSQL, one table per
// bucket (k bytea primary key, v bytea), so that several ayuda replicas
// share tickets, conversations and the outbox. The tables are made by the
// migrations the caller passes, applied by goose under an advisory lock
// (replicas starting together apply them once).
//
// Every read-write transaction is SERIALIZABLE, as bbolt's single writer
// is: a transaction that conflicts with a concurrent one is run again
// (fn may run more than once), so what one replica reads and then writes
// cannot have been changed by another in between.
package pgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"ayuda/escalation/store"
)

// Options are how a database is opened.
type Options struct {
	// Buckets are the tables the store reads and writes; each must be made
	// by Migrations, with a sequence BUCKET_seq if NextSequence is used.
	Buckets [][]byte
	// Migrations are goose SQL files at the root of the file system.
	Migrations fs.FS
	// Schema, if set, is where the tables are (created if missing): tests
	// use one each. Empty means the connection's search_path.
	Schema string
}

// Store is a PostgreSQL database.
type Store struct {
	pool    *pgxpool.Pool
	lockers [lockConns]lockConn // the conversations' locks (shared.go)
	conn    *pgx.ConnConfig
	tables  map[string]*table
	// space is the schema the tables are in: it names the notification
	// channel and prefixes the advisory locks' keys, so that databases
	// shared by several schemas (tests, or two installations) do not mix.
	space string
	// trips counts the round trips to the database the store's reads and
	// writes made (RoundTrips).
	trips atomic.Uint64
}

// RoundTrips is how many times the store's transactions, one-statement
// reads and writes, conversation locks and broadcasts have waited for the
// database: what a turn costs on a network, and what the benchmarks and
// the load test report.
func (s *Store) RoundTrips() uint64 { return s.trips.Load() }

var (
	_ store.Store       = (*Store)(nil)
	_ store.Leader      = (*Store)(nil)
	_ store.Locker      = (*Store)(nil)
	_ store.Broadcaster = (*Store)(nil)
	_ store.Direct      = (*Store)(nil)
)

var ident = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

type table struct {
	get, many, put, del, clear, next, scan, seq string
}

// defaultConns is how many connections a replica's pool keeps at most,
// unless the URL says (pool_max_conns): with three replicas, about half of
// PostgreSQL's default 100 connections, with the locks', the leaders' and
// the listener's besides.
const defaultConns = 16

// Open connects to the database at url (a PostgreSQL URL or key=value
// string), applies the migrations not applied yet and checks that every
// bucket has its table.
func Open(ctx context.Context, url string, opt Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("escalation: the database address: %w", err)
	}
	if opt.Schema != "" {
		if !ident.MatchString(opt.Schema) {
			return nil, fmt.Errorf("escalation: schema %q: use lower-case letters, digits and _", opt.Schema)
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = opt.Schema
	}
	cfg.MaxConnIdleTime = time.Minute
	// A statement outside a transaction (GetOne, PutOne) is serializable
	// too, as the transactions it may conflict with are.
	cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "serializable"
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default is the number of CPUs (at least 4): turns waited
		// for a connection more than for the database.
		cfg.MaxConns = defaultConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("escalation: the database: %w", err)
	}
	s := &Store{pool: pool, conn: cfg.ConnConfig, tables: map[string]*table{}}
	s.startLocks()
	if err := s.setUp(ctx, opt); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) setUp(ctx context.Context, opt Options) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("escalation: cannot reach the database (is PostgreSQL running there, and are AYUDA_DATABASE_URL or database: right?): %w", err)
	}
	if opt.Schema != "" {
		if _, err := s.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+opt.Schema); err != nil {
			return fmt.Errorf("escalation: the database: %w", err)
		}
	}
	if err := s.pool.QueryRow(ctx, "SELECT current_schema()").Scan(&s.space); err != nil {
		return fmt.Errorf("escalation: the database: %w", err)
	}
	if err := s.migrate(ctx, opt.Migrations); err != nil {
		return err
	}
	for _, b := range opt.Buckets {
		name := string(b)
		if !ident.MatchString(name) {
			return fmt.Errorf("escalation: bucket %q is not a table name", name)
		}
		var ok bool
		if err := s.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&ok); err != nil {
			return fmt.Errorf("escalation: the database: %w", err)
		}
		if !ok {
			return fmt.Errorf("escalation: the database has no table %s: its migrations are older than this ayuda", name)
		}
		s.tables[name] = &table{
			get:   "SELECT v FROM " + name + " WHERE k = $1",
			many:  "SELECT k, v FROM " + name + " WHERE k = ANY($1)",
			put:   "INSERT INTO " + name + " (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
			del:   "DELETE FROM " + name + " WHERE k = $1",
			clear: "DELETE FROM " + name,
			next:  "SELECT k, v FROM " + name + " WHERE k > $1 ORDER BY k LIMIT $2",
			scan:  "SELECT k, v FROM " + name + " WHERE k >= $1 ORDER BY k LIMIT $2",
			seq:   "SELECT nextval('" + name + "_seq')",
		}
	}
	return nil
}

// migrate applies what is not applied yet, one replica at a time.
func (s *Store) migrate(ctx context.Context, migrations fs.FS) error {
	_, _, err := s.up(ctx, migrations)
	return err
}

func (s *Store) up(ctx context.Context, migrations fs.FS) (applied []string, version int64, err error) {
	if migrations == nil {
		return nil, 0, nil
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := provider(db, migrations, s.lockKey("migrate", ""))
	if err != nil {
		return nil, 0, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("escalation: migrating the database: %w", err)
	}
	for _, r := range res {
		applied = append(applied, r.Source.Path)
	}
	version, err = p.GetDBVersion(ctx)
	return applied, version, err
}

// Migrate applies the migrations the database at url has not had yet
// (in schema, if not empty), and returns their names and the version the
// database is at.
func Migrate(ctx context.Context, url, schema string, migrations fs.FS) (applied []string, version int64, err error) {
	s, err := Open(ctx, url, Options{Schema: schema})
	if err != nil {
		return nil, 0, err
	}
	defer s.Close()
	return s.up(ctx, migrations)
}

// provider is goose's, holding advisory lock id while it migrates (one per
// schema), and trying for it every second for up to five minutes.
func provider(db *sql.DB, migrations fs.FS, id int64) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(id), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, migrations, goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
}

// Close closes every connection.
func (s *Store) Close() error {
	s.pool.Close()
	s.closeLocks()
	return nil
}

// How transactions begin: the BEGIN goes to the server with the
// transaction's first statement, in one round trip (a pipeline), and a
// transaction that ran no statement costs none.
const (
	beginView   = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	beginUpdate = "BEGIN ISOLATION LEVEL SERIALIZABLE"
)

// View runs fn in a read-only snapshot.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, beginView, fn)
}

// Update runs fn in a serializable transaction, again if it conflicts.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, beginUpdate, fn)
}

// Batch is Update: PostgreSQL commits concurrent transactions together
// on its own (commit_delay).
func (s *Store) Batch(ctx context.Context, fn func(store.Tx) error) error {
	return s.Update(ctx, fn)
}

// GetOne reads one key in a statement of its own.
func (s *Store) GetOne(ctx context.Context, bucket, key []byte) ([]byte, error) {
	tb, ok := s.tables[string(bucket)]
	if !ok {
		return nil, fmt.Errorf("escalation: no bucket %q", bucket)
	}
	var v []byte
	err := s.retry(ctx, func() error {
		s.trips.Add(1)
		err := s.pool.QueryRow(ctx, tb.get, key).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			v = nil
			return nil
		}
		return dbErr(err)
	})
	return v, err
}

// PutOne writes one key in a statement of its own.
func (s *Store) PutOne(ctx context.Context, bucket, key, value []byte) error {
	tb, ok := s.tables[string(bucket)]
	if !ok {
		return fmt.Errorf("escalation: no bucket %q", bucket)
	}
	if value == nil {
		value = []byte{}
	}
	return s.retry(ctx, func() error {
		s.trips.Add(1)
		_, err := s.pool.Exec(ctx, tb.put, key, value)
		return dbErr(err)
	})
}

// maxAttempts bounds how often a transaction that keeps conflicting is
// run; each waits a little longer, at random.
const maxAttempts = 30

func (s *Store) run(ctx context.Context, begin string, fn func(store.Tx) error) error {
	return s.retry(ctx, func() error { return s.once(ctx, begin, fn) })
}

// retry runs do again while it conflicts with concurrent transactions.
func (s *Store) retry(ctx context.Context, do func() error) error {
	for attempt := 1; ; attempt++ {
		err := do()
		if err == nil || !retryable(err) || attempt == maxAttempts || ctx.Err() != nil {
			return err
		}
		wait := time.Duration(rand.Int64N(int64(attempt)*int64(time.Millisecond))) + 100*time.Microsecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func (s *Store) once(ctx context.Context, begin string, fn func(store.Tx) error) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return dbErr(err)
	}
	// A connection left inside a transaction (a failed ROLLBACK) is
	// closed by the pool when it is released, not reused.
	defer c.Release()
	t := &tx{ctx: ctx, conn: c, begin: begin, s: s}
	err = fn(t)
	if t.err != nil {
		err = t.err // a failed read: whatever fn decided from it is void
	}
	if err != nil {
		if t.begun {
			c.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		return err
	}
	if !t.begun && len(t.pending) == 0 {
		return nil // nothing read or written
	}
	// The writes not sent yet go with the COMMIT, in one round trip.
	var tag pgconn.CommandTag
	t.send("COMMIT", nil, func(br pgx.BatchResults) error {
		var err error
		tag, err = br.Exec()
		return err
	})
	if t.err != nil {
		// A write failed, and the statements after it were skipped: the
		// transaction is still open, aborted.
		c.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		return t.err
	}
	if tag.String() != "COMMIT" {
		return fmt.Errorf("escalation: the database rolled the transaction back (%s)", tag)
	}
	return nil
}

// retryable is a conflict with a concurrent transaction.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

func dbErr(err error) error {
	if err == nil || retryable(err) {
		return err
	}
	return fmt.Errorf("escalation: the database: %w", err)
}

type tx struct {
	ctx   context.Context
	conn  *pgxpool.Conn
	begin string // sent with the first statement
	begun bool   // BEGIN was sent
	s     *Store
	err   error // the first failure; the transaction is then void
	// pending are writes not sent yet: nothing waits for their results,
	// so they go with the next read, or with the COMMIT.
	pending []statement
}

type statement struct {
	sql  string
	args []any
}

// send runs one statement after the BEGIN, if it is the first, and the
// writes pending, in one round trip (a pipeline); use reads its results.
// A write that fails fails the transaction, and what follows it is not
// run.
func (t *tx) send(sql string, args []any, use func(pgx.BatchResults) error) error {
	if t.err != nil {
		return t.err
	}
	b := &pgx.Batch{}
	ahead := len(t.pending)
	if !t.begun {
		b.Queue(t.begin)
		ahead++
	}
	for _, w := range t.pending {
		b.Queue(w.sql, w.args...)
	}
	b.Queue(sql, args...)
	t.begun, t.pending = true, t.pending[:0]
	t.s.trips.Add(1)
	br := t.conn.SendBatch(t.ctx, b)
	var err error
	for range ahead {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	if err == nil {
		err = use(br)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.fail(err)
	}
	return t.err
}

// exec queues a write: it is sent with the next read or the COMMIT, and
// a failure fails the transaction then.
func (t *tx) exec(sql string, args ...any) error {
	if t.err != nil {
		return t.err
	}
	t.pending = append(t.pending, statement{sql, args})
	return nil
}

func (t *tx) fail(err error) {
	if t.err == nil {
		t.err = dbErr(err)
	}
}

func (t *tx) Bucket(name []byte) store.Bucket {
	tb, ok := t.s.tables[string(name)]
	if !ok {
		t.fail(fmt.Errorf("no bucket %q", name))
		tb = &table{}
	}
	return &bucket{t: t, sql: tb}
}

type bucket struct {
	t   *tx
	sql *table
}

func (b *bucket) exec(q string, args ...any) error { return b.t.exec(q, args...) }

func (b *bucket) Get(key []byte) []byte {
	var v []byte
	found := false
	err := b.t.send(b.sql.get, []any{key}, func(br pgx.BatchResults) error {
		err := br.QueryRow().Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil || !found {
		return nil
	}
	if v == nil {
		v = []byte{}
	}
	return v
}

func (b *bucket) GetMany(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out
	}
	at := make(map[string][]int, len(keys)) // a key asked twice gets its value twice
	for i, k := range keys {
		at[string(k)] = append(at[string(k)], i)
	}
	err := b.t.send(b.sql.many, []any{keys}, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k, v []byte
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			if v == nil {
				v = []byte{}
			}
			for _, i := range at[string(k)] {
				out[i] = v
			}
		}
		return rows.Err()
	})
	if err != nil {
		return make([][]byte, len(keys))
	}
	return out
}

func (b *bucket) Put(key, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	return b.exec(b.sql.put, key, value)
}

func (b *bucket) Delete(key []byte) error { return b.exec(b.sql.del, key) }

func (b *bucket) Clear() error { return b.exec(b.sql.clear) }

func (b *bucket) NextSequence() (uint64, error) {
	var n int64
	err := b.t.send(b.sql.seq, nil, func(br pgx.BatchResults) error { return br.QueryRow().Scan(&n) })
	return uint64(n), err
}

func (b *bucket) ForEach(fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return b.t.err
}

func (b *bucket) Cursor() store.Cursor { return &cursor{b: b} }

// A cursor reads a page of rows at a time, from 8 to 512 as it goes on:
// most walks stop after a key or two (an index prefix), a few read all.
type cursor struct {
	b    *bucket
	rows []row
	i    int
	last []byte // the last key read from the table
	size int
	done bool // the table has no rows after last
}

type row struct{ k, v []byte }

const firstPage, lastPage = 8, 512

func (c *cursor) First() ([]byte, []byte) { return c.Seek([]byte{}) }

func (c *cursor) Seek(key []byte) ([]byte, []byte) {
	c.size, c.done = firstPage, false
	c.fetch(c.b.sql.scan, key)
	return c.at()
}

func (c *cursor) Next() ([]byte, []byte) {
	c.i++
	if c.i >= len(c.rows) && !c.done && c.last != nil {
		c.size = min(c.size*2, lastPage)
		c.fetch(c.b.sql.next, c.last)
	}
	return c.at()
}

func (c *cursor) at() ([]byte, []byte) {
	if c.i >= len(c.rows) {
		return nil, nil
	}
	r := c.rows[c.i]
	return r.k, r.v
}

func (c *cursor) fetch(q string, from []byte) {
	c.rows, c.i = c.rows[:0], 0
	t := c.b.t
	t.send(q, []any{from, c.size}, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.k, &r.v); err != nil {
				return err
			}
			if r.v == nil {
				r.v = []byte{}
			}
			c.rows = append(c.rows, r)
		}
		return rows.Err()
	})
	if t.err != nil {
		c.rows, c.done = c.rows[:0], true
		return
	}
	c.done = len(c.rows) < c.size
	if len(c.rows) > 0 {
		c.last = c.rows[len(c.rows)-1].k
	}
}
