package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
)

// The gateway is ayuda's own: discordgo stays for REST and types, but its
// gateway loop can deadlock on an Invalid Session that answers Identify or
// Resume (it closes the connection while holding the session lock, and
// then nothing identifies again and shutdown blocks), closes a zombied
// connection with code 1000 (which ends the session, so the Resume that
// follows fails too), and retries close codes Discord documents as fatal.
// This loop follows Discord's documented lifecycle:
// https://discord.com/developers/docs/events/gateway
//
//   - Hello, then Identify (a new session) or Resume (the last one), with
//     heartbeats every heartbeat_interval, the first after a random part
//     of it; a heartbeat the gateway asks for (op 1) is sent at once.
//   - A heartbeat not acknowledged before the next one is due is a zombie
//     connection: it is closed with a code that keeps the session
//     resumable (4000), and the session resumed.
//   - Reconnect (op 7): close (4000) and resume on resume_gateway_url.
//   - Invalid Session (op 9): d true, resume; d false, wait 1–5 s and
//     identify anew, then the chats are caught up.
//   - Close codes 4004 and 4010–4014 are not retried: Run ends with an
//     error that says what to do. 4007 and 4009 start a new session;
//     other closes resume.
//   - Identify is sent at most once per 5 s (Discord's max_concurrency 1).
//   - Shutdown closes with 1000 and never waits on a lock the reader holds.

// gatewayVersion is the gateway API version ayuda speaks.
const gatewayVersion = "10"

// Gateway opcodes.
const (
	opDispatch       = 0
	opHeartbeat      = 1
	opIdentify       = 2
	opResume         = 6
	opReconnect      = 7
	opInvalidSession = 9
	opHello          = 10
	opHeartbeatAck   = 11
)

// closeResumable is the code ayuda closes with when it means to resume:
// any code but 1000 and 1001 keeps the session.
const closeResumable = 4000

// identifyEvery is Discord's limit on Identify for a bot without sharding
// (max_concurrency 1): one per 5 seconds.
const identifyEvery = 5 * time.Second

// identifyMargin is added to identifyEvery: Discord counts from when it
// reads an Identify, which may be later than when it was sent.
const identifyMargin = time.Second

// FatalError is a gateway close that retrying cannot fix: Run returns it,
// and the channel stays down until the operator acts.
type FatalError struct {
	Code int
	// What says what is wrong and what to do, in the operator's words.
	What string
}

func (e *FatalError) Error() string {
	return fmt.Sprintf("discord: gateway closed with %d: %s", e.Code, e.What)
}

// fatalCloses are the close codes Discord documents as not to be retried.
var fatalCloses = map[int]string{
	4004: "authentication failed: DISCORD_TOKEN is wrong or was reset; copy the bot token again from the developer portal (Bot → Reset Token)",
	4010: "invalid shard: ayuda does not shard; check that nothing else sets a shard for this token",
	4011: "sharding required: the bot is in too many servers for one connection, which ayuda does not support",
	4012: "invalid API version: ayuda speaks gateway v" + gatewayVersion + "; update ayuda",
	4013: "invalid intents: update ayuda",
	4014: "disallowed intents: switch on Message Content Intent in the developer portal (Bot → Privileged Gateway Intents) and restart ayuda",
}

// freshSession are close codes after which the session cannot resume.
var freshSession = map[int]bool{4007: true, 4009: true}

// frame is one gateway payload.
type frame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  int64           `json:"s,omitempty"`
	T  string          `json:"t,omitempty"`
}

// events receives what the gateway dispatches, one event at a time on the
// reading goroutine.
type events struct {
	ready       func(*discordgo.Ready)
	resumed     func()
	message     func(*discordgo.MessageCreate)
	interaction func(*discordgo.InteractionCreate)
}

