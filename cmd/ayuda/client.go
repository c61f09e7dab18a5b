package main

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
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ayuda/auth"
	"ayuda/bots"
	"ayuda/config"
	"ayuda/escalation"
)

// client talks to a running server's HTTP API: reads with the operator's
// token, agents' actions with that agent's own token, a terminal
// customer's messages with that customer's.
type client struct {
	base     string
	operator string
	// tokenFor returns the token of role name.
	tokenFor func(role auth.Role, name string) (string, error)
	http     *http.Client
}

// findServer returns a client for the server that runs on cfg's data
// directory, or nil when none answers. A server is believed only when the
// process in server.json is alive and the server proves that it knows the
// operator's token (healthz's challenge): what answers on a port a crashed
// server left behind gets no token, no reply and no customer's message.
func findServer(ctx context.Context, cfg *config.Config, getenv func(string) string) *client {
	data, err := os.ReadFile(serverFile(cfg.Data))
	if err != nil {
		return nil
	}
	var info serverInfo
	if json.Unmarshal(data, &info) != nil || info.Addr == "" || !alive(info.PID) {
		return nil
	}
	tok, err := apiToken(cfg, getenv, false)
	if err != nil {
		return nil
	}
	c := &client{base: "http://" + info.Addr, operator: tok, http: &http.Client{Timeout: 45 * time.Second}}
	c.tokenFor = func(role auth.Role, name string) (string, error) {
		if t, err := localToken(cfg, getenv, role, name); err == nil || role == auth.Agent {
			return t, err
		}
		// A terminal customer on this machine gets a token of their own
		// on first use, as the first start made one for $USER.
		creds, closeCreds, err := openCreds(ctx, cfg, nil)
		if err != nil {
			return "", err
		}
		defer closeCreds()
		if err := ensureLocal(cfg, creds, role, name); err != nil {
			return "", err
		}
		return localToken(cfg, getenv, role, name)
	}
	if !c.proven(ctx) {
		return nil
	}
	return c
}

// alive reports whether process pid runs.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// proven asks the server to prove that it knows the operator's token.
func (c *client) proven(ctx context.Context) bool {
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
	got, err := hex.DecodeString(resp.Header.Get(proofHeader))
	want, _ := hex.DecodeString(proof(c.operator, challenge))
	return err == nil && hmac.Equal(got, want)
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
	return c.doAs(ctx, c.operator, method, path, in, out)
}

// doAs calls the API with token.
func (c *client) doAs(ctx context.Context, token, method, path string, in, out any) error {
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

func (c *client) CustomerData(ctx context.Context, key, agent string) (*escalation.CustomerData, error) {
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

func (c *client) EraseCustomer(ctx context.Context, key, agent string) (*escalation.Erased, error) {
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

func (c *client) Takeover(ctx context.Context, id escalation.ID, agent, why string) (*escalation.Ticket, error) {
	return c.act(ctx, id, "takeover", agentText{Agent: agent, Text: why})
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
	tok, err := c.tokenFor(auth.Customer, as)
	if err != nil {
		return bots.Reply{}, err
	}
	var out chatReply
	err = c.doAs(ctx, tok, "POST", "/api/chat", chatRequest{As: as, Text: text}, &out)
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
	tok, err := c.tokenFor(auth.Customer, as)
	if err != nil {
		return inboxReply{}, err
	}
	err = c.doAs(ctx, tok, "GET", "/api/chat/inbox?"+v.Encode(), nil, &out)
	if errors.Is(ctx.Err(), context.Canceled) {
		return inboxReply{}, nil
	}
	return out, err
}
