package pgstore

import (
	"context"
	"os"
	"strings"
	"testing"

	"ayuda/escalation/store"
	"ayuda/escalation/store/storetest"
	"ayuda/internal/pgtest"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), pgtest.URL(), Options{Buckets: storetest.Buckets, Migrations: os.DirFS("testdata"), Schema: pgtest.Schema(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// A read that fails (here, a cancelled context) voids the transaction:
// whatever fn decided from the nil it read is not committed, and the error
// is the read's.
func TestFailedReadVoidsTheTransaction(t *testing.T) {
	s := open(t)
	ctx, cancel := context.WithCancel(t.Context())
	err := s.Update(ctx, func(tx store.Tx) error {
		b := tx.Bucket([]byte("kv"))
		if err := b.Put([]byte("a"), []byte("1")); err != nil {
			return err
		}
		cancel()
		if b.Get([]byte("a")) == nil {
			return b.Put([]byte("b"), []byte("decided on a failed read"))
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "database") {
		t.Fatalf("Update = %v, want the read's failure", err)
	}
	s.View(t.Context(), func(tx store.Tx) error {
		if v := tx.Bucket([]byte("kv")).Get([]byte("a")); v != nil {
			t.Errorf("a = %q was committed", v)
		}
		return nil
	})
}

// Opening a database whose migrations lack a bucket's table says so.
func TestMissingTable(t *testing.T) {
	_, err := Open(t.Context(), pgtest.URL(), Options{Buckets: [][]byte{[]byte("kv"), []byte("nope")}, Migrations: os.DirFS("testdata"), Schema: pgtest.Schema(t)})
	if err == nil || !strings.Contains(err.Error(), "no table nope") {
		t.Fatalf("Open = %v, want no table nope", err)
	}
}

// Replicas starting together apply the migrations once.
func TestConcurrentMigrations(t *testing.T) {
	schema := pgtest.Schema(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			s, err := Open(t.Context(), pgtest.URL(), Options{Buckets: storetest.Buckets, Migrations: os.DirFS("testdata"), Schema: schema})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
