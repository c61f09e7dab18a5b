package discord

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeDiscord is a small Discord: the REST routes ayuda uses, speaking the
// real JSON, and a gateway (hello, identify → READY, resume → replay +
// RESUMED, heartbeat → ack, and on demand op 7 reconnect and op 9 invalid
// session). Messages the bot posts are dispatched back as MESSAGE_CREATE,
// as Discord does. Every request is recorded; a route it does not model
// fails the test.
//
// The gateway URL it hands out is wss://gateway.discord.gg and the resume
// URL wss://gateway-us-east1-b.discord.gg: the bot reaches it only
// through its host-rewriting dialer.
type fakeDiscord struct {
	t     testing.TB
	srv   *httptest.Server
	token string

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	nextID   uint64
	channels map[string]*fakeChannel
	requests []fakeRequest
	problems []string // unmodelled routes, messages without empty allowed_mentions

	sessions   map[string]*fakeSession
	session    *fakeSession // the current session
	conn       *fakeConn    // the live connection, nil in a gap
	identifies int
	resumes    []string          // Host of each resuming connection
	identified []time.Time       // when each Identify came
	identify   []json.RawMessage // each Identify's d, as sent
	closes     []int             // close codes the client sent
	heartbeat  int               // heartbeat_interval in ms; 0 means Discord's usual 41250
	noAcks     bool              // a zombie connection: heartbeats are not acknowledged
	mute       bool              // accept connections but never say hello

	// fail answers the next requests matching "METHOD path" with a status:
	// a queue of statuses per route; 429 carries retry_after.
	fail map[string][]int

	nonces map[string]fakeNonce // the bot's messages by nonce
}

const (
	fakeBotID   = "100"
	fakeGuild   = "300"
	fakeSupport = "200"
	fakeToken   = "secret-token"
	resumeHost  = "gateway-us-east1-b.discord.gg"
)

type fakeRequest struct {
	Method, Path string
	Query        url.Values
	Body         []byte
}

// JSON decodes the body.
func (r fakeRequest) JSON() map[string]any {
	var m map[string]any
	json.Unmarshal(r.Body, &m)
	return m
}

type fakeChannel struct {
	ID, GuildID, ParentID string
	Type                  int
	Recipient             string
	Messages              []*fakeMessage
}

type fakeUser struct {
	ID         string `json:"id"`
	Username   string `json:"username"`
	GlobalName string `json:"global_name,omitempty"`
	Bot        bool   `json:"bot,omitempty"`
}

type fakeAttachment struct {
	ID          string `json:"id"`
	URL         string `json:"url"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type,omitempty"`
	Size        int    `json:"size"`
}

type fakeMessage struct {
	ID          string           `json:"id"`
	ChannelID   string           `json:"channel_id"`
	GuildID     string           `json:"guild_id,omitempty"`
	Author      fakeUser         `json:"author"`
	Content     string           `json:"content"`
	Timestamp   string           `json:"timestamp"`
	Type        int              `json:"type"`
	Mentions    []fakeUser       `json:"mentions"`
	Attachments []fakeAttachment `json:"attachments"`
	Components  json.RawMessage  `json:"components,omitempty"`
	Flags       int              `json:"flags"`
	Nonce       string           `json:"nonce,omitempty"`
}

// fakeNonce is a nonce the bot used, and the message it created.
type fakeNonce struct {
	msg *fakeMessage
	at  time.Time
}

type fakeFrame struct {
	Op int    `json:"op"`
	D  any    `json:"d"`
	S  int64  `json:"s,omitempty"`
	T  string `json:"t,omitempty"`
}

type fakeSession struct {
	id        string
	seq       int64
	log       []fakeFrame
	resumable bool
}

type fakeConn struct {
	ws      *websocket.Conn
	wmu     sync.Mutex
	session *fakeSession
}

func (c *fakeConn) write(f fakeFrame) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.WriteJSON(f) // a failed write is a closed connection: the client reconnects
}

