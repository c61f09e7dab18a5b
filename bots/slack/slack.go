// Package slack is ayuda's Slack channel, built on
// github.com/slack-go/slack (v0.35.0), which never leaves this package.
//
// Slack has two jobs. Staff talk to ayuda in a direct message, by
// mentioning the app in a channel, or with the /ayuda command: their
// messages run the dialog engine with bots.Message.Internal set, so they
// are offered internal articles too, and a request they open is a ticket
// like any other. And the agents' channel is the live queue: one card per
// ticket, updated in place on every change, with buttons to claim it and
// move it along; every customer message lands in the card's thread, and
// what an agent writes in that thread reaches the customer on their own
// platform, or stays an internal note when it starts with a note marker.
//
// Events arrive over Socket Mode (the default) or the Events API over
// HTTP. Each envelope is written to a durable inbox (a small State record
// per envelope, "slack:inbox/<key>") before it is acknowledged, so it is handled exactly once
// even when Slack delivers it twice, and handled at all when the process
// dies after acknowledging it. The desk keeps what it posted for each
// ticket in State ("slack:card:<id>") and reconciles it with the queue on
// start and after every change, so a card, a thread line or a reaction
// missed while Slack was down or the process was stopped is posted later.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"golang.org/x/sync/errgroup"

	"ayuda/bots"
	"ayuda/escalation"
)

// Secret is a credential: a token or the signing secret. It prints and
// logs as "[redacted]"; Reveal returns the value itself.
type Secret string

const redacted = "[redacted]"

func (Secret) String() string { return redacted }

// GoString keeps %#v from printing the secret.
func (Secret) GoString() string { return `slack.Secret("` + redacted + `")` }

// LogValue keeps slog from printing the secret.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// Mode is how events arrive from Slack.
type Mode string

// Modes.
const (
	// Socket is Socket Mode: the Bot dials Slack over a websocket, so it
	// needs no public URL. It needs an app-level token.
	Socket Mode = "socket"
	// HTTP is the Events API: Slack posts events, interactions and slash
	// commands to Handler, signed with the app's signing secret.
	HTTP Mode = "http"
)

// Queue is what the Bot needs of the ticket store; *escalation.Queue is
// one.
type Queue interface {
	Get(ctx context.Context, id escalation.ID) (*escalation.Ticket, error)
	List(ctx context.Context, f escalation.Filter) ([]escalation.Ticket, error)
	Agent(id string) (escalation.Agent, error)
	Claim(ctx context.Context, id escalation.ID, agent string) (*escalation.Ticket, error)
	Takeover(ctx context.Context, id escalation.ID, agent, why string) (*escalation.Ticket, error)
	SetStatus(ctx context.Context, id escalation.ID, agent string, to escalation.Status) (*escalation.Ticket, error)
	Classify(ctx context.Context, id escalation.ID, agent string, typ escalation.Type, p escalation.Priority) (*escalation.Ticket, error)
	ReplyRef(ctx context.Context, id escalation.ID, agent, text, ref string) (*escalation.Ticket, error)
	NoteRef(ctx context.Context, id escalation.ID, agent, text, ref string) (*escalation.Ticket, error)
	Pending(ctx context.Context) ([]escalation.Outgoing, error)
	Undeliverable(ctx context.Context) ([]escalation.Outgoing, error)
	Watch(f func(escalation.Change))
	WatchDeliveries(f func(escalation.Delivery))
}

// State keeps small durable values: the inbox and the desk's cards.
// *escalation.Queue is one.
type State interface {
	GetMeta(ctx context.Context, key string) ([]byte, error)
	PutMeta(ctx context.Context, key string, v []byte) error
	// ScanMeta calls fn with every value under a key with prefix.
	ScanMeta(ctx context.Context, prefix string, fn func(key string, v []byte) error) error
	// DeleteMeta removes keys, durably, in one commit.
	DeleteMeta(ctx context.Context, keys ...string) error
}

// Outbox takes a reply that could not be posted inline, to deliver it
// later through Send. *escalation.Queue is one.
type Outbox interface {
	Enqueue(ctx context.Context, to bots.Address, r bots.Reply) error
}

