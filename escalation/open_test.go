package escalation

import (
	"testing"
	"time"

	"ayuda/bots"
)

// A customer's conversation has one open request per chat: a request made
// while one is open there (the conversation lost track of it) is added to
// it; another chat, or a completed ticket, gets a new one.
func TestOpenOrJoin(t *testing.T) {
	q, clk, _ := setup(t)
	ctx := t.Context()
	req := func(to bots.Address, text string) *Ticket {
		t.Helper()
		clk.add(time.Minute)
		tk, err := q.OpenOrJoin(ctx, Ticket{Customer: Customer{Address: to, Lang: "es"}, Summary: text,
			Transcript: []Entry{{Time: clk.now(), Author: AuthorCustomer, Text: text}}})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	first := req(maria, "quiero hablar con una persona")
	again := req(maria, "quiero hablar con una persona, por favor")
	if again.ID != first.ID || again.Len() != 2 || again.Events[len(again.Events)-1].Detail == "" {
		t.Errorf("asked again while #%d is open: #%d with %d entries", first.ID, again.ID, again.Len())
	}
	group := maria
	group.Chat = "-100"
	if other := req(group, "y en el grupo"); other.ID == first.ID {
		t.Error("a request in another chat joined the open one")
	}
	if _, err := q.SetStatus(ctx, first.ID, "ana", Completed); err != nil {
		t.Fatal(err)
	}
	if later := req(maria, "otra cosa"); later.ID == first.ID {
		t.Error("a request after the ticket was completed joined it")
	}
	// Open itself opens what it is given: staff tools may file several.
	if tk, err := q.Open(ctx, Ticket{Customer: Customer{Address: maria}, Transcript: []Entry{{Time: clk.now(), Author: AuthorCustomer, Text: "x"}}}); err != nil || tk.ID == first.ID {
		t.Errorf("Open: %v, #%d", err, tk.ID)
	}
}
