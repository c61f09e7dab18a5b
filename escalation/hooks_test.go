package escalation

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ayuda/bots"
)

// deliveries records what WatchDeliveries reports.
type deliveries struct {
	mu  sync.Mutex
	got []Delivery
}

func (d *deliveries) add(x Delivery) { d.mu.Lock(); d.got = append(d.got, x); d.mu.Unlock() }
func (d *deliveries) take() []Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.got
	d.got = nil
	return out
}

// An agent's message with a ref is recorded and queued once however often
// it is handled, and its outbox message carries the ref.
func TestReplyRefOnce(t *testing.T) {
	q, _, _ := setup(t)
	ctx := t.Context()
	tk := newTicket(t, q, maria)
	const ref = "slack:C1:1700000000.000100"
	for range 2 {
		if _, err := q.ReplyRef(ctx, tk.ID, "ana", "ya sale", ref); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := q.Get(ctx, tk.ID)
	n := 0
	for _, e := range got.Transcript {
		if e.MessageID == ref {
			n++
			if e.Author != AuthorAgent || e.Note || e.Text != "ya sale" {
				t.Errorf("entry %+v, want the agent's public reply", e)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d transcript entries with the ref, want 1", n)
	}
	if got.Assignee != "ana" || got.Status != InProgress {
		t.Errorf("after a reply on an unclaimed ticket: %s/%s, want ana/in_progress", got.Assignee, got.Status)
	}
	p, _ := q.Pending(ctx)
	if len(p) != 1 || p[0].Ref != ref || p[0].Kind != string(NoticeReply) {
		t.Fatalf("outbox %+v, want one reply with the ref", p)
	}

	const note = "slack:C1:1700000000.000200"
	for range 2 {
		if _, err := q.NoteRef(ctx, tk.ID, "ana", "revisar", note); err != nil {
			t.Fatal(err)
		}
	}
	got, _ = q.Get(ctx, tk.ID)
	last := got.Transcript[len(got.Transcript)-1]
	if !last.Note || last.MessageID != note || got.Transcript[len(got.Transcript)-2].MessageID != ref {
		t.Errorf("transcript tail %+v, want the reply then one note", got.Transcript[len(got.Transcript)-2:])
	}
	if p, _ := q.Pending(ctx); len(p) != 1 {
		t.Errorf("a note was queued for the customer: %+v", p)
	}
}

// WatchDeliveries hears of every recorded attempt: a retry, the delivery,
// and a message given up on; giving up also tells ticket watchers, whose
// ticket now shows the failure.
func TestWatchDeliveries(t *testing.T) {
	q, clk, _ := setup(t)
	ctx := t.Context()
	var ds deliveries
	q.WatchDeliveries(ds.add)
	var changes []Change
	var mu sync.Mutex
	q.Watch(func(c Change) { mu.Lock(); changes = append(changes, c); mu.Unlock() })

	tk := newTicket(t, q, maria)
	if _, err := q.ReplyRef(ctx, tk.ID, "ana", "hola", "r1"); err != nil {
		t.Fatal(err)
	}
	fail := errors.New("502 bad gateway")
	deliver(t, q, SenderFunc(func(_ context.Context, _ bots.Address, _ bots.Reply) error { return fail }))
	got := ds.take()
	if len(got) != 1 || got[0].Final || !errors.Is(got[0].Err, fail) || got[0].Message.Ref != "r1" || got[0].Message.Attempts != 1 {
		t.Fatalf("after a failed attempt: %+v, want one non-final failure of r1", got)
	}
	clk.add(time.Minute)
	rec := &recorder{}
	deliver(t, q, rec)
	got = ds.take()
	if len(got) != 1 || !got[0].Final || got[0].Err != nil || got[0].Message.Ref != "r1" {
		t.Fatalf("after delivery: %+v, want r1 delivered", got)
	}

	if _, err := q.ReplyRef(ctx, tk.ID, "ana", "¿sigues ahí?", "r2"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	changes = nil
	mu.Unlock()
	blocked := bots.Permanent(errors.New("403 blocked"))
	deliver(t, q, SenderFunc(func(_ context.Context, _ bots.Address, _ bots.Reply) error { return blocked }))
	got = ds.take()
	if len(got) != 1 || !got[0].Final || !bots.IsPermanent(got[0].Err) || got[0].Message.Ref != "r2" {
		t.Fatalf("after a permanent failure: %+v, want r2 given up on", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 1 || changes[0].Event.What != "delivery_failed" {
		t.Fatalf("ticket watchers saw %+v, want the delivery_failed change", changes)
	}
	tail := changes[0].Ticket.Transcript[len(changes[0].Ticket.Transcript)-1]
	if !tail.Note || !strings.Contains(tail.Text, "403 blocked") {
		t.Errorf("the changed ticket does not show the failure: %+v", tail)
	}
}

// A client that pulls its messages (the terminal, the HTTP API) reports
// them delivered when it takes them: a watcher hears of each at once.
func TestTakeReportsDelivery(t *testing.T) {
	q, _, _ := setup(t)
	ctx := t.Context()
	var ds deliveries
	q.WatchDeliveries(ds.add)
	term := bots.Address{Platform: "console", Chat: "pc", User: "pc"}
	tk := newTicket(t, q, term)
	for _, ref := range []string{"r1", "r2"} {
		if _, err := q.ReplyRef(ctx, tk.ID, "ana", "hola "+ref, ref); err != nil {
			t.Fatal(err)
		}
	}
	ds.take()
	msgs, err := q.Take(ctx, term)
	if err != nil {
		t.Fatal(err)
	}
	got := ds.take()
	var refs []string
	for _, d := range got {
		if !d.Final || d.Err != nil {
			t.Errorf("taken message reported as %+v, want delivered", d)
		}
		if d.Message.Ref != "" {
			refs = append(refs, d.Message.Ref)
		}
	}
	if len(got) != len(msgs) || !slices.Contains(refs, "r1") || !slices.Contains(refs, "r2") {
		t.Errorf("Take of %d messages reported %+v, want each delivered", len(msgs), got)
	}
}