// Config configures a Bot. Zero fields are the documented defaults.
type Config struct {
	// BotToken is the bot user OAuth token (xoxb-…). Required.
	BotToken Secret
	// AppToken is the app-level token (xapp-…) with connections:write.
	// Required in Socket mode.
	AppToken Secret
	// APIURL is the Web API base URL; empty means https://slack.com/api/.
	// Methods are appended to it ("…/api/chat.postMessage").
	APIURL string
	// Client makes the HTTP requests; nil means a client with a 30 s
	// timeout.
	Client *http.Client
	// Mode is Socket (the default) or HTTP.
	Mode Mode
	// SigningSecret verifies the Events API's requests. Required in HTTP
	// mode.
	SigningSecret Secret
	// Listen is where Run serves Handler in HTTP mode (for example
	// ":3000"). Empty means Run does not listen: mount Handler on a server
	// of your own.
	Listen string

	// AgentsChannel is the channel id (C…) of the agents' desk. Empty
	// means no desk.
	AgentsChannel string
	// Agents maps Slack user ids to the ids of configured agents.
	Agents map[string]string
	// AgentGroup is a user group id (S…). When set, only its members may
	// act as agents, each as the agent Agents maps their user id to: a
	// member nobody mapped is not an agent (handles and display names are
	// never trusted; members choose them).
	AgentGroup string
	// ThreadReplies is what an agent's plain reply in a card's thread
	// does: RepliesToCustomer (the default, "") sends it to the customer
	// unless it starts with a note marker; RepliesInternal keeps every
	// thread reply internal, and only the card's "Responder al cliente…"
	// form writes to the customer.
	ThreadReplies string

	// Queue is the ticket store. Required with AgentsChannel.
	Queue Queue
	// State keeps the inbox and the desk. Required.
	State State
	// Outbox receives replies that could not be posted inline. Required.
	Outbox Outbox
	// Logger receives transport problems; nil discards.
	Logger *slog.Logger
	// Workers is how many envelopes are handled at once; zero means 4.
	// Envelopes of one conversation are handled in order.
	Workers int
}

