package slack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeSlack is Slack for tests: the Web API methods ayuda calls, speaking
// the real wire format (form-encoded POSTs to /api/<method>, answered
// {"ok":…}), and a Socket Mode websocket that sends hello and whatever
// envelopes a test queues, and records the acks. An unmodelled method
// fails the test.
type fakeSlack struct {
	t   *testing.T
	srv *httptest.Server

	drop   chan struct{} // closes the open connection
	closed chan struct{} // the test is over

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	calls    []fakeCall
	msgs     []*fakeMsg // every message posted, in order
	nextTS   int
	failures map[string][]fakeFailure
	groups   map[string][]string
	users    map[string]map[string]any // users.info fields that differ from a full member's
	triggers map[string]time.Time      // trigger ids sent with interactions, and when
	views    []fakeView                // forms opened with views.open
	acks     []string
	sentAt   map[string]time.Time // envelope id → when it was first written to the socket
	ackedAt  map[string]time.Time // envelope id → when its first ack came back
	conns    int
	queue    []sentEnv // envelopes to send on the open connection
	unacked  []sentEnv // sent, not acknowledged: sent again on the next connection, as Slack does
}

type sentEnv struct {
	id   string
	data []byte
}

// fakeView is a form opened with views.open.
type fakeView struct {
	ID, User, Trigger string
	View              map[string]any
}

type fakeCall struct {
	Method string
	Form   url.Values
}

// fakeMsg is a message as Slack keeps it.
type fakeMsg struct {
	Channel, TS, Thread, Text string
	Blocks                    json.RawMessage
	Updates                   int
}

type fakeFailure struct {
	status     int    // HTTP status; 0 means 200 with ok:false
	code       string // Slack's error code
	retryAfter int
}

const (
	botToken = "xoxb-test-token"
	appToken = "xapp-test-token"
	botUser  = "UBOT"
)

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{t: t, drop: make(chan struct{}), closed: make(chan struct{}),
		changed: make(chan struct{}), failures: map[string][]fakeFailure{}, groups: map[string][]string{}, users: map[string]map[string]any{}, triggers: map[string]time.Time{}, sentAt: map[string]time.Time{}, ackedAt: map[string]time.Time{}, nextTS: 1}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", f.api)
	mux.HandleFunc("/link", f.socket)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() { close(f.closed); f.srv.Close() })
	return f
}

