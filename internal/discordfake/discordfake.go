// Package discordfake is Discord as several ayuda replicas meet it, for
// tests that run `ayuda serve` processes: one bot token, the REST routes
// ayuda calls and the gateway, speaking the JSON Discord documents. Tests
// of one bot use the fuller fake beside bots/discord; this one models
// what only shows with several processes.
//
// Discord lets one bot hold several gateway sessions at once (each
// Identify starts one, up to max_concurrency per 5 s; more get Invalid
// Session) and dispatches every event to each of them, so two replicas
// connected at once would both handle every message. The fake does the
// same, and counts the moments when more than one session was live.
// Discord never asks a client to acknowledge a dispatch: what a session
// was sent before its client died is gone unless the session is resumed
// (op 6, replayed from the sequence number given) or the channel's
// history is read over REST (GET /channels/{id}/messages?after=…).
//
// It is for tests only and is never imported by production code.
package discordfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Token is the bot token the fake accepts (DISCORD_BOT_TOKEN).
const Token = "replica-discord-token"

// BotID is the bot's user id.
const BotID = "100"

// nonceWindow is how long Discord recognises a nonce sent with
// enforce_nonce ("the past few minutes").
const nonceWindow = 2 * time.Minute

// identifyEvery is Discord's max_concurrency window: one Identify per 5 s
// for a bot with max_concurrency 1.
const identifyEvery = 5 * time.Second

// Server is a fake Discord. It is safe for concurrent use.
type Server struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	nextID    uint64
	channels  map[string]*channel
	dms       map[string]string // user → DM channel
	nonces    map[string]nonced
	sessions  map[string]*session
	problems  []string
	stats     Stats
	lastIdent time.Time
	downSince time.Time // when the last live session ended, while none is live
}

// Stats is what the fake counted.
type Stats struct {
	Identifies  int // sessions started (READY sent)
	Resumes     int // sessions resumed (RESUMED sent)
	RateLimited int // Identifies refused with Invalid Session: another came less than 5 s before
	Invalid     int // Resumes refused with Invalid Session: an unknown session
	MaxLive     int // the most sessions live at once
	Overlaps    int // sessions that went live while another was live
	Dispatched  int // MESSAGE_CREATE events of customers' messages, sent to any session
	Unsent      int // customers' messages posted while no session was live (only in the history)
	CatchUps    int // GET /channels/{id}/messages requests
	Posted      int // messages the bot created
	NonceHits   int // POSTs answered with the message an earlier one with the same nonce created
	// LongestGap is the longest time from a session's connection ending
	// with no other live to the next one going live.
	LongestGap time.Duration
}

type channel struct {
	id, recipient string
	msgs          []*Message
}

// Message is a message as Discord returns it.
type Message struct {
	ID        string          `json:"id"`
	ChannelID string          `json:"channel_id"`
	Author    User            `json:"author"`
	Content   string          `json:"content"`
	Timestamp string          `json:"timestamp"`
	Type      int             `json:"type"`
	Mentions  []User          `json:"mentions"`
	Attach    []any           `json:"attachments"`
	Embeds    []any           `json:"embeds"`
	Comps     json.RawMessage `json:"components,omitempty"`
	Nonce     string          `json:"nonce,omitempty"`
}

// User is a Discord user.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Bot      bool   `json:"bot,omitempty"`
}

type nonced struct {
	msg *Message
	at  time.Time
}

type frame struct {
	Op int    `json:"op"`
	D  any    `json:"d"`
	S  int64  `json:"s,omitempty"`
	T  string `json:"t,omitempty"`
}

// session is a gateway session: its events, for a resume, and the
// connection it is live on, if any.
type session struct {
	id   string
	seq  int64
	log  []frame
	conn *conn
}

// conn is one websocket; out feeds its writer, so nothing blocks on a
// slow or dead client while the fake's lock is held.
type conn struct {
	ws  *websocket.Conn
	out chan frame
}

