// Package web is the chat customers use from a company's own website: one
// script tag (/chat.js) opens a button and a chat window in an iframe
// served by ayuda, so the host page's CSS cannot break it and it cannot read
// the page. The window talks to ayuda over a small JSON API on the same
// origin as the iframe:
//
//	POST /chat/api/session    a signed visitor token (and, when the site
//	                          vouches for a logged-in customer, theirs)
//	POST /chat/api/messages   one message, with the client's own id; the
//	                          answer comes back in the response
//	GET  /chat/api/messages   what else is owed to the visitor (an agent's
//	                          reply, the receipt of a request), long-polled:
//	                          ?after=N acknowledges everything up to N
//
// Nothing is lost and nothing is shown twice: a message carries an id the
// browser made, so sending it again after a dropped connection stores it
// once and gets the same answer (the dialog engine remembers the last id);
// what agents write waits in the outbox until the browser acknowledges
// having shown it, so a closed tab or a restart of either side loses
// nothing. The window keeps the conversation in the browser (localStorage
// of ayuda's origin), so a reload or a closed tab shows it again.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"ayuda/bots"
	"ayuda/escalation"
)

// Outbox is where the messages owed to a visitor wait until the browser
// acknowledges them. *escalation.Queue is one.
type Outbox interface {
	Peek(ctx context.Context, to bots.Address) ([]escalation.Outgoing, error)
	Ack(ctx context.Context, to bots.Address, upTo uint64) error
}

// Config configures the website chat.
type Config struct {
	// Key signs visitor tokens. Required, at least 16 bytes; changing it
	// makes every visitor a new one (their browsers keep what they saw).
	Key []byte
	// IdentityKey is the secret the company's site shares with ayuda to
	// vouch for a logged-in customer: it passes data-user and data-user-hash,
	// the hex HMAC-SHA256 of the user id under this key (the scheme Intercom
	// and Crisp use), and the conversation joins that customer's history.
	// Empty: only anonymous visitors.
	IdentityKey []byte
	// Origins are the pages allowed to embed the chat
	// ("https://shop.example"); ayuda's own pages always are.
	Origins []string
	// Handle answers one message. Required.
	Handle bots.Handler
	// Outbox holds what is owed to visitors. Required.
	Outbox Outbox
	// Logger receives problems; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Chat is the website channel. Its Send is what the outbox dispatcher
// calls for a visitor: it wakes the visitor's open window, and the message
// stays queued until the window acknowledges it.
type Chat struct {
	cfg Config

	mu      sync.Mutex
	waiting map[string]map[chan struct{}]struct{} // visitor → open long polls
	starts  map[string]*bucket                    // remote IP → new sessions
}

var _ bots.Adapter = (*Chat)(nil)

// New checks cfg and returns the channel.
func New(cfg Config) (*Chat, error) {
	switch {
	case len(cfg.Key) < 16:
		return nil, errors.New("web: Config.Key must be at least 16 bytes")
	case cfg.Handle == nil:
		return nil, errors.New("web: Config.Handle is required")
	case cfg.Outbox == nil:
		return nil, errors.New("web: Config.Outbox is required")
	}
	for _, o := range cfg.Origins {
		if err := CheckOrigin(o); err != nil {
			return nil, err
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Chat{cfg: cfg, waiting: map[string]map[chan struct{}]struct{}{}, starts: map[string]*bucket{}}, nil
}

// CheckOrigin says whether o is an origin a page can have:
// scheme://host[:port], http or https, nothing after it.
func CheckOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("web: %q is not an origin: write it as https://shop.example (scheme, host and port if not the default, nothing after)", o)
	}
	return nil
}

// Run waits until ctx is done: visitors come in through Handler.
func (c *Chat) Run(ctx context.Context, h bots.Handler) error {
	<-ctx.Done()
	return nil
}

// Send wakes the window of the visitor to, which fetches the message from
// the outbox; it stays there until the window has shown it.
func (c *Chat) Send(ctx context.Context, to bots.Address, r bots.Reply) error {
	c.mu.Lock()
	for ch := range c.waiting[to.Chat] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	c.mu.Unlock()
	return bots.ErrUnreachable
}

// Handler serves the script, the window and its API.
func (c *Chat) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /chat.js", c.script)
	mux.HandleFunc("GET /chat/{$}", c.window)
	mux.HandleFunc("GET /chat/demo", c.demo)
	mux.HandleFunc("GET /chat/app.js", c.static("app.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /chat/app.css", c.static("app.css", "text/css; charset=utf-8"))
	mux.HandleFunc("POST /chat/api/session", c.session)
	mux.HandleFunc("POST /chat/api/messages", c.message)
	mux.HandleFunc("GET /chat/api/messages", c.messages)
	mux.HandleFunc("/chat/api/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "route", r.Method+" "+r.URL.Path+" is not part of the chat's API")
	})
	return mux
}

//go:embed static
var static embed.FS

func (c *Chat) static(name, typ string) http.HandlerFunc {
	return bots.ServeFile(static, "static/"+name, typ)
}

