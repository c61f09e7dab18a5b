// Package desktest opens, for tests, what ayuda serve runs a desk on: a
// store in a temporary folder and the dialog engine over the built-in
// articles.
package desktest

import (
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"ayuda/dialog"
	"ayuda/escalation"
	"ayuda/faq"
	"ayuda/knowledge"
)

var (
	once   sync.Once
	index  *knowledge.Index
	idxErr error
)

// Index is the built-in articles' index, built once for the test binary
// and shared (searching does not change it; each build trains a
// classifier).
func Index(t testing.TB) *knowledge.Index {
	t.Helper()
	once.Do(func() {
		var entries []faq.Entry
		if entries, idxErr = faq.Builtin(); idxErr == nil {
			index, idxErr = knowledge.New(entries)
		}
	})
	if idxErr != nil {
		t.Fatal(idxErr)
	}
	return index
}

// Logger writes warnings and errors to the test's output.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Queue opens a bbolt store in a temporary folder with agents, closed when
// the test ends.
func Queue(t testing.TB, agents ...escalation.Agent) *escalation.Queue {
	t.Helper()
	q, err := escalation.Open(filepath.Join(t.TempDir(), "ayuda.db"), escalation.Config{Notify: dialog.Notifier(), Agents: agents, Logger: Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// Engine is the dialog engine over the built-in articles and q.
func Engine(t testing.TB, q *escalation.Queue) *dialog.Engine {
	t.Helper()
	e, err := dialog.New(dialog.Config{Search: Index(t), Queue: q, Logger: Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}