// New starts a fake Discord, closed when the test ends; a route it does
// not model fails the test then.
func New(t testing.TB) *Server {
	s := &Server{t: t, nextID: 1_000_000, channels: map[string]*channel{}, dms: map[string]string{},
		nonces: map[string]nonced{}, sessions: map[string]*session{}}
	mux := http.NewServeMux()
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /api/v9/gateway":                                           s.gateway,
		"GET /api/v9/gateway/bot":                                       s.gateway,
		"GET /api/v9/users/@me":                                         s.me,
		"POST /api/v9/users/@me/channels":                               s.openDM,
		"GET /api/v9/channels/{ch}/messages":                            s.list,
		"POST /api/v9/channels/{ch}/messages":                           s.post,
		"PATCH /api/v9/channels/{ch}/messages/{id}":                     s.edit,
		"PUT /api/v9/channels/{ch}/messages/{id}/reactions/{emoji}/@me": s.noContent,
		"PUT /api/v9/applications/{app}/commands":                       s.commands,
		"PUT /api/v9/applications/{app}/guilds/{guild}/commands":        s.commands,
	} {
		mux.Handle(pattern, s.authorized(h))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
			s.serveGateway(w, r)
			return
		}
		s.mu.Lock()
		s.problems = append(s.problems, "unmodelled route "+r.Method+" "+r.URL.Path)
		s.mu.Unlock()
		writeJSON(w, 404, map[string]any{"message": "404: Not Found", "code": 0})
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		s.srv.CloseClientConnections()
		s.srv.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.problems {
			t.Error("fake Discord: " + p)
		}
	})
	return s
}

// URL is the base URL to give ayuda as DISCORD_API_URL.
func (s *Server) URL() string { return s.srv.URL }

// Stats returns what the fake counted so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Live returns how many gateway sessions are live now.
func (s *Server) Live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.liveLocked()
}

func (s *Server) liveLocked() int {
	n := 0
	for _, se := range s.sessions {
		if se.conn != nil {
			n++
		}
	}
	return n
}

func (s *Server) id() string {
	s.nextID++
	return strconv.FormatUint(s.nextID, 10)
}

// DM returns the DM channel between the bot and user, creating it, as
// Discord does when the user opens a DM with the bot.
func (s *Server) DM(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dmLocked(user).id
}

func (s *Server) dmLocked(user string) *channel {
	if id, ok := s.dms[user]; ok {
		return s.channels[id]
	}
	ch := &channel{id: s.id(), recipient: user}
	s.channels[ch.id] = ch
	s.dms[user] = ch.id
	return ch
}

// Say is user's message in their DM with the bot: kept in the channel's
// history and dispatched as MESSAGE_CREATE to every live session (to
// none, when none is live). It returns the message's id.
func (s *Server) Say(user, text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.dmLocked(user)
	m := &Message{ID: s.id(), ChannelID: ch.id, Author: User{ID: user, Username: "u" + user}, Content: text,
		Timestamp: time.Now().UTC().Format(time.RFC3339Nano), Mentions: []User{}, Attach: []any{}, Embeds: []any{}}
	ch.msgs = append(ch.msgs, m)
	if s.dispatchLocked("MESSAGE_CREATE", m) {
		s.stats.Dispatched++
	} else {
		s.stats.Unsent++
	}
	return m.ID
}

// Posted returns the contents of the bot's messages in a channel, in the
// order Discord created them.
func (s *Server) Posted(channel string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if ch := s.channels[channel]; ch != nil {
		for _, m := range ch.msgs {
			if m.Author.ID == BotID {
				out = append(out, m.Content)
			}
		}
	}
	return out
}

// dispatchLocked sends an event in every session: written to the live
// ones, logged in all for a resume. It reports whether a live session
// got it.
func (s *Server) dispatchLocked(typ string, d any) bool {
	sent := false
	for _, se := range s.sessions {
		se.seq++
		f := frame{Op: 0, D: d, S: se.seq, T: typ}
		se.log = append(se.log, f)
		if se.conn != nil {
			se.conn.send(f)
			sent = true
		}
	}
	return sent
}

func (c *conn) send(f frame) {
	select {
	case c.out <- f:
	default:
		c.ws.Close() // a client that does not read is disconnected
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// authorized answers 401 to a request without the bot's token.
func (s *Server) authorized(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bot "+Token {
			writeJSON(w, 401, map[string]any{"message": "401: Unauthorized", "code": 0})
			return
		}
		h(w, r)
	})
}

