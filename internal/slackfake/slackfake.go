// Package slackfake is Slack as several ayuda replicas meet it, for
// tests that run `ayuda serve` processes: the Web API methods ayuda calls
// (form-encoded POSTs to /api/<method>, answered {"ok": …}) and Socket
// Mode. Tests of one bot use the fuller fake beside bots/slack; this one
// models what only shows with several processes.
//
// Socket Mode as Slack documents it: apps.connections.open (with the
// app-level token) gives a websocket URL; the connection starts with
// hello; an app may hold up to 10 connections, and Slack sends each
// envelope on one of them; an envelope not acknowledged (a message with
// its envelope_id) in 3 s, or whose connection ends first, is sent again
// with retry_attempt one higher, up to 3 retries. Slack spaces its Events
// API retries over minutes; the fake retries at once, so a test sees the
// redelivery without waiting.
//
// It is for tests only and is never imported by production code.
package slackfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The tokens the fake accepts (SLACK_BOT_TOKEN, SLACK_APP_TOKEN), and the
// bot's user id.
const (
	BotToken = "xoxb-replica-token"
	AppToken = "xapp-replica-token"
	BotUser  = "UBOT"
)

// Slack's limits: connections per app, the time to acknowledge an
// envelope, and how often one is retried.
const (
	maxConns   = 10
	ackWithin  = 3 * time.Second
	maxRetries = 3
)

// Server is a fake Slack. It is safe for concurrent use.
type Server struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	changed   chan struct{}
	msgs      []*Msg
	reactions map[string][]string // channel/ts → the bot's reactions
	nextTS    int
	conns     []*conn // open connections, after hello
	next      int     // round robin over conns
	pending   []*envelope
	nextEnv   int
	nextEvent int
	acked     map[string]bool
	problems  []string
	stats     Stats
	downSince time.Time // when the last open connection closed, while none is open
}

// Stats is what the fake counted.
type Stats struct {
	Connections int // Socket Mode connections opened
	MaxLive     int // the most open at once
	Overlaps    int // connections opened while another was open
	Sent        int // envelopes written to a connection, retries included
	Retried     int // envelopes sent again (not acknowledged in time, or their connection ended)
	Acked       int // envelopes acknowledged
	Dropped     int // envelopes given up after 3 retries
	Posted      int // chat.postMessage
	Updated     int // chat.update
	// LongestGap is the longest time from the last open connection
	// closing to the next one opening.
	LongestGap time.Duration
}

// Msg is a message as Slack keeps it.
type Msg struct {
	Channel, TS, Thread, Text string
	User                      string // who wrote it: "" for the bot
	Blocks                    json.RawMessage
	Updates                   int
}

type envelope struct {
	id     string
	typ    string
	body   any
	retry  int
	on     *conn // the connection it was last sent on, nil when queued
	sentAt time.Time
	acked  bool
}

type conn struct {
	ws  *websocket.Conn
	out chan []byte
}

// New starts a fake Slack, closed when the test ends; a method it does
// not model fails the test then.
func New(t testing.TB) *Server {
	s := &Server{t: t, changed: make(chan struct{}), nextTS: 1, reactions: map[string][]string{}, acked: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.api)
	mux.HandleFunc("/link", s.socket)
	s.srv = httptest.NewServer(mux)
	stop := make(chan struct{})
	go s.redeliver(stop)
	t.Cleanup(func() {
		close(stop)
		s.srv.CloseClientConnections()
		s.srv.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.problems {
			t.Error("fake Slack: " + p)
		}
	})
	return s
}

// APIURL is the Web API base to give ayuda as SLACK_API_URL.
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// Stats returns what the fake counted so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Messages returns copies of the messages in channel, top level and in
// threads, in the order they were posted.
func (s *Server) Messages(channel string) []Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Msg
	for _, m := range s.msgs {
		if m.Channel == channel {
			out = append(out, *m)
		}
	}
	return out
}

// Reactions returns the bot's reactions on message ts in channel.
func (s *Server) Reactions(channel, ts string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reactions[channel+"/"+ts])
}

