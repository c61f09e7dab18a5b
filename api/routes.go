package api

// The API's routes: tickets and what agents do to them, the report, people's
// data, the agents, and the terminal customers' chat and inbox.

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ayuda/bots"
	"ayuda/bots/console"
	"ayuda/escalation"
)

func ticketID(r *http.Request) (escalation.ID, error) {
	id, err := escalation.ParseID(r.PathValue("id"))
	if err != nil {
		return 0, badRequest{err.Error()}
	}
	return id, nil
}

// TicketList is GET /api/tickets's answer.
type TicketList struct {
	Tickets []escalation.Ticket `json:"tickets"`
}

func (s *server) list(w http.ResponseWriter, r *http.Request) (any, error) {
	f, err := escalation.ParseFilter(r.URL.Query().Get("status"), r.URL.Query().Get("assignee"), r.URL.Query().Get("customer"), r.URL.Query().Get("limit"))
	if err != nil {
		return nil, badRequest{err.Error()}
	}
	ts, err := s.Queue.List(r.Context(), f)
	if ts == nil {
		ts = []escalation.Ticket{}
	}
	return TicketList{ts}, err
}

func (s *server) show(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	return s.Queue.Get(r.Context(), id)
}

// Action is the body of an agent's POST /api/tickets/{id}/…: the agent
// (the token's own) and what the action takes.
type Action struct {
	Agent    string `json:"agent"`
	Text     string `json:"text,omitempty"`
	Status   string `json:"status,omitempty"`
	Type     string `json:"type,omitempty"`
	Priority string `json:"priority,omitempty"`
}

func (s *server) act(r *http.Request, do func(ctx context.Context, id escalation.ID, b Action) (*escalation.Ticket, error)) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	var b Action
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	c := callerOf(r)
	if b.Agent != "" && !strings.EqualFold(b.Agent, c.Name) {
		return nil, forbidden{fmt.Sprintf("this token is agent %s's: it cannot act as %q", c.Name, b.Agent)}
	}
	b.Agent = c.Name
	return do(r.Context(), id, b)
}

func (s *server) claim(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b Action) (*escalation.Ticket, error) {
		return s.Queue.Claim(ctx, id, b.Agent)
	})
}

func (s *server) takeover(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b Action) (*escalation.Ticket, error) {
		return s.Queue.Takeover(ctx, id, b.Agent, b.Text)
	})
}

func (s *server) reply(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b Action) (*escalation.Ticket, error) {
		return s.Queue.Reply(ctx, id, b.Agent, b.Text)
	})
}

func (s *server) note(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b Action) (*escalation.Ticket, error) {
		return s.Queue.Note(ctx, id, b.Agent, b.Text)
	})
}

func (s *server) status(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b Action) (*escalation.Ticket, error) {
		st, err := escalation.ParseStatus(b.Status)
		if err != nil {
			return nil, badRequest{err.Error()}
		}
		return s.Queue.SetStatus(ctx, id, b.Agent, st)
	})
}

func (s *server) classify(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b Action) (*escalation.Ticket, error) {
		typ, p, err := escalation.ParseClass(b.Type, b.Priority)
		if err != nil {
			return nil, badRequest{err.Error()}
		}
		return s.Queue.Classify(ctx, id, b.Agent, typ, p)
	})
}

// report returns the service figures for ?since= (7d, 24h, or a date;
// default 7d) to ?until= (a date or time; default now).
func (s *server) report(w http.ResponseWriter, r *http.Request) (any, error) {
	since, until, err := escalation.ParsePeriod(r.URL.Query().Get("since"), r.URL.Query().Get("until"), time.Now(), s.Location)
	if err != nil {
		return nil, badRequest{err.Error()}
	}
	return s.Queue.Report(r.Context(), since, until)
}

// customerData is a people's data export: everything kept about one
// customer, for an agent with the privacy right; recorded on the tickets.
func (s *server) customerData(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.Queue.CustomerData(r.Context(), r.PathValue("key"), callerOf(r).Name)
}

// eraseCustomer erases one customer's data (see escalation.EraseCustomer).
func (s *server) eraseCustomer(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.Queue.EraseCustomer(r.Context(), r.PathValue("key"), callerOf(r).Name)
}

func (s *server) agents(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.Queue.Agents(), nil
}

// ChatRequest is a terminal customer's message, sent by `ayuda chat`.
type ChatRequest struct {
	As   string `json:"as"`
	Text string `json:"text"`
}

// asCaller is the customer a chat request is for: the token's own, which
// "as", when given, must name.
func asCaller(r *http.Request, as string) (string, error) {
	c := callerOf(r)
	if as != "" && as != c.Name {
		return "", forbidden{fmt.Sprintf("this token is customer %s's: it cannot chat or read the inbox as %q", c.Name, as)}
	}
	return c.Name, nil
}

// ChatReply is POST /api/chat's answer.
type ChatReply struct {
	Reply bots.Reply `json:"reply"`
}

func (s *server) chat(w http.ResponseWriter, r *http.Request) (any, error) {
	var b ChatRequest
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	as, err := asCaller(r, b.As)
	if err != nil {
		return nil, err
	}
	m := bots.Message{From: console.Address(as), Name: as, Text: b.Text, Time: time.Now()}
	return ChatReply{s.Engine.Handle(r.Context(), m)}, nil
}

// Inbox is GET /api/chat/inbox's answer.
type Inbox struct {
	Messages []bots.Reply `json:"messages"`
	// Last is the sequence number to acknowledge (?ack=) once shown.
	Last uint64 `json:"last,omitempty"`
}

// inbox returns what waits for a terminal customer, waiting up to ?wait=
// (at most 30 s) for something to arrive. Messages stay until the client
// acknowledges them with ?ack=<last> on its next call, so neither a crash
// of the server nor of the client loses one.
func (s *server) inbox(w http.ResponseWriter, r *http.Request) (any, error) {
	as, err := asCaller(r, r.URL.Query().Get("as"))
	if err != nil {
		return nil, err
	}
	wait := time.Duration(0)
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, badRequest{"wait: " + err.Error()}
		}
		wait = min(d, 30*time.Second)
	}
	to := console.Address(as)
	if v := r.URL.Query().Get("ack"); v != "" {
		seq, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, badRequest{"ack: not a sequence number"}
		}
		if err := s.Queue.Ack(r.Context(), to, seq); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(wait)
	out := Inbox{Messages: []bots.Reply{}}
	for {
		msgs, err := s.Queue.Peek(r.Context(), to)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			out.Messages = append(out.Messages, m.Reply)
			out.Last = m.Seq
		}
		if len(out.Messages) > 0 || time.Now().After(deadline) {
			return out, nil
		}
		select {
		case <-r.Context().Done():
			return out, nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}
