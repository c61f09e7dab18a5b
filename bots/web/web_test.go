package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"ayuda/auth"
	"ayuda/bots"
	"ayuda/bots/web"
	"ayuda/dialog"
	"ayuda/escalation"
	"ayuda/faq"
	"ayuda/inbox"
	"ayuda/knowledge"
)

var (
	ana    = escalation.Agent{ID: "ana", Name: "Ana"}
	index  *knowledge.Index
	idxErr error
	idxMu  sync.Mutex
)

func searcher(t *testing.T) *knowledge.Index {
	t.Helper()
	idxMu.Lock()
	defer idxMu.Unlock()
	if index == nil && idxErr == nil {
		entries, err := faq.Builtin()
		if err == nil {
			index, err = knowledge.New(entries)
		}
		idxErr = err
	}
	if idxErr != nil {
		t.Fatal(idxErr)
	}
	return index
}

var identityKey = []byte("the-shop-and-ayuda-share-this")

// site is ayuda's website chat as `ayuda serve` runs it: the real store,
// the real dialog engine, the outbox dispatcher sending through the chat.
type site struct {
	t    *testing.T
	q    *escalation.Queue
	chat *web.Chat
	srv  *httptest.Server
	// close stops the site as a shutdown does.
	close func()
	// agentToken is Ana's, to sign in to the inbox.
	agentToken string
	// down makes the chat's API answer 502, as a proxy does while ayuda
	// restarts.
	down atomic.Bool
}