func newFake(t testing.TB) *fakeDiscord {
	f := &fakeDiscord{
		t: t, token: fakeToken, changed: make(chan struct{}), nextID: 1_000_000,
		channels: map[string]*fakeChannel{}, sessions: map[string]*fakeSession{}, fail: map[string][]int{},
		nonces: map[string]fakeNonce{},
	}
	f.channels[fakeSupport] = &fakeChannel{ID: fakeSupport, GuildID: fakeGuild, Type: 0}
	f.channels["201"] = &fakeChannel{ID: "201", GuildID: fakeGuild, Type: 0}
	mux := http.NewServeMux()
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /api/v9/gateway":                                           f.gateway,
		"GET /api/v9/gateway/bot":                                       f.gateway,
		"GET /api/v9/users/@me":                                         f.me,
		"POST /api/v9/users/@me/channels":                               f.openDM,
		"GET /api/v9/channels/{ch}/messages":                            f.listMessages,
		"POST /api/v9/channels/{ch}/messages":                           f.postMessage,
		"PATCH /api/v9/channels/{ch}/messages/{id}":                     f.editMessage,
		"POST /api/v9/channels/{ch}/messages/{id}/threads":              f.threadFromMessage,
		"POST /api/v9/channels/{ch}/threads":                            f.threadAlone,
		"PUT /api/v9/channels/{ch}/thread-members/{user}":               f.noContent,
		"PUT /api/v9/channels/{ch}/messages/{id}/reactions/{emoji}/@me": f.react,
		"PUT /api/v9/applications/{app}/commands":                       f.commands,
		"PUT /api/v9/applications/{app}/guilds/{guild}/commands":        f.commands,
		"POST /api/v9/interactions/{id}/{token}/callback":               f.noContent,
		"PATCH /api/v9/webhooks/{app}/{token}/messages/{id}":            f.webhookMessage,
		"DELETE /api/v9/webhooks/{app}/{token}/messages/{id}":           f.noContent,
		"POST /api/v9/webhooks/{app}/{token}":                           f.webhookMessage,
	} {
		mux.Handle(pattern, f.record(h))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
			f.serveGateway(w, r)
			return
		}
		f.record(f.unmodelled).ServeHTTP(w, r)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.CloseClientConnections()
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, p := range f.problems {
			t.Error(p)
		}
	})
	return f
}

// bump wakes waiters; f.mu is held.
func (f *fakeDiscord) bump() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// waitFor waits until cond (run with f.mu held) is true, failing the
// test if it never is. Call it from the test's goroutine.
func (f *fakeDiscord) waitFor(what string, cond func() bool) {
	f.t.Helper()
	if !f.await(cond) {
		f.t.Fatalf("gave up waiting for %s", what)
	}
}

// await waits until cond (run with f.mu held) is true. The bound only
// keeps a broken test from hanging; nothing is measured.
func (f *fakeDiscord) await(cond func() bool) bool {
	bound := time.NewTimer(30 * time.Second)
	defer bound.Stop()
	for {
		f.mu.Lock()
		ok := cond()
		ch := f.changed
		f.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-bound.C:
			return false
		}
	}
}

func (f *fakeDiscord) id() string {
	f.nextID++
	return strconv.FormatUint(f.nextID, 10)
}

func (f *fakeDiscord) record(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		req := fakeRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body}
		f.requests = append(f.requests, req)
		f.checkMentions(req)
		key := r.Method + " " + r.URL.Path
		status := 0
		if q := f.fail[key]; len(q) > 0 {
			status, f.fail[key] = q[0], q[1:]
		}
		if r.Header.Get("Authorization") != "Bot "+f.token {
			status = http.StatusUnauthorized
		}
		f.bump()
		f.mu.Unlock()
		switch status {
		case 0:
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			h(w, r)
		case http.StatusTooManyRequests:
			writeJSON(w, status, map[string]any{"message": "You are being rate limited.", "retry_after": 0.05, "global": false})
		default:
			writeJSON(w, status, map[string]any{"message": http.StatusText(status), "code": 0})
		}
	})
}

