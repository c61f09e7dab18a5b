package escalation

import (
	"context"
	"os"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"ayuda/escalation/store/boltstore"
	"ayuda/internal/pgtest"
)

// The package's tests run on the bbolt store, and with
// AYUDA_TEST_STORE=postgres on PostgreSQL (make test runs both): the same
// behaviour, whichever keeps it. A path stands for a store, so a test that
// closes a queue and opens its path again gets the same schema back.

// onPostgres is read when a test runs, not when the package starts, so
// that go test's cache knows the result depends on it.
func onPostgres() bool { return os.Getenv("AYUDA_TEST_STORE") == "postgres" }

var schemas sync.Map // path → schema

func openQ(tb testing.TB, path string, cfg Config) (*Queue, error) {
	tb.Helper()
	if !onPostgres() {
		return Open(path, cfg)
	}
	schema, ok := schemas.Load(path)
	if !ok {
		schema = pgtest.Schema(tb)
		schemas.Store(path, schema)
	}
	return OpenDatabase(context.Background(), pgtest.URL(), schema.(string), cfg)
}

// boltDB is the bbolt file beneath q, for tests of what only bbolt does;
// on another store the test is skipped.
func (q *Queue) boltDB(tb testing.TB) *bolt.DB {
	tb.Helper()
	boltOnly(tb)
	return q.st.(*boltstore.Store).DB()
}

// boltOnly skips a test of the bbolt file when the tests run on another
// store.
func boltOnly(tb testing.TB) {
	tb.Helper()
	if onPostgres() {
		tb.Skip("a test of the bbolt file")
	}
}
