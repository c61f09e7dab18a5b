// Package store is what the ticket queue keeps its records in, whatever
// keeps them: named, ordered key spaces (buckets) read and changed in
// transactions. The queue (package escalation) says what the keys and
// values mean; an implementation only keeps them, atomically and durably.
//
// Two implementations live beneath it: boltstore, one bbolt file for one
// process (the embedded default), and pgstore, PostgreSQL shared by
// several replicas, one table per bucket.
//
// Reads inside a transaction cannot fail in the bbolt implementation; in
// others they can (a connection lost). A read that fails returns nil and
// makes its transaction fail: View, Update and Batch then return that
// error, whatever fn returned, and nothing of an Update or Batch is kept.
package store

import (
	"context"
	"errors"
)

// Store runs transactions over the buckets it was opened with.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction of its own; fn's error
	// discards every change it made.
	Update(ctx context.Context, fn func(Tx) error) error
	// Batch is Update that may share its transaction (and its commit)
	// with concurrent ones. In both, fn may run more than once (a batch
	// that failed, a conflict with another replica's transaction) and must
	// not have effects outside the transaction.
	Batch(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Tx is one transaction.
type Tx interface {
	// Bucket returns the named bucket; every bucket the store was opened
	// with exists.
	Bucket(name []byte) Bucket
}

// Bucket is one ordered key space. Keys compare as bytes. A value
// returned is valid only within the transaction; an empty value may read
// as nil (bbolt's does), so a key's presence is known from a cursor.
type Bucket interface {
	Get(key []byte) []byte
	// GetMany returns the values of keys, in their order (nil where a key
	// has none): on a database, in one round trip instead of one each.
	GetMany(keys [][]byte) [][]byte
	Put(key, value []byte) error
	Delete(key []byte) error
	// NextSequence returns a number greater than any it returned before
	// for this bucket (numbers may be skipped).
	NextSequence() (uint64, error)
	Cursor() Cursor
	ForEach(fn func(k, v []byte) error) error
	// Clear removes every key (to rebuild an index).
	Clear() error
}

// Cursor walks a bucket in key order; a nil key is the end.
type Cursor interface {
	First() (k, v []byte)
	Seek(key []byte) (k, v []byte)
	Next() (k, v []byte)
}

// Errors an implementation returns when opening.
var (
	// ErrLocked is a store another process holds.
	ErrLocked = errors.New("escalation: the data file is in use by another process")
	// ErrDamaged is a store file that is not whole: truncated, or with
	// pages that do not read back as they were written.
	ErrDamaged = errors.New("escalation: the store file is damaged")
)

// What a store shared by several processes (replicas) adds. A store for
// one process (bbolt's file lock makes it the only one) has none of them,
// and the queue then does each in process.

// Leader elects one owner for a role among the processes sharing the
// store: what may run once only (a platform connection that allows one
// session, the watchdog, the outbox dispatcher).
type Leader interface {
	// Lead waits until this process owns role, then runs fn. If ownership
	// is lost (the connection to the store died), fn's context is
	// cancelled and, once fn has returned, Lead waits to own role again.
	// Lead returns when ctx is done, or with fn's result when fn returns
	// on its own.
	Lead(ctx context.Context, role string, fn func(context.Context) error) error
}

type leaseKey struct{}

// WithLease is ctx for a Lead's fn, whose ownership held says is still
// confirmed (Held).
func WithLease(ctx context.Context, held func() bool) context.Context {
	return context.WithValue(ctx, leaseKey{}, held)
}

// Held reports whether what runs under ctx may act as its role's owner
// now: false when its ownership has not been confirmed for longer than a
// new owner waits before it starts (this process was paused, a stopped VM
// or SIGSTOP, while its session to the store was lost), until a check
// confirms it again or its context is cancelled. What acts outside the
// store (a message sent to a platform) asks first. Outside a Lead, or on a
// store for one process, it is always true.
func Held(ctx context.Context) bool {
	held, ok := ctx.Value(leaseKey{}).(func() bool)
	return !ok || held()
}

// Locker holds a lock on a key across the processes sharing the store.
type Locker interface {
	// Lock waits for key's lock; unlock lets it go.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// Broadcaster passes small messages between the processes sharing the
// store, at most once each: a process that was not listening misses them.
type Broadcaster interface {
	// Broadcast sends payloads (at most 7,000 bytes each), in order, to
	// every process listening, this one included.
	Broadcast(ctx context.Context, payloads ...string) error
	// Listen calls fn with every payload broadcast, until ctx is done.
	// fn is called with "" once it listens, and after each gap in which
	// some may have been missed (a reconnection).
	Listen(ctx context.Context, fn func(payload string)) error
}

// Direct is a store that reads or writes one key in a statement of its
// own (a transaction by itself), without the round trips a transaction's
// beginning and end cost over a network: what a turn does most (its
// conversation read, then written). Its behaviour is that of a View with
// one Get, or a Batch with one Put.
type Direct interface {
	GetOne(ctx context.Context, bucket, key []byte) ([]byte, error)
	PutOne(ctx context.Context, bucket, key, value []byte) error
}