// checkMentions notes any message ayuda sends or edits without an empty
// allowed_mentions: such a message could ping.
func (f *fakeDiscord) checkMentions(r fakeRequest) {
	sends := (r.Method == "POST" || r.Method == "PATCH") && (strings.Contains(r.Path, "/messages") || strings.HasPrefix(r.Path, "/api/v9/webhooks/")) &&
		!strings.HasSuffix(r.Path, "/threads")
	if !sends {
		return
	}
	am, ok := r.JSON()["allowed_mentions"].(map[string]any)
	parse, isList := am["parse"].([]any)
	if !ok || !isList || len(parse) != 0 || am["users"] != nil || am["roles"] != nil {
		f.problems = append(f.problems, fmt.Sprintf("%s %s: allowed_mentions is %v, want {parse: []}", r.Method, r.Path, am))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeDiscord) unmodelled(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.problems = append(f.problems, "unmodelled route "+r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	writeJSON(w, 404, map[string]any{"message": "404: Not Found", "code": 0})
}

// react adds the bot's reaction to a message: 204, or 404 Unknown Message
// (code 10008) when the message is not in the channel.
func (f *fakeDiscord) react(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch := f.channels[r.PathValue("ch")]; ch != nil {
		for _, m := range ch.Messages {
			if m.ID == r.PathValue("id") {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
	}
	writeJSON(w, 404, map[string]any{"message": "Unknown Message", "code": 10008})
}

func (f *fakeDiscord) noContent(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeDiscord) gateway(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{"url": "wss://gateway.discord.gg", "shards": 1,
		"session_start_limit": map[string]int{"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})
}

func (f *fakeDiscord) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, fakeUser{ID: fakeBotID, Username: "ayuda", Bot: true})
}

func (f *fakeDiscord) openDM(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RecipientID string `json:"recipient_id"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	ch := f.dm(req.RecipientID)
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{"id": ch.ID, "type": 1, "recipients": []fakeUser{{ID: req.RecipientID, Username: "u" + req.RecipientID}}})
}

// dm returns (creating) the DM channel with user; f.mu is held.
func (f *fakeDiscord) dm(user string) *fakeChannel {
	for _, ch := range f.channels {
		if ch.Type == 1 && ch.Recipient == user {
			return ch
		}
	}
	ch := &fakeChannel{ID: f.id(), Type: 1, Recipient: user}
	f.channels[ch.ID] = ch
	return ch
}

func (f *fakeDiscord) unknownChannel(w http.ResponseWriter) {
	writeJSON(w, 404, map[string]any{"message": "Unknown Channel", "code": 10003})
}

func (f *fakeDiscord) listMessages(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := f.channels[r.PathValue("ch")]
	if ch == nil {
		f.unknownChannel(w)
		return
	}
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	var out []*fakeMessage
	for _, m := range ch.Messages { // oldest first
		if id, _ := strconv.ParseUint(m.ID, 10, 64); id > after && len(out) < limit {
			out = append(out, m)
		}
	}
	slices.Reverse(out) // Discord lists newest first
	writeJSON(w, 200, out)
}

// nonceWindow is how long Discord recognises a nonce with enforce_nonce
// ("the past few minutes").
const nonceWindow = 2 * time.Minute

func (f *fakeDiscord) postMessage(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Content      string          `json:"content"`
		Components   json.RawMessage `json:"components"`
		Nonce        string          `json:"nonce"`
		EnforceNonce bool            `json:"enforce_nonce"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := f.channels[r.PathValue("ch")]
	if ch == nil {
		f.unknownChannel(w)
		return
	}
	if len(req.Nonce) > 25 {
		writeJSON(w, 400, map[string]any{"message": "Invalid Form Body", "code": 50035})
		return
	}
	// With enforce_nonce, a nonce the same author used a moment ago gets
	// the message created then, and nothing is posted.
	if n, ok := f.nonces[req.Nonce]; ok && req.EnforceNonce && time.Since(n.at) < nonceWindow {
		writeJSON(w, 200, n.msg)
		return
	}
	if len(req.Content) == 0 && (len(req.Components) == 0 || string(req.Components) == "null") {
		writeJSON(w, 400, map[string]any{"message": "Cannot send an empty message", "code": 50006})
		return
	}
	if n := len([]rune(req.Content)); n > 2000 {
		writeJSON(w, 400, map[string]any{"message": "Invalid Form Body", "code": 50035})
		return
	}
	m := &fakeMessage{ID: f.id(), ChannelID: ch.ID, GuildID: ch.GuildID, Author: fakeUser{ID: fakeBotID, Username: "ayuda", Bot: true},
		Content: req.Content, Components: req.Components, Timestamp: time.Now().UTC().Format(time.RFC3339Nano), Nonce: req.Nonce}
	ch.Messages = append(ch.Messages, m)
	if req.Nonce != "" {
		f.nonces[req.Nonce] = fakeNonce{msg: m, at: time.Now()}
	}
	f.dispatch("MESSAGE_CREATE", m)
	writeJSON(w, 200, m)
}

func (f *fakeDiscord) editMessage(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Content    *string         `json:"content"`
		Components json.RawMessage `json:"components"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := f.channels[r.PathValue("ch")]
	if ch == nil {
		f.unknownChannel(w)
		return
	}
	for _, m := range ch.Messages {
		if m.ID == r.PathValue("id") {
			if req.Content != nil {
				m.Content = *req.Content
			}
			if req.Components != nil {
				m.Components = req.Components
			}
			writeJSON(w, 200, m)
			return
		}
	}
	writeJSON(w, 404, map[string]any{"message": "Unknown Message", "code": 10008})
}

func (f *fakeDiscord) threadFromMessage(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	defer f.mu.Unlock()
	parent, id := f.channels[r.PathValue("ch")], r.PathValue("id")
	if parent == nil {
		f.unknownChannel(w)
		return
	}
	if f.channels[id] != nil {
		writeJSON(w, 400, map[string]any{"message": "A thread has already been created for this message", "code": 160004})
		return
	}
	// A thread started from a message has the message's id.
	f.channels[id] = &fakeChannel{ID: id, GuildID: parent.GuildID, ParentID: parent.ID, Type: 11}
	writeJSON(w, 201, map[string]any{"id": id, "guild_id": parent.GuildID, "parent_id": parent.ID, "type": 11, "name": req.Name, "owner_id": fakeBotID})
}

func (f *fakeDiscord) threadAlone(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	parent := f.channels[r.PathValue("ch")]
	if parent == nil {
		f.unknownChannel(w)
		return
	}
	id := f.id()
	f.channels[id] = &fakeChannel{ID: id, GuildID: parent.GuildID, ParentID: parent.ID, Type: 11}
	writeJSON(w, 201, map[string]any{"id": id, "guild_id": parent.GuildID, "parent_id": parent.ID, "type": 11, "owner_id": fakeBotID})
}

func (f *fakeDiscord) commands(w http.ResponseWriter, r *http.Request) {
	var cmds []map[string]any
	body, _ := io.ReadAll(r.Body)
	json.Unmarshal(body, &cmds)
	guild := r.PathValue("guild") != ""
	for i, c := range cmds {
		// Discord documents contexts and integration_types for global
		// commands only.
		if _, ok := c["contexts"]; ok && guild {
			f.mu.Lock()
			f.problems = append(f.problems, "contexts sent on a guild command")
			f.mu.Unlock()
		}
		c["id"] = strconv.Itoa(900 + i)
		c["application_id"] = r.PathValue("app")
	}
	writeJSON(w, 200, cmds)
}

func (f *fakeDiscord) webhookMessage(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Content string `json:"content"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	id := f.id()
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{"id": id, "content": req.Content, "author": fakeUser{ID: fakeBotID, Username: "ayuda", Bot: true},
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "type": 20})
}

// serveGateway is one gateway connection.
func (f *fakeDiscord) serveGateway(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	c := &fakeConn{ws: ws}
	f.mu.Lock()
	interval, mute := f.heartbeat, f.mute
	f.mu.Unlock()
	if interval == 0 {
		interval = 41250
	}
	if mute {
		ws.ReadMessage() // until the client gives up
		return
	}
	c.write(fakeFrame{Op: 10, D: map[string]any{"heartbeat_interval": interval}})
	var first struct {
		Op int             `json:"op"`
		D  json.RawMessage `json:"d"`
	}
	if err := ws.ReadJSON(&first); err != nil {
		return
	}
	f.mu.Lock()
	switch first.Op {
	case 2:
		var id struct {
			Token   string `json:"token"`
			Intents int    `json:"intents"`
		}
		json.Unmarshal(first.D, &id)
		if id.Token != "Bot "+f.token {
			f.problems = append(f.problems, fmt.Sprintf("identify with token %q", id.Token))
		}
		now := time.Now()
		f.identify = append(f.identify, first.D)
		// Discord allows max_concurrency (1) Identify per 5 s; more get an
		// Invalid Session that cannot be resumed.
		if n := len(f.identified); n > 0 && now.Sub(f.identified[n-1]) < 5*time.Second {
			f.identified = append(f.identified, now)
			f.problems = append(f.problems, "two Identify within 5 s")
			c.write(fakeFrame{Op: 9, D: false})
			f.mu.Unlock()
			return
		}
		f.identified = append(f.identified, now)
		f.identifies++
		s := &fakeSession{id: fmt.Sprintf("session-%d", f.identifies), resumable: true}
		f.sessions[s.id] = s
		f.session, f.conn, c.session = s, c, s
		f.dispatch("READY", map[string]any{
			"v": 9, "session_id": s.id, "resume_gateway_url": "wss://" + resumeHost,
			"user":        fakeUser{ID: fakeBotID, Username: "ayuda", Bot: true},
			"application": map[string]any{"id": fakeBotID, "flags": 0},
			"guilds":      []any{map[string]any{"id": fakeGuild, "unavailable": true}}, "private_channels": []any{},
		})
	case 6:
		var res struct {
			SessionID string `json:"session_id"`
			Seq       int64  `json:"seq"`
		}
		json.Unmarshal(first.D, &res)
		s := f.sessions[res.SessionID]
		if s == nil || !s.resumable {
			c.write(fakeFrame{Op: 9, D: false})
			f.mu.Unlock()
			return
		}
		f.resumes = append(f.resumes, r.Host)
		f.session, f.conn, c.session = s, c, s
		for _, fr := range s.log {
			if fr.S > res.Seq {
				c.write(fr)
			}
		}
		f.dispatch("RESUMED", map[string]any{})
	default:
		f.problems = append(f.problems, fmt.Sprintf("gateway: first op %d", first.Op))
		f.mu.Unlock()
		return
	}
	f.bump()
	f.mu.Unlock()
	for {
		var p struct {
			Op int `json:"op"`
		}
		if err := ws.ReadJSON(&p); err != nil {
			f.mu.Lock()
			if f.conn == c {
				f.conn = nil
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				f.closes = append(f.closes, ce.Code)
				// Discord: closing with 1000 or 1001 ends the session.
				if (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway) && c.session != nil {
					c.session.resumable = false
				}
			}
			f.bump()
			f.mu.Unlock()
			return
		}
		f.mu.Lock()
		zombie := f.noAcks
		f.mu.Unlock()
		if p.Op == 1 && !zombie {
			c.write(fakeFrame{Op: 11})
		}
	}
}

// dispatch sends an event in the current session (or only logs it for a
// resume while there is no connection); f.mu is held.
func (f *fakeDiscord) dispatch(typ string, d any) {
	s := f.session
	if s == nil {
		return
	}
	s.seq++
	fr := fakeFrame{Op: 0, D: d, S: s.seq, T: typ}
	s.log = append(s.log, fr)
	if f.conn != nil && f.conn.session == s {
		f.conn.write(fr)
	}
	f.bump()
}

// reconnect asks the client to reconnect (op 7); what is dispatched until
// it resumes is replayed then.
func (f *fakeDiscord) reconnect() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.conn; c != nil {
		f.conn = nil
		c.write(fakeFrame{Op: 7})
	}
}

// invalidate ends the session for good (op 9, not resumable): the client
// identifies again and gets a new READY; what happened meanwhile is only
// in the channels' history.
func (f *fakeDiscord) invalidate() { f.invalidSession(false) }

// invalidSession sends op 9 with d resumable. Not resumable, the session
// ends; resumable, the client may resume it (Discord sends that when it
// could not start a session for now).
func (f *fakeDiscord) invalidSession(resumable bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.conn; c != nil {
		f.conn = nil
		if !resumable {
			c.session.resumable = false
			f.session = nil
		}
		c.write(fakeFrame{Op: 9, D: resumable})
	}
}

// closeWith closes the live connection with a close code, as Discord does
// on an error.
func (f *fakeDiscord) closeWith(code int) {
	f.mu.Lock()
	c := f.conn
	f.conn = nil
	f.mu.Unlock()
	if c != nil {
		c.wmu.Lock()
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "closed by the fake"), time.Now().Add(time.Second))
		c.wmu.Unlock()
		c.ws.Close()
	}
}

