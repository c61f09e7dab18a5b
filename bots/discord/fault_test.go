package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ayuda/bots"
	"ayuda/dialog"
	"ayuda/escalation"
)

// Platform faults, through the fake Discord, with the real engine, store
// and outbox dispatcher. The dispatcher is driven pass by pass
// (DispatchOnce, the body of Dispatch's loop) on a clock the test moves
// to each pass's next retry, so the back-off is the real one and nothing
// waits for it.

// clock is the store's and the engine's time, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// to moves the clock to t, never back.
func (c *clock) to(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

// faultStack is the fake, the store and engine on a clock, and a Bot
// (not running: customers' messages are fed to its handlers).
type faultStack struct {
	fake *fakeDiscord
	clk  *clock
	q    *escalation.Queue
	eng  *dialog.Engine
	bot  *Bot
	d    *driver
}

func newFaultStack(t *testing.T, client *http.Client) *faultStack {
	t.Helper()
	s := &faultStack{fake: newFake(t), clk: &clock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}}
	idx := builtinIndex(t)
	log := testLogger(t)
	var err error
	s.q, err = escalation.Open(filepath.Join(t.TempDir(), "ayuda.db"), escalation.Config{
		Agents: []escalation.Agent{{ID: "ana", Name: "Ana"}}, Notify: dialog.Notifier(), Logger: log, Now: s.clk.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.q.Close() })
	s.eng, err = dialog.New(dialog.Config{Search: idx, Queue: s.q, Logger: log, Now: s.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	s.bot, err = New(Config{Token: fakeToken, APIURL: s.fake.srv.URL, State: s.q, Outbox: s.q, Client: client, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s.bot.setIDs(fakeBotID, fakeBotID) // as READY does
	s.d = newDriver(s.bot, s.eng.Handle)
	return s
}

// ticket has u ask for a person in a DM, through the Bot's gateway
// handler and the engine, and returns the DM and the ticket; the receipt
// is posted at once.
func (s *faultStack) ticket(t *testing.T, u fakeUser) (string, escalation.ID) {
	t.Helper()
	dm := s.fake.dmWith(u)
	m := s.fake.say(dm, u, "mi pedido 55 llegó roto, necesito ayuda de una persona", true)
	raw, err := json.Marshal(s.fake.withMember(m))
	if err != nil {
		t.Fatal(err)
	}
	s.d.event(t.Context(), "MESSAGE_CREATE", raw)
	ts, err := s.q.List(t.Context(), escalation.Filter{Customer: "discord:" + u.ID})
	if err != nil || len(ts) != 1 {
		t.Fatalf("tickets of %s = %v, %v; want one", u.Username, ts, err)
	}
	if got := s.posted(dm, 0); len(got) != 1 || !strings.Contains(got[0], "#"+ts[0].ID.String()) {
		t.Fatalf("%s got %q, want the receipt", u.Username, got)
	}
	return dm, ts[0].ID
}

// posted returns the content of the bot's messages in channel after the
// first skip.
func (s *faultStack) posted(channel string, skip int) []string {
	s.fake.mu.Lock()
	defer s.fake.mu.Unlock()
	var out []string
	for _, m := range s.fake.botMessages(channel)[skip:] {
		out = append(out, m.Content)
	}
	return out
}

// owed returns what the outbox owes each chat, in order, as the fake will
// record it (escaped).
func (s *faultStack) owed(t *testing.T) map[string][]string {
	t.Helper()
	pending, err := s.q.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, o := range pending {
		parts := render(o.Reply)
		if len(parts) != 1 {
			t.Fatalf("outbox message in %d parts: the test expects one each", len(parts))
		}
		want[o.To.Chat] = append(want[o.To.Chat], parts[0].content)
	}
	return want
}

// pass runs one dispatcher pass and moves the clock to the next retry; it
// reports whether the outbox is empty.
func (s *faultStack) pass(t *testing.T) bool {
	t.Helper()
	next, err := s.q.DispatchOnce(t.Context(), s.bot)
	if err != nil {
		t.Fatal(err)
	}
	s.clk.to(next)
	return next.IsZero()
}

// drain runs passes until the outbox is empty.
func (s *faultStack) drain(t *testing.T) {
	t.Helper()
	for i := 0; !s.pass(t); i++ {
		if i == 10 {
			t.Fatal("the outbox is not empty after 10 passes")
		}
	}
}

// down closes the fake's listener and every connection to it: from now
// on the Bot's requests are refused.
func (f *fakeDiscord) down() {
	f.srv.CloseClientConnections()
	f.srv.Close()
}

// up serves the fake again on the address it had.
func (f *fakeDiscord) up(t *testing.T) {
	t.Helper()
	addr := f.srv.Listener.Addr().String()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(f.srv.Config.Handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	f.srv = srv // newFake's cleanup closes it
}

// Discord is down for a while, agents' answers pile up in the outbox, and
// Discord comes back in stages: connections refused, then 500s (which
// discordgo retries three times per send), then a storm of 429s with
// retry_after (which the Bot waits out within a send). Each stage delays
// delivery; once Discord answers, every message is delivered once, each
// chat's in order.
func TestPlatformDown(t *testing.T) {
	s := newFaultStack(t, nil)
	customers := []fakeUser{maria, juan, pedro}
	dms := map[string]string{}
	tickets := map[string]escalation.ID{}
	for _, c := range customers {
		dms[c.ID], tickets[c.ID] = s.ticket(t, c)
	}

	s.fake.down()
	for round := 1; round <= 3; round++ {
		for _, c := range customers {
			if _, err := s.q.Reply(t.Context(), tickets[c.ID], "ana", fmt.Sprintf("Respuesta %d para %s: *revisado* y en camino", round, c.Username)); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := s.owed(t)
	if len(want) != len(customers) {
		t.Fatalf("the outbox owes %d chats, want %d", len(want), len(customers))
	}
	stage := func(name, wantErr string) {
		t.Helper()
		if s.pass(t) {
			t.Fatalf("%s: the outbox is empty", name)
		}
		pending, err := s.q.Pending(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		tried := 0
		for _, o := range pending {
			if o.Attempts > 0 {
				tried++
				if !strings.Contains(o.LastErr, wantErr) {
					t.Errorf("%s: the outbox recorded %q, want %q", name, o.LastErr, wantErr)
				}
			}
		}
		if tried != len(customers) {
			t.Errorf("%s: %d messages tried, want the first of each chat (%d)", name, tried, len(customers))
		}
		for _, c := range customers {
			if got := s.posted(dms[c.ID], 1); len(got) != 0 {
				t.Errorf("%s: %s got %q", name, c.Username, got)
			}
		}
	}
	stage("refused", "connection refused")
	stage("refused again", "connection refused")

	s.fake.up(t)
	for _, dm := range dms {
		s.fake.failNext("POST /api/v9/channels/"+dm+"/messages", http.StatusInternalServerError, 1+s.bot.s.MaxRestRetries)
	}
	stage("500s", "500")

	const storm = 5
	for _, dm := range dms {
		s.fake.failNext("POST /api/v9/channels/"+dm+"/messages", http.StatusTooManyRequests, storm)
	}
	s.drain(t)
	for _, c := range customers {
		if got := s.posted(dms[c.ID], 1); !slices.Equal(got, want[dms[c.ID]]) {
			t.Errorf("%s got, after the receipt:\n%q\nwant, once each and in order:\n%q", c.Username, got, want[dms[c.ID]])
		}
	}
	if dead, err := s.q.Undeliverable(t.Context()); err != nil || len(dead) != 0 {
		t.Errorf("undeliverable = %v, %v; want none", dead, err)
	}
	s.fake.mu.Lock()
	defer s.fake.mu.Unlock()
	for _, dm := range dms {
		if n := len(s.fake.fail["POST /api/v9/channels/"+dm+"/messages"]); n != 0 {
			t.Errorf("%d failures left unserved in %s", n, dm)
		}
	}
}

// lossy is an HTTP transport that loses the answer to a request drop
// picks: the request reaches the server, which acts on it, and the client
// sees a timeout. That is what a send that times out after the platform
// accepted it looks like from here, without waiting for a real deadline.
type lossy struct {
	next http.RoundTripper

	mu   sync.Mutex
	drop func(r *http.Request, body []byte) bool // nil drops nothing; used once
	lost int
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "lossy: timeout awaiting response headers" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func (l *lossy) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	l.mu.Lock()
	drop := l.drop != nil && l.drop(r, body)
	if drop {
		l.drop = nil
		l.lost++
	}
	l.mu.Unlock()
	resp, err := l.next.RoundTrip(r)
	if err != nil || !drop {
		return resp, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, timeoutError{}
}

// A send whose answer is lost after Discord created the message is not
// posted twice when the dispatcher tries again: every attempt at one
// outbox message carries the same nonce, with enforce_nonce, and Discord
// answers a nonce it saw a moment ago with the message it created then.
// Two outbox messages with the same text are still two messages.
func TestTimeoutAfterAcceptNotPostedTwice(t *testing.T) {
	tr := &lossy{next: http.DefaultTransport}
	s := newFaultStack(t, &http.Client{Transport: tr})
	dm, tk := s.ticket(t, maria)
	route := "/api/v9/channels/" + dm + "/messages"

	tr.mu.Lock()
	tr.drop = func(r *http.Request, body []byte) bool {
		return r.Method == http.MethodPost && r.URL.Path == route && bytes.Contains(body, []byte("segunda"))
	}
	tr.mu.Unlock()
	for _, text := range []string{"primera", "segunda", "segunda", "tercera"} {
		if _, err := s.q.Reply(t.Context(), tk, "ana", "Respuesta "+text); err != nil {
			t.Fatal(err)
		}
	}
	want := s.owed(t)[dm]

	// The first pass: "primera" is posted; "segunda" is created, but its
	// answer is lost, so the outbox keeps it for a retry.
	if s.pass(t) {
		t.Fatal("the outbox is empty after a lost answer")
	}
	if got := s.posted(dm, 1); !slices.Equal(got, want[:2]) {
		t.Fatalf("after the lost answer Discord has %q, want %q", got, want[:2])
	}
	pending, err := s.q.Pending(t.Context())
	if err != nil || len(pending) != 3 || pending[0].Attempts != 1 || !strings.Contains(pending[0].LastErr, "timeout") {
		t.Fatalf("outbox = %+v, %v; want the second message first, tried once and timed out", pending, err)
	}

	s.drain(t)
	if got := s.posted(dm, 1); !slices.Equal(got, want) {
		t.Errorf("Maria got %q, want %q: each once", got, want)
	}
	if tr.lost != 1 {
		t.Errorf("answers lost = %d, want 1", tr.lost)
	}
	// The requests: the timed-out one and its retry share a nonce, with
	// enforce_nonce; every other message has a nonce of its own.
	type sent struct {
		Content      string `json:"content"`
		Nonce        string `json:"nonce"`
		EnforceNonce bool   `json:"enforce_nonce"`
	}
	var reqs []sent
	for _, r := range s.fake.requestsTo("POST " + route) {
		var b sent
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatal(err)
		}
		if !b.EnforceNonce || b.Nonce == "" || len(b.Nonce) > 25 {
			t.Errorf("message %q sent with nonce %q enforce_nonce %v", b.Content, b.Nonce, b.EnforceNonce)
		}
		reqs = append(reqs, b)
	}
	if len(reqs) != 6 { // the receipt, primera, segunda twice, segunda, tercera
		t.Fatalf("%d messages sent, want 6: %+v", len(reqs), reqs)
	}
	if reqs[2].Nonce != reqs[3].Nonce || reqs[2].Content != reqs[3].Content {
		t.Errorf("the retry after the timeout: %+v then %+v, want the same message and nonce", reqs[2], reqs[3])
	}
	nonces := map[string]bool{}
	for i, r := range reqs {
		if i != 3 {
			nonces[r.Nonce] = true
		}
	}
	if len(nonces) != 5 {
		t.Errorf("nonces = %v, want one per message (5)", nonces)
	}
}

// Nonces: the same for a part of one message every time, another for
// each part and each message, never over Discord's 25 characters; a
// reply posted outside the dispatcher gets a random key.
func TestNonce(t *testing.T) {
	if nonce("7.abc", 0) != nonce("7.abc", 0) {
		t.Error("a nonce changed")
	}
	seen := map[string]bool{}
	for _, key := range []string{"7.abc", "8.abc", "7.abd", "17.ab"} {
		for i := range 3 {
			n := nonce(key, i)
			if len(n) == 0 || len(n) > 25 || seen[n] {
				t.Errorf("nonce(%q, %d) = %q: empty, too long or repeated", key, i, n)
			}
			seen[n] = true
		}
	}
	fake := newFake(t)
	bot, err := New(Config{Token: fakeToken, APIURL: fake.srv.URL, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	dm := fake.dmWith(maria)
	to := bots.Address{Platform: bots.Discord, Chat: dm, User: maria.ID}
	for range 2 {
		if err := bot.Send(t.Context(), to, bots.Reply{Text: "hola"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(fake.requestsTo("POST /api/v9/channels/" + dm + "/messages")); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if ms := fake.botMessages(dm); len(ms) != 2 || ms[0].Nonce == ms[1].Nonce {
		t.Errorf("two sends of the same text outside the dispatcher: %d messages, want 2 with their own nonces", len(ms))
	}
}

// Killed after Discord created an answer but before ayuda recorded it,
// ayuda answers once after the restart: the answer's nonce comes from the
// customer's message, the engine repeats the same answer for the same
// message, and Discord returns the message it already has. A customer's
// first DM is remembered before it is answered, so a restart's catch-up
// reads it even when the first answer never went out.
// A customer's first message in a DM, on a replica that remembered the DM
// and died before the message was handled, is read back by the next
// gateway owner's catch-up (the DM has no message handled yet, so there is
// no "after" to read from) and answered once; the customer's earlier
// messages from before the DM was remembered are not.
func TestFirstDMMessageCaughtUpAfterCrash(t *testing.T) {
	s := newFaultStack(t, nil)
	dm := s.fake.dmWith(maria)
	old := s.fake.say(dm, maria, "un mensaje de hace dos días", true)
	s.fake.mu.Lock()
	old.Timestamp = time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339Nano)
	s.fake.mu.Unlock()
	s.fake.say(dm, maria, question, true)
	// What handleMessage does first, before the crash.
	if err := s.bot.chats.touch(t.Context(), dm, kindDM, maria.ID, time.Now()); err != nil {
		t.Fatal(err)
	}

	bot2, err := New(Config{Token: fakeToken, APIURL: s.fake.srv.URL, State: s.q, Outbox: s.q, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	bot2.setIDs(fakeBotID, fakeBotID)
	if err := bot2.chats.load(t.Context()); err != nil {
		t.Fatal(err)
	}
	var handled []string
	d2 := newDriver(bot2, func(ctx context.Context, m bots.Message) bots.Reply {
		handled = append(handled, m.Text)
		return s.eng.Handle(ctx, m)
	})
	n, err := d2.r.catchUpOn(t.Context(), dm)
	if err != nil {
		t.Fatal(err)
	}
	d2.drain(t.Context())
	if n != 1 || len(handled) != 1 || handled[0] != question {
		t.Fatalf("catch-up fetched %d and handled %q, want the question alone", n, handled)
	}
	s.bot = bot2
	s.drain(t)
	if got := s.posted(dm, 0); len(got) != 1 || !strings.Contains(got[0], "Plazos") {
		t.Errorf("Discord has %q, want the answer once", got)
	}
	if _, err := d2.r.catchUpOn(t.Context(), dm); err != nil {
		t.Fatal(err)
	}
	d2.drain(t.Context())
	if len(handled) != 1 {
		t.Errorf("a second catch-up handed over %q again", handled[1:])
	}
}

func TestAnswerAfterCrashPostedOnce(t *testing.T) {
	tr := &lossy{next: http.DefaultTransport}
	s := newFaultStack(t, &http.Client{Transport: tr})
	dm := s.fake.dmWith(maria)
	route := "/api/v9/channels/" + dm + "/messages"
	tr.mu.Lock()
	tr.drop = func(r *http.Request, _ []byte) bool { return r.Method == http.MethodPost && r.URL.Path == route }
	tr.mu.Unlock()
	var remembered bool
	s.d.r.h = func(ctx context.Context, m bots.Message) bots.Reply {
		remembered = slices.Contains(s.bot.chats.recent(time.Now()), dm)
		return s.eng.Handle(ctx, m)
	}
	m := s.fake.say(dm, maria, question, true)
	raw, err := json.Marshal(s.fake.withMember(m))
	if err != nil {
		t.Fatal(err)
	}
	s.d.event(t.Context(), "MESSAGE_CREATE", raw) // created on Discord, the answer lost
	if !remembered {
		t.Error("the DM was not remembered before the engine answered")
	}
	if got := s.posted(dm, 0); len(got) != 1 || !strings.Contains(got[0], "Plazos") {
		t.Fatalf("Discord has %q, want the answer once", got)
	}

	// The restart: a new Bot on the same store and engine. Its catch-up
	// finds the DM and hands the message over again; the outbox still
	// holds the answer whose fate was unknown.
	bot2, err := New(Config{Token: fakeToken, APIURL: s.fake.srv.URL, State: s.q, Outbox: s.q, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	bot2.setIDs(fakeBotID, fakeBotID)
	if err := bot2.chats.load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(bot2.chats.recent(time.Now()), dm) {
		t.Fatal("after the restart the DM is not among the chats to catch up")
	}
	d2 := newDriver(bot2, s.eng.Handle)
	d2.event(t.Context(), "MESSAGE_CREATE", raw)
	s.bot = bot2
	s.drain(t)
	if got := s.posted(dm, 0); len(got) != 1 {
		t.Errorf("after the restart Discord has %d answers %q, want 1", len(got), got)
	}
}
