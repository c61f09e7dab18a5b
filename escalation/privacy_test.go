package escalation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"ayuda/bots"
	"ayuda/escalation/store"
)

// A customer's data, across the platforms a shared e-mail links, comes out
// whole and goes away whole: messages, names, contacts, conversations,
// answers and what the outbox holds; the tickets stay, anonymised, so the
// report adds up; each request is on the tickets' events.
func TestCustomerDataExportAndErase(t *testing.T) {
	q, clk, _ := setup(t)
	ctx := WithVia(t.Context(), "cli")
	tg := bots.Address{Platform: "telegram", Chat: "100", User: "100"}
	dc := bots.Address{Platform: "discord", Chat: "900", User: "900"}
	other := bots.Address{Platform: "telegram", Chat: "200", User: "200"}
	first, err := q.Open(ctx, Ticket{Customer: Customer{Address: tg, Name: "María Pérez", Lang: "es"}, Summary: "mi pedido no llega",
		Transcript: []Entry{{Author: AuthorCustomer, Name: "María Pérez", Text: "soy maria@example.com, mi pedido no llega"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Open(ctx, Ticket{Customer: Customer{Address: dc, Name: "mperez", Lang: "es"}, Summary: "factura",
		Transcript: []Entry{{Author: AuthorCustomer, Text: "escribidme a maria@example.com o al 612 345 678"}}}); err != nil {
		t.Fatal(err)
	}
	theirs := newTicket(t, q, other)
	if err := q.RecordAnswer(ctx, Answer{Customer: tg.Customer(), Question: "¿dónde está mi pedido?", Article: "estado-pedido", At: clk.now()}); err != nil {
		t.Fatal(err)
	}
	if err := q.SaveConversation(ctx, tg.Key(), []byte(`{"lang":"es"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Reply(ctx, first.ID, "ana", "Hola María, lo miro."); err != nil {
		t.Fatal(err)
	}

	if _, err := q.CustomerData(ctx, tg.Customer(), "luis"); !errors.Is(err, ErrNoPrivacy) {
		t.Errorf("an agent without the privacy right exported data: %v", err)
	}
	if _, err := q.EraseCustomer(ctx, tg.Customer(), "luis"); !errors.Is(err, ErrNoPrivacy) {
		t.Errorf("an agent without the privacy right erased data: %v", err)
	}
	data, err := q.CustomerData(ctx, tg.Customer(), "ana")
	if err != nil {
		t.Fatal(err)
	}
	if len(data.Customers) != 2 || len(data.Tickets) != 2 || len(data.Answers) != 1 || len(data.Conversations) != 1 || len(data.Outbox) == 0 || len(data.Contacts) == 0 {
		t.Fatalf("export: %d customers %v, %d tickets, %d answers, %d conversations, %d outbox, contacts %v",
			len(data.Customers), data.Customers, len(data.Tickets), len(data.Answers), len(data.Conversations), len(data.Outbox), data.Contacts)
	}
	before, err := q.Report(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}

	gone, err := q.EraseCustomer(ctx, dc.Customer(), "ana")
	if err != nil {
		t.Fatal(err)
	}
	if gone.Tickets != 2 || gone.Answers != 1 || gone.Conversations != 1 || gone.Messages == 0 || gone.Contacts == 0 {
		t.Errorf("erased %+v", gone)
	}
	after, _ := q.CustomerData(ctx, tg.Customer(), "ana")
	if len(after.Tickets)+len(after.Answers)+len(after.Conversations)+len(after.Outbox)+len(after.Contacts) != 0 {
		t.Errorf("left after erasing: %+v", after)
	}
	all, _ := q.List(ctx, Filter{})
	var erased []Ticket
	for _, tk := range all {
		if tk.ID != theirs.ID {
			erased = append(erased, tk)
		}
	}
	blob, _ := json.Marshal(erased)
	for _, s := range []string{"María", "maria@example.com", "612", "mperez", "mi pedido no llega", "Hola María", "telegram:100", `"100"`, "900"} {
		if strings.Contains(string(blob), s) {
			t.Errorf("%q is still in the store's tickets", s)
		}
	}
	for _, tk := range all {
		if tk.ID == theirs.ID {
			if tk.Customer.Address != other || len(tk.Transcript) == 0 || tk.Transcript[0].Text == "" {
				t.Errorf("another customer's ticket changed: %+v", tk)
			}
			continue
		}
		last := tk.Events[len(tk.Events)-1]
		if last.What != EventDataErased || last.Actor != "ana" || last.Via != "cli" {
			t.Errorf("#%d: last event %+v", tk.ID, last)
		}
		exported := false
		for _, ev := range tk.Events {
			exported = exported || ev.What == EventDataExported
		}
		if !exported {
			t.Errorf("#%d: the export is not in its events", tk.ID)
		}
	}
	r, _ := q.Report(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
	if r.Tickets != before.Tickets || r.ByChannel["discord"] != before.ByChannel["discord"] {
		t.Errorf("the report changed: %d tickets (was %d), by channel %v (was %v)", r.Tickets, before.Tickets, r.ByChannel, before.ByChannel)
	}
}

// Closed tickets keep their transcript for the retention period, then
// only who wrote and when.
func TestRetentionRemovesOldTranscripts(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	q, err := openQ(t, t.TempDir()+"/ayuda.db", Config{Agents: []Agent{{ID: "ana"}}, Notify: notices, Now: clk.now, Retention: Retention{ClosedTranscripts: 30 * 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	old := newTicket(t, q, maria)
	if _, err := q.SetStatus(t.Context(), old.ID, "ana", Completed); err != nil {
		t.Fatal(err)
	}
	if _, err := q.SetStatus(t.Context(), old.ID, "ana", Closed); err != nil {
		t.Fatal(err)
	}
	clk.add(20 * 24 * time.Hour)
	recent := newTicket(t, q, bots.Address{Platform: "telegram", Chat: "5", User: "5"})
	q.SetStatus(t.Context(), recent.ID, "ana", Completed)
	q.SetStatus(t.Context(), recent.ID, "ana", Closed)
	clk.add(11 * 24 * time.Hour)
	if err := q.WatchdogOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	o, _ := q.Get(t.Context(), old.ID)
	r, _ := q.Get(t.Context(), recent.ID)
	for _, e := range o.Transcript {
		if e.Text != "" {
			t.Errorf("a transcript past retention keeps %q", e.Text)
		}
	}
	if len(o.Transcript) == 0 || o.Events[len(o.Events)-1].What != EventTrimmed {
		t.Errorf("old ticket: %+v", o)
	}
	if r.Transcript[0].Text == "" {
		t.Error("a ticket closed within the retention period lost its transcript")
	}
}

// Retention reads only the closed tickets it has to trim: a reopened one
// leaves the index (and keeps its transcript), a store from before the
// index is indexed when it opens, and a trimmed ticket leaves the index.
func TestRetentionIndex(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	path := t.TempDir() + "/ayuda.db"
	cfg := Config{Agents: []Agent{{ID: "ana"}}, Notify: notices, Now: clk.now, Retention: Retention{ClosedTranscripts: 30 * 24 * time.Hour}}
	q, err := openQ(t, path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	closeTicket := func(id ID) {
		t.Helper()
		if _, err := q.SetStatus(t.Context(), id, "ana", Completed); err != nil {
			t.Fatal(err)
		}
		if _, err := q.SetStatus(t.Context(), id, "ana", Closed); err != nil {
			t.Fatal(err)
		}
	}
	closed := newTicket(t, q, maria)
	closeTicket(closed.ID)
	reopened := newTicket(t, q, bots.Address{Platform: "telegram", Chat: "5", User: "5"})
	closeTicket(reopened.ID)
	if _, err := q.SetStatus(t.Context(), reopened.ID, "ana", Reopened); err != nil {
		t.Fatal(err)
	}
	indexed := func() int {
		t.Helper()
		n := 0
		if err := q.st.View(context.Background(), func(tx store.Tx) error {
			return tx.Bucket(bRetention).ForEach(func(_, _ []byte) error { n++; return nil })
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := indexed(); n != 1 {
		t.Fatalf("%d tickets in the retention index, want the closed one only", n)
	}
	// A store from before the index: it is built when the store opens.
	if err := q.boltDB(t).Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bRetention) }); err != nil {
		t.Fatal(err)
	}
	q.Close()
	if q, err = openQ(t, path, cfg); err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if n := indexed(); n != 1 {
		t.Fatalf("after reopening an unindexed store, %d tickets in the index, want 1", n)
	}
	clk.add(31 * 24 * time.Hour)
	if n, err := q.applyRetention(t.Context(), clk.now()); err != nil || n != 1 {
		t.Fatalf("applyRetention = %d, %v; want the closed ticket trimmed", n, err)
	}
	if n := indexed(); n != 0 {
		t.Errorf("%d tickets left in the index after trimming", n)
	}
	if r, _ := q.Get(t.Context(), reopened.ID); r.Transcript[0].Text == "" {
		t.Error("a reopened ticket lost its transcript")
	}
	if n, err := q.applyRetention(t.Context(), clk.now()); err != nil || n != 0 {
		t.Errorf("a second pass trimmed %d (%v), want 0", n, err)
	}
}

// BenchmarkRetentionBigStore is retention's pass over a store of 20,000
// tickets closed within the retention period: it reads none of them.
func BenchmarkRetentionBigStore(b *testing.B) {
	clk := &fakeClock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	q, err := openQ(b, b.TempDir()+"/ayuda.db", Config{Agents: []Agent{{ID: "ana"}}, Notify: notices, Now: clk.now, CommitDelay: -1, Retention: Retention{ClosedTranscripts: 30 * 24 * time.Hour}})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	err = q.st.Update(context.Background(), func(tx store.Tx) error {
		for i := range 20000 {
			t := &Ticket{ID: ID(i + 1), Status: Closed, Closed: clk.now(), Customer: Customer{Address: bots.Address{Platform: "telegram", Chat: fmt.Sprint(i), User: fmt.Sprint(i)}},
				Transcript: []Entry{{Author: AuthorCustomer, Text: strings.Repeat("mi pedido no llega ", 20)}}}
			if err := putTicket(tx, nil, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	clk.add(24 * time.Hour)
	for b.Loop() {
		if n, err := q.applyRetention(b.Context(), clk.now()); err != nil || n != 0 {
			b.Fatal(n, err)
		}
	}
}