func (s *Server) noContent(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) gateway(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{"url": "wss://gateway.discord.gg", "shards": 1,
		"session_start_limit": map[string]int{"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, User{ID: BotID, Username: "ayuda", Bot: true})
}

func (s *Server) openDM(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RecipientID string `json:"recipient_id"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	s.mu.Lock()
	ch := s.dmLocked(req.RecipientID)
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"id": ch.id, "type": 1, "recipients": []User{{ID: req.RecipientID, Username: "u" + req.RecipientID}}})
}

func (s *Server) commands(w http.ResponseWriter, r *http.Request) {
	var cmds []map[string]any
	body, _ := io.ReadAll(r.Body)
	json.Unmarshal(body, &cmds)
	for i, c := range cmds {
		c["id"] = strconv.Itoa(900 + i)
		c["application_id"] = r.PathValue("app")
	}
	writeJSON(w, 200, cmds)
}

func unknownChannel(w http.ResponseWriter) {
	writeJSON(w, 404, map[string]any{"message": "Unknown Channel", "code": 10003})
}

// list is GET /channels/{id}/messages with after and limit (at most 100,
// default 50), newest first, as Discord answers.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.CatchUps++
	ch := s.channels[r.PathValue("ch")]
	if ch == nil {
		unknownChannel(w)
		return
	}
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	// With after, Discord returns the oldest limit messages after it.
	var out []*Message
	for _, m := range ch.msgs {
		if id, _ := strconv.ParseUint(m.ID, 10, 64); id > after && len(out) < limit {
			out = append(out, m)
		}
	}
	slices.Reverse(out)
	writeJSON(w, 200, out)
}

// post creates the bot's message, or with enforce_nonce and a nonce used
// in the last few minutes, returns the message that one created.
func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Content      string          `json:"content"`
		Components   json.RawMessage `json:"components"`
		Nonce        string          `json:"nonce"`
		EnforceNonce bool            `json:"enforce_nonce"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channels[r.PathValue("ch")]
	if ch == nil {
		unknownChannel(w)
		return
	}
	if len(req.Nonce) > 25 || len([]rune(req.Content)) > 2000 {
		writeJSON(w, 400, map[string]any{"message": "Invalid Form Body", "code": 50035})
		return
	}
	if n, ok := s.nonces[req.Nonce]; ok && req.EnforceNonce && time.Since(n.at) < nonceWindow {
		s.stats.NonceHits++
		writeJSON(w, 200, n.msg)
		return
	}
	if req.Content == "" && (len(req.Components) == 0 || string(req.Components) == "null") {
		writeJSON(w, 400, map[string]any{"message": "Cannot send an empty message", "code": 50006})
		return
	}
	m := &Message{ID: s.id(), ChannelID: ch.id, Author: User{ID: BotID, Username: "ayuda", Bot: true}, Content: req.Content,
		Timestamp: time.Now().UTC().Format(time.RFC3339Nano), Mentions: []User{}, Attach: []any{}, Embeds: []any{}, Comps: req.Components, Nonce: req.Nonce}
	ch.msgs = append(ch.msgs, m)
	s.stats.Posted++
	if req.Nonce != "" {
		s.nonces[req.Nonce] = nonced{msg: m, at: time.Now()}
	}
	s.dispatchLocked("MESSAGE_CREATE", m) // Discord dispatches the bot's own messages too
	writeJSON(w, 200, m)
}

func (s *Server) edit(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Content    *string         `json:"content"`
		Components json.RawMessage `json:"components"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.channels[r.PathValue("ch")]; ch != nil {
		for _, m := range ch.msgs {
			if m.ID == r.PathValue("id") {
				if req.Content != nil {
					m.Content = *req.Content
				}
				if req.Components != nil {
					m.Comps = req.Components
				}
				writeJSON(w, 200, m)
				return
			}
		}
	}
	writeJSON(w, 404, map[string]any{"message": "Unknown Message", "code": 10008})
}

// serveGateway is one gateway connection: Hello; then Identify (READY)
// or Resume (the missed events, then RESUMED); heartbeats acknowledged;
// until the client goes.
func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &conn{ws: ws, out: make(chan frame, 4096)}
	done := make(chan struct{})
	defer func() {
		ws.Close()
		<-done
	}()
	go func() {
		defer close(done)
		for f := range c.out {
			ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if ws.WriteJSON(f) != nil {
				ws.Close()
			}
		}
	}()
	c.out <- frame{Op: 10, D: map[string]any{"heartbeat_interval": 41250}}
	var first struct {
		Op int             `json:"op"`
		D  json.RawMessage `json:"d"`
	}
	if err := ws.ReadJSON(&first); err != nil {
		close(c.out)
		return
	}
	s.mu.Lock()
	var se *session
	switch first.Op {
	case 2:
		var id struct {
			Token string `json:"token"`
		}
		json.Unmarshal(first.D, &id)
		now := time.Now()
		switch {
		case id.Token != "Bot "+Token:
			s.mu.Unlock()
			ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4004, "Authentication failed."), now.Add(time.Second))
			close(c.out)
			return
		case !s.lastIdent.IsZero() && now.Sub(s.lastIdent) < identifyEvery:
			// Over max_concurrency: Invalid Session, not resumable. The
			// limit is on sessions started: a refused Identify starts none.
			s.stats.RateLimited++
			s.mu.Unlock()
			c.out <- frame{Op: 9, D: false}
			s.drain(ws)
			close(c.out)
			return
		}
		s.lastIdent = now
		s.stats.Identifies++
		se = &session{id: fmt.Sprintf("session-%d", s.stats.Identifies)}
		s.sessions[se.id] = se
		s.goLive(se, c)
		s.dispatchLocked("READY", map[string]any{
			"v": 9, "session_id": se.id, "resume_gateway_url": "wss://gateway-resume.discord.gg",
			"user":        User{ID: BotID, Username: "ayuda", Bot: true},
			"application": map[string]any{"id": BotID, "flags": 0},
			"guilds":      []any{}, "private_channels": []any{},
		})
	case 6:
		var res struct {
			SessionID string `json:"session_id"`
			Seq       int64  `json:"seq"`
		}
		json.Unmarshal(first.D, &res)
		se = s.sessions[res.SessionID]
		if se == nil || se.conn != nil {
			s.stats.Invalid++
			s.mu.Unlock()
			c.out <- frame{Op: 9, D: false}
			s.drain(ws)
			close(c.out)
			return
		}
		s.stats.Resumes++
		for _, f := range se.log {
			if f.S > res.Seq {
				c.send(f)
			}
		}
		s.goLive(se, c)
		se.seq++
		f := frame{Op: 0, D: map[string]any{}, S: se.seq, T: "RESUMED"}
		se.log = append(se.log, f)
		c.send(f)
	default:
		s.problems = append(s.problems, fmt.Sprintf("gateway: first op %d, want Identify (2) or Resume (6)", first.Op))
		s.mu.Unlock()
		close(c.out)
		return
	}
	s.mu.Unlock()
	var readErr error
	for {
		var p struct {
			Op int `json:"op"`
		}
		if readErr = ws.ReadJSON(&p); readErr != nil {
			break
		}
		if p.Op == 1 {
			s.mu.Lock()
			c.send(frame{Op: 11})
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	if se.conn == c {
		se.conn = nil
		if s.liveLocked() == 0 {
			s.downSince = time.Now()
		}
	}
	// Closing with 1000 or 1001 ends the session for good.
	var ce *websocket.CloseError
	if errors.As(readErr, &ce) && (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway) {
		delete(s.sessions, se.id)
	}
	close(c.out)
	s.mu.Unlock()
}

// goLive puts session se on connection c, counting overlaps; s.mu is held.
func (s *Server) goLive(se *session, c *conn) {
	if s.liveLocked() > 0 {
		s.stats.Overlaps++
	}
	if !s.downSince.IsZero() {
		s.stats.LongestGap = max(s.stats.LongestGap, time.Since(s.downSince))
		s.downSince = time.Time{}
	}
	se.conn = c
	s.stats.MaxLive = max(s.stats.MaxLive, s.liveLocked())
}

// drain reads until the client closes the connection.
func (s *Server) drain(ws *websocket.Conn) {
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
	}
}

// String summarises the counts, for a test's log.
func (st Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d sessions identified (%d refused within 5 s of another), %d resumed, at most %d live at once (%d overlaps), at most %.1f s with none live, %d customer messages dispatched, %d posted while no session was live, %d history reads, %d bot messages (%d nonce repeats answered with the first)",
		st.Identifies, st.RateLimited, st.Resumes, st.MaxLive, st.Overlaps, st.LongestGap.Seconds(), st.Dispatched, st.Unsent, st.CatchUps, st.Posted, st.NonceHits)
	return b.String()
}