// say is a customer's message: stored in the channel and, unless silent,
// dispatched. It returns the message.
func (f *fakeDiscord) say(channel string, user fakeUser, content string, silent bool, mentions ...fakeUser) *fakeMessage {
	return f.sayWith(channel, user, content, silent, nil, mentions...)
}

// sayWith is say with attachments.
func (f *fakeDiscord) sayWith(channel string, user fakeUser, content string, silent bool, files []fakeAttachment, mentions ...fakeUser) *fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := f.channels[channel]
	if ch == nil {
		f.t.Fatalf("say: no channel %s", channel)
	}
	m := &fakeMessage{ID: f.id(), ChannelID: ch.ID, GuildID: ch.GuildID, Author: user, Content: content,
		Timestamp: time.Now().UTC().Format(time.RFC3339Nano), Mentions: append([]fakeUser{}, mentions...), Attachments: append([]fakeAttachment{}, files...)}
	ch.Messages = append(ch.Messages, m)
	if !silent {
		f.dispatch("MESSAGE_CREATE", f.withMember(m))
	}
	f.bump()
	return m
}

// withMember adds the partial member Discord sends with guild messages.
func (f *fakeDiscord) withMember(m *fakeMessage) any {
	if m.GuildID == "" {
		return m
	}
	return struct {
		*fakeMessage
		Member map[string]any `json:"member"`
	}{m, map[string]any{"nick": nil, "roles": []string{}}}
}