// open starts the site; origins are the pages that may embed the chat
// (default: https://shop.example).
func open(t *testing.T, dir string, origins ...string) *site {
	t.Helper()
	if len(origins) == 0 {
		origins = []string{"https://shop.example"}
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	q, err := escalation.Open(filepath.Join(dir, "ayuda.db"), escalation.Config{Notify: dialog.Notifier(), Agents: []escalation.Agent{ana}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := dialog.New(dialog.Config{Search: searcher(t), Queue: q, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	chat, err := web.New(web.Config{
		Key: []byte("0123456789abcdef0123456789abcdef"), IdentityKey: identityKey,
		Origins: origins, Handle: eng.Handle, Outbox: q, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	// ayuda serve's other half on the same server: the agents' inbox.
	creds, err := auth.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	agentToken, err := creds.Issue(auth.Agent, "ana")
	if err != nil {
		t.Fatal(err)
	}
	desk, err := inbox.New(inbox.Config{Queue: q, Creds: creds, Key: []byte("fedcba9876543210fedcba9876543210"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/chat.js", chat.Handler())
	mux.Handle("/chat/", chat.Handler())
	mux.Handle("/inbox", desk.Handler())
	mux.Handle("/inbox/", desk.Handler())
	s := &site{t: t, q: q, chat: chat, agentToken: agentToken}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() && strings.HasPrefix(r.URL.Path, "/chat/api/") {
			http.Error(w, "bad gateway", http.StatusBadGateway) // a proxy in front of a server that is down
			return
		}
		mux.ServeHTTP(w, r)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { q.Dispatch(ctx, chat, 0) })
	s.close = sync.OnceFunc(func() {
		s.srv.CloseClientConnections() // a window's long poll
		s.srv.Close()
		cancel()
		wg.Wait()
		q.Close()
	})
	t.Cleanup(s.close)
	return s
}

// visitor is a browser's chat window.
type visitor struct {
	s     *site
	token string
	id    string
	after uint64
}

type reply struct {
	Text    string        `json:"text"`
	Choices []bots.Choice `json:"choices"`
	Seen    bool          `json:"seen"`
}

func (s *site) call(method, path, token string, body any) (int, []byte) {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.srv.URL+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, data
}

func (s *site) visit(session map[string]string) *visitor {
	s.t.Helper()
	code, data := s.call("POST", "/chat/api/session", "", session)
	if code != http.StatusOK {
		s.t.Fatalf("session: %d %s", code, data)
	}
	var v struct{ Token, Visitor string }
	if err := json.Unmarshal(data, &v); err != nil {
		s.t.Fatal(err)
	}
	return &visitor{s: s, token: v.Token, id: v.Visitor}
}

func (v *visitor) say(id, text string) reply {
	v.s.t.Helper()
	code, data := v.s.call("POST", "/chat/api/messages", v.token, map[string]string{"id": id, "text": text, "locale": "es-ES"})
	if code != http.StatusOK {
		v.s.t.Fatalf("say %q: %d %s", text, code, data)
	}
	var r struct{ Reply reply }
	if err := json.Unmarshal(data, &r); err != nil {
		v.s.t.Fatal(err)
	}
	return r.Reply
}

// poll fetches what is owed, acknowledging what was shown before.
func (v *visitor) poll(wait string) []reply {
	v.s.t.Helper()
	code, data := v.s.call("GET", fmt.Sprintf("/chat/api/messages?after=%d&wait=%s", v.after, wait), v.token, nil)
	if code != http.StatusOK {
		v.s.t.Fatalf("poll: %d %s", code, data)
	}
	var r struct {
		Messages []struct {
			Seq   uint64
			Reply reply
		}
	}
	if err := json.Unmarshal(data, &r); err != nil {
		v.s.t.Fatal(err)
	}
	var out []reply
	for _, m := range r.Messages {
		if m.Seq <= v.after {
			v.s.t.Fatalf("message %d came again after %d was acknowledged", m.Seq, v.after)
		}
		v.after = m.Seq
		out = append(out, m.Reply)
	}
	return out
}

func (s *site) ticketOf(v *visitor) *escalation.Ticket {
	s.t.Helper()
	t, err := s.q.OpenFor(context.Background(), web.Address(v.id))
	if err != nil || t == nil {
		s.t.Fatalf("no open ticket for %s: %v", v.id, err)
	}
	full, err := s.q.Get(context.Background(), t.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	return full
}

// timesOn counts the transcript entries of t that contain text.
func timesOn(t *escalation.Ticket, text string) int {
	n := 0
	for _, e := range t.Transcript {
		if strings.Contains(e.Text, text) {
			n++
		}
	}
	return n
}

func TestVisitorAsksAndAnAgentAnswersLive(t *testing.T) {
	s := open(t, t.TempDir())
	v := s.visit(nil)
	if !strings.HasPrefix(v.id, "v-") {
		t.Fatalf("anonymous visitor %q", v.id)
	}
	r := v.say("m1", "cuanto tarda un envio a canarias")
	if !strings.Contains(r.Text, "Canarias") || len(r.Choices) == 0 {
		t.Fatalf("the shipping article with its buttons, got %+v", r)
	}
	r = v.say("m2", "quiero hablar con una persona")
	if !strings.Contains(r.Text, "#") {
		t.Fatalf("a request for a person gets its receipt, got %+v", r)
	}
	tk := s.ticketOf(v)
	if tk.Customer.Address.Platform != bots.Web {
		t.Errorf("ticket's channel %q, want web", tk.Customer.Address.Platform)
	}
	// The window waits; an agent's reply wakes it.
	got := make(chan []reply)
	go func() { got <- v.poll("20s") }()
	if _, err := s.q.Reply(context.Background(), tk.ID, "ana", "Hola, soy Ana: lo miro ahora mismo."); err != nil {
		t.Fatal(err)
	}
	var texts []string
	for {
		for _, m := range <-got {
			texts = append(texts, m.Text)
		}
		if strings.Contains(strings.Join(texts, "\n"), "soy Ana") {
			break
		}
		go func() { got <- v.poll("20s") }()
	}
	// Shown and acknowledged: never again.
	for _, m := range v.poll("0s") {
		if strings.Contains(m.Text, "soy Ana") {
			t.Fatalf("the agent's reply was shown twice: %+v", m)
		}
	}
	// The visitor's follow-up joins the ticket.
	v.say("m3", "gracias, es el pedido 4411")
	tk = s.ticketOf(v)
	var said []string
	for _, e := range tk.Transcript {
		if e.Author == escalation.AuthorCustomer {
			said = append(said, e.Text)
		}
	}
	if !strings.Contains(strings.Join(said, "|"), "pedido 4411") {
		t.Errorf("the follow-up is not on the ticket: %q", said)
	}
}

func TestResentMessageIsStoredOnceAndAnsweredTheSame(t *testing.T) {
	s := open(t, t.TempDir())
	v := s.visit(nil)
	first := v.say("same", "quiero hablar con una persona, me han cobrado dos veces")
	again := v.say("same", "quiero hablar con una persona, me han cobrado dos veces")
	if first.Text == "" || first.Text != again.Text {
		t.Fatalf("a message sent again after a lost answer must get the same answer:\n%q\n%q", first.Text, again.Text)
	}
	if n := timesOn(s.ticketOf(v), "cobrado dos veces"); n != 1 {
		t.Fatalf("the message is on the ticket %d times, want once", n)
	}
	ts, err := s.q.List(context.Background(), escalation.Filter{Customer: web.Address(v.id).Customer()})
	if err != nil || len(ts) != 1 {
		t.Fatalf("%d tickets (%v), want one", len(ts), err)
	}
}

func TestWhatIsOwedWaitsForTheWindowAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	v := s.visit(nil)
	v.say("m1", "quiero hablar con una persona, mi pedido 4411 no ha llegado")
	tk := s.ticketOf(v)
	if _, err := s.q.Reply(context.Background(), tk.ID, "ana", "Te escribo por aquí en cuanto lo tenga."); err != nil {
		t.Fatal(err)
	}
	// Fetched but not acknowledged: the tab closed before showing it.
	seen := v.poll("10s")
	if len(seen) == 0 {
		t.Fatal("nothing waiting for the visitor")
	}
	token := v.token
	s.close()

	s2 := open(t, dir)
	v2 := &visitor{s: s2, token: token, id: v.id}
	var all []string
	for _, m := range v2.poll("10s") {
		all = append(all, m.Text)
	}
	if !strings.Contains(strings.Join(all, "\n"), "en cuanto lo tenga") {
		t.Fatalf("after a restart the unacknowledged reply is lost: %q", all)
	}
	if more := v2.poll("0s"); len(more) != 0 {
		t.Fatalf("acknowledged messages came again: %+v", more)
	}
}

func TestTokensAndTheSitesSignature(t *testing.T) {
	s := open(t, t.TempDir())
	v := s.visit(nil)
	forged := v.id + ".00" + strings.Repeat("0", 62)
	if code, _ := s.call("POST", "/chat/api/messages", forged, map[string]string{"id": "x", "text": "hola"}); code != http.StatusUnauthorized {
		t.Errorf("forged token: %d, want 401", code)
	}
	other := "v-" + strings.Repeat("a", 32) + v.token[strings.LastIndexByte(v.token, '.'):]
	if code, _ := s.call("GET", "/chat/api/messages", other, nil); code != http.StatusUnauthorized {
		t.Errorf("another visitor's id with this signature: %d, want 401", code)
	}
	if code, _ := s.call("POST", "/chat/api/session", "", map[string]string{"user": "42", "user_hash": web.VouchFor([]byte("wrong"), "42")}); code != http.StatusForbidden {
		t.Errorf("a customer the site did not vouch for: %d, want 403", code)
	}
	// Two browsers of the same logged-in customer are one conversation.
	vouched := map[string]string{"user": "42", "user_hash": web.VouchFor(identityKey, "42")}
	a, b := s.visit(vouched), s.visit(vouched)
	if a.id != "u-42" || b.id != a.id {
		t.Fatalf("vouched visitor ids %q, %q; want u-42", a.id, b.id)
	}
	a.say("p1", "quiero hablar con una persona, mi pedido 4411 no ha llegado")
	if r := b.say("p2", "/estado"); !strings.Contains(r.Text, "#") {
		t.Fatalf("the customer's other browser does not see the request: %q", r.Text)
	}
}

func TestBadRequestsGetClearAnswers(t *testing.T) {
	s := open(t, t.TempDir())
	v := s.visit(nil)
	for _, c := range []struct {
		name string
		body any
		want int
	}{
		{"no id", map[string]string{"text": "hola"}, http.StatusBadRequest},
		{"empty", map[string]string{"id": "e", "text": "  "}, http.StatusBadRequest},
		{"long id", map[string]string{"id": strings.Repeat("x", 65), "text": "hola"}, http.StatusBadRequest},
		{"not an object", []int{1}, http.StatusBadRequest},
		{"too long", map[string]string{"id": "big", "text": strings.Repeat("a", 70<<10)}, http.StatusRequestEntityTooLarge},
	} {
		code, data := s.call("POST", "/chat/api/messages", v.token, c.body)
		var p struct{ Code, Error string }
		if code != c.want || json.Unmarshal(data, &p) != nil || p.Error == "" || strings.Contains(p.Error, "json:") {
			t.Errorf("%s: %d %s; want %d with a plain error", c.name, code, data, c.want)
		}
	}
	// Without the JSON type a page on another origin could post without
	// the browser asking first.
	req, _ := http.NewRequest("POST", s.srv.URL+"/chat/api/messages", strings.NewReader(`{"id":"t","text":"hola"}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer "+v.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain post: %d, want 415", res.StatusCode)
	}
}

func TestWindowMayOnlyBeEmbeddedByConfiguredSites(t *testing.T) {
	s := open(t, t.TempDir())
	res, err := http.Get(s.srv.URL + "/chat/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'self' https://shop.example") || !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("window CSP %q", csp)
	}
	res, err = http.Get(s.srv.URL + "/chat.js")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") || !bytes.Contains(body, []byte("/chat/#")) {
		t.Errorf("loader: %s, %d bytes", res.Header.Get("Content-Type"), len(body))
	}
	if _, err := web.New(web.Config{Key: make([]byte, 32), Handle: func(context.Context, bots.Message) bots.Reply { return bots.Reply{} }, Outbox: s.q, Origins: []string{"shop.example"}}); err == nil {
		t.Error("an origin without a scheme was accepted")
	}
}

func TestNewVisitorsFromOneAddressAreLimited(t *testing.T) {
	s := open(t, t.TempDir())
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		code, _ := s.call("POST", "/chat/api/session", "", map[string]string{})
		limited = code == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("40 new visitors in a row from one address were all let in")
	}
	// A visitor the site vouches for is not a new anonymous one.
	s.visit(map[string]string{"user": "7", "user_hash": web.VouchFor(identityKey, "7")})
}
