// Package pgtest gives tests a PostgreSQL database to themselves: the
// server at AYUDA_TEST_DATABASE_URL (by default the local one, trust
// authentication, database test), a fresh schema per test, dropped when
// the test ends. Where no server answers, the test is skipped with one
// line saying so, unless AYUDA_TEST_POSTGRES=required (CI), which makes
// it fail instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the local server the development and CI machines run.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// URL is the server tests use.
func URL() string {
	if u := os.Getenv("AYUDA_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

var (
	once    sync.Once
	reached error
)

// Required says whether a missing server fails the tests.
func Required() bool { return os.Getenv("AYUDA_TEST_POSTGRES") == "required" }

// Available reports whether the server answers (asked once per process).
func Available() error {
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, URL())
		if err != nil {
			reached = err
			return
		}
		reached = c.Ping(ctx)
		c.Close(ctx)
	})
	return reached
}

// Need skips (or, when required, fails) tb if the server does not answer.
func Need(tb testing.TB) {
	tb.Helper()
	if err := Available(); err != nil {
		if Required() {
			tb.Fatalf("PostgreSQL at %s does not answer (AYUDA_TEST_POSTGRES=required): %v", URL(), err)
		}
		tb.Skipf("no PostgreSQL at %s (set AYUDA_TEST_DATABASE_URL): %v", URL(), err)
	}
}

// Schema makes an empty schema for tb, dropped with everything in it when
// tb ends, and returns its name.
func Schema(tb testing.TB) string {
	tb.Helper()
	Need(tb)
	var b [6]byte
	rand.Read(b[:])
	name := "ayuda_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	c, err := pgx.Connect(ctx, URL())
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(ctx, URL())
		if err != nil {
			tb.Errorf("dropping schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			tb.Errorf("dropping schema %s: %v", name, err)
		}
	})
	return name
}