// redispatch sends a message's MESSAGE_CREATE again (a duplicate delivery).
func (f *fakeDiscord) redispatch(m *fakeMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dispatch("MESSAGE_CREATE", f.withMember(m))
}

// interact dispatches an INTERACTION_CREATE and returns it.
func (f *fakeDiscord) interact(channel string, user fakeUser, typ int, data map[string]any, msg *fakeMessage) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := f.channels[channel]
	id := f.id()
	in := map[string]any{
		"id": id, "application_id": fakeBotID, "type": typ, "data": data, "channel_id": channel,
		"token": "itoken-" + id, "version": 1, "locale": "es-ES",
	}
	if ch.GuildID != "" {
		in["guild_id"] = ch.GuildID
		in["member"] = map[string]any{"user": user, "nick": nil, "roles": []string{}}
	} else {
		in["user"] = user
	}
	if msg != nil {
		in["message"] = msg
	}
	f.dispatch("INTERACTION_CREATE", in)
	return in
}

// redispatchEvent sends an event again (a duplicate delivery).
func (f *fakeDiscord) redispatchEvent(typ string, d any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dispatch(typ, d)
}

// dmWith returns the DM channel id with user, creating it.
func (f *fakeDiscord) dmWith(user fakeUser) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dm(user.ID).ID
}