func (f *fakeSlack) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeSlack) answer(w http.ResponseWriter, v map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (f *fakeSlack) api(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	if r.Method != http.MethodPost {
		f.t.Errorf("fake Slack: %s %s, want POST", r.Method, method)
	}
	if err := r.ParseForm(); err != nil {
		return // the client gave up on the request (it is shutting down)
	}
	form := r.PostForm
	var body map[string]any
	if strings.HasPrefix(method, "views.") && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		// views.* take JSON, with the token in the Authorization header.
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			f.answer(w, map[string]any{"ok": false, "error": "invalid_json"})
			return
		}
		form = url.Values{}
		if strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") == botToken {
			form.Set("token", botToken)
		}
	}
	if method == "apps.connections.open" {
		if got := r.Header.Get("Authorization"); got != "Bearer "+appToken {
			f.answer(w, map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
	} else if form.Get("token") != botToken {
		f.answer(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}

	f.mu.Lock()
	if fs := f.failures[method]; len(fs) > 0 {
		fl := fs[0]
		f.failures[method] = fs[1:]
		f.calls = append(f.calls, fakeCall{Method: method + "!failed", Form: form})
		f.notify()
		f.mu.Unlock()
		if fl.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(fl.retryAfter))
		}
		if fl.status != 0 {
			w.WriteHeader(fl.status)
			return
		}
		f.answer(w, map[string]any{"ok": false, "error": fl.code})
		return
	}
	defer f.mu.Unlock()
	defer f.notify()
	var res map[string]any
	switch method {
	case "chat.postMessage", "chat.update", "chat.postEphemeral":
		f.checkMrkdwn(method, form)
	}
	switch method {
	case "auth.test":
		res = map[string]any{"url": "https://fake.slack.com/", "team": "Fake", "user": "ayuda", "team_id": "T1", "user_id": botUser, "bot_id": "BBOT"}
	case "apps.connections.open":
		res = map[string]any{"url": "ws://" + f.srv.Listener.Addr().String() + "/link"}
	case "chat.postMessage":
		m := &fakeMsg{Channel: form.Get("channel"), TS: f.ts(), Thread: form.Get("thread_ts"), Text: form.Get("text"), Blocks: json.RawMessage(form.Get("blocks"))}
		f.msgs = append(f.msgs, m)
		res = map[string]any{"channel": m.Channel, "ts": m.TS, "message": map[string]any{"text": m.Text, "ts": m.TS}}
	case "chat.update":
		m := f.find(form.Get("channel"), form.Get("ts"))
		if m == nil {
			f.calls = append(f.calls, fakeCall{Method: method + "!failed", Form: form})
			f.answer(w, map[string]any{"ok": false, "error": "message_not_found"})
			return
		}
		m.Text, m.Blocks = form.Get("text"), json.RawMessage(form.Get("blocks"))
		m.Updates++
		res = map[string]any{"channel": m.Channel, "ts": m.TS, "text": m.Text}
	case "chat.postEphemeral":
		res = map[string]any{"message_ts": f.ts()}
	case "reactions.add":
		res = map[string]any{}
	case "conversations.open":
		res = map[string]any{"channel": map[string]any{"id": "D" + form.Get("users")}}
	case "users.info":
		u := form.Get("user")
		user := map[string]any{"id": u, "team_id": "T1", "name": strings.ToLower(strings.TrimPrefix(u, "U")),
			"real_name": "Persona " + u, "profile": map[string]any{"display_name": "", "real_name": "Persona " + u},
			"is_restricted": false, "is_ultra_restricted": false, "is_stranger": false, "is_bot": false, "deleted": false}
		if form.Get("include_locale") == "true" { // users.info sends the locale only when asked
			user["locale"] = "es-ES"
		}
		for k, v := range f.users[u] {
			user[k] = v
		}
		res = map[string]any{"user": user}
	case "usergroups.users.list":
		res = map[string]any{"users": f.groups[form.Get("usergroup")]}
	case "views.open":
		var ok bool
		if res, ok = f.openView(w, body); !ok {
			return
		}
	default:
		f.t.Errorf("fake Slack: unmodelled method %s", method)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	f.calls = append(f.calls, fakeCall{Method: method, Form: form})
	res["ok"] = true
	f.answer(w, res)
}

// openView is views.open as Slack documents it: a trigger id is good for
// three seconds and one use (expired_trigger_id, exchanged_trigger_id,
// invalid_trigger_id), and the view must be a modal with a title of at
// most 24 characters, at most 100 blocks, a callback_id of at most 255
// characters and private_metadata of at most 3000 (invalid_arguments).
// The caller holds mu.
func (f *fakeSlack) openView(w http.ResponseWriter, body map[string]any) (map[string]any, bool) {
	fail := func(code string) (map[string]any, bool) {
		f.calls = append(f.calls, fakeCall{Method: "views.open!failed"})
		f.answer(w, map[string]any{"ok": false, "error": code})
		return nil, false
	}
	trigger, _ := body["trigger_id"].(string)
	at, issued := f.triggers[trigger]
	switch {
	case !issued:
		return fail("invalid_trigger_id")
	case at.IsZero():
		return fail("exchanged_trigger_id")
	case time.Since(at) > 3*time.Second:
		return fail("expired_trigger_id")
	}
	f.triggers[trigger] = time.Time{}
	view, _ := body["view"].(map[string]any)
	title, _ := view["title"].(map[string]any)
	titleText, _ := title["text"].(string)
	blocks, _ := view["blocks"].([]any)
	callback, _ := view["callback_id"].(string)
	meta, _ := view["private_metadata"].(string)
	if view["type"] != "modal" || titleText == "" || len([]rune(titleText)) > 24 || len(blocks) == 0 || len(blocks) > 100 || len(callback) > 255 || len(meta) > 3000 {
		f.t.Errorf("fake Slack: views.open with an invalid view: %v", view)
		return fail("invalid_arguments")
	}
	data, _ := json.Marshal(blocks)
	f.checkMrkdwn("views.open", url.Values{"blocks": {string(data)}})
	v := fakeView{ID: fmt.Sprintf("V%d", len(f.views)+1), Trigger: trigger, View: view}
	f.views = append(f.views, v)
	return map[string]any{"view": map[string]any{"id": v.ID, "type": "modal", "callback_id": callback, "private_metadata": meta}}, true
}

// slackControl is what Slack reads between < and > in mrkdwn: a user or
// channel mention, a date, a link. Anything else (<!channel>, <!here>,
// <!everyone>, <!subteam^…>) notifies people, and ayuda never sends it.
var slackControl = regexp.MustCompile(`^<(@[UW][A-Z0-9]+|#C[A-Z0-9]+(\|[^<>]*)?|!date\^[0-9]+\^[^<>|]+\|[^<>]*|(https?|mailto):[^<>\s]+(\|[^<>]*)?)>`)

// checkMrkdwn fails the test when text Slack would read as mrkdwn (the
// message text, and every mrkdwn object in its blocks) holds an
// unescaped <, > or &: Slack documents that these three must be sent as
// &lt; &gt; &amp; except in control sequences, and a quote's leading >.
func (f *fakeSlack) checkMrkdwn(method string, form url.Values) {
	texts := []string{form.Get("text")}
	if b := form.Get("blocks"); b != "" {
		var blocks any
		if err := json.Unmarshal([]byte(b), &blocks); err != nil {
			f.t.Errorf("fake Slack: %s: blocks are not JSON: %v", method, err)
			return
		}
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				if v["type"] == "mrkdwn" {
					if s, ok := v["text"].(string); ok {
						texts = append(texts, s)
					}
				}
				for _, x := range v {
					walk(x)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			}
		}
		walk(blocks)
	}
	for _, s := range texts {
		if err := mrkdwnProblem(s); err != "" {
			f.t.Errorf("fake Slack: %s: %s in mrkdwn %q", method, err, s)
		}
	}
}