// Write is a person's message in channel (in thread, unless it is ""),
// as Slack keeps it and sends it to the app: an events_api envelope with
// a message event. It returns the message's ts and the envelope's id.
func (s *Server) Write(channel, thread, user, text string) (ts, envelope string) {
	s.mu.Lock()
	ts = s.ts()
	s.msgs = append(s.msgs, &Msg{Channel: channel, TS: ts, Thread: thread, Text: text, User: user})
	s.nextEvent++
	event := map[string]any{"type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "channel_type": "channel", "event_ts": ts}
	if thread != "" {
		event["thread_ts"] = thread
	}
	payload := map[string]any{"type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": fmt.Sprintf("Ev%06d", s.nextEvent),
		"event_time": time.Now().Unix(), "event": event}
	s.mu.Unlock()
	return ts, s.Send("events_api", payload)
}

// Acked reports whether envelope id was acknowledged.
func (s *Server) Acked(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked[id]
}

// Unacked returns how many envelopes are not acknowledged yet.
func (s *Server) Unacked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func answer(w http.ResponseWriter, v map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	if err := r.ParseForm(); err != nil {
		return
	}
	form := r.PostForm
	token := form.Get("token")
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	}
	want := BotToken
	if method == "apps.connections.open" {
		want = AppToken
	}
	if token != want {
		answer(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notify()
	var res map[string]any
	switch method {
	case "auth.test":
		res = map[string]any{"url": "https://fake.slack.com/", "team": "Fake", "user": "ayuda", "team_id": "T1", "user_id": BotUser, "bot_id": "BBOT"}
	case "apps.connections.open":
		res = map[string]any{"url": "ws://" + s.srv.Listener.Addr().String() + "/link"}
	case "chat.postMessage":
		m := &Msg{Channel: form.Get("channel"), TS: s.ts(), Thread: form.Get("thread_ts"), Text: form.Get("text"), Blocks: json.RawMessage(form.Get("blocks"))}
		s.msgs = append(s.msgs, m)
		s.stats.Posted++
		res = map[string]any{"channel": m.Channel, "ts": m.TS, "message": map[string]any{"text": m.Text, "ts": m.TS}}
	case "chat.update":
		var m *Msg
		for _, x := range s.msgs {
			if x.Channel == form.Get("channel") && x.TS == form.Get("ts") {
				m = x
			}
		}
		if m == nil {
			answer(w, map[string]any{"ok": false, "error": "message_not_found"})
			return
		}
		m.Text, m.Blocks = form.Get("text"), json.RawMessage(form.Get("blocks"))
		m.Updates++
		s.stats.Updated++
		res = map[string]any{"channel": m.Channel, "ts": m.TS, "text": m.Text}
	case "chat.postEphemeral":
		res = map[string]any{"message_ts": s.ts()}
	case "reactions.add":
		key := form.Get("channel") + "/" + form.Get("timestamp")
		if slices.Contains(s.reactions[key], form.Get("name")) {
			answer(w, map[string]any{"ok": false, "error": "already_reacted"})
			return
		}
		s.reactions[key] = append(s.reactions[key], form.Get("name"))
		res = map[string]any{}
	case "reactions.remove":
		key := form.Get("channel") + "/" + form.Get("timestamp")
		if !slices.Contains(s.reactions[key], form.Get("name")) {
			answer(w, map[string]any{"ok": false, "error": "no_reaction"})
			return
		}
		s.reactions[key] = slices.DeleteFunc(s.reactions[key], func(n string) bool { return n == form.Get("name") })
		res = map[string]any{}
	case "conversations.open":
		res = map[string]any{"channel": map[string]any{"id": "D" + form.Get("users")}}
	case "users.info":
		u := form.Get("user")
		res = map[string]any{"user": map[string]any{"id": u, "team_id": "T1", "name": strings.ToLower(u), "real_name": "Persona " + u,
			"profile": map[string]any{"display_name": "", "real_name": "Persona " + u}, "locale": "es-ES"}}
	default:
		s.problems = append(s.problems, "unmodelled method "+method)
		answer(w, map[string]any{"ok": false, "error": "unknown_method"})
		return
	}
	res["ok"] = true
	answer(w, res)
}

// ts makes a message timestamp; s.mu is held.
func (s *Server) ts() string {
	n := s.nextTS
	s.nextTS++
	return fmt.Sprintf("1700000%03d.%06d", n, n)
}

// Send queues an envelope (type events_api, interactive or
// slash_commands) with payload, for one of the open connections (or the
// next to open), and returns its id.
func (s *Server) Send(typ string, payload any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextEnv++
	e := &envelope{id: fmt.Sprintf("env-%d", s.nextEnv), typ: typ, body: payload}
	s.pending = append(s.pending, e)
	s.flushLocked()
	return e.id
}

// flushLocked sends the queued envelopes, each on one open connection in
// turn; s.mu is held.
func (s *Server) flushLocked() {
	if len(s.conns) == 0 {
		return
	}
	for _, e := range s.pending {
		if e.on != nil || e.acked {
			continue
		}
		c := s.conns[s.next%len(s.conns)]
		s.next++
		data, _ := json.Marshal(map[string]any{"type": e.typ, "envelope_id": e.id, "payload": e.body,
			"accepts_response_payload": e.typ != "events_api", "retry_attempt": e.retry, "retry_reason": retryReason(e.retry)})
		e.on, e.sentAt = c, time.Now()
		s.stats.Sent++
		select {
		case c.out <- data:
		default:
			c.ws.Close()
		}
	}
	s.notify()
}

func retryReason(n int) string {
	if n == 0 {
		return ""
	}
	return "timeout"
}

// requeueLocked makes an unacknowledged envelope go out again, or gives
// it up after maxRetries; s.mu is held.
func (s *Server) requeueLocked(e *envelope) {
	e.on = nil
	if e.retry == maxRetries {
		s.stats.Dropped++
		s.removeLocked(e.id)
		return
	}
	e.retry++
	s.stats.Retried++
}

func (s *Server) removeLocked(id string) {
	for i, e := range s.pending {
		if e.id == id {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			return
		}
	}
}

// redeliver sends again what was not acknowledged within ackWithin.
func (s *Server) redeliver(stop <-chan struct{}) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		s.mu.Lock()
		for _, e := range append([]*envelope(nil), s.pending...) {
			if e.on != nil && time.Since(e.sentAt) > ackWithin {
				s.requeueLocked(e)
			}
		}
		s.flushLocked()
		s.mu.Unlock()
	}
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// socket is one Socket Mode connection: hello, then the envelopes the
// fake sends on it; acks are read. Pings every 5 s keep the client's
// dead-man timer satisfied, as Slack's do.
func (s *Server) socket(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	c := &conn{ws: ws, out: make(chan []byte, 1024)}
	s.mu.Lock()
	if len(s.conns) >= maxConns {
		s.mu.Unlock()
		ws.WriteJSON(map[string]any{"type": "disconnect", "reason": "too_many_websockets"})
		return
	}
	s.stats.Connections++
	if len(s.conns) > 0 {
		s.stats.Overlaps++
	}
	if !s.downSince.IsZero() {
		s.stats.LongestGap = max(s.stats.LongestGap, time.Since(s.downSince))
		s.downSince = time.Time{}
	}
	n := s.stats.Connections
	s.conns = append(s.conns, c)
	s.stats.MaxLive = max(s.stats.MaxLive, len(s.conns))
	hello, _ := json.Marshal(map[string]any{"type": "hello", "num_connections": len(s.conns), "debug_info": map[string]any{"host": fmt.Sprintf("fake-%d", n)}})
	c.out <- hello
	s.flushLocked()
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var ack struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if err := ws.ReadJSON(&ack); err != nil {
				return
			}
			s.mu.Lock()
			for _, e := range s.pending {
				if e.id == ack.EnvelopeID && !e.acked {
					e.acked = true
					s.acked[e.id] = true
					s.stats.Acked++
					s.removeLocked(e.id)
					break
				}
			}
			s.notify()
			s.mu.Unlock()
		}
	}()
	ping := time.NewTicker(5 * time.Second)
	defer ping.Stop()
loop:
	for {
		select {
		case data := <-c.out:
			ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if ws.WriteMessage(websocket.TextMessage, data) != nil {
				break loop
			}
		case <-ping.C:
			ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
		case <-done:
			break loop
		}
	}
	ws.Close()
	<-done
	s.mu.Lock()
	for i, x := range s.conns {
		if x == c {
			s.conns = append(s.conns[:i], s.conns[i+1:]...)
			if len(s.conns) == 0 {
				s.downSince = time.Now()
			}
			break
		}
	}
	for _, e := range append([]*envelope(nil), s.pending...) {
		if e.on == c {
			s.requeueLocked(e)
		}
	}
	s.flushLocked()
	s.mu.Unlock()
}
