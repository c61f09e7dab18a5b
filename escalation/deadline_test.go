package escalation

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// A store that stops taking writes (here: a writer that never commits, as
// a frozen disk holds bbolt's single writer) makes writes fail at their
// deadline instead of hanging, and a write that failed so was not stored:
// once the store answers again, the same write is stored once.
func TestWritesHaveDeadlines(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
	q, err := Open(filepath.Join(t.TempDir(), "ayuda.db"), Config{Agents: []Agent{{ID: "ana"}}, Notify: notices, Now: clk.now, WriteTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	tk := newTicket(t, q, maria)

	stuck, err := q.boltDB(t).Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	msg := Entry{Author: AuthorCustomer, Text: "¿hola? ¿hay alguien?", MessageID: "tg:77"}
	if _, err := q.CustomerMessage(t.Context(), tk.ID, msg); !errors.Is(err, ErrStalled) {
		t.Errorf("a message while the store is stuck: %v, want ErrStalled", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	if _, err := q.Reply(ctx, tk.ID, "ana", "Hola"); !errors.Is(err, ErrStalled) {
		t.Errorf("a reply with a 50 ms deadline: %v, want ErrStalled", err)
	}
	cancel()
	if err := q.Probe(t.Context()); !errors.Is(err, ErrStalled) {
		t.Errorf("the health probe: %v, want ErrStalled", err)
	}
	if q.Stalled() != 3 {
		t.Errorf("%d stalled writes counted, want 3", q.Stalled())
	}
	stuck.Rollback()

	got, err := q.Get(t.Context(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != tk.Len() {
		t.Fatalf("writes that failed at their deadline were stored later: %d entries, want %d", got.Len(), tk.Len())
	}
	if _, err := q.CustomerMessage(t.Context(), tk.ID, msg); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Get(t.Context(), tk.ID); got.Len() != tk.Len()+1 {
		t.Errorf("after the store answers again: %d entries, want %d", got.Len(), tk.Len()+1)
	}
}