// mrkdwnProblem says what in s Slack would not show as typed, or "".
func mrkdwnProblem(s string) string {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			m := slackControl.FindString(s[i:])
			if m == "" {
				end := min(len(s), i+20)
				return fmt.Sprintf("unescaped < (%q)", s[i:end])
			}
			i += len(m) - 1
		case '>':
			lineStart := i == 0 || s[i-1] == '\n'
			if !lineStart {
				return "unescaped >"
			}
		case '&':
			rest := s[i:]
			if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
				return "unescaped &"
			}
		}
	}
	return ""
}

// ts makes a message timestamp; the caller holds mu.
func (f *fakeSlack) ts() string {
	n := f.nextTS
	f.nextTS++
	return fmt.Sprintf("1700000%03d.%06d", n, n)
}

func (f *fakeSlack) find(ch, ts string) *fakeMsg {
	for _, m := range f.msgs {
		if m.Channel == ch && m.TS == ts {
			return m
		}
	}
	return nil
}

var upgrader = websocket.Upgrader{CheckOrigin: func(r *http.Request) bool { return true }}

// socket is one Socket Mode connection: hello, then the queued
// envelopes, first those a previous connection sent without getting their
// ack; acks are recorded. Only the newest connection sends. Pings keep
// the client's dead-man timer happy.
func (f *fakeSlack) socket(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		f.t.Errorf("fake Slack: upgrade: %v", err)
		return
	}
	defer conn.Close()
	f.mu.Lock()
	f.conns++
	n := f.conns
	f.queue = append(f.unacked, f.queue...)
	f.unacked = nil
	f.notify()
	f.mu.Unlock()
	if err := conn.WriteJSON(map[string]any{"type": "hello", "num_connections": 1, "debug_info": map[string]any{"host": fmt.Sprintf("fake-%d", n)}}); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var ack struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if err := conn.ReadJSON(&ack); err != nil {
				return
			}
			f.mu.Lock()
			f.acks = append(f.acks, ack.EnvelopeID)
			if _, ok := f.ackedAt[ack.EnvelopeID]; !ok {
				f.ackedAt[ack.EnvelopeID] = time.Now()
			}
			f.unacked = slices.DeleteFunc(f.unacked, func(e sentEnv) bool { return e.id == ack.EnvelopeID })
			f.notify()
			f.mu.Unlock()
		}
	}()
	ping := time.NewTicker(5 * time.Second)
	defer ping.Stop()
	for {
		f.mu.Lock()
		if f.conns != n {
			f.mu.Unlock()
			return
		}
		if len(f.queue) > 0 {
			e := f.queue[0]
			f.queue = f.queue[1:]
			f.unacked = append(f.unacked, e)
			if _, ok := f.sentAt[e.id]; !ok {
				f.sentAt[e.id] = time.Now()
			}
			f.mu.Unlock()
			if err := conn.WriteMessage(websocket.TextMessage, e.data); err != nil {
				return // the next connection sends it again
			}
			continue
		}
		changed := f.changed
		f.mu.Unlock()
		select {
		case <-changed:
		case <-ping.C:
			conn.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
		case <-f.drop:
			conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), time.Now().Add(time.Second))
			return
		case <-done:
			return
		case <-f.closed:
			return
		}
	}
}

// send queues an envelope for the open (or next) connection.
func (f *fakeSlack) send(typ, env string, payload any, retry int) {
	data, err := json.Marshal(map[string]any{"type": typ, "envelope_id": env, "payload": payload,
		"accepts_response_payload": typ != typeEvents, "retry_attempt": retry, "retry_reason": ""})
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, sentEnv{id: env, data: data})
	f.notify()
}