// script is /chat.js, the loader a page includes. Any page may load it;
// only the configured origins may show the window it opens.
func (c *Chat) script(w http.ResponseWriter, r *http.Request) {
	c.static("chat.js", "text/javascript; charset=utf-8")(w, r)
}

// window is the chat window, shown in the loader's iframe.
func (c *Chat) window(w http.ResponseWriter, r *http.Request) {
	ancestors := append([]string{"'self'"}, c.cfg.Origins...)
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors "+strings.Join(ancestors, " "))
	w.Header().Set("Referrer-Policy", "no-referrer")
	c.static("window.html", "text/html; charset=utf-8")(w, r)
}

// demo is a page of ayuda's own with the chat on it, to try it without a
// website (make run, then open /chat/demo).
func (c *Chat) demo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	c.static("demo.html", "text/html; charset=utf-8")(w, r)
}

// Visitors are addressed as web:<id>: "v-" and 32 random hex digits for an
// anonymous one, "u-" and the site's user id for a customer the site
// vouched for.
const (
	maxUser = 128
	maxID   = 64 // a message id the browser made
	maxBody = 64 << 10
	// maxWait is the longest a long poll waits: below the server's write
	// timeout (bots.DefaultLimits), above what proxies commonly allow idle.
	maxWait = 25 * time.Second
)

// Address is where visitor id is reached.
func Address(visitor string) bots.Address {
	return bots.Address{Platform: bots.Web, Chat: visitor, User: visitor}
}

func (c *Chat) sign(visitor string) string {
	m := hmac.New(sha256.New, c.cfg.Key)
	m.Write([]byte("ayuda-web-visitor:" + visitor))
	return hex.EncodeToString(m.Sum(nil))
}

// token is what the window keeps: the visitor id and its signature.
func (c *Chat) token(visitor string) string { return visitor + "." + c.sign(visitor) }

// visitor returns the visitor a request's token names, if it is genuine.
func (c *Chat) visitor(r *http.Request) (string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(tok, '.')
	if i <= 0 {
		return "", false
	}
	v, sig := tok[:i], tok[i+1:]
	if !hmac.Equal([]byte(sig), []byte(c.sign(v))) {
		return "", false
	}
	return v, true
}

// VouchFor is the hash a site passes as data-user-hash for user: the hex
// HMAC-SHA256 of the user id under the identity key.
func VouchFor(identityKey []byte, user string) string {
	m := hmac.New(sha256.New, identityKey)
	m.Write([]byte(user))
	return hex.EncodeToString(m.Sum(nil))
}

type sessionRequest struct {
	User     string `json:"user,omitempty"`
	UserHash string `json:"user_hash,omitempty"`
}

type sessionReply struct {
	Token   string `json:"token"`
	Visitor string `json:"visitor"`
}

// session gives the window a visitor token: a new anonymous visitor, or
// the customer the site vouched for.
func (c *Chat) session(w http.ResponseWriter, r *http.Request) {
	var b sessionRequest
	if !c.decode(w, r, &b) {
		return
	}
	var visitor string
	switch {
	case b.User != "":
		if len(c.cfg.IdentityKey) == 0 {
			c.fail(w, r, http.StatusForbidden, "identity", "this site's logged-in customers are not set up in ayuda (AYUDA_WEB_IDENTITY_SECRET)")
			return
		}
		if len(b.User) > maxUser || !printable(b.User) || !hmac.Equal([]byte(strings.ToLower(b.UserHash)), []byte(VouchFor(c.cfg.IdentityKey, b.User))) {
			c.fail(w, r, http.StatusForbidden, "identity", "the site's signature of this customer does not match")
			return
		}
		visitor = "u-" + b.User
	default:
		if !c.allowStart(clientIP(r)) {
			w.Header().Set("Retry-After", "10")
			c.fail(w, r, http.StatusTooManyRequests, "slow", "too many new chats from this address")
			return
		}
		buf := make([]byte, 16)
		rand.Read(buf)
		visitor = "v-" + hex.EncodeToString(buf)
	}
	bots.WriteJSON(w, http.StatusOK, sessionReply{Token: c.token(visitor), Visitor: visitor})
}

type messageRequest struct {
	ID     string `json:"id"`
	Text   string `json:"text"`
	Name   string `json:"name,omitempty"`
	Locale string `json:"locale,omitempty"`
}

type messageReply struct {
	Reply bots.Reply `json:"reply"`
}

// message hands one message from the window to the dialog and returns its
// answer. The same id sent again gets the same answer and is stored once.
func (c *Chat) message(w http.ResponseWriter, r *http.Request) {
	visitor, ok := c.visitor(r)
	if !ok {
		c.fail(w, r, http.StatusUnauthorized, "session", "the chat's session is not valid: start a new one")
		return
	}
	var b messageRequest
	if !c.decode(w, r, &b) {
		return
	}
	if b.ID == "" || len(b.ID) > maxID || !printable(b.ID) {
		c.fail(w, r, http.StatusBadRequest, "id", fmt.Sprintf("a message needs an id of 1 to %d printable characters", maxID))
		return
	}
	if strings.TrimSpace(b.Text) == "" {
		c.fail(w, r, http.StatusBadRequest, "empty", "the message is empty")
		return
	}
	m := bots.Message{
		ID:     b.ID,
		From:   Address(visitor),
		Name:   strings.TrimSpace(b.Name),
		Text:   b.Text,
		Time:   c.cfg.Now(),
		Locale: b.Locale,
	}
	bots.WriteJSON(w, http.StatusOK, messageReply{Reply: c.cfg.Handle(r.Context(), m)})
}

