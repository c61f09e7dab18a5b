// Package discord is the Discord channel: customers talk to ayuda in direct
// messages and in a support channel of a server, where each customer's
// first message opens a thread for their conversation. Choices are buttons,
// slash commands (/ayuda, /estado, /humano, /nueva) are registered at
// start-up, and agents' answers arrive, through the outbox, in the DM or
// thread the customer used.
//
// It is built on github.com/bwmarrin/discordgo, which never leaves this
// package. Everything discordgo does not handle the way ayuda needs is done
// here: a base URL other than Discord's (Config.APIURL) by rewriting hosts
// in the HTTP transport and the websocket dialer, rate limits that give up
// when the context ends, deduplication of re-delivered messages and
// interactions, and catching up on missed messages after the gateway
// session could not be resumed.
package discord

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"

	"ayuda/bots"
)

// DefaultAPIURL is Discord's own base URL, used when Config.APIURL is empty.
const DefaultAPIURL = "https://discord.com"

// Token is a bot token. It prints and logs as [redacted]; string(t) is the
// token itself.
type Token string

// String redacts the token.
func (Token) String() string { return "[redacted]" }

// GoString redacts the token in %#v.
func (Token) GoString() string { return `discord.Token("[redacted]")` }

// LogValue redacts the token in slog output.
func (Token) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// State keeps small durable values: the threads ayuda opened, the chats it
// talks in and the last message seen in each. *escalation.Queue is one.
type State interface {
	GetMeta(ctx context.Context, key string) ([]byte, error)
	PutMeta(ctx context.Context, key string, v []byte) error
}

// Outbox takes a reply that could not be posted inline (Discord kept
// failing) so it is delivered later through Send. *escalation.Queue is one.
type Outbox interface {
	Enqueue(ctx context.Context, to bots.Address, r bots.Reply) error
}

// Config configures a Bot. Zero fields are the documented defaults.
type Config struct {
	// Token is the bot token from the developer portal (with or without
	// the "Bot " prefix). Required.
	Token Token
	// APIURL is the base URL of Discord's REST API and gateway, for a proxy
	// or a test double. Requests for discord.com are sent there instead,
	// and websocket connections to *.discord.gg go to its host (plain
	// websocket when it is http://). Empty means DefaultAPIURL.
	APIURL string
	// SupportChannel is the id of the server channel where customers may
	// post; each customer's first message there opens a thread. Empty
	// means ayuda answers in servers only when mentioned.
	SupportChannel string
	// GuildID is the server the slash commands are registered in (they
	// appear at once); empty registers them globally.
	GuildID string
	// State keeps ayuda's threads and the last message seen per chat
	// across restarts. Nil keeps them in memory only.
	State State
	// Outbox receives inline replies that could not be posted. Nil logs
	// and drops them.
	Outbox Outbox
	// Client is the HTTP client for the REST API; its Transport is wrapped,
	// never modified. Nil means a client with a 20-second timeout.
	Client *http.Client
	// Logger; nil discards.
	Logger *slog.Logger
}

// Limits and timings.
const (
	maxContent     = 2000 // characters per message
	maxCustomID    = 100  // bytes of a button's custom_id
	maxLabel       = 80   // characters of a button's label
	maxButtons     = 5    // per row
	maxRows        = 5    // per message
	workers        = 4    // conversations handled at once
	ackWorkers     = 2    // interactions acknowledged at once
	turnTimeout    = 30 * time.Second
	closeTimeout   = 5 * time.Second
	enqueueTimeout = 5 * time.Second
	archiveMinutes = 10080 // threads auto-archive after a week without messages
)

// intents are the gateway events ayuda needs; MessageContent is privileged
// and must be switched on in the developer portal.
const intents = discordgo.IntentsGuilds | discordgo.IntentsGuildMessages |
	discordgo.IntentsDirectMessages | discordgo.IntentMessageContent

// Bot is the Discord channel. Run receives messages and Send delivers
// replies; both may be called concurrently, and Send works before, during
// and after Run. Run may be called once.
type Bot struct {
	cfg   Config
	log   *slog.Logger
	s     *discordgo.Session
	chats *chats
	seen  *seenSet

	mu    sync.Mutex // guards botID and appID
	botID string
	appID string

	started atomic.Bool
	closed  atomic.Bool // after Run: the dialer refuses new gateway connections
	up      atomic.Bool // the gateway has a live session
	calls   tracker     // goroutines that may outlive their caller (see do)
}

var _ bots.Adapter = (*Bot)(nil)

