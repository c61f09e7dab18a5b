package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"ayuda/dialog"
	"ayuda/escalation"
)

// Platform faults, through the fake Bot API, with the real engine, store
// and outbox dispatcher. The dispatcher is driven pass by pass
// (DispatchOnce, the body of Dispatch's loop) on a clock the test moves
// to each pass's next retry, so the back-off is the real one and nothing
// waits; the Bot's own retries record their waits instead of sleeping.

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

// openStoreAt is openStore on clock clk.
func openStoreAt(t *testing.T, dir string, clk *clock) (*escalation.Queue, *dialog.Engine) {
	t.Helper()
	q, err := escalation.Open(filepath.Join(dir, "ayuda.db"), escalation.Config{
		Notify: dialog.Notifier(), Agents: []escalation.Agent{ana}, Logger: testLog(t), Now: clk.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	eng, err := dialog.New(dialog.Config{Search: searcher(t), Queue: q, Logger: testLog(t), Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return q, eng
}

// down closes the fake's listener and every connection to it: from now
// on the Bot's requests are refused.
func (f *fakeAPI) down() {
	f.srv.CloseClientConnections()
	f.srv.Close()
}

// up serves the fake again on the address it had.
func (f *fakeAPI) up(t *testing.T) {
	t.Helper()
	addr := f.srv.Listener.Addr().String()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(f)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	f.srv = srv
}

// waits replaces the Bot's sleep: it records each wait and returns at once.
type waits struct {
	mu sync.Mutex
	ds []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ds = append(w.ds, d)
	return ctx.Err()
}

func (w *waits) count(d time.Duration) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, x := range w.ds {
		if x == d {
			n++
		}
	}
	return n
}

// newUpdate is an update as getUpdates or the webhook decode it: a
// message from u in their private chat.
func newUpdate(t *testing.T, id int, u user, text string) tgbotapi.Update {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"update_id": id, "message": map[string]any{
		"message_id": id, "date": time.Now().Unix(), "text": text,
		"chat": map[string]any{"id": u.id, "type": "private", "first_name": u.name}, "from": u.obj(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	var up tgbotapi.Update
	if err := json.Unmarshal(raw, &up); err != nil {
		t.Fatal(err)
	}
	return up
}

// withTickets has each customer ask for a person, through process (what
// the poll loop and the webhook run for an update) and the engine, and
// returns their tickets; the receipts are sent at once.
func withTickets(t *testing.T, b *Bot, eng *dialog.Engine, q *escalation.Queue, f *fakeAPI, customers []user) map[int64]escalation.ID {
	t.Helper()
	tickets := map[int64]escalation.ID{}
	for i, c := range customers {
		if err := b.process(t.Context(), eng.Handle, newUpdate(t, 500+i, c, "mi pedido 55 llegó roto, necesito ayuda de una persona")); err != nil {
			t.Fatal(err)
		}
		ts, err := q.List(t.Context(), escalation.Filter{Customer: "telegram:" + strconv.FormatInt(c.id, 10)})
		if err != nil || len(ts) != 1 {
			t.Fatalf("tickets of %s = %v, %v; want one", c.name, ts, err)
		}
		tickets[c.id] = ts[0].ID
		if got := f.sent(c.id); len(got) != 1 || !strings.Contains(got[0].Form.Get("text"), "#"+ts[0].ID.String()) {
			t.Fatalf("%s got %v, want the receipt", c.name, got)
		}
	}
	return tickets
}

// owed returns what the outbox owes each chat, in order, as the fake will
// record it (escaped for HTML).
func owed(t *testing.T, q *escalation.Queue) map[string][]string {
	t.Helper()
	pending, err := q.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, o := range pending {
		if len(split(o.Reply.Text, maxText)) != 1 {
			t.Fatalf("outbox message of %d characters: the test expects one part each", len(o.Reply.Text))
		}
		want[o.To.Chat] = append(want[o.To.Chat], tgbotapi.EscapeText(tgbotapi.ModeHTML, strings.TrimSpace(o.Reply.Text)))
	}
	return want
}

// texts returns the texts sent to chat after the first skip.
func (f *fakeAPI) texts(chat int64, skip int) []string {
	var out []string
	for _, c := range f.sent(chat)[skip:] {
		out = append(out, c.Form.Get("text"))
	}
	return out
}

// pass runs one dispatcher pass and returns when the next retry is due.
func pass(t *testing.T, q *escalation.Queue, s escalation.Sender) time.Time {
	t.Helper()
	next, err := q.DispatchOnce(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	return next
}

// Telegram is down for a while, agents' answers pile up in the outbox,
// and Telegram comes back in stages: connections refused, then 500s, then
// a storm of 429s with retry_after. Each stage delays delivery (the Bot
// retries a send eight times, the dispatcher backs off between sends);
// once Telegram answers, every message is delivered once, each chat's in
// order.
func TestPlatformDown(t *testing.T) {
	f := newFakeAPI(t)
	clk := &clock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	q, eng := openStoreAt(t, t.TempDir(), clk)
	b := newBot(t, f, q, nil)
	w := &waits{}
	b.sleep = w.sleep
	customers := []user{{id: 21, name: "Rosa"}, {id: 22, name: "Luis"}, {id: 23, name: "Inés"}}
	tickets := withTickets(t, b, eng, q, f, customers)

	f.down()
	for round := 1; round <= 3; round++ {
		for _, c := range customers {
			if _, err := q.Reply(t.Context(), tickets[c.id], "ana", fmt.Sprintf("Respuesta %d para %s: <revisado> & en camino", round, c.name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := owed(t, q)
	if len(want) != len(customers) {
		t.Fatalf("the outbox owes %d chats, want %d", len(want), len(customers))
	}
	stage := func(name, wantErr string) {
		t.Helper()
		clk.to(pass(t, q, b))
		pending, err := q.Pending(t.Context())
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
			if n := len(f.sent(c.id)); n != 1 {
				t.Errorf("%s: %s got %d messages, want only the receipt", name, c.name, n)
			}
		}
	}
	stage("refused", "connection refused")
	stage("refused again", "connection refused")

	f.up(t)
	for range maxAttempts * len(customers) {
		f.failNext("sendMessage", fakeFailure{code: 500, desc: "Internal Server Error"})
	}
	stage("500s", "500")

	tooMany := fakeFailure{code: 429, desc: "Too Many Requests: retry after 7", retryAfter: 7}
	storm := maxAttempts*len(customers) + 5 // the last five delay the pass that delivers
	for range storm {
		f.failNext("sendMessage", tooMany)
	}
	stage("429s", "429")

	for i := 0; ; i++ {
		next := pass(t, q, b)
		if next.IsZero() {
			break
		}
		if i == 10 {
			t.Fatalf("the outbox is not empty after 10 more passes: %s", f.summary())
		}
		clk.to(next)
	}
	for _, c := range customers {
		if got := f.texts(c.id, 1); !slices.Equal(got, want[strconv.FormatInt(c.id, 10)]) {
			t.Errorf("%s got, after the receipt:\n%q\nwant, once each and in order:\n%q", c.name, got, want[strconv.FormatInt(c.id, 10)])
		}
	}
	if dead, err := q.Undeliverable(t.Context()); err != nil || len(dead) != 0 {
		t.Errorf("undeliverable = %v, %v; want none", dead, err)
	}
	// Every 429 is waited out as asked, but the last try of a send that
	// gives up: the dispatcher's back-off follows it.
	if n, wantN := w.count(7*time.Second), storm-len(customers); n != wantN {
		t.Errorf("the Bot waited the 7 s Telegram asked %d times, want %d", n, wantN)
	}
	if n := f.failuresServed(); n != maxAttempts*len(customers)+storm {
		t.Errorf("failures served = %d, want every one queued", n)
	}
}

// lossy is an HTTP transport that loses the answer to requests drop
// picks: the request reaches the server, which acts on it, and the
// client sees a timeout. That is what a send that times out after the
// platform accepted it looks like from here, without waiting for a real
// deadline.
type lossy struct {
	next http.RoundTripper

	mu   sync.Mutex
	drop func(r *http.Request, body []byte) bool // nil drops nothing
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
		l.drop = nil // once
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

// A send whose answer is lost after Telegram accepted the message.
//
// Telegram cannot tell a retry from a new message: sendMessage has no
// idempotency key or client-chosen id (message_id is assigned by Telegram
// and arrives only in the answer that was lost), and the Bot API has no
// way to read a chat's history to look for the message (bots get their
// own messages neither in getUpdates nor through any get method). So the
// Bot can only send it again: delivery is at least once, and the retry
// comes at once, before the chat's next message, so nothing is reordered.
func TestTimeoutAfterAccept(t *testing.T) {
	f := newFakeAPI(t)
	clk := &clock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	q, eng := openStoreAt(t, t.TempDir(), clk)
	tr := &lossy{next: http.DefaultTransport}
	b := newBot(t, f, q, func(c *Config) { c.Client = &http.Client{Transport: tr} })
	b.sleep = (&waits{}).sleep
	rosa := user{id: 21, name: "Rosa"}
	tk := withTickets(t, b, eng, q, f, []user{rosa})[rosa.id]

	tr.mu.Lock()
	tr.drop = func(r *http.Request, body []byte) bool {
		form, _ := url.ParseQuery(string(body))
		return strings.HasSuffix(r.URL.Path, "/sendMessage") && strings.Contains(form.Get("text"), "segunda")
	}
	tr.mu.Unlock()
	for _, text := range []string{"primera", "segunda", "tercera"} {
		if _, err := q.Reply(t.Context(), tk, "ana", "Respuesta "+text); err != nil {
			t.Fatal(err)
		}
	}
	want := owed(t, q)["21"]
	for i := 0; ; i++ {
		next := pass(t, q, b)
		if next.IsZero() {
			break
		}
		if i == 10 {
			t.Fatalf("the outbox is not empty after 10 passes: %s", f.summary())
		}
		clk.to(next)
	}
	if tr.lost != 1 {
		t.Fatalf("answers lost = %d, want 1", tr.lost)
	}
	got := f.texts(rosa.id, 1)
	if collapsed := slices.Compact(slices.Clone(got)); !slices.Equal(collapsed, want) {
		t.Errorf("Rosa got %q; want each of %q at least once, in order, a repeat only right after itself", got, want)
	}
	t.Logf("Rosa got %d messages for %d answers: the one whose answer was lost, twice", len(got), len(want))
	if p, err := q.Pending(t.Context()); err != nil || len(p) != 0 {
		t.Errorf("outbox = %v, %v; want empty", p, err)
	}
}