type outgoing struct {
	Seq   uint64     `json:"seq"`
	Reply bots.Reply `json:"reply"`
}

type messagesReply struct {
	Messages []outgoing `json:"messages"`
}

// messages returns what is owed to the visitor after acknowledging
// everything up to ?after=, waiting up to ?wait= (at most maxWait) for
// something to arrive.
func (c *Chat) messages(w http.ResponseWriter, r *http.Request) {
	visitor, ok := c.visitor(r)
	if !ok {
		c.fail(w, r, http.StatusUnauthorized, "session", "the chat's session is not valid: start a new one")
		return
	}
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			c.fail(w, r, http.StatusBadRequest, "after", "after must be the number of the last message shown")
			return
		}
		after = n
	}
	wait := time.Duration(0)
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			c.fail(w, r, http.StatusBadRequest, "wait", "wait must be a duration such as 25s")
			return
		}
		wait = min(d, maxWait)
	}
	to := Address(visitor)
	ctx := r.Context()
	if err := c.cfg.Outbox.Ack(ctx, to, after); err != nil {
		c.unavailable(w, r, err)
		return
	}
	wake := c.listen(visitor)
	defer c.unlisten(visitor, wake)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		msgs, err := c.cfg.Outbox.Peek(ctx, to)
		if err != nil {
			c.unavailable(w, r, err)
			return
		}
		out := messagesReply{Messages: []outgoing{}}
		for _, m := range msgs {
			if m.Seq > after { // an acknowledgement may race a new one
				out.Messages = append(out.Messages, outgoing{Seq: m.Seq, Reply: m.Reply})
			}
		}
		if len(out.Messages) > 0 || wait == 0 {
			bots.WriteJSON(w, http.StatusOK, out)
			return
		}
		// The dispatcher's Send wakes this; a slow look now and then
		// covers a message queued while the dispatcher was busy.
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			bots.WriteJSON(w, http.StatusOK, out)
			return
		case <-wake:
		case <-time.After(2 * time.Second):
		}
	}
}

func (c *Chat) listen(visitor string) chan struct{} {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiting[visitor] == nil {
		c.waiting[visitor] = map[chan struct{}]struct{}{}
	}
	c.waiting[visitor][ch] = struct{}{}
	return ch
}

func (c *Chat) unlisten(visitor string, ch chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.waiting[visitor], ch)
	if len(c.waiting[visitor]) == 0 {
		delete(c.waiting, visitor)
	}
}

// New anonymous sessions per remote address: a burst of 20, then one every
// 3 s. It keeps one browser from becoming a thousand visitors to get past
// the per-person message limit; behind a proxy every visitor shares the
// proxy's address, which the burst allows for.
const (
	startBurst = 20
	startEvery = 3 * time.Second
	maxBuckets = 10000
)

type bucket struct {
	tokens float64
	at     time.Time
}

func (c *Chat) allowStart(ip string) bool {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.starts[ip]
	if b == nil {
		if len(c.starts) >= maxBuckets {
			for k, o := range c.starts { // forget the full ones
				if now.Sub(o.at) > startBurst*startEvery {
					delete(c.starts, k)
				}
			}
		}
		b = &bucket{tokens: startBurst, at: now}
		c.starts[ip] = b
	}
	b.tokens = min(startBurst, b.tokens+now.Sub(b.at).Seconds()/startEvery.Seconds())
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// printable reports whether s has no control characters.
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// problem is an error as the window gets it: a code it shows in the
// visitor's language, and a sentence for whoever reads the network log.
type problem struct {
	Code  string `json:"code"`
	Error string `json:"error"`
}

func (c *Chat) fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	bots.WriteJSON(w, status, problem{Code: code, Error: msg})
}

func (c *Chat) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	c.cfg.Logger.ErrorContext(r.Context(), "web chat: the store did not answer", "err", err)
	w.Header().Set("Retry-After", "2")
	c.fail(w, r, http.StatusServiceUnavailable, "unavailable", "the chat cannot be reached right now; the message is kept and sent again")
}

// decode reads a JSON body; it must say it is JSON, which a page on
// another origin cannot send without the browser asking ayuda first (and
// ayuda allows no other origin).
func (c *Chat) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		c.fail(w, r, http.StatusUnsupportedMediaType, "json", "send the message as application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			c.fail(w, r, http.StatusRequestEntityTooLarge, "long", fmt.Sprintf("the message is too long: at most %d KB", maxBody>>10))
			return false
		}
		c.fail(w, r, http.StatusBadRequest, "json", "the request is not the JSON the chat sends")
		return false
	}
	return true
}
