package client_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ayuda/api"
	"ayuda/api/client"
	"ayuda/auth"
	"ayuda/bots"
	"ayuda/escalation"
	"ayuda/internal/desktest"
)

// A terminal customer's conversation and an agent's answer, through the
// client against the real API: the client's methods do what the queue's
// do, and the server's errors match the escalation sentinels.
func TestClientAgainstTheAPI(t *testing.T) {
	dir := t.TempDir()
	log := desktest.Logger(t)
	q := desktest.Queue(t, escalation.Agent{ID: "ana", Name: "Ana"})
	eng := desktest.Engine(t, q)
	creds, err := auth.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for role, name := range map[auth.Role]string{auth.Agent: "ana", auth.Customer: "lola"} {
		if tokens[name], err = creds.Issue(role, name); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(api.Handler(api.Config{Queue: q, Engine: eng, Token: "operator-token", Creds: creds, Logger: log}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	c := client.New(addr, "operator-token", func(role auth.Role, name string) (string, error) {
		if tok, ok := tokens[name]; ok {
			return tok, nil
		}
		return "", errors.New("no token for " + name)
	})
	ctx := t.Context()
	if !c.Proven(ctx) {
		t.Fatal("the server knows the operator's token but is not proven")
	}
	if client.New(addr, "another-token", nil).Proven(ctx) {
		t.Error("a client with another operator's token believed the server")
	}

	r, err := c.Chat(ctx, "lola", "quiero hablar con una persona, el pedido AUR-9 llegó abierto")
	if err != nil || !strings.Contains(r.Text, "#1") {
		t.Fatalf("chat: %+v, %v", r, err)
	}
	ts, err := c.List(ctx, escalation.Filter{Status: []escalation.Status{escalation.New}})
	if err != nil || len(ts) != 1 {
		t.Fatalf("list: %d tickets, %v", len(ts), err)
	}
	if _, err := c.Claim(ctx, 9, "ana"); !errors.Is(err, escalation.ErrNotFound) {
		t.Errorf("claim of a ticket that does not exist: %v, want ErrNotFound", err)
	}
	if _, err := c.SetStatus(ctx, ts[0].ID, "ana", escalation.Closed); !errors.Is(err, escalation.ErrTransition) {
		t.Errorf("closing an open ticket: %v, want ErrTransition", err)
	}
	tk, err := c.Reply(ctx, ts[0].ID, "ana", "Te mandamos otro.")
	if err != nil || tk.Assignee != "ana" {
		t.Fatalf("reply: %+v, %v", tk, err)
	}
	var in api.Inbox
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if in, err = c.Inbox(ctx, "lola", time.Second, 0); err != nil {
			t.Fatal(err)
		}
		if slicesContain(in.Messages, "Te mandamos otro.") {
			break
		}
	}
	if !slicesContain(in.Messages, "Te mandamos otro.") {
		t.Fatalf("the agent's reply is not in the customer's inbox: %+v", in)
	}
	if again, err := c.Inbox(ctx, "lola", 0, in.Last); err != nil || slicesContain(again.Messages, "Te mandamos otro.") {
		t.Errorf("after the acknowledgement: %+v, %v", again, err)
	}
	if _, err := c.Chat(ctx, "pepe", "hola"); err == nil {
		t.Error("a customer without a token chatted")
	}
}

func slicesContain(rs []bots.Reply, text string) bool {
	for _, r := range rs {
		if strings.Contains(r.Text, text) {
			return true
		}
	}
	return false
}
