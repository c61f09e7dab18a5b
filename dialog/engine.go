// Package dialog runs conversations: one message at a time per person, it
// detects the language and the intent, answers from the knowledge base,
// asks to clarify, or hands the conversation to a person by opening a
// ticket with everything said so far. While a ticket is open the bot stays
// quiet: the customer's messages go to the ticket and its agent.
//
// Conversations are stored (through the Queue) after every turn, before
// the reply is returned, so a restart resumes them and a re-delivered
// message is recognised and answered with the same reply.
package dialog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"ayuda/bots"
	"ayuda/escalation"
	"ayuda/faq"
	"ayuda/knowledge"
)

// Searcher finds articles for a question; *knowledge.Index is one.
type Searcher interface {
	Search(ctx context.Context, q knowledge.Query) ([]knowledge.Hit, error)
	// Entry returns article id in lang.
	Entry(id, lang string) (faq.Entry, bool)
}

// Queue is what the engine needs of the ticket store; *escalation.Queue is
// one.
type Queue interface {
	// OpenOrJoin opens a ticket, or adds the request to the one still open
	// in the same chat.
	OpenOrJoin(ctx context.Context, t escalation.Ticket) (*escalation.Ticket, error)
	// Recent is a ticket with its latest entries only: a turn reads its
	// status, never its whole transcript.
	Recent(ctx context.Context, id escalation.ID) (*escalation.Ticket, error)
	List(ctx context.Context, f escalation.Filter) ([]escalation.Ticket, error)
	CustomerMessage(ctx context.Context, id escalation.ID, e escalation.Entry) (*escalation.Ticket, error)
	Accept(ctx context.Context, id escalation.ID) (*escalation.Ticket, error)
	Reopen(ctx context.Context, id escalation.ID, why escalation.Entry) (*escalation.Ticket, error)
	LoadConversation(ctx context.Context, key string) ([]byte, error)
	SaveConversation(ctx context.Context, key string, data []byte) error
	Enqueue(ctx context.Context, to bots.Address, r bots.Reply) error
	// The service protocol: the assigned agent's name for the receipt,
	// ratings after closing, and the questions the bot handled itself.
	Agent(id string) (escalation.Agent, error)
	Rate(ctx context.Context, id escalation.ID, score int, comment string) (*escalation.Ticket, error)
	RecordAnswer(ctx context.Context, a escalation.Answer) error
}

// Config configures an Engine. Zero fields are defaults, as documented.
type Config struct {
	Search Searcher // required
	// Queue stores conversations and tickets; Handle needs it, Ask does not.
	Queue Queue
	// AnswerThreshold is the confidence (knowledge.Hit.Confidence, a
	// calibrated probability) at or above which the bot answers with the
	// best article; zero means 0.6, chosen on the labelled questions the
	// decision was fitted on (docs/quality.md).
	AnswerThreshold float64
	// ClarifyThreshold is the confidence at or above which the bot offers
	// the closest articles as choices; zero means 0.25.
	ClarifyThreshold float64
	// Margin: a question of three words or fewer whose runner-up article
	// is itself likely (at two thirds of AnswerThreshold) and within three
	// margins of the best is answered with a choice between them ("el
	// pedido": cancel it, or where is it?). Zero means 0.1; a negative
	// value turns the check off.
	Margin float64
	// DefaultLang is the language until a person's words say otherwise;
	// empty means "es".
	DefaultLang string
	// Location is the time zone due times are told in; nil means UTC.
	Location *time.Location
	// RatePerSecond and RateBurst limit how fast one person may write: a
	// flood gets one polite message, then is stored without answers until
	// the pace drops. Zero means 3 a second with bursts of 10, more than
	// anyone types.
	RatePerSecond float64
	RateBurst     int
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Engine runs conversations. It is safe for concurrent use; turns of one
// conversation are serialised.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	locks bots.KeyedMutex
	limit *limiter
}