// Bot is the Slack channel. Run must be called once; Send and Handler are
// safe for concurrent use, before, during and after Run.
type Bot struct {
	cfg    Config
	log    *slog.Logger
	api    *slack.Client
	inbox  *inbox
	desk   *desk // nil without an agents channel
	agents *agents

	me      atomic.Pointer[identity] // set by Run from auth.test
	running atomic.Bool
	handler atomic.Pointer[bots.Handler]
	jobs    []chan *envelope // one per worker; an envelope's route picks it

	dmMu sync.Mutex
	dms  map[string]string // user → DM channel

	users *userCache

	// now and sleep are the clock; tests replace them.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// identity is who the bot is, from auth.test.
type identity struct {
	UserID string
	BotID  string
	TeamID string
}

var _ bots.Adapter = (*Bot)(nil)

// Defaults and limits.
const (
	defaultWorkers = 4
	jobBuffer      = 256
	// maxAttempts bounds the tries of one Web API call.
	maxAttempts = 5
	// handleTimeout bounds the handling of one envelope.
	handleTimeout = 2 * time.Minute
)

// New checks cfg and returns a Bot. It does not touch the network: Run
// starts by asking Slack who the bot is.
func New(cfg Config) (*Bot, error) {
	if cfg.BotToken == "" {
		return nil, errors.New("slack: Config.BotToken is required")
	}
	switch cfg.Mode {
	case "", Socket:
		cfg.Mode = Socket
		if cfg.AppToken == "" {
			return nil, errors.New("slack: Socket mode needs Config.AppToken (xapp-…)")
		}
	case HTTP:
		if cfg.SigningSecret == "" {
			return nil, errors.New("slack: HTTP mode needs Config.SigningSecret")
		}
	default:
		return nil, fmt.Errorf("slack: unknown mode %q (socket or http)", cfg.Mode)
	}
	switch cfg.ThreadReplies {
	case "":
		cfg.ThreadReplies = RepliesToCustomer
	case RepliesToCustomer, RepliesInternal:
	default:
		return nil, fmt.Errorf("slack: thread replies %q: say %q (a thread reply goes to the customer) or %q (it is an internal note)", cfg.ThreadReplies, RepliesToCustomer, RepliesInternal)
	}
	if cfg.State == nil {
		return nil, errors.New("slack: Config.State is required")
	}
	if cfg.Outbox == nil {
		return nil, errors.New("slack: Config.Outbox is required")
	}
	if cfg.AgentsChannel != "" && cfg.Queue == nil {
		return nil, errors.New("slack: the agents' desk needs Config.Queue")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = slack.APIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	if u, err := url.Parse(cfg.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("slack: APIURL %q is not an http(s) URL", cfg.APIURL)
	}
	if cfg.Queue != nil {
		for user, id := range cfg.Agents {
			if _, err := cfg.Queue.Agent(id); err != nil {
				return nil, fmt.Errorf("slack: Slack user %s: %w", user, err)
			}
		}
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = defaultWorkers
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []slack.Option{slack.OptionAPIURL(cfg.APIURL), slack.OptionHTTPClient(cfg.Client)}
	if cfg.AppToken != "" {
		opts = append(opts, slack.OptionAppLevelToken(cfg.AppToken.Reveal()))
	}
	b := &Bot{
		cfg:   cfg,
		log:   log,
		api:   slack.New(cfg.BotToken.Reveal(), opts...),
		dms:   map[string]string{},
		now:   time.Now,
		sleep: bots.Sleep,
	}
	b.inbox = newInbox(cfg.State, func() time.Time { return b.now() })
	b.users = &userCache{m: map[string]userInfo{}}
	b.agents = &agents{b: b, byUser: cfg.Agents, group: cfg.AgentGroup}
	b.jobs = make([]chan *envelope, cfg.Workers)
	for i := range b.jobs {
		b.jobs[i] = make(chan *envelope, jobBuffer)
	}
	if cfg.AgentsChannel != "" {
		b.desk = newDesk(b)
	}
	return b, nil
}

// Exclusive: the agents' desk (one card per ticket) and the durable
// inbox of Slack's events are kept by one replica at a time.
func (b *Bot) Exclusive() bool { return true }

// Run asks Slack who the bot is, replays envelopes a previous run
// acknowledged but did not finish, runs the agents' desk, and receives
// events (over Socket Mode, or through Handler in HTTP mode), calling h for
// each staff message until ctx is done. It returns nil once ctx is done,
// or the error that stopped it (Slack rejected a token, the listener
// failed).
func (b *Bot) Run(ctx context.Context, h bots.Handler) error {
	if h == nil {
		return errors.New("slack: Run needs a handler")
	}
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("slack: Run is already running")
	}
	defer b.running.Store(false) // a replica that leads again runs it again
	b.handler.Store(&h)
	if err := b.whoAmI(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if err := b.inbox.load(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return fmt.Errorf("slack: inbox: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, jobs := range b.jobs {
		g.Go(func() error { b.work(gctx, jobs, i == 0); return nil })
	}
	if b.desk != nil {
		g.Go(func() error { b.desk.run(gctx); return nil })
	}
	for _, e := range b.inbox.unfinished() {
		b.dispatch(e)
	}
	switch b.cfg.Mode {
	case Socket:
		smc := socketmode.New(b.api)
		g.Go(func() error {
			err := smc.RunContext(gctx)
			if gctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack: socket mode: %w", err)
		})
		g.Go(func() error { b.drain(gctx, smc); return nil })
	case HTTP:
		if b.cfg.Listen != "" {
			g.Go(func() error { return b.listen(gctx) })
		}
	}
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// whoAmI asks auth.test who the bot is, so its own messages are ignored
// and its mention is recognised. While Slack cannot be reached it keeps
// asking, with pauses growing to 5 min; a token Slack refuses is an error.
func (b *Bot) whoAmI(ctx context.Context) error {
	var r *slack.AuthTestResponse
	for failures := 1; ; failures++ {
		err := b.call(ctx, "auth.test", func(ctx context.Context) error {
			var err error
			r, err = b.api.AuthTestContext(ctx)
			return err
		})
		if err == nil {
			break
		}
		if _, transient := retryAfter(err, 1); !transient || ctx.Err() != nil {
			return err
		}
		wait := min(time.Second<<min(failures-1, 9), 5*time.Minute)
		b.log.WarnContext(ctx, "Slack unreachable; retrying", "in", wait, "err", err)
		if err := b.sleep(ctx, wait); err != nil {
			return err
		}
	}
	b.me.Store(&identity{UserID: r.UserID, BotID: r.BotID, TeamID: r.TeamID})
	b.log.InfoContext(ctx, "connected to Slack", "team", r.Team, "bot_user", r.UserID, "mode", string(b.cfg.Mode))
	return nil
}

func (b *Bot) identity() identity {
	if me := b.me.Load(); me != nil {
		return *me
	}
	return identity{}
}

// Send delivers r to a Slack address: to the person's direct message with
// the app when the address names a user, or to the address's chat when it
// does not. A chat, user or workspace that no longer accepts the app's
// messages is a bots.Permanent error.
func (b *Bot) Send(ctx context.Context, to bots.Address, r bots.Reply) error {
	if to.Platform != bots.Slack {
		return bots.ErrUnreachable
	}
	if r.IsZero() {
		return nil
	}
	ch := to.Chat
	if to.User != "" && !isDM(ch) {
		dm, err := b.dm(ctx, to.User)
		if err != nil {
			return classify(err)
		}
		ch = dm
	}
	if ch == "" {
		return bots.Permanent(fmt.Errorf("slack: address %s has no chat", to))
	}
	_, err := b.post(ctx, ch, "", r)
	return classify(err)
}

// permanentErrors are Slack's answers that retrying cannot change.
var permanentErrors = map[string]bool{
	"channel_not_found": true, "not_in_channel": true, "account_inactive": true, "is_archived": true,
	"user_not_found": true, "user_disabled": true, "cannot_dm_bot": true, "messages_tab_disabled": true,
	"restricted_action": true, "team_access_not_granted": true, "no_permission": true,
}

// classify marks the errors retrying cannot fix as bots.Permanent.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) && permanentErrors[se.Err] {
		return bots.Permanent(err)
	}
	return err
}

// isDM reports whether ch is a direct message channel.
func isDM(ch string) bool { return strings.HasPrefix(ch, "D") }

// dm returns the direct message channel with user, opening it once.
func (b *Bot) dm(ctx context.Context, user string) (string, error) {
	b.dmMu.Lock()
	ch, ok := b.dms[user]
	b.dmMu.Unlock()
	if ok {
		return ch, nil
	}
	var c *slack.Channel
	err := b.call(ctx, "conversations.open", func(ctx context.Context) error {
		var err error
		c, _, _, err = b.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}, ReturnIM: true})
		return err
	})
	if err != nil {
		return "", err
	}
	if c == nil || c.ID == "" {
		return "", fmt.Errorf("slack: conversations.open: no channel for %s", user)
	}
	b.dmMu.Lock()
	b.dms[user] = c.ID
	b.dmMu.Unlock()
	return c.ID, nil
}