// gateway is one bot's connection to Discord's gateway, reconnected until
// its context ends.
type gateway struct {
	b      *Bot
	ev     events
	dialer *websocket.Dialer
	token  string
	// up reports whether a session is live (READY or RESUMED seen, not
	// closed since).
	up func(bool)

	// Session state, owned by run's goroutine.
	url       string // from GET /gateway/bot
	sessionID string
	resumeURL string
	seqMu     sync.Mutex // guards seq, which the heartbeats read
	seq       int64
	lastIdent time.Time

	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// run connects and reconnects until ctx ends (nil) or Discord closes with
// a code that must not be retried (a *FatalError).
func (g *gateway) run(ctx context.Context) error {
	wait := time.Second
	for ctx.Err() == nil {
		connected, err := g.connect(ctx)
		g.up(false)
		if ctx.Err() != nil {
			return nil
		}
		var fe *FatalError
		if errors.As(err, &fe) {
			return fe
		}
		if connected {
			wait = time.Second
		}
		g.b.log.WarnContext(ctx, "gateway connection ended; reconnecting", "in", wait, "resume", g.sessionID != "", "err", err)
		if g.sleep(ctx, wait) != nil {
			return nil
		}
		if !connected {
			wait = min(2*wait, 2*time.Minute)
		}
	}
	return nil
}

// connect runs one connection until it ends. connected reports whether a
// session was established on it.
func (g *gateway) connect(ctx context.Context) (connected bool, err error) {
	if g.url == "" {
		var gb *discordgo.GatewayBotResponse
		err := g.b.do(ctx, "find the gateway", func(o ...discordgo.RequestOption) (err error) {
			gb, err = g.b.s.GatewayBot(o...)
			return err
		})
		if err != nil {
			return false, err
		}
		g.url = gb.URL
	}
	base := g.url
	if g.sessionID != "" && g.resumeURL != "" {
		base = g.resumeURL
	}
	u := strings.TrimRight(base, "/") + "/?v=" + gatewayVersion + "&encoding=json"
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ws, _, err := g.dialer.DialContext(dctx, u, nil)
	cancel()
	if err != nil {
		return false, fmt.Errorf("dial %s: %w", base, err)
	}
	c := &conn{ws: ws}
	stop := context.AfterFunc(ctx, func() { c.close(websocket.CloseNormalClosure, "ayuda stopping") })
	defer stop()
	defer ws.Close()
	return g.session(ctx, c)
}

// conn is a websocket with serialised writes.
type conn struct {
	ws  *websocket.Conn
	wmu sync.Mutex
}

func (c *conn) send(op int, d any) error {
	data, err := json.Marshal(map[string]any{"op": op, "d": d})
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

// close sends a close frame with code and closes the socket; the reader
// then returns. It never blocks for long.
func (c *conn) close(code int, why string) {
	c.wmu.Lock()
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, why), time.Now().Add(time.Second))
	c.wmu.Unlock()
	c.ws.Close()
}

// session speaks the protocol on c: Hello, Identify or Resume, heartbeats,
// and dispatches, until the connection ends.
func (g *gateway) session(ctx context.Context, c *conn) (connected bool, err error) {
	c.ws.SetReadDeadline(time.Now().Add(time.Minute))
	var hello frame
	if err := c.ws.ReadJSON(&hello); err != nil {
		return false, fmt.Errorf("read hello: %w", err)
	}
	var h struct {
		Interval float64 `json:"heartbeat_interval"`
	}
	if hello.Op != opHello || json.Unmarshal(hello.D, &h) != nil || h.Interval <= 0 {
		return false, fmt.Errorf("gateway sent op %d, want hello", hello.Op)
	}
	interval := time.Duration(h.Interval) * time.Millisecond
	if g.sessionID != "" {
		err = c.send(opResume, map[string]any{"token": g.token, "session_id": g.sessionID, "seq": g.seqNow()})
	} else {
		err = g.identify(ctx, c)
	}
	if err != nil {
		return false, err
	}

	beats := &heartbeats{c: c, seq: g.seqNow, ask: make(chan struct{}, 1)}
	hctx, stopBeats := context.WithCancel(ctx)
	defer stopBeats()
	go beats.run(hctx, interval, g.b.log)

	for {
		c.ws.SetReadDeadline(time.Now().Add(interval + 30*time.Second))
		var f frame
		if err := c.ws.ReadJSON(&f); err != nil {
			return connected, g.closed(err)
		}
		switch f.Op {
		case opDispatch:
			g.setSeq(f.S)
			if g.dispatch(f) {
				connected = true
				g.up(true)
			}
		case opHeartbeat:
			beats.now()
		case opHeartbeatAck:
			beats.acked()
		case opReconnect:
			g.b.log.InfoContext(ctx, "gateway asked to reconnect")
			c.close(closeResumable, "reconnect")
			return connected, errors.New("reconnect requested")
		case opInvalidSession:
			var resumable bool
			json.Unmarshal(f.D, &resumable)
			if !resumable {
				g.forget()
				// Discord asks for a random wait of 1–5 s before Identify.
				if g.sleep(ctx, time.Second+rand.N(4*time.Second)) != nil {
					return connected, nil
				}
			}
			g.b.log.InfoContext(ctx, "gateway session invalid", "resumable", resumable)
			c.close(closeResumable, "invalid session")
			return connected, errors.New("invalid session")
		}
	}
}

// keyIdentified is when a replica last identified (State), so that one
// taking over the gateway from a replica that died waits out Discord's
// limit instead of being refused (an Invalid Session, then 1–5 s more).
const keyIdentified = "discord:identified"

