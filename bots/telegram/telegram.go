// Package telegram is ayuda's Telegram channel, built on
// github.com/go-telegram-bot-api/telegram-bot-api/v5 (v5.5.1), which never
// leaves this package.
//
// Private chats get the whole dialog, with choices as inline keyboard
// buttons. In groups ayuda answers only when mentioned, replied to or given
// one of its commands, keeps one conversation per person, and sends
// anything about tickets privately.
//
// Updates arrive by long polling (the default) or through a webhook. Either
// way an update counts as handled only once its reply was sent or handed to
// the Outbox, and in polling mode the last handled update_id is persisted
// (State key "telegram:offset") so a restart neither repeats nor loses one.
//
// The SDK takes no context. Every call here goes through a shallow copy of
// the SDK client whose HTTP client attaches the caller's context to the
// request, so cancelling ctx aborts an in-flight long poll or send at once
// and shutdown takes milliseconds, not the length of a poll.
package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"ayuda/bots"
)

// Secret is a credential: the bot token or the webhook secret. It prints
// and logs as "[redacted]"; Reveal returns the value itself.
type Secret string

const redacted = "[redacted]"

func (Secret) String() string { return redacted }

// GoString keeps %#v from printing the secret.
func (Secret) GoString() string { return `telegram.Secret("` + redacted + `")` }

// LogValue keeps slog from printing the secret.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON keeps JSON encoders (slog's JSONHandler on a struct) from
// printing the secret.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// State keeps small durable values: the update offset and long choice IDs.
// *escalation.Queue is one.
type State interface {
	GetMeta(ctx context.Context, key string) ([]byte, error)
	PutMeta(ctx context.Context, key string, v []byte) error
}

// Outbox takes a reply that could not be sent inline, to deliver it later
// through Send. *escalation.Queue is one.
type Outbox interface {
	Enqueue(ctx context.Context, to bots.Address, r bots.Reply) error
}

// Webhook configures webhook mode. Its zero value means long polling.
type Webhook struct {
	// URL is the public HTTPS address Telegram posts updates to. Empty
	// means long polling.
	URL string
	// Secret is sent by Telegram in the X-Telegram-Bot-Api-Secret-Token
	// header; requests without it are answered 401. Required with URL:
	// 1 to 256 characters of A-Z, a-z, 0-9, _ and -.
	Secret Secret
	// Addr is where Run listens for the webhook (for example ":8443"),
	// serving WebhookHandler at URL's path. Empty means Run does not
	// listen: mount WebhookHandler on a server of your own.
	Addr string
}

// Config configures a Bot. Zero fields are the documented defaults.
type Config struct {
	// Token is the bot token from @BotFather. Required.
	Token Secret
	// APIURL is the Bot API server; empty means https://api.telegram.org.
	// Requests go to APIURL+"/bot<token>/<method>".
	APIURL string
	// Client makes the HTTP requests; nil means a client whose timeout is
	// PollTimeout plus 30 s. A client with a timeout must allow more than
	// PollTimeout.
	Client *http.Client
	// State persists the update offset and long choice IDs. Required.
	State State
	// Outbox receives inline replies whose sending keeps failing, so that
	// they are delivered later rather than lost. Required.
	Outbox Outbox
	// Logger receives transport problems; nil discards.
	Logger *slog.Logger
	// Webhook switches from long polling to a webhook when URL is set.
	Webhook Webhook
	// PollTimeout is how long one getUpdates call waits for updates;
	// zero means 50 s. It is rounded down to whole seconds (at least 1).
	PollTimeout time.Duration
	// Workers is how many chats are handled at once; zero means 4.
	// Updates of one chat are always handled one after another.
	Workers int
}

// APIError is an error answer from the Bot API.
type APIError struct {
	Method      string
	Code        int
	Description string
	// RetryAfter is how long Telegram asks to wait, with Code 429.
	RetryAfter time.Duration

	err error // the SDK's *tgbotapi.Error
}

func (e *APIError) Error() string {
	return fmt.Sprintf("telegram: %s: %d %s", e.Method, e.Code, e.Description)
}

func (e *APIError) Unwrap() error { return e.err }