// New returns a Bot for cfg. It does not connect; Run does.
func New(cfg Config) (*Bot, error) {
	tok := strings.TrimSpace(string(cfg.Token))
	tok = strings.TrimPrefix(tok, "Bot ")
	if tok == "" {
		return nil, errors.New("discord: Config.Token is required")
	}
	var base *url.URL
	if cfg.APIURL != "" {
		u, err := url.Parse(strings.TrimRight(cfg.APIURL, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("discord: APIURL %q: want http(s)://host[:port][/path]", cfg.APIURL)
		}
		if u.String() != DefaultAPIURL {
			base = u
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := discordgo.New("Bot " + tok)
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	b := &Bot{cfg: cfg, log: log, s: s, seen: newSeenSet(8192)}
	b.chats = newChats(cfg.State, cfg.SupportChannel)

	s.Client = httpClient(cfg.Client, base)
	s.Dialer = gatewayDialer(base, &b.closed)
	s.Identify.Intents = intents // ayuda's own gateway (gateway.go) identifies; discordgo's stays closed
	s.StateEnabled = false
	s.ShouldRetryOnRateLimit = false // rate limits are waited out in do, with the ctx
	s.LogLevel = discordgo.LogError
	return b, nil
}

// Send posts r in to.Chat (a DM channel or thread), splitting long text and
// putting the choices as buttons on the last part. With no Chat it opens
// a DM with to.User. A channel that is gone or a user who cannot be
// messaged is a bots.Permanent error. If a later part fails after earlier
// ones were posted, the rest goes to the Outbox (when set) so nothing is
// posted twice. Send returns when ctx ends, whatever Discord does.
func (b *Bot) Send(ctx context.Context, to bots.Address, r bots.Reply) error {
	if to.Platform != bots.Discord {
		return bots.ErrUnreachable
	}
	if r.IsZero() {
		return nil
	}
	chat := to.Chat
	if chat == "" {
		if to.User == "" {
			return bots.Permanent(errors.New("discord: send: address has no chat and no user"))
		}
		var ch *discordgo.Channel
		err := b.do(ctx, "open DM", func(o ...discordgo.RequestOption) (err error) {
			ch, err = b.s.UserChannelCreate(to.User, o...)
			return err
		})
		if err != nil {
			return classify(err)
		}
		chat = ch.ID
	}
	parts := render(r)
	n, err := b.post(ctx, chat, parts)
	if err != nil && n > 0 && !bots.IsPermanent(err) && b.cfg.Outbox != nil {
		if qerr := b.enqueue(ctx, to, rest(r, parts, n), n); qerr == nil {
			b.log.WarnContext(ctx, "reply partly posted; the rest was queued", "chat", chat, "parts", len(parts), "posted", n, "err", err)
			return nil
		}
	}
	return err
}

// post posts parts to a channel in order and returns how many were posted.
//
// Each part carries a nonce with enforce_nonce set: asked again within a
// few minutes to create a message with the same nonce, Discord returns the
// one it created instead of posting another. So a part whose request
// timed out after Discord had accepted it is not posted twice when it is
// sent again: by discordgo (it retries 5xx answers), by do (429s), or by
// the outbox dispatcher, whose attempts at one message share a key
// (bots.SendKey) from which the nonces are derived. Outside the
// dispatcher the key is random, for this call's retries.
func (b *Bot) post(ctx context.Context, chat string, parts []part) (int, error) {
	key, off := splitKey(bots.SendKey(ctx))
	if key == "" {
		key = rand.Text()
	}
	for i, p := range parts {
		m := messageSend{
			MessageSend: &discordgo.MessageSend{Content: p.content, Components: p.buttons, AllowedMentions: noMentions()},
			Nonce:       nonce(key, off+i), EnforceNonce: true,
		}
		err := b.do(ctx, "post message", func(o ...discordgo.RequestOption) error {
			// ChannelMessageSendComplex without files or embeds, plus the nonce.
			endpoint := discordgo.EndpointChannelMessages(chat)
			_, err := b.s.RequestWithBucketID(http.MethodPost, endpoint, m, endpoint, o...)
			return err
		})
		if err != nil {
			return i, classify(err)
		}
	}
	return len(parts), nil
}

// messageSend is discordgo's MessageSend with the fields it lacks.
type messageSend struct {
	*discordgo.MessageSend
	Nonce        string `json:"nonce,omitempty"`
	EnforceNonce bool   `json:"enforce_nonce,omitempty"`
}

// splitKey reads a send key: the message's key, and the part its first
// part is (after "@", for the rest of a reply whose first parts were
// posted), so every part keeps the nonce it was first sent with.
func splitKey(key string) (string, int) {
	base, off, ok := strings.Cut(key, "@")
	if !ok {
		return key, 0
	}
	n, err := strconv.Atoi(off)
	if err != nil || n < 0 {
		return key, 0
	}
	return base, n
}

// nonce is the nonce of part i of the message with key: 24 characters
// (Discord takes up to 25).
func nonce(key string, i int) string {
	sum := sha256.Sum256([]byte(key + "\x00" + strconv.Itoa(i)))
	return hex.EncodeToString(sum[:12])
}

// deliver posts an inline reply; what cannot be posted goes to the Outbox.
func (b *Bot) deliver(ctx context.Context, to bots.Address, r bots.Reply) {
	if r.IsZero() {
		return
	}
	parts := render(r)
	if n, err := b.post(ctx, to.Chat, parts); err != nil {
		b.undelivered(ctx, to, r, parts, n, err)
	}
}

// undelivered handles an inline reply whose parts from n on could not be
// posted: they are queued, unless the chat cannot be written to at all.
func (b *Bot) undelivered(ctx context.Context, to bots.Address, r bots.Reply, parts []part, n int, err error) {
	switch {
	case bots.IsPermanent(err):
		b.log.ErrorContext(ctx, "reply not delivered: the chat cannot be written to", "chat", to.Chat, "err", err)
	case b.cfg.Outbox == nil:
		b.log.ErrorContext(ctx, "reply not delivered", "chat", to.Chat, "err", err)
	default:
		if qerr := b.enqueue(ctx, to, rest(r, parts, n), n); qerr != nil {
			b.log.ErrorContext(ctx, "reply lost: not posted and not queued", "chat", to.Chat, "err", err, "queue_err", qerr)
			return
		}
		b.log.WarnContext(ctx, "reply queued for later delivery", "chat", to.Chat, "err", err)
	}
}

// enqueue puts r, the parts from the n-th on of a reply that was being
// sent, in the outbox even when ctx has just ended (a shutdown must not
// lose a reply that was decided). The outbox keeps the send's key, moved
// past the n parts already posted, so each part keeps its nonce.
func (b *Bot) enqueue(ctx context.Context, to bots.Address, r bots.Reply, n int) error {
	if key := bots.SendKey(ctx); key != "" && n > 0 {
		base, off := splitKey(key)
		ctx = bots.WithSendKey(ctx, base+"@"+strconv.Itoa(off+n))
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), enqueueTimeout)
	defer cancel()
	return b.cfg.Outbox.Enqueue(qctx, to, r)
}

// do runs one REST call, bounded by ctx: it returns ctx's error as soon as
// ctx ends, even while discordgo waits on a rate-limit bucket (the call
// then finishes in the background). A 429 is waited out here, after the
// time Discord asks for, unless ctx ends first. Errors are wrapped with op.
func (b *Bot) do(ctx context.Context, op string, call func(...discordgo.RequestOption) error) error {
	for {
		err := b.once(ctx, call)
		var rl *discordgo.RateLimitError
		if errors.As(err, &rl) && rl.RateLimit != nil && rl.TooManyRequests != nil {
			wait := max(rl.RetryAfter, 50*time.Millisecond)
			b.log.WarnContext(ctx, "rate limited", "op", op, "retry_after", wait)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
				continue
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("discord: %s: rate limited until after the deadline: %w", op, ctx.Err())
			}
		}
		if err != nil {
			return fmt.Errorf("discord: %s: %w", op, err)
		}
		return nil
	}
}

func (b *Bot) once(ctx context.Context, call func(...discordgo.RequestOption) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	b.calls.add()
	go func() {
		defer b.calls.done()
		done <- call(discordgo.WithContext(ctx), discordgo.WithRetryOnRatelimit(false))
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// classify marks errors retrying cannot fix: the channel or message is
// gone (404) or the bot may not write there (403: DMs closed, blocked,
// missing permission).
func classify(err error) error {
	if code := httpStatus(err); code == http.StatusForbidden || code == http.StatusNotFound {
		return bots.Permanent(err)
	}
	return err
}

// httpStatus returns the HTTP status of a REST error, or 0.
func httpStatus(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.StatusCode
	}
	return 0
}

// apiCode returns Discord's JSON error code of a REST error, or 0.
func apiCode(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil {
		return re.Message.Code
	}
	return 0
}

func (b *Bot) ids() (botID, appID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.botID, b.appID
}

func (b *Bot) setIDs(botID, appID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if botID != "" {
		b.botID = botID
	}
	if appID != "" {
		b.appID = appID
	}
}