// New returns an Engine for cfg.
func New(cfg Config) (*Engine, error) {
	if cfg.Search == nil {
		return nil, errors.New("dialog: Config.Search is required")
	}
	learnedHandoff() // trained once per process (about 130 ms), not on the first message
	if cfg.AnswerThreshold == 0 {
		cfg.AnswerThreshold = 0.6
	}
	if cfg.ClarifyThreshold == 0 {
		cfg.ClarifyThreshold = 0.25
	}
	if cfg.Margin == 0 {
		cfg.Margin = 0.1
	}
	if cfg.DefaultLang == "" {
		cfg.DefaultLang = "es"
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.RatePerSecond == 0 {
		cfg.RatePerSecond = 3
	}
	if cfg.RateBurst == 0 {
		cfg.RateBurst = 10
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, now: cfg.Now, limit: newLimiter(cfg.RatePerSecond, cfg.RateBurst)}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e, nil
}

// Settings returns the engine's configuration, defaults filled in.
func (e *Engine) Settings() Config { return e.cfg }

// States of a conversation.
const (
	stateIdle     = ""
	stateFeedback = "feedback" // answered; "did this solve it?"
	stateClarify  = "clarify"  // offered close articles
	stateType     = "type"     // intake: asked the request type
	stateDescribe = "describe" // intake: asked for a description
	stateComment  = "comment"  // rated a ticket; a comment may follow
)

// conversation is what the engine remembers of one chat, stored as JSON.
type conversation struct {
	Lang    string        `json:"lang"`
	Name    string        `json:"name,omitempty"`
	State   string        `json:"state,omitempty"`
	Pending []bots.Choice `json:"pending,omitempty"`
	// Article is the last answered article, for feedback.
	Article string `json:"article,omitempty"`
	// Answered is the record of the last answer, to add its feedback.
	Answered *escalation.Answer `json:"answered,omitempty"`
	// Rated is the ticket just rated, whose comment may come next.
	Rated  escalation.ID `json:"rated,omitempty"`
	Misses int           `json:"misses,omitempty"`
	// Question is the last substantive thing the customer asked, the
	// description of a request when one is opened.
	Question string        `json:"question,omitempty"`
	Intake   *intake       `json:"intake,omitempty"`
	Ticket   escalation.ID `json:"ticket,omitempty"`
	Relayed  bool          `json:"relayed,omitempty"`
	// Reminded is when the customer was last told, in words, who has their
	// open ticket and when to expect an answer.
	Reminded time.Time          `json:"reminded,omitzero"`
	History  []escalation.Entry `json:"history,omitempty"`
	Offered  []escalation.Offer `json:"offered,omitempty"`
	// Seen holds the ids of recent inbound messages; LastID's reply is kept
	// to answer a re-delivery the same way.
	// Throttled is set once a flood was told to slow down.
	Throttled bool       `json:"throttled,omitempty"`
	Seen      []string   `json:"seen,omitempty"`
	LastID    string     `json:"last_id,omitempty"`
	LastReply bots.Reply `json:"last_reply,omitzero"`
	Updated   time.Time  `json:"updated"`
}

type intake struct {
	Type   escalation.Type   `json:"type,omitempty"`
	Reason escalation.Reason `json:"reason"`
	// Why says how the type was known, for the agents.
	Why string `json:"why,omitempty"`
}

// Limits that keep a conversation record small.
const (
	maxHistory = 60
	maxSeen    = 32
	// MaxText is the most of one message that is kept; the rest is cut
	// with a marker. Platforms cap messages far below this.
	MaxText = 16 << 10
)

// conversationLocker is a queue shared by replicas (escalation.Queue).
type conversationLocker interface {
	LockConversation(ctx context.Context, key string) (unlock func(), err error)
}

// Handle runs one turn: it stores the message, decides, stores the new
// state, and returns what to say. It implements bots.Handler.
func (e *Engine) Handle(ctx context.Context, m bots.Message) bots.Reply {
	if e.cfg.Queue == nil {
		e.log.ErrorContext(ctx, "dialog: Handle needs Config.Queue")
		return bots.Reply{Text: say(e.cfg.DefaultLang, "error")}
	}
	key := m.From.Key()
	unlock := e.locks.Lock(key)
	defer unlock()
	if l, ok := e.cfg.Queue.(conversationLocker); ok {
		// Replicas sharing the store take a conversation's turns one at a
		// time too: a message re-delivered to another replica while the
		// first is still answering it is then recognised, not answered twice.
		unlockAll, err := l.LockConversation(ctx, key)
		if err != nil {
			e.log.ErrorContext(ctx, "lock conversation", "err", err, "to", m.From.String())
			return bots.Reply{Text: say(e.cfg.DefaultLang, "error")}
		}
		defer unlockAll()
	}

	c, err := e.load(ctx, key)
	if err != nil {
		e.log.ErrorContext(ctx, "load conversation", "err", err, "to", m.From.String())
		return bots.Reply{Text: say(e.cfg.DefaultLang, "error")}
	}
	if m.ID != "" {
		for _, id := range c.Seen {
			if id == m.ID {
				if id == c.LastID {
					return c.LastReply
				}
				return bots.Reply{}
			}
		}
	}
	m.Text = clean(m.Text)
	if m.Time.IsZero() {
		m.Time = e.now()
	}
	if m.Name != "" {
		c.Name = m.Name
	}
	t := &turn{e: e, c: c, m: m}
	var r bots.Reply
	// Once told to slow down, a person is answered again only when the
	// pace has really dropped (half the burst has refilled), not each time
	// one more message is allowed: a flood that goes on is told once.
	need := 1.0
	if c.Throttled {
		need = e.limit.burst / 2
	}
	if e.limit.allow(key, e.now(), need) {
		c.Throttled = false
		r, err = t.run(ctx)
	} else {
		r, err = t.throttled(ctx)
	}
	if err != nil {
		e.log.ErrorContext(ctx, "turn failed", "err", err, "to", m.From.String())
		return bots.Reply{Text: say(c.Lang, "error")}
	}
	for _, a := range t.answers {
		// For the reports only: the customer's turn goes on without it.
		if err := e.cfg.Queue.RecordAnswer(ctx, a); err != nil {
			e.log.WarnContext(ctx, "record answer", "err", err, "to", m.From.String())
		}
	}
	if !t.relayed {
		c.History = append(c.History, escalation.Entry{Time: e.now(), Author: escalation.AuthorBot, Text: brief(replyText(r))})
	}
	if len(c.History) > maxHistory {
		c.History = append([]escalation.Entry(nil), c.History[len(c.History)-maxHistory:]...)
	}
	if !r.IsZero() {
		c.Pending = r.Choices // a silent turn keeps the choices on screen
	}
	if m.ID != "" {
		c.Seen = append(c.Seen, m.ID)
		if len(c.Seen) > maxSeen {
			c.Seen = c.Seen[len(c.Seen)-maxSeen:]
		}
		c.LastID, c.LastReply = m.ID, r
	}
	c.Updated = e.now()
	if err := e.save(ctx, key, c); err != nil {
		e.log.ErrorContext(ctx, "save conversation", "err", err, "to", m.From.String())
		return bots.Reply{Text: say(c.Lang, "error")}
	}
	return r
}

// A transcript keeps the start of what the bot said (which answer it was;
// the article itself is on the ticket's offers) and its end (the question
// asked and the choices offered), without rewriting whole articles into
// the store at every turn.
const (
	botHead = 200
	botTail = 100
)

func brief(s string) string {
	r := []rune(s)
	if len(r) <= botHead+botTail+1 {
		return s
	}
	return string(r[:botHead]) + " … " + string(r[len(r)-botTail:])
}

func replyText(r bots.Reply) string {
	if len(r.Choices) == 0 {
		return r.Text
	}
	labels := make([]string, len(r.Choices))
	for i, ch := range r.Choices {
		labels[i] = ch.Label
	}
	return r.Text + " [" + strings.Join(labels, " | ") + "]"
}

func (e *Engine) load(ctx context.Context, key string) (*conversation, error) {
	data, err := e.cfg.Queue.LoadConversation(ctx, key)
	if err != nil {
		return nil, err
	}
	c := &conversation{}
	if data != nil {
		if err := json.Unmarshal(data, c); err != nil {
			return nil, fmt.Errorf("conversation %q: %w", key, err)
		}
	}
	return c, nil
}

func (e *Engine) save(ctx context.Context, key string, c *conversation) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return e.cfg.Queue.SaveConversation(ctx, key, data)
}

// clean makes inbound text safe to store and match: valid UTF-8, no control
// characters but newlines and tabs, no bidirectional overrides, at most
// MaxText bytes.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return -1
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r):
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > MaxText {
		cut := MaxText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + " […]"
	}
	return s
}