// Bot is the Telegram channel. Run must be called once; Send and
// WebhookHandler are safe for concurrent use, before, during and after Run.
type Bot struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	tg     *tgbotapi.BotAPI // a template: never changed after New; see api
	poll   time.Duration

	me atomic.Pointer[identity] // set by Run from getMe

	// sleep waits for d or until ctx is done; tests record the waits.
	sleep func(ctx context.Context, d time.Duration) error
	// retryBase is the first back-off after a failure.
	retryBase time.Duration

	pressed recent // keyboards already pressed: "chat:message"
	nudged  recent // group members told to open a private chat

	hookMu   sync.Mutex
	hook     *hookState // while Run serves a webhook
	hookWG   sync.WaitGroup
	hookSeen recent // webhook updates already handled
	locks    bots.KeyedMutex
}

// identity is who the bot is, from getMe.
type identity struct {
	tgbotapi.User
	mention *regexp.Regexp // "@username", any case
}

var _ bots.Adapter = (*Bot)(nil)

// Defaults.
const (
	defaultAPIURL      = "https://api.telegram.org"
	defaultPollTimeout = 50 * time.Second
	defaultWorkers     = 4
	maxBackoff         = 30 * time.Second
	// maxAttempts bounds the tries of one request.
	maxAttempts = 8
	// handleTimeout bounds one turn of the dialog engine.
	handleTimeout = 30 * time.Second
	// detachedTimeout bounds the store writes made while shutting down.
	detachedTimeout = 10 * time.Second
)

var (
	webhookSecretRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
	allowedUpdates  = []string{"message", "callback_query"}
)

// New checks cfg and returns a Bot. It does not touch the network: Run
// starts by asking Telegram who the bot is.
func New(cfg Config) (*Bot, error) {
	if cfg.Token == "" {
		return nil, errors.New("telegram: Config.Token is required")
	}
	if cfg.State == nil {
		return nil, errors.New("telegram: Config.State is required")
	}
	if cfg.Outbox == nil {
		return nil, errors.New("telegram: Config.Outbox is required")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = defaultAPIURL
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	if u, err := url.Parse(cfg.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("telegram: APIURL %q is not an http(s) URL", cfg.APIURL)
	}
	if cfg.PollTimeout == 0 {
		cfg.PollTimeout = defaultPollTimeout
	}
	cfg.PollTimeout = max(cfg.PollTimeout.Truncate(time.Second), time.Second)
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: cfg.PollTimeout + 30*time.Second}
	} else if client.Timeout != 0 && client.Timeout <= cfg.PollTimeout {
		return nil, fmt.Errorf("telegram: Client.Timeout (%s) must exceed PollTimeout (%s)", client.Timeout, cfg.PollTimeout)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = defaultWorkers
	}
	if w := cfg.Webhook; w.URL != "" {
		u, err := url.Parse(w.URL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("telegram: webhook URL %q is not a URL", w.URL)
		}
		if !webhookSecretRE.MatchString(w.Secret.Reveal()) {
			return nil, errors.New("telegram: the webhook needs a secret of 1-256 characters A-Z, a-z, 0-9, _ or -")
		}
	} else if w.Addr != "" {
		return nil, errors.New("telegram: Webhook.Addr is set but Webhook.URL is not")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The endpoint is a Sprintf format: the token, then the method.
	tg := &tgbotapi.BotAPI{Token: cfg.Token.Reveal(), Client: client, Buffer: 100}
	tg.SetAPIEndpoint(strings.ReplaceAll(cfg.APIURL, "%", "%%") + "/bot%s/%s")
	return &Bot{
		cfg:       cfg,
		log:       log,
		client:    client,
		tg:        tg,
		poll:      cfg.PollTimeout,
		sleep:     bots.Sleep,
		retryBase: time.Second,
		pressed:   recent{max: 4096},
		nudged:    recent{max: 4096},
		hookSeen:  recent{max: 4096},
	}, nil
}

// Exclusive: a bot that polls getUpdates is one poller per token (a second
// gets 409 Conflict); a webhook takes updates on every replica, and a
// re-delivered update is recognised by the conversation it belongs to.
func (b *Bot) Exclusive() bool { return b.cfg.Webhook.URL == "" }