func (f *fakeSlack) failNext(method string, fs ...fakeFailure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[method] = append(f.failures[method], fs...)
}

// waitFor waits until cond, called with mu held, is true. The bound only
// catches a hang; nothing depends on how fast things happen.
func (f *fakeSlack) waitFor(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ok, ch := cond(), f.changed
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			f.t.Fatalf("gave up waiting for %s; calls:%s", what, f.summary())
		}
	}
}

// callsLocked returns the successful calls of method; the caller holds mu.
func (f *fakeSlack) callsLocked(method string) []url.Values {
	var out []url.Values
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c.Form)
		}
	}
	return out
}

func (f *fakeSlack) callsOf(method string) []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.callsLocked(method)
}

// postedLocked returns the messages posted to ch (top level when thread
// is "", else in that thread); the caller holds mu.
func (f *fakeSlack) postedLocked(ch, thread string) []*fakeMsg {
	var out []*fakeMsg
	for _, m := range f.msgs {
		if m.Channel == ch && m.Thread == thread {
			out = append(out, m)
		}
	}
	return out
}

// waitPosted waits for a message in ch (and thread) whose text contains
// want, and returns a copy of it.
func (f *fakeSlack) waitPosted(ch, thread, want string) fakeMsg {
	f.t.Helper()
	var got *fakeMsg
	f.waitFor(fmt.Sprintf("a message in %s/%s with %q", ch, thread, want), func() bool {
		for _, m := range f.postedLocked(ch, thread) {
			if strings.Contains(m.Text, want) || strings.Contains(string(m.Blocks), want) {
				got = m
				return true
			}
		}
		return false
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	return *got
}

// message returns a copy of the message ts in ch as it is now.
func (f *fakeSlack) message(ch, ts string) fakeMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.find(ch, ts)
	if m == nil {
		f.t.Fatalf("no message %s in %s", ts, ch)
	}
	return *m
}

func (f *fakeSlack) waitAcked(env string) {
	f.t.Helper()
	f.waitFor("the ack of "+env, func() bool { return f.countAcksLocked(env) > 0 })
}

func (f *fakeSlack) countAcksLocked(env string) int {
	n := 0
	for _, a := range f.acks {
		if a == env {
			n++
		}
	}
	return n
}

// reactionsLocked returns the reactions added to message ts.
func (f *fakeSlack) reactionsLocked(ts string) []string {
	var out []string
	for _, c := range f.callsLocked("reactions.add") {
		if c.Get("timestamp") == ts {
			out = append(out, c.Get("name"))
		}
	}
	return out
}

func (f *fakeSlack) waitReaction(ts, name string) {
	f.t.Helper()
	f.waitFor(fmt.Sprintf("reaction %s on %s", name, ts), func() bool {
		for _, r := range f.reactionsLocked(ts) {
			if r == name {
				return true
			}
		}
		return false
	})
}

func (f *fakeSlack) summary() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, c := range f.calls {
		fmt.Fprintf(&b, "\n  %s channel=%s ts=%s thread_ts=%s text=%.120q name=%s", c.Method, c.Form.Get("channel"), c.Form.Get("ts"),
			c.Form.Get("thread_ts"), c.Form.Get("text"), c.Form.Get("name"))
	}
	fmt.Fprintf(&b, "\n  acks %v, connections %d", f.acks, f.conns)
	return b.String()
}

// actions returns the interactive elements of a message's blocks: each
// element's block_id, action_id, type, value and options' values.
type element struct {
	BlockID  string
	ActionID string `json:"action_id"`
	Type     string `json:"type"`
	Value    string `json:"value"`
	Text     struct {
		Text string `json:"text"`
	} `json:"text"`
	Options []struct {
		Value string `json:"value"`
		Text  struct {
			Text string `json:"text"`
		} `json:"text"`
	} `json:"options"`
}

func actions(t *testing.T, blocks json.RawMessage) []element {
	t.Helper()
	var bs []struct {
		Type     string            `json:"type"`
		BlockID  string            `json:"block_id"`
		Elements []json.RawMessage `json:"elements"`
	}
	if err := json.Unmarshal(blocks, &bs); err != nil {
		t.Fatalf("blocks %s: %v", blocks, err)
	}
	var out []element
	for _, b := range bs {
		if b.Type != "actions" {
			continue
		}
		for _, raw := range b.Elements {
			var e element
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("element %s: %v", raw, err)
			}
			e.BlockID = b.BlockID
			out = append(out, e)
		}
	}
	return out
}