// post sends r to channel ch (in thread thread, if set) as Block Kit, and
// returns the message's ts.
func (b *Bot) post(ctx context.Context, ch, thread string, r bots.Reply) (string, error) {
	opts := []slack.MsgOption{slack.MsgOptionText(fallback(r.Text), true), slack.MsgOptionBlocks(replyBlocks(r)...), slack.MsgOptionDisableLinkUnfurl()}
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
	}
	var ts string
	err := b.call(ctx, "chat.postMessage", func(ctx context.Context) error {
		var err error
		_, ts, err = b.api.PostMessageContext(ctx, ch, opts...)
		return err
	})
	return ts, err
}

// call runs one Web API call, retrying what Slack asks to retry: a 429
// after its Retry-After, a 5xx or a network failure after a growing pause,
// up to maxAttempts tries. Errors are wrapped once with the method.
func (b *Bot) call(ctx context.Context, method string, fn func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("slack: %s: %w", method, ctx.Err())
		}
		wait, retry := retryAfter(err, attempt)
		if !retry || attempt >= maxAttempts {
			return fmt.Errorf("slack: %s: %w", method, err)
		}
		b.log.DebugContext(ctx, "retrying a Slack call", "method", method, "attempt", attempt, "wait", wait, "err", err)
		if serr := b.sleep(ctx, wait); serr != nil {
			return fmt.Errorf("slack: %s: %w", method, err)
		}
	}
}

// retryAfter says whether err is worth another try, and after how long.
func retryAfter(err error, attempt int) (time.Duration, bool) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return max(rl.RetryAfter, time.Second), true
	}
	pause := min(time.Second<<(attempt-1), 30*time.Second)
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return pause, sc.Code >= 500 || sc.Code == http.StatusTooManyRequests
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited":
			return pause, true
		}
		return 0, false
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return pause, true
	}
	return 0, false
}
