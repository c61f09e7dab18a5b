package escalation

import (
	"ayuda/escalation/store"
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// rawSize is the size of ticket id's own record in the store.
func rawSize(t testing.TB, q *Queue, id ID) int {
	t.Helper()
	n := 0
	if err := q.st.View(context.Background(), func(tx store.Tx) error {
		n = len(tx.Bucket(bTickets).Get(itob(uint64(id))))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// storeHolds reports whether text is anywhere in the store's tickets,
// those entries kept apart included.
func storeHolds(t testing.TB, q *Queue, text string) bool {
	t.Helper()
	found := false
	q.st.View(context.Background(), func(tx store.Tx) error {
		for _, b := range [][]byte{bTickets, bEntries, bEvents} {
			tx.Bucket(b).ForEach(func(_, v []byte) error {
				found = found || bytes.Contains(v, []byte(text))
				return nil
			})
		}
		return nil
	})
	return found
}

// A long ticket keeps its latest messages in its record and the others
// apart: the record stops growing, Get returns every message in order,
// Recent and List the latest with how many came before, and the agents'
// actions work on it as on a short one.
func TestLongTicketKeepsItsLatestInLine(t *testing.T) {
	q, _, _ := setup(t)
	tk := newTicket(t, q, maria)
	long := strings.Repeat("x", 4<<10)
	var sizes []int
	for i := range 300 {
		if _, err := q.CustomerMessage(t.Context(), tk.ID, Entry{Author: AuthorCustomer, Text: fmt.Sprintf("mensaje %d %s", i, long), MessageID: fmt.Sprint("m", i)}); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			sizes = append(sizes, rawSize(t, q, tk.ID))
		}
	}
	if sizes[2] > inlineBytes+64<<10 || sizes[2] > sizes[0]+sizes[0]/10 {
		t.Errorf("the ticket's record grows with its length: %v bytes after 100, 200, 300 messages", sizes)
	}
	// A re-delivered recent message is still recognised.
	if _, err := q.CustomerMessage(t.Context(), tk.ID, Entry{Author: AuthorCustomer, Text: "mensaje 299 " + long, MessageID: "m299"}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Reply(t.Context(), tk.ID, "ana", "Ya lo tengo, María."); err != nil {
		t.Fatal(err)
	}
	whole, err := q.Get(t.Context(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := 2 + 300 + 1
	if len(whole.Transcript) != want || whole.Archived != 0 || whole.ArchivedEvents != 0 {
		t.Fatalf("Get: %d entries (%d kept apart), want %d in line", len(whole.Transcript), whole.Archived, want)
	}
	for i := range 300 {
		if e := whole.Transcript[2+i]; !strings.HasPrefix(e.Text, fmt.Sprintf("mensaje %d ", i)) {
			t.Fatalf("entry %d is %.20q", 2+i, e.Text)
		}
	}
	if last := whole.Transcript[want-1]; last.Author != AuthorAgent || last.Text != "Ya lo tengo, María." {
		t.Errorf("last entry: %+v", last)
	}
	recent, err := q.Recent(t.Context(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if recent.Archived == 0 || recent.Len() != want || len(recent.Transcript) > inlineEntries {
		t.Errorf("Recent: %d in line, %d before them, want %d in all", len(recent.Transcript), recent.Archived, want)
	}
	listed, err := q.List(t.Context(), Filter{Customer: maria.Customer()})
	if err != nil || len(listed) != 1 || listed[0].Len() != want {
		t.Errorf("List: %v, %+v", err, listed)
	}
	if len(whole.Events) <= inlineEvents || recent.ArchivedEvents == 0 {
		t.Errorf("events: %d in all, %d kept apart", len(whole.Events), recent.ArchivedEvents)
	}
}

// Erasing a customer reaches the messages kept apart from a ticket's
// record, and retention trims them too: nothing of the text stays.
func TestLongTicketErasedAndTrimmedWhole(t *testing.T) {
	q, _, _ := setup(t)
	tk := newTicket(t, q, maria)
	for i := range 150 {
		if _, err := q.CustomerMessage(t.Context(), tk.ID, Entry{Author: AuthorCustomer, Text: fmt.Sprintf("secreto-%03d %s", i, strings.Repeat("y", 3000))}); err != nil {
			t.Fatal(err)
		}
	}
	if !storeHolds(t, q, "secreto-000") {
		t.Fatal("the first message is nowhere in the store")
	}
	if _, err := q.EraseCustomer(t.Context(), maria.Customer(), "ana"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"secreto-000", "secreto-100", "secreto-149", "dónde está mi pedido"} {
		if storeHolds(t, q, s) {
			t.Errorf("%q is still in the store after erasing the customer", s)
		}
	}
	whole, err := q.Get(t.Context(), tk.ID)
	if err != nil || len(whole.Transcript) != 152 {
		t.Fatalf("an erased ticket keeps its %d entries (who and when): %v", len(whole.Transcript), err)
	}

	clk := &fakeClock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	r, err := openQ(t, t.TempDir()+"/ayuda.db", Config{Agents: []Agent{{ID: "ana"}}, Notify: notices, Now: clk.now, Retention: Retention{ClosedTranscripts: 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	old := newTicket(t, r, maria)
	for i := range 150 {
		r.CustomerMessage(t.Context(), old.ID, Entry{Author: AuthorCustomer, Text: fmt.Sprintf("viejo-%03d %s", i, strings.Repeat("z", 3000))})
	}
	r.SetStatus(t.Context(), old.ID, "ana", Completed)
	r.SetStatus(t.Context(), old.ID, "ana", Closed)
	clk.add(48 * time.Hour)
	if err := r.WatchdogOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if storeHolds(t, r, "viejo-000") || storeHolds(t, r, "viejo-149") {
		t.Error("retention left text of a long ticket in the store")
	}
}
