package inbox_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ayuda/auth"
	"ayuda/bots"
	"ayuda/dialog"
	"ayuda/escalation"
	"ayuda/inbox"
)

var (
	ana  = escalation.Agent{ID: "ana", Name: "Ana"}
	luis = escalation.Agent{ID: "luis", Name: "Luis"}
)

// desk is the inbox as `ayuda serve` runs it, on the real store and
// credentials.
type desk struct {
	t      *testing.T
	dir    string
	q      *escalation.Queue
	creds  *auth.Store
	srv    *httptest.Server
	tokens map[string]string
	now    time.Time // the inbox's clock
}

func openDesk(t *testing.T, dir string) *desk {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	q, err := escalation.Open(filepath.Join(dir, "ayuda.db"), escalation.Config{Notify: dialog.Notifier(), Agents: []escalation.Agent{ana, luis}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := auth.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := &desk{t: t, dir: dir, q: q, creds: creds, tokens: map[string]string{}, now: time.Now()}
	x, err := inbox.New(inbox.Config{Queue: q, Creds: creds, Key: []byte("0123456789abcdef0123456789abcdef"), Logger: log, Now: func() time.Time { return d.now }})
	if err != nil {
		t.Fatal(err)
	}
	d.srv = httptest.NewServer(x.Handler())
	t.Cleanup(d.close)
	return d
}

func (d *desk) close() {
	d.srv.CloseClientConnections()
	d.srv.Close()
	d.q.Close()
}

func (d *desk) token(role auth.Role, name string) string {
	d.t.Helper()
	tok, err := d.creds.Issue(role, name)
	if err != nil {
		d.t.Fatal(err)
	}
	return tok
}

func (d *desk) ticket(to bots.Address, p escalation.Priority) *escalation.Ticket {
	d.t.Helper()
	tk, err := d.q.Open(context.Background(), escalation.Ticket{
		Type: escalation.Consulta, Priority: p, Customer: escalation.Customer{Address: to, Name: "María", Lang: "es"},
		Summary: "no llega mi pedido", Reason: escalation.ReasonRequested,
		Transcript: []escalation.Entry{{Author: escalation.AuthorCustomer, Text: "¿dónde está mi pedido?"}},
	})
	if err != nil {
		d.t.Fatal(err)
	}
	return tk
}

// agentBrowser is an agent's browser: cookies, and the page's CSRF token.
type agentBrowser struct {
	d      *desk
	client *http.Client
	csrf   string
	origin string
}

func (d *desk) browser() *agentBrowser {
	jar, _ := cookiejar.New(nil)
	return &agentBrowser{d: d, client: &http.Client{Jar: jar}, origin: d.srv.URL}
}

func (b *agentBrowser) do(method, path string, body any) (int, []byte, *http.Response) {
	b.d.t.Helper()
	var r io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		r = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, b.d.srv.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	if method != http.MethodGet {
		req.Header.Set("Origin", b.origin)
	}
	if b.csrf != "" {
		req.Header.Set("X-CSRF-Token", b.csrf)
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.d.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, data, res
}

func (b *agentBrowser) signIn(token string) (int, *http.Response) {
	b.d.t.Helper()
	code, data, res := b.do("POST", "/inbox/api/login", map[string]string{"token": token})
	var me struct{ CSRF string }
	json.Unmarshal(data, &me)
	b.csrf = me.CSRF
	return code, res
}

func TestSignInNeedsAnAgentsOwnTokenAndAGoodCookie(t *testing.T) {
	d := openDesk(t, t.TempDir())
	b := d.browser()
	if code, _, _ := b.do("GET", "/inbox/api/tickets", nil); code != http.StatusUnauthorized {
		t.Errorf("the queue without signing in: %d", code)
	}
	if code, _ := b.signIn("not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("a made-up token: %d", code)
	}
	if code, _ := b.signIn(d.token(auth.Customer, "maria")); code != http.StatusUnauthorized {
		t.Errorf("a customer's token: %d", code)
	}
	code, res := b.signIn(d.token(auth.Agent, "ana"))
	if code != http.StatusOK || b.csrf == "" {
		t.Fatalf("ana's token: %d", code)
	}
	var c *http.Cookie
	for _, k := range res.Cookies() {
		if k.Name == "ayuda_inbox" {
			c = k
		}
	}
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/inbox" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/inbox", c)
	}
	if strings.Contains(c.Value, "ana") {
		t.Errorf("the cookie names the agent: %q", c.Value)
	}
	var me struct{ Agent, Name string }
	_, data, _ := b.do("GET", "/inbox/api/me", nil)
	if json.Unmarshal(data, &me); me.Agent != "ana" || me.Name != "Ana" {
		t.Errorf("me: %s", data)
	}
	// A page of another site cannot sign in nor act with the cookie.
	evil := d.browser()
	evil.origin = "https://evil.example"
	if code, _ := evil.signIn(d.token(auth.Agent, "luis")); code != http.StatusForbidden {
		t.Errorf("signing in from another origin: %d", code)
	}
}

func TestEveryChangeNeedsTheCSRFTokenAndTheOrigin(t *testing.T) {
	d := openDesk(t, t.TempDir())
	tk := d.ticket(bots.Address{Platform: "telegram", Chat: "1", User: "1"}, escalation.Normal)
	b := d.browser()
	b.signIn(d.token(auth.Agent, "ana"))
	good := b.csrf
	b.csrf = ""
	if code, _, _ := b.do("POST", "/inbox/api/tickets/1/claim", struct{}{}); code != http.StatusForbidden {
		t.Errorf("claim without the CSRF token: %d", code)
	}
	b.csrf = good
	b.origin = "https://evil.example"
	if code, _, _ := b.do("POST", "/inbox/api/tickets/1/claim", struct{}{}); code != http.StatusForbidden {
		t.Errorf("claim from another origin: %d", code)
	}
	got, _ := d.q.Get(context.Background(), tk.ID)
	if got.Assignee != "" {
		t.Fatalf("a refused claim assigned the ticket to %q", got.Assignee)
	}
	b.origin = d.srv.URL
	if code, data, _ := b.do("POST", "/inbox/api/tickets/1/claim", struct{}{}); code != http.StatusOK {
		t.Fatalf("claim: %d %s", code, data)
	}
	got, _ = d.q.Get(context.Background(), tk.ID)
	if got.Assignee != "ana" || got.Events[len(got.Events)-1].Via != "inbox" {
		t.Errorf("claimed by %q via %q; want ana via inbox", got.Assignee, got.Events[len(got.Events)-1].Via)
	}
}

func TestRepliesReachTheCustomerAndNotesNever(t *testing.T) {
	d := openDesk(t, t.TempDir())
	maria := bots.Address{Platform: "telegram", Chat: "100", User: "100"}
	tk := d.ticket(maria, escalation.Normal)
	b := d.browser()
	b.signIn(d.token(auth.Agent, "ana"))
	before, _ := d.q.Peek(context.Background(), maria)
	if code, data, _ := b.do("POST", "/inbox/api/tickets/1/note", map[string]string{"text": "ojo: cliente VIP, no prometer fecha"}); code != http.StatusOK {
		t.Fatalf("note: %d %s", code, data)
	}
	if code, data, _ := b.do("POST", "/inbox/api/tickets/1/reply", map[string]string{"text": "Tu pedido sale hoy."}); code != http.StatusOK {
		t.Fatalf("reply: %d %s", code, data)
	}
	after, _ := d.q.Peek(context.Background(), maria)
	var owed []string
	for _, o := range after[len(before):] {
		owed = append(owed, o.Reply.Text)
	}
	all := strings.Join(owed, "\n")
	if !strings.Contains(all, "Tu pedido sale hoy.") || strings.Contains(all, "VIP") {
		t.Fatalf("owed to the customer: %q; want the reply and never the note", owed)
	}
	// The ticket shows both, the note marked, and the reply as queued.
	_, data, _ := b.do("GET", "/inbox/api/tickets/1", nil)
	var r struct {
		Ticket     escalation.Ticket
		Deliveries []struct{ Text, State, Error string }
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	notes := 0
	for _, e := range r.Ticket.Transcript {
		if e.Note && strings.Contains(e.Text, "VIP") {
			notes++
		}
	}
	if notes != 1 || r.Ticket.ID != tk.ID {
		t.Errorf("the note is on the ticket %d times", notes)
	}
	queued := false
	for _, dl := range r.Deliveries {
		queued = queued || dl.State == "queued" && strings.Contains(dl.Text, "Tu pedido sale hoy.")
	}
	if !queued {
		t.Errorf("deliveries %+v: the reply should show as queued (no channel delivers here)", r.Deliveries)
	}
	// Telegram refuses it for good: the ticket shows the reply as
	// undeliverable, with why.
	blocked := escalation.SenderFunc(func(ctx context.Context, to bots.Address, r bots.Reply) error {
		return bots.Permanent(errors.New("Forbidden: bot was blocked by the user"))
	})
	if _, err := d.q.DispatchOnce(context.Background(), blocked); err != nil {
		t.Fatal(err)
	}
	_, data, _ = b.do("GET", "/inbox/api/tickets/1", nil)
	r.Deliveries = nil
	json.Unmarshal(data, &r)
	failed := false
	for _, dl := range r.Deliveries {
		failed = failed || dl.State == "undeliverable" && strings.Contains(dl.Text, "Tu pedido sale hoy.") && strings.Contains(dl.Error, "blocked")
	}
	if !failed {
		t.Errorf("deliveries %+v: the reply should show as undeliverable, with why", r.Deliveries)
	}
	// Plain words for what the queue refuses.
	code, data, _ := b.do("POST", "/inbox/api/tickets/99/reply", map[string]string{"text": "hola"})
	if code != http.StatusNotFound || !strings.Contains(string(data), "no such ticket") {
		t.Errorf("reply to a missing ticket: %d %s", code, data)
	}
}

func TestQueueIsSortedByDueTimeWithTheTargetsState(t *testing.T) {
	d := openDesk(t, t.TempDir())
	low := d.ticket(bots.Address{Platform: "discord", Chat: "1", User: "1"}, escalation.Baja)
	urgent := d.ticket(bots.Address{Platform: "telegram", Chat: "2", User: "2"}, escalation.Urgente)
	b := d.browser()
	b.signIn(d.token(auth.Agent, "ana"))
	list := func(query string) []struct {
		ID       escalation.ID
		Target   string
		Assignee string
	} {
		t.Helper()
		code, data, _ := b.do("GET", "/inbox/api/tickets?"+query, nil)
		if code != http.StatusOK {
			t.Fatalf("list %s: %d %s", query, code, data)
		}
		var r struct {
			Tickets []struct {
				ID       escalation.ID
				Target   string
				Assignee string
			}
		}
		json.Unmarshal(data, &r)
		return r.Tickets
	}
	ts := list("")
	if len(ts) != 2 || ts[0].ID != urgent.ID || ts[1].ID != low.ID || ts[0].Target != "on_time" {
		t.Fatalf("queue %+v: want the urgent ticket (due first) on top, on time", ts)
	}
	if ts := list("channel=discord"); len(ts) != 1 || ts[0].ID != low.ID {
		t.Errorf("channel=discord: %+v", ts)
	}
	b.do("POST", "/inbox/api/tickets/2/claim", struct{}{})
	if ts := list("view=mine"); len(ts) != 1 || ts[0].ID != urgent.ID {
		t.Errorf("mine: %+v", ts)
	}
	if ts := list("view=unassigned"); len(ts) != 1 || ts[0].ID != low.ID {
		t.Errorf("unassigned: %+v", ts)
	}
	if code, _, _ := b.do("GET", "/inbox/api/tickets?view=nonsense", nil); code != http.StatusBadRequest {
		t.Errorf("an unknown view: %d", code)
	}
	for _, c := range [][2]string{{"GET", "/inbox/api/nothing"}, {"DELETE", "/inbox/api/tickets"}} {
		code, data, res := b.do(c[0], c[1], nil)
		if code != http.StatusNotFound || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") || !bytes.Contains(data, []byte("not part of the inbox")) {
			t.Errorf("%s %s: %d %s %s; want a JSON 404 in words", c[0], c[1], code, res.Header.Get("Content-Type"), data)
		}
	}
}

func TestSessionsSurviveARestartAndEndOnSignOut(t *testing.T) {
	dir := t.TempDir()
	d := openDesk(t, dir)
	b := d.browser()
	b.signIn(d.token(auth.Agent, "ana"))
	d.close()

	d2 := openDesk(t, dir)
	b.d = d2
	// The server's address changed with the restart; the cookie (host
	// 127.0.0.1, path /inbox) still applies.
	b.origin = d2.srv.URL
	if code, data, _ := b.do("GET", "/inbox/api/me", nil); code != http.StatusOK {
		t.Fatalf("after a restart: %d %s", code, data)
	}
	if code, _, _ := b.do("POST", "/inbox/api/logout", struct{}{}); code != http.StatusOK {
		t.Fatalf("sign out: %d", code)
	}
	if code, _, _ := b.do("GET", "/inbox/api/me", nil); code != http.StatusUnauthorized {
		t.Errorf("after signing out: %d", code)
	}
}

func TestEndedSessionsAreForgotten(t *testing.T) {
	d := openDesk(t, t.TempDir())
	token := d.token(auth.Agent, "ana")
	for range 3 {
		d.browser().signIn(token) // three browsers never signed out
	}
	count := func() int {
		n := 0
		d.q.ScanMeta(context.Background(), "inbox:session:", func(string, []byte) error { n++; return nil })
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("%d sessions kept, want 3", n)
	}
	// Twelve hours later (the default session length) they have ended.
	d.now = d.now.Add(13 * time.Hour)
	b := d.browser()
	b.signIn(token)
	if n := count(); n != 1 {
		t.Errorf("%d sessions kept after the others ended, want 1", n)
	}
	if code, _, _ := b.do("GET", "/inbox/api/me", nil); code != http.StatusOK {
		t.Errorf("the new session: %d", code)
	}
}

func TestLiveFeedTellsEveryChange(t *testing.T) {
	d := openDesk(t, t.TempDir())
	b := d.browser()
	b.signIn(d.token(auth.Agent, "ana"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", d.srv.URL+"/inbox/api/events", nil)
	res, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events: %d %s", res.StatusCode, ct)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	tk := d.ticket(bots.Address{Platform: "slack", Chat: "C1", User: "U1"}, escalation.Alta)
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the feed ended")
			}
			if l == "data: "+tk.ID.String() {
				return
			}
		case <-timeout:
			t.Fatal("a new ticket was never announced on the live feed")
		}
	}
}