func findAction(t *testing.T, m fakeMsg, actionID string) element {
	t.Helper()
	for _, e := range actions(t, m.Blocks) {
		if e.ActionID == actionID {
			return e
		}
	}
	t.Fatalf("no %s in %s", actionID, m.Blocks)
	return element{}
}

// fakeTelegram is the Telegram Bot API for the customer's side: getMe,
// getUpdates (long polling with offsets), sendMessage and the calls the
// real telegram.Bot makes on start. A chat in fail gets 403, as when the
// customer blocked the bot.
type fakeTelegram struct {
	t     *testing.T
	token string
	srv   *httptest.Server

	mu      sync.Mutex
	changed chan struct{}
	updates []map[string]any
	nextUpd int
	nextMsg int
	sent    []url.Values
	blocked map[string]bool
}

func newFakeTelegram(t *testing.T) *fakeTelegram {
	f := &fakeTelegram{t: t, token: "42:tg-test", changed: make(chan struct{}), nextUpd: 1, nextMsg: 1000, blocked: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTelegram) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeTelegram) serve(w http.ResponseWriter, r *http.Request) {
	method, ok := strings.CutPrefix(r.URL.Path, "/bot"+f.token+"/")
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(401)
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error_code": 401, "description": "Unauthorized"})
		return
	}
	r.ParseForm()
	form := r.PostForm
	var result any
	switch method {
	case "getMe":
		result = map[string]any{"id": 999, "is_bot": true, "first_name": "Ayuda", "username": "ayuda_test_bot"}
	case "setMyCommands", "deleteWebhook", "answerCallbackQuery", "editMessageReplyMarkup":
		result = true
	case "getUpdates":
		offset, _ := strconv.Atoi(form.Get("offset"))
		timeout, _ := strconv.Atoi(form.Get("timeout"))
		deadline := time.NewTimer(time.Duration(timeout) * time.Second)
		defer deadline.Stop()
		for {
			f.mu.Lock()
			var out []map[string]any
			for _, u := range f.updates {
				if u["update_id"].(int) >= offset {
					out = append(out, u)
				}
			}
			ch := f.changed
			f.mu.Unlock()
			if len(out) > 0 {
				result = out
				break
			}
			select {
			case <-ch:
				continue
			case <-deadline.C:
				result = []any{}
			case <-r.Context().Done():
				return
			}
			break
		}
	case "sendMessage":
		chat := form.Get("chat_id")
		f.mu.Lock()
		if f.blocked[chat] {
			f.mu.Unlock()
			w.WriteHeader(403)
			json.NewEncoder(w).Encode(map[string]any{"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
			return
		}
		id := f.nextMsg
		f.nextMsg++
		f.sent = append(f.sent, form)
		f.notify()
		f.mu.Unlock()
		c, _ := strconv.ParseInt(chat, 10, 64)
		result = map[string]any{"message_id": id, "date": time.Now().Unix(), "text": form.Get("text"),
			"chat": map[string]any{"id": c, "type": "private"}}
	default:
		f.t.Errorf("fake Telegram: unmodelled method %s", method)
		w.WriteHeader(404)
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error_code": 404, "description": "Not Found"})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
}

// say queues a private message from user id with text.
func (f *fakeTelegram) say(id int64, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.nextUpd
	f.nextUpd++
	f.nextMsg++
	f.updates = append(f.updates, map[string]any{"update_id": u, "message": map[string]any{
		"message_id": f.nextMsg, "date": time.Now().Unix(), "text": text,
		"chat": map[string]any{"id": id, "type": "private", "first_name": "María"},
		"from": map[string]any{"id": id, "is_bot": false, "first_name": "María", "language_code": "es"},
	}})
	f.notify()
}

// sentTo returns the texts sent to chat.
func (f *fakeTelegram) sentTo(chat string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sentToLocked(chat)
}

func (f *fakeTelegram) sentToLocked(chat string) []string {
	var out []string
	for _, s := range f.sent {
		if s.Get("chat_id") == chat {
			out = append(out, s.Get("text"))
		}
	}
	return out
}

// waitSent waits until chat got a message containing want.
func (f *fakeTelegram) waitSent(chat, want string) {
	f.t.Helper()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		got, ch := f.sentToLocked(chat), f.changed
		f.mu.Unlock()
		for _, s := range got {
			if strings.Contains(s, want) {
				return
			}
		}
		select {
		case <-ch:
		case <-deadline.C:
			f.t.Fatalf("Telegram chat %s never got %q; got %q", chat, want, got)
		}
	}
}
