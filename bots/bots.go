// Package bots holds the vocabulary every chat channel shares: who a message
// comes from (Address), what arrived (Message), what goes back (Reply), and
// the Adapter contract each platform implements. It imports only the standard
// library; the platform adapters live beneath it (bots/console, bots/telegram,
// bots/discord, bots/slack).
package bots

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Platform names used in Address.Platform.
const (
	Console  = "console"
	Telegram = "telegram"
	Discord  = "discord"
	Slack    = "slack"
	Web      = "web"
)

// Address says where a conversation happens and with whom. Chat is the
// platform's chat, channel or thread id where replies go; User is the
// person's id on that platform. In a private chat Chat and User may be equal.
type Address struct {
	Platform string `json:"platform"`
	Chat     string `json:"chat"`
	User     string `json:"user"`
}

// Key returns a stable string for the address, usable as a map or storage key.
// Two addresses have the same key exactly when they are equal.
func (a Address) Key() string {
	return fmt.Sprintf("%s\x1f%s\x1f%s", a.Platform, a.Chat, a.User)
}

// Customer returns the key that identifies the person across chats on one
// platform: the same user in a DM and in a group thread is one customer.
func (a Address) Customer() string {
	return a.Platform + ":" + a.User
}

// IsZero reports whether a is the zero Address.
func (a Address) IsZero() bool { return a == Address{} }

func (a Address) String() string {
	if a.Chat == a.User || a.User == "" {
		return a.Platform + ":" + a.Chat
	}
	return a.Platform + ":" + a.Chat + "/" + a.User
}

// Attachment is a file, picture, voice note, sticker or location the person
// sent. ayuda never downloads it; it records what it is so an agent can see it.
type Attachment struct {
	Kind    string `json:"kind"` // photo, document, voice, audio, video, sticker, location, file
	Ref     string `json:"ref"`  // platform file id or URL
	Name    string `json:"name,omitempty"`
	Caption string `json:"caption,omitempty"`
}

// Message is one thing a person sent: text, a pressed choice, or an
// attachment. ID is the platform's id for it and is used to drop duplicates
// a platform re-delivers; it may be empty where the channel has none.
type Message struct {
	ID          string       `json:"id,omitempty"`
	From        Address      `json:"from"`
	Name        string       `json:"name,omitempty"` // display name, if the platform gives one
	Text        string       `json:"text"`
	Attachments []Attachment `json:"attachments,omitempty"`
	Time        time.Time    `json:"time"`
	// Internal is set by channels whose people are staff (Slack): they may be
	// shown internal articles. Public channels never set it.
	Internal bool `json:"internal,omitempty"`
	// Private is where the person can be reached privately, set when the
	// message comes from a chat others read (a Telegram group). A request
	// for a person then continues there: nothing about a ticket is said in
	// the group.
	Private Address `json:"private,omitzero"`
	// Locale is the language the platform says the person uses (Telegram's
	// language_code, Discord's interaction locale: "es", "en-GB"), a hint
	// for when their words do not tell; empty when unknown.
	Locale string `json:"locale,omitempty"`
}

// Choice is an option offered with a reply: a button on platforms that have
// them, a numbered line in the terminal. When pressed, the platform sends
// back a Message whose Text is the choice's ID.
type Choice struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// Reply is what ayuda says: plain text (never markup; each adapter escapes it
// for its platform) and optional choices. A zero Reply says nothing.
type Reply struct {
	Text    string   `json:"text"`
	Choices []Choice `json:"choices,omitempty"`
	// Seen asks the channel to show, without words, that the message it
	// answers was received and added to the person's open request: a
	// reaction on it where the platform has them (Telegram, Discord,
	// Slack), a short mark in the terminal. It is only ever an answer to an
	// inbound message: the outbox never holds it.
	Seen bool `json:"seen,omitempty"`
}

// IsZero reports whether r says nothing in words (it may still be Seen).
func (r Reply) IsZero() bool { return r.Text == "" && len(r.Choices) == 0 }

// Handler turns one inbound message into the reply for it. It never fails:
// what the person hears when something breaks is the handler's decision.
// Handlers are safe for concurrent use.
type Handler func(ctx context.Context, m Message) Reply

// Adapter is one chat platform.
type Adapter interface {
	// Run receives messages and calls h for each until ctx is done.
	// It returns nil once ctx is canceled, or the error that stopped it.
	Run(ctx context.Context, h Handler) error
	// Send delivers r outside any inbound message, e.g. an agent's answer.
	// It returns ErrUnreachable when the address cannot be reached by this
	// adapter now; any other error is worth retrying later.
	Send(ctx context.Context, to Address, r Reply) error
}

// Exclusive is an adapter that says whether its Run may run in one
// process only among replicas sharing a store: a Telegram bot that polls
// getUpdates (a second poller gets 409 Conflict), a Discord gateway
// session. An adapter that is not Exclusive runs in every replica. Send
// works in every process either way.
type Exclusive interface {
	Exclusive() bool
}

// RunsOnce reports whether ad's Run must run on one replica at a time.
func RunsOnce(ad Adapter) bool {
	x, ok := ad.(Exclusive)
	return ok && x.Exclusive()
}

// ErrUnreachable means the person cannot be reached through the adapter now
// (for example a terminal customer who is not connected). The message stays
// queued until they can be.
var ErrUnreachable = errors.New("bots: recipient not reachable now")

// PermanentError wraps a delivery failure that retrying cannot fix (the chat
// no longer exists, the bot was blocked). Senders wrap with Permanent;
// callers test with IsPermanent.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// sendKeyCtx is the context key of SendKey.
type sendKeyCtx struct{}

// WithSendKey returns ctx carrying key, the identity of the message being
// delivered. The outbox sets it for each delivery: the same on every
// attempt to deliver one message, also after a restart, and different for
// every other message.
func WithSendKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, sendKeyCtx{}, key)
}

// SendKey returns the key WithSendKey put in ctx, or "". An Adapter whose
// platform can recognise a request it has seen before (Discord's message
// nonce) uses it in Send, so that a retry after a timeout, when the
// platform had in fact accepted the message, does not deliver it twice.
func SendKey(ctx context.Context) string {
	k, _ := ctx.Value(sendKeyCtx{}).(string)
	return k
}

// Sleep waits d, or until ctx is done (then it returns ctx's error): the
// channels' retry and back-off pauses, which must never outlast a shutdown.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