// Run asks Telegram who the bot is, registers its commands, and receives
// updates (long polling, or the webhook when configured), calling h for
// each message until ctx is done. Chats are handled concurrently, up to
// Config.Workers; the updates of one chat in order. It returns nil once ctx
// is done, or an error when Telegram rejects the token or the webhook.
func (b *Bot) Run(ctx context.Context, h bots.Handler) error {
	if h == nil {
		return errors.New("telegram: Run needs a handler")
	}
	if err := b.whoAmI(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	b.setCommands(ctx)
	if b.cfg.Webhook.URL != "" {
		return b.runWebhook(ctx, h)
	}
	// A webhook left over from an earlier run would make getUpdates fail.
	if _, err := b.raw(ctx, "deleteWebhook", tgbotapi.Params{}); err != nil && ctx.Err() == nil {
		b.log.WarnContext(ctx, "could not remove a webhook; long polling may fail", "err", err)
	}
	return b.pollLoop(ctx, h)
}

// whoAmI calls getMe until it answers: a network failure is retried with
// back-off, a rejected token is an error.
func (b *Bot) whoAmI(ctx context.Context) error {
	bo := b.backoff()
	for {
		resp, err := b.do(ctx, "getMe", func(api *tgbotapi.BotAPI) (*tgbotapi.APIResponse, error) {
			return api.MakeRequest("getMe", nil)
		})
		if err == nil {
			var u tgbotapi.User
			if err := json.Unmarshal(resp.Result, &u); err != nil {
				return fmt.Errorf("telegram: getMe: %w", err)
			}
			id := &identity{User: u}
			if u.UserName != "" {
				id.mention = regexp.MustCompile(`(?i)@` + regexp.QuoteMeta(u.UserName) + `\b`)
			}
			b.me.Store(id)
			b.log.InfoContext(ctx, "telegram bot ready", "username", u.UserName, "id", u.ID)
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Code >= 400 && ae.Code < 500 {
			return fmt.Errorf("%w (is TELEGRAM_BOT_TOKEN right?)", err)
		}
		b.log.WarnContext(ctx, "Telegram does not answer; retrying", "err", err)
		if b.sleep(ctx, bo.next()) != nil {
			return nil
		}
	}
}

// setCommands registers the command menu in Spanish (the default) and
// English. A failure is logged: the bot works without a menu.
func (b *Bot) setCommands(ctx context.Context) {
	for _, lang := range []string{"", "en"} {
		var cmds []tgbotapi.BotCommand
		for _, c := range commandMenu {
			d := c.es
			if lang == "en" {
				d = c.en
			}
			cmds = append(cmds, tgbotapi.BotCommand{Command: c.cmd, Description: d})
		}
		p := tgbotapi.Params{}
		if err := p.AddInterface("commands", cmds); err != nil {
			b.log.WarnContext(ctx, "could not register the commands", "err", err)
			return
		}
		p.AddNonEmpty("language_code", lang)
		if _, err := b.raw(ctx, "setMyCommands", p); err != nil {
			if ctx.Err() != nil {
				return
			}
			b.log.WarnContext(ctx, "could not register the commands; they still work when typed", "lang", lang, "err", err)
		}
	}
}

var commandMenu = []struct{ cmd, es, en string }{
	{"start", "Empezar", "Start"},
	{"ayuda", "Qué puedo hacer por ti", "Help: what I can do"},
	{"estado", "Mis solicitudes", "My requests"},
	{"humano", "Hablar con una persona", "Talk to a person"},
	{"nueva", "Abrir una solicitud", "Open a new request"},
}

// Send delivers r to an address, for the outbox dispatcher. A group
// conversation's messages (Chat is a group, User a person) go to the person
// privately, so nothing about a ticket is ever posted in a group; if they
// have not started a private chat with the bot yet, the group is told
// (without any content) to open one, and Send fails so the dispatcher
// retries. Send returns a bots.Permanent error when Telegram refuses the
// chat for good (blocked, not found), bots.ErrUnreachable for an address of
// another platform, and any other error when a retry may work.
func (b *Bot) Send(ctx context.Context, to bots.Address, r bots.Reply) error {
	if to.Platform != bots.Telegram {
		return bots.ErrUnreachable
	}
	chat, err := strconv.ParseInt(to.Chat, 10, 64)
	if err != nil {
		return bots.Permanent(fmt.Errorf("telegram: chat %q is not a Telegram chat id", to.Chat))
	}
	dest, group := chat, false
	if to.User != "" && to.User != to.Chat {
		user, err := strconv.ParseInt(to.User, 10, 64)
		if err != nil {
			return bots.Permanent(fmt.Errorf("telegram: user %q is not a Telegram user id", to.User))
		}
		dest, group = user, true
	}
	_, err = b.sendReply(ctx, dest, 0, r)
	if err == nil {
		return nil
	}
	var ae *APIError
	if !errors.As(err, &ae) || (ae.Code != 400 && ae.Code != 403) {
		return err
	}
	if group {
		// Most likely they never opened a private chat with the bot.
		b.nudge(ctx, chat, dest)
		return err
	}
	return bots.Permanent(err)
}

// nudge tells a group member, once per run, to open a private chat with
// the bot, where their answer waits. It says nothing about the answer.
func (b *Bot) nudge(ctx context.Context, chat, user int64) {
	if !b.nudged.add(fmt.Sprintf("%d:%d", chat, user)) {
		return
	}
	text := fmt.Sprintf(`<a href="tg://user?id=%d">%s</a>, %s`, user, "👤", tgbotapi.EscapeText(tgbotapi.ModeHTML, say("", "nudge")))
	mc := tgbotapi.NewMessage(chat, text)
	mc.ParseMode = tgbotapi.ModeHTML
	if kb := b.privateButton("", "hola"); kb != nil {
		mc.ReplyMarkup = kb
	}
	if _, err := b.request(ctx, "sendMessage", mc); err != nil {
		b.log.WarnContext(ctx, "could not ask a group member to open a private chat", "chat", chat, "err", err)
	}
}

// sendReply sends r to a chat: the text escaped for HTML, split to fit,
// with the choices as buttons on the last part. replyTo, if not zero,
// quotes the message being answered (in a group). It returns how many
// parts were sent.
func (b *Bot) sendReply(ctx context.Context, chat int64, replyTo int, r bots.Reply) (int, error) {
	parts := split(r.Text, maxText)
	if len(parts) == 0 {
		if len(r.Choices) == 0 {
			return 0, nil
		}
		parts = []string{"…"}
	}
	kb, err := b.keyboard(ctx, r.Choices)
	if err != nil {
		return 0, err
	}
	for i, p := range parts {
		mc := tgbotapi.NewMessage(chat, tgbotapi.EscapeText(tgbotapi.ModeHTML, p))
		mc.ParseMode = tgbotapi.ModeHTML
		mc.DisableWebPagePreview = true
		if replyTo != 0 { // every part: in a group, the buttons' owner is read from it
			mc.ReplyToMessageID = replyTo
			mc.AllowSendingWithoutReply = true
		}
		if i == len(parts)-1 && kb != nil {
			mc.ReplyMarkup = kb
		}
		if _, err := b.request(ctx, "sendMessage", mc); err != nil {
			return i, err
		}
	}
	return len(parts), nil
}

// deliver sends an inline reply, or hands what could not be sent to the
// Outbox. It fails only when both failed: the update must then be seen
// again. A reply that only marks the message as seen is a reaction on
// message seenOn.
func (b *Bot) deliver(ctx context.Context, chat int64, replyTo, seenOn int, to bots.Address, r bots.Reply) error {
	if r.IsZero() {
		if r.Seen && seenOn != 0 {
			b.react(ctx, chat, seenOn)
		}
		return nil
	}
	n, err := b.sendReply(ctx, chat, replyTo, r)
	if err == nil {
		return nil
	}
	rest := bots.Reply{Text: strings.Join(split(r.Text, maxText)[n:], "\n\n"), Choices: r.Choices}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
	defer cancel()
	if qerr := b.cfg.Outbox.Enqueue(ectx, to, rest); qerr != nil {
		return fmt.Errorf("telegram: reply neither sent (%w) nor queued: %w", err, qerr)
	}
	if ctx.Err() == nil {
		b.log.WarnContext(ctx, "reply not sent; queued for later", "to", to.String(), "err", err)
	}
	return nil
}

// seenEmoji is the reaction that says "received, added to your request":
// one of the emoji Telegram accepts as a reaction.
const seenEmoji = "👀"

// react marks message id in chat as seen (setMessageReaction, Bot API
// 7.0). A chat where reactions are off refuses it; the message is on the
// ticket all the same, so that is only logged.
func (b *Bot) react(ctx context.Context, chat int64, id int) {
	p := tgbotapi.Params{}
	p.AddNonZero64("chat_id", chat)
	p.AddNonZero("message_id", id)
	p["reaction"] = `[{"type":"emoji","emoji":"` + seenEmoji + `"}]`
	if _, err := b.raw(ctx, "setMessageReaction", p); err != nil && ctx.Err() == nil {
		b.log.WarnContext(ctx, "could not mark a message as seen", "chat", chat, "err", err)
	}
}
