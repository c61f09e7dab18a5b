// Package boltstore keeps the queue's buckets in one bbolt file: the
// embedded store for one process (make run, small installations).
package boltstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"ayuda/escalation/store"
)

// Options are how a file is opened.
type Options struct {
	// Buckets are created when missing.
	Buckets [][]byte
	// Timeout is how long Open waits for the file lock; zero means 1 s.
	Timeout time.Duration
	// CommitDelay is how long a Batch waits for company; zero means 2 ms,
	// negative means none.
	CommitDelay time.Duration
}

// Store is a bbolt file.
type Store struct {
	db *bolt.DB
	// Created are the buckets that did not exist when the file was opened.
	Created [][]byte
}

var _ store.Store = (*Store)(nil)

// Open opens (or creates) the file at path. If another process holds it,
// it fails with store.ErrLocked after opt.Timeout; a file that is not a
// bbolt database fails with a clear error and is never overwritten.
func Open(path string, opt Options) (*Store, error) {
	timeout := opt.Timeout
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
			return nil, fmt.Errorf("%w: %s (is ayuda serve running? stop it or use its API)", store.ErrLocked, path)
		}
		return nil, fmt.Errorf("escalation: open %s: %w (the file is not overwritten; move it away only if you mean to start afresh)", path, err)
	}
	// Group commit: concurrent changes share one transaction and one fsync.
	// bbolt waits up to MaxBatchDelay for company (10 ms by default, most
	// of a turn's latency, since a commit takes about 0.3 ms here); 2 ms
	// still gathers dozens of turns a commit under load.
	db.MaxBatchDelay = 2 * time.Millisecond
	if opt.CommitDelay != 0 {
		db.MaxBatchDelay = max(opt.CommitDelay, 0)
	}
	s := &Store{db: db}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range opt.Buckets {
			if tx.Bucket(b) != nil {
				continue
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
			s.Created = append(s.Created, b)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("escalation: open %s: %w", path, err)
	}
	return s, nil
}

// DB is the bbolt database, for tests that look beneath the store.
func (s *Store) DB() *bolt.DB { return s.db }

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// View runs fn in a read-only transaction.
func (s *Store) View(_ context.Context, fn func(store.Tx) error) error {
	return s.db.View(func(t *bolt.Tx) error { return fn(tx{t}) })
}

// Update runs fn in a transaction of its own.
func (s *Store) Update(_ context.Context, fn func(store.Tx) error) error {
	return s.db.Update(func(t *bolt.Tx) error { return fn(tx{t}) })
}

// Batch runs fn in a transaction shared with concurrent Batch calls (one
// commit, one fsync, for all of them); bbolt runs fn again alone if
// another write in the batch failed.
func (s *Store) Batch(_ context.Context, fn func(store.Tx) error) error {
	return s.db.Batch(func(t *bolt.Tx) error { return fn(tx{t}) })
}

type tx struct{ tx *bolt.Tx }

func (t tx) Bucket(name []byte) store.Bucket {
	b := t.tx.Bucket(name)
	if b == nil {
		return missing(name)
	}
	return &bucket{Bucket: b, tx: t.tx, name: name}
}

type bucket struct {
	*bolt.Bucket
	tx   *bolt.Tx
	name []byte
}

func (b *bucket) Cursor() store.Cursor { return b.Bucket.Cursor() }

func (b *bucket) GetMany(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = b.Get(k)
	}
	return out
}

func (b *bucket) Clear() error {
	if err := b.tx.DeleteBucket(b.name); err != nil {
		return err
	}
	nb, err := b.tx.CreateBucket(b.name)
	if err != nil {
		return err
	}
	b.Bucket = nb
	return nil
}

// missing is a bucket the store was not opened with: reads find nothing,
// writes fail.
type missing []byte

func (m missing) err() error { return fmt.Errorf("escalation: the store has no bucket %q", []byte(m)) }

func (m missing) Get([]byte) []byte                     { return nil }
func (m missing) GetMany(keys [][]byte) [][]byte        { return make([][]byte, len(keys)) }
func (m missing) Put(_, _ []byte) error                 { return m.err() }
func (m missing) Delete([]byte) error                   { return m.err() }
func (m missing) NextSequence() (uint64, error)         { return 0, m.err() }
func (m missing) Cursor() store.Cursor                  { return empty{} }
func (m missing) ForEach(func(k, v []byte) error) error { return nil }
func (m missing) Clear() error                          { return m.err() }

type empty struct{}

func (empty) First() ([]byte, []byte)      { return nil, nil }
func (empty) Seek([]byte) ([]byte, []byte) { return nil, nil }
func (empty) Next() ([]byte, []byte)       { return nil, nil }
