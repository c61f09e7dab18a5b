package main

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

type ticketList struct {
	Tickets []escalation.Ticket `json:"tickets"`
}

func (s *api) list(w http.ResponseWriter, r *http.Request) (any, error) {
	f, err := parseFilter(r.URL.Query().Get("status"), r.URL.Query().Get("assignee"), r.URL.Query().Get("customer"), r.URL.Query().Get("limit"))
	if err != nil {
		return nil, err
	}
	ts, err := s.app.queue.List(r.Context(), f)
	if ts == nil {
		ts = []escalation.Ticket{}
	}
	return ticketList{ts}, err
}

func parseFilter(status, assignee, customer, limit string) (escalation.Filter, error) {
	f := escalation.Filter{Assignee: assignee, Customer: customer}
	for _, s := range strings.Split(status, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if s == "open" || s == "abiertas" {
			for _, st := range escalation.Statuses {
				if st.Open() {
					f.Status = append(f.Status, st)
				}
			}
			continue
		}
		st, err := escalation.ParseStatus(s)
		if err != nil {
			return f, badRequest{err.Error()}
		}
		f.Status = append(f.Status, st)
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 0 {
			return f, badRequest{"limit must be a whole number"}
		}
		f.Limit = n
	}
	return f, nil
}

func (s *api) show(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	return s.app.queue.Get(r.Context(), id)
}

type agentText struct {
	Agent    string `json:"agent"`
	Text     string `json:"text,omitempty"`
	Status   string `json:"status,omitempty"`
	Type     string `json:"type,omitempty"`
	Priority string `json:"priority,omitempty"`
}

func (s *api) act(r *http.Request, do func(ctx context.Context, id escalation.ID, b agentText) (*escalation.Ticket, error)) (any, error) {
	id, err := ticketID(r)
	if err != nil {
		return nil, err
	}
	var b agentText
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

func (s *api) claim(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b agentText) (*escalation.Ticket, error) {
		return s.app.queue.Claim(ctx, id, b.Agent)
	})
}

func (s *api) takeover(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b agentText) (*escalation.Ticket, error) {
		return s.app.queue.Takeover(ctx, id, b.Agent, b.Text)
	})
}

func (s *api) reply(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b agentText) (*escalation.Ticket, error) {
		return s.app.queue.Reply(ctx, id, b.Agent, b.Text)
	})
}

func (s *api) note(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b agentText) (*escalation.Ticket, error) {
		return s.app.queue.Note(ctx, id, b.Agent, b.Text)
	})
}

func (s *api) status(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b agentText) (*escalation.Ticket, error) {
		st, err := escalation.ParseStatus(b.Status)
		if err != nil {
			return nil, badRequest{err.Error()}
		}
		return s.app.queue.SetStatus(ctx, id, b.Agent, st)
	})
}

func (s *api) classify(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.act(r, func(ctx context.Context, id escalation.ID, b agentText) (*escalation.Ticket, error) {
		typ, p, err := parseClass(b.Type, b.Priority)
		if err != nil {
			return nil, err
		}
		return s.app.queue.Classify(ctx, id, b.Agent, typ, p)
	})
}

// parseClass reads a type and a priority, either of which may be empty
// (kept as it is), but not both.
func parseClass(typ, priority string) (escalation.Type, escalation.Priority, error) {
	if typ == "" && priority == "" {
		return "", "", badRequest{`give "type", "priority" or both`}
	}
	var t escalation.Type
	var p escalation.Priority
	var err error
	if typ != "" {
		if t, err = escalation.ParseType(typ); err != nil {
			return "", "", badRequest{err.Error()}
		}
	}
	if priority != "" {
		if p, err = escalation.ParsePriority(priority); err != nil {
			return "", "", badRequest{err.Error()}
		}
	}
	return t, p, nil
}

// report returns the service figures for ?since= (7d, 24h, or a date;
// default 7d) to ?until= (a date or time; default now).
func (s *api) report(w http.ResponseWriter, r *http.Request) (any, error) {
	since, until, err := reportPeriod(r.URL.Query().Get("since"), r.URL.Query().Get("until"), time.Now(), s.app.cfg.Location())
	if err != nil {
		return nil, badRequest{err.Error()}
	}
	return s.app.queue.Report(r.Context(), since, until)
}

// customerData is a people's data export: everything kept about one
// customer, for an agent with the privacy right; recorded on the tickets.
func (s *api) customerData(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.app.queue.CustomerData(r.Context(), r.PathValue("key"), callerOf(r).Name)
}

// eraseCustomer erases one customer's data (see escalation.EraseCustomer).
func (s *api) eraseCustomer(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.app.queue.EraseCustomer(r.Context(), r.PathValue("key"), callerOf(r).Name)
}

func (s *api) agents(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.app.queue.Agents(), nil
}

// chatRequest is a terminal customer's message, sent by `ayuda chat`.
type chatRequest struct {
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

type chatReply struct {
	Reply bots.Reply `json:"reply"`
}

func (s *api) chat(w http.ResponseWriter, r *http.Request) (any, error) {
	var b chatRequest
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	as, err := asCaller(r, b.As)
	if err != nil {
		return nil, err
	}
	m := bots.Message{From: console.Address(as), Name: as, Text: b.Text, Time: time.Now()}
	return chatReply{s.app.engine.Handle(r.Context(), m)}, nil
}

type inboxReply struct {
	Messages []bots.Reply `json:"messages"`
	// Last is the sequence number to acknowledge (?ack=) once shown.
	Last uint64 `json:"last,omitempty"`
}

// inbox returns what waits for a terminal customer, waiting up to ?wait=
// (at most 30 s) for something to arrive. Messages stay until the client
// acknowledges them with ?ack=<last> on its next call, so neither a crash
// of the server nor of the client loses one.
func (s *api) inbox(w http.ResponseWriter, r *http.Request) (any, error) {
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
		if err := s.app.queue.Ack(r.Context(), to, seq); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(wait)
	out := inboxReply{Messages: []bots.Reply{}}
	for {
		msgs, err := s.app.queue.Peek(r.Context(), to)
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