// identifyWait is how long to wait before the next Identify: until
// identifyEvery (and the margin) after the last one, this process's or,
// before its first, any replica's sharing the store.
func (g *gateway) identifyWait(ctx context.Context) time.Duration {
	if st := g.b.cfg.State; g.lastIdent.IsZero() && st != nil {
		if data, err := st.GetMeta(ctx, keyIdentified); err == nil && data != nil {
			if at, err := time.Parse(time.RFC3339Nano, string(data)); err == nil {
				g.lastIdent = at
			}
		}
	}
	if g.lastIdent.IsZero() {
		return 0
	}
	return max(0, identifyEvery+identifyMargin-time.Since(g.lastIdent))
}

// identify starts a new session, at most once per identifyEvery, counting
// the Identify of any replica sharing the store.
func (g *gateway) identify(ctx context.Context, c *conn) error {
	if wait := g.identifyWait(ctx); wait > 0 {
		if err := g.sleep(ctx, wait); err != nil {
			return err
		}
	}
	g.lastIdent = time.Now()
	if st := g.b.cfg.State; st != nil {
		if err := st.PutMeta(ctx, keyIdentified, []byte(g.lastIdent.UTC().Format(time.RFC3339Nano))); err != nil {
			g.b.log.WarnContext(ctx, "recording when the gateway identified", "err", err)
		}
	}
	return c.send(opIdentify, map[string]any{
		"token":   g.token,
		"intents": intents,
		"properties": map[string]string{
			"os": runtime.GOOS, "browser": "ayuda", "device": "ayuda",
		},
		"presence": map[string]any{"since": nil, "activities": []any{}, "status": "online", "afk": false},
	})
}

// closed says what a read error means: a fatal close, a close after which
// the session cannot resume (forgotten, so the next connection
// identifies), or a connection to resume.
func (g *gateway) closed(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if what, ok := fatalCloses[ce.Code]; ok {
			return &FatalError{Code: ce.Code, What: what}
		}
		if freshSession[ce.Code] || ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway {
			g.forget()
		}
	}
	return err
}

// dispatch decodes one event and hands it on; it reports whether the
// event started or resumed a session.
func (g *gateway) dispatch(f frame) bool {
	switch f.T {
	case "READY":
		var r discordgo.Ready
		var extra struct {
			ResumeURL string `json:"resume_gateway_url"`
		}
		if json.Unmarshal(f.D, &r) != nil {
			return false
		}
		json.Unmarshal(f.D, &extra)
		g.sessionID, g.resumeURL = r.SessionID, extra.ResumeURL
		g.ev.ready(&r)
		return true
	case "RESUMED":
		g.ev.resumed()
		return true
	case "MESSAGE_CREATE":
		var m discordgo.MessageCreate
		if json.Unmarshal(f.D, &m) == nil {
			g.ev.message(&m)
		}
	case "INTERACTION_CREATE":
		var in discordgo.InteractionCreate
		if json.Unmarshal(f.D, &in) == nil {
			g.ev.interaction(&in)
		}
	}
	return false
}

func (g *gateway) setSeq(s int64) {
	if s == 0 {
		return
	}
	g.seqMu.Lock()
	g.seq = s
	g.seqMu.Unlock()
}

func (g *gateway) seqNow() int64 {
	g.seqMu.Lock()
	defer g.seqMu.Unlock()
	return g.seq
}

// forget drops the session, so the next connection identifies.
func (g *gateway) forget() {
	g.seqMu.Lock()
	g.sessionID, g.resumeURL, g.seq = "", "", 0
	g.seqMu.Unlock()
}

// heartbeats keeps one connection alive and notices when it is a zombie.
type heartbeats struct {
	c   *conn
	seq func() int64

	ask chan struct{} // the gateway asked for a heartbeat now

	mu      sync.Mutex
	pending bool // a heartbeat was sent and not acknowledged
}

func (h *heartbeats) now() {
	select {
	case h.ask <- struct{}{}:
	default:
	}
}

func (h *heartbeats) acked() {
	h.mu.Lock()
	h.pending = false
	h.mu.Unlock()
}

// run sends heartbeats until ctx ends; a heartbeat still unacknowledged
// when the next is due closes the connection so that it is resumed.
func (h *heartbeats) run(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTimer(time.Duration(rand.Float64() * float64(interval)))
	defer t.Stop()
	for {
		asked := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			t.Reset(interval)
		case <-h.ask:
			asked = true
		}
		h.mu.Lock()
		zombie := h.pending && !asked
		h.pending = true
		h.mu.Unlock()
		if zombie {
			log.WarnContext(ctx, "gateway stopped acknowledging heartbeats; reconnecting to resume")
			h.c.close(closeResumable, "zombie connection")
			return
		}
		seq := h.seq()
		var d any
		if seq > 0 {
			d = seq
		}
		if err := h.c.send(opHeartbeat, d); err != nil {
			return
		}
	}
}
