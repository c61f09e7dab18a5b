package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"ayuda/bots"
	"ayuda/escalation"
)

// client talks to a running server's HTTP API.
type client struct {
	base  string
	token string
	http  *http.Client
}

// findServer returns a client for the server that runs on cfg's data
// directory, or nil when none answers.
func findServer(ctx context.Context, cfg *Config, getenv func(string) string) *client {
	data, err := os.ReadFile(serverFile(cfg.Data))
	if err != nil {
		return nil
	}
	var info serverInfo
	if json.Unmarshal(data, &info) != nil || info.Addr == "" {
		return nil
	}
	tok, err := apiToken(cfg, getenv, false)
	if err != nil {
		return nil
	}
	c := &client{base: "http://" + info.Addr, token: tok, http: &http.Client{Timeout: 45 * time.Second}}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(hctx, "GET", c.base+"/healthz", nil)
	if err != nil {
		return nil
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	return c
}

// apiCallError is an error the server answered with.
type apiCallError struct {
	Code int
	Msg  string
}

func (e *apiCallError) Error() string { return e.Msg }

// Is lets callers match API errors with the escalation sentinels.
func (e *apiCallError) Is(target error) bool {
	switch e.Code {
	case http.StatusNotFound:
		return target == escalation.ErrNotFound
	case http.StatusForbidden:
		return target == escalation.ErrNotAgent
	case http.StatusConflict:
		return target == escalation.ErrTransition || target == escalation.ErrClaimed
	}
	return false
}

func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e apiError
		json.NewDecoder(resp.Body).Decode(&e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return &apiCallError{Code: resp.StatusCode, Msg: e.Error}
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// The desk methods mirror *escalation.Queue, so a command works the same
// against a running server and against the store directly.

func (c *client) List(ctx context.Context, f escalation.Filter) ([]escalation.Ticket, error) {
	v := url.Values{}
	var st []string
	for _, s := range f.Status {
		st = append(st, string(s))
	}
	if len(st) > 0 {
		v.Set("status", strings.Join(st, ","))
	}
	if f.Assignee != "" {
		v.Set("assignee", f.Assignee)
	}
	if f.Customer != "" {
		v.Set("customer", f.Customer)
	}
	if f.Limit > 0 {
		v.Set("limit", fmt.Sprint(f.Limit))
	}
	var out ticketList
	err := c.do(ctx, "GET", "/api/tickets?"+v.Encode(), nil, &out)
	return out.Tickets, err
}

func (c *client) Get(ctx context.Context, id escalation.ID) (*escalation.Ticket, error) {
	var t escalation.Ticket
	if err := c.do(ctx, "GET", fmt.Sprintf("/api/tickets/%d", id), nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

func (c *client) act(ctx context.Context, id escalation.ID, what string, b agentText) (*escalation.Ticket, error) {
	var t escalation.Ticket
	if err := c.do(ctx, "POST", fmt.Sprintf("/api/tickets/%d/%s", id, what), b, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

func (c *client) Claim(ctx context.Context, id escalation.ID, agent string) (*escalation.Ticket, error) {
	return c.act(ctx, id, "claim", agentText{Agent: agent})
}

func (c *client) Reply(ctx context.Context, id escalation.ID, agent, text string) (*escalation.Ticket, error) {
	return c.act(ctx, id, "reply", agentText{Agent: agent, Text: text})
}

func (c *client) Note(ctx context.Context, id escalation.ID, agent, text string) (*escalation.Ticket, error) {
	return c.act(ctx, id, "note", agentText{Agent: agent, Text: text})
}

func (c *client) SetStatus(ctx context.Context, id escalation.ID, agent string, to escalation.Status) (*escalation.Ticket, error) {
	return c.act(ctx, id, "status", agentText{Agent: agent, Status: string(to)})
}

func (c *client) Classify(ctx context.Context, id escalation.ID, agent string, typ escalation.Type, p escalation.Priority) (*escalation.Ticket, error) {
	return c.act(ctx, id, "classify", agentText{Agent: agent, Type: string(typ), Priority: string(p)})
}

// Report asks the server for the figures of a period.
func (c *client) Report(ctx context.Context, since, until time.Time) (*escalation.Report, error) {
	var r escalation.Report
	q := url.Values{"since": {since.Format(time.RFC3339Nano)}, "until": {until.Format(time.RFC3339Nano)}}
	if err := c.do(ctx, "GET", "/api/report?"+q.Encode(), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// chat sends a terminal customer's line and returns the reply.
func (c *client) chat(ctx context.Context, as, text string) (bots.Reply, error) {
	var out chatReply
	err := c.do(ctx, "POST", "/api/chat", chatRequest{As: as, Text: text}, &out)
	return out.Reply, err
}

// inbox returns what waits for a terminal customer, waiting up to wait,
// after acknowledging what was shown up to ack.
func (c *client) inbox(ctx context.Context, as string, wait time.Duration, ack uint64) (inboxReply, error) {
	var out inboxReply
	v := url.Values{"as": {as}, "wait": {wait.String()}}
	if ack > 0 {
		v.Set("ack", strconv.FormatUint(ack, 10))
	}
	err := c.do(ctx, "GET", "/api/chat/inbox?"+v.Encode(), nil, &out)
	if errors.Is(ctx.Err(), context.Canceled) {
		return inboxReply{}, nil
	}
	return out, err
}