// press dispatches a button press on a message.
func (f *fakeDiscord) press(user fakeUser, msg *fakeMessage, customID string) string {
	in := f.interact(msg.ChannelID, user, 3, map[string]any{"custom_id": customID, "component_type": 2}, msg)
	return in["id"].(string)
}

// command dispatches a slash command.
func (f *fakeDiscord) command(channel string, user fakeUser, name string) string {
	in := f.interact(channel, user, 2, map[string]any{"id": "900", "name": name, "type": 1}, nil)
	return in["id"].(string)
}

// botMessages returns what the bot posted in a channel; f.mu is held.
func (f *fakeDiscord) botMessages(channel string) []*fakeMessage {
	var out []*fakeMessage
	if ch := f.channels[channel]; ch != nil {
		for _, m := range ch.Messages {
			if m.Author.ID == fakeBotID {
				out = append(out, m)
			}
		}
	}
	return out
}

// lastBot returns the bot's last message in a channel (waiting for one
// with buttons when buttons is set).
func (f *fakeDiscord) lastBot(channel string, containing string) *fakeMessage {
	f.t.Helper()
	var found *fakeMessage
	f.waitFor("the bot to post "+strconv.Quote(containing)+" in "+channel, func() bool {
		ms := f.botMessages(channel)
		for i := len(ms) - 1; i >= 0; i-- {
			if strings.Contains(ms[i].Content, containing) {
				found = ms[i]
				return true
			}
		}
		return false
	})
	return found
}

// requestsTo returns the recorded requests whose "METHOD path" has prefix.
func (f *fakeDiscord) requestsTo(prefix string) []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requestsLocked(prefix)
}

func (f *fakeDiscord) requestsLocked(prefix string) []fakeRequest {
	var out []fakeRequest
	for _, r := range f.requests {
		if strings.HasPrefix(r.Method+" "+r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// failNext makes the next n requests to "METHOD path" get status.
func (f *fakeDiscord) failNext(route string, status, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.fail[route] = append(f.fail[route], status)
	}
}

// buttons returns the custom_ids and disabled flags of a message's buttons.
func (m *fakeMessage) buttons() (ids []string, disabled []bool) {
	var rows []struct {
		Type       int `json:"type"`
		Components []struct {
			Type     int    `json:"type"`
			CustomID string `json:"custom_id"`
			Disabled bool   `json:"disabled"`
		} `json:"components"`
	}
	json.Unmarshal(m.Components, &rows)
	for _, r := range rows {
		for _, c := range r.Components {
			ids = append(ids, c.CustomID)
			disabled = append(disabled, c.Disabled)
		}
	}
	return ids, disabled
}
