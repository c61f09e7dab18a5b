// Package client calls a running ayuda server's HTTP API (package api):
// reads with the operator's token, agents' actions with that agent's own
// token, a terminal customer's messages with that customer's. Its desk
// methods mirror *escalation.Queue, so a command works the same against a
// server and against the store directly.
package client

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"ayuda/api"
	"ayuda/auth"
	"ayuda/bots"
	"ayuda/escalation"
)

// Client talks to the server at one address.
type Client struct {
	base     string
	operator string
	// tokenFor returns the token of role name.
	tokenFor func(role auth.Role, name string) (string, error)
	http     *http.Client
}

// New returns a client of the server at addr (host:port) whose operator's
// token is operator; tokenFor gives the token of an agent or a terminal
// customer when the client acts as them.
func New(addr, operator string, tokenFor func(role auth.Role, name string) (string, error)) *Client {
	return &Client{base: "http://" + addr, operator: operator, tokenFor: tokenFor, http: &http.Client{Timeout: 45 * time.Second}}
}

// Proven asks the server to prove that it knows the operator's token
// (api.Proof): what answers on a port a crashed server left behind gets no
// token, no reply and no customer's message.
func (c *Client) Proven(ctx context.Context) bool {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return false
	}
	challenge := hex.EncodeToString(nonce)
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(hctx, "GET", c.base+"/healthz?challenge="+challenge, nil)
	if err != nil {
		return false
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	got, err := hex.DecodeString(resp.Header.Get(api.ProofHeader))
	want, _ := hex.DecodeString(api.Proof(c.operator, challenge))
	return err == nil && hmac.Equal(got, want)
}

// Error is an error the server answered with.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Is lets callers match API errors with the escalation sentinels.
func (e *Error) Is(target error) bool {
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

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.doAs(ctx, c.operator, method, path, in, out)
}

// doAs calls the API with token.
func (c *Client) doAs(ctx context.Context, token, method, path string, in, out any) error {
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
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		json.NewDecoder(resp.Body).Decode(&e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return &Error{Code: resp.StatusCode, Msg: e.Error}
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *Client) List(ctx context.Context, f escalation.Filter) ([]escalation.Ticket, error) {
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
	var out api.TicketList
	err := c.do(ctx, "GET", "/api/tickets?"+v.Encode(), nil, &out)
	return out.Tickets, err
}

func (c *Client) Get(ctx context.Context, id escalation.ID) (*escalation.Ticket, error) {
	var t escalation.Ticket
	if err := c.do(ctx, "GET", fmt.Sprintf("/api/tickets/%d", id), nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

func (c *Client) act(ctx context.Context, id escalation.ID, what string, b api.Action) (*escalation.Ticket, error) {
	tok, err := c.tokenFor(auth.Agent, b.Agent)
	if err != nil {
		return nil, err
	}
	var t escalation.Ticket
	if err := c.doAs(ctx, tok, "POST", fmt.Sprintf("/api/tickets/%d/%s", id, what), b, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

func (c *Client) CustomerData(ctx context.Context, key, agent string) (*escalation.CustomerData, error) {
	tok, err := c.tokenFor(auth.Agent, agent)
	if err != nil {
		return nil, err
	}
	var d escalation.CustomerData
	if err := c.doAs(ctx, tok, "GET", "/api/customers/"+url.PathEscape(key), nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func (c *Client) EraseCustomer(ctx context.Context, key, agent string) (*escalation.Erased, error) {
	tok, err := c.tokenFor(auth.Agent, agent)
	if err != nil {
		return nil, err
	}
	var e escalation.Erased
	if err := c.doAs(ctx, tok, "POST", "/api/customers/"+url.PathEscape(key)+"/erase", struct{}{}, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

func (c *Client) Takeover(ctx context.Context, id escalation.ID, agent, why string) (*escalation.Ticket, error) {
	return c.act(ctx, id, "takeover", api.Action{Agent: agent, Text: why})
}

func (c *Client) Claim(ctx context.Context, id escalation.ID, agent string) (*escalation.Ticket, error) {
	return c.act(ctx, id, "claim", api.Action{Agent: agent})
}

func (c *Client) Reply(ctx context.Context, id escalation.ID, agent, text string) (*escalation.Ticket, error) {
	return c.act(ctx, id, "reply", api.Action{Agent: agent, Text: text})
}

func (c *Client) Note(ctx context.Context, id escalation.ID, agent, text string) (*escalation.Ticket, error) {
	return c.act(ctx, id, "note", api.Action{Agent: agent, Text: text})
}

func (c *Client) SetStatus(ctx context.Context, id escalation.ID, agent string, to escalation.Status) (*escalation.Ticket, error) {
	return c.act(ctx, id, "status", api.Action{Agent: agent, Status: string(to)})
}

func (c *Client) Classify(ctx context.Context, id escalation.ID, agent string, typ escalation.Type, p escalation.Priority) (*escalation.Ticket, error) {
	return c.act(ctx, id, "classify", api.Action{Agent: agent, Type: string(typ), Priority: string(p)})
}

// Report asks the server for the figures of a period.
func (c *Client) Report(ctx context.Context, since, until time.Time) (*escalation.Report, error) {
	var r escalation.Report
	q := url.Values{"since": {since.Format(time.RFC3339Nano)}, "until": {until.Format(time.RFC3339Nano)}}
	if err := c.do(ctx, "GET", "/api/report?"+q.Encode(), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Chat sends a terminal customer's line and returns the reply.
func (c *Client) Chat(ctx context.Context, as, text string) (bots.Reply, error) {
	tok, err := c.tokenFor(auth.Customer, as)
	if err != nil {
		return bots.Reply{}, err
	}
	var out api.ChatReply
	err = c.doAs(ctx, tok, "POST", "/api/chat", api.ChatRequest{As: as, Text: text}, &out)
	return out.Reply, err
}

// Inbox returns what waits for a terminal customer, waiting up to wait,
// after acknowledging what was shown up to ack.
func (c *Client) Inbox(ctx context.Context, as string, wait time.Duration, ack uint64) (api.Inbox, error) {
	var out api.Inbox
	v := url.Values{"as": {as}, "wait": {wait.String()}}
	if ack > 0 {
		v.Set("ack", strconv.FormatUint(ack, 10))
	}
	tok, err := c.tokenFor(auth.Customer, as)
	if err != nil {
		return api.Inbox{}, err
	}
	err = c.doAs(ctx, tok, "GET", "/api/chat/inbox?"+v.Encode(), nil, &out)
	if errors.Is(ctx.Err(), context.Canceled) {
		return api.Inbox{}, nil
	}
	return out, err
}
