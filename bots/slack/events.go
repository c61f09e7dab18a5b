package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"ayuda/bots"
)

// newEnvelope reads the keys of what Slack sent: what identifies it (to
// drop re-deliveries) and what orders it (its conversation).
func newEnvelope(typ string, payload []byte) *envelope {
	e := &envelope{Type: typ, Payload: append(json.RawMessage(nil), payload...)}
	switch typ {
	case typeEvents:
		var p struct {
			EventID string `json:"event_id"`
			Event   struct {
				Channel  string `json:"channel"`
				ThreadTS string `json:"thread_ts"`
			} `json:"event"`
		}
		if json.Unmarshal(payload, &p) == nil {
			if p.EventID != "" {
				e.Key = "ev:" + p.EventID
			}
			e.Route = p.Event.Channel + "/" + p.Event.ThreadTS
		}
	case typeInteractive:
		var p struct {
			TriggerID string `json:"trigger_id"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
			Channel struct {
				ID string `json:"id"`
			} `json:"channel"`
			Actions []struct {
				ActionTS string `json:"action_ts"`
			} `json:"actions"`
		}
		if json.Unmarshal(payload, &p) == nil {
			switch {
			case p.TriggerID != "":
				e.Key = "act:" + p.TriggerID
			case len(p.Actions) > 0 && p.Actions[0].ActionTS != "":
				e.Key = "act:" + p.User.ID + ":" + p.Actions[0].ActionTS
			}
			e.Route = p.Channel.ID
		}
	case typeCommand:
		var p struct {
			TriggerID string `json:"trigger_id"`
			UserID    string `json:"user_id"`
		}
		if json.Unmarshal(payload, &p) == nil {
			if p.TriggerID != "" {
				e.Key = "cmd:" + p.TriggerID
			}
			e.Route = "user:" + p.UserID
		}
	}
	if e.Key == "" {
		sum := sha256.Sum256(payload)
		e.Key = "sum:" + hex.EncodeToString(sum[:16])
	}
	return e
}

// receive records e in the inbox and reports whether it is new. A store
// that fails does not stop a new envelope: it is handled without a
// durable record.
func (b *Bot) receive(ctx context.Context, e *envelope) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	fresh, err := b.inbox.add(ctx, e)
	if err != nil {
		b.log.WarnContext(ctx, "inbox write failed; handling the envelope without a durable record", "key", e.Key, "err", err)
	}
	return fresh
}

// dispatch hands e to the worker of its route without waiting. A full
// worker leaves it in the inbox, where the sweep finds it.
func (b *Bot) dispatch(e *envelope) {
	h := fnv.New32a()
	h.Write([]byte(e.Route))
	select {
	case b.jobs[h.Sum32()%uint32(len(b.jobs))] <- e:
	default:
		b.log.Warn("workers busy; the envelope waits in the inbox", "key", e.Key)
	}
}

// sweepEvery is how often envelopes left waiting are handed out again.
const sweepEvery = 30 * time.Second

// work handles the envelopes of one worker until ctx is done, and every
// sweepEvery hands out again what waited in the inbox that long.
func (b *Bot) work(ctx context.Context, jobs <-chan *envelope, sweep bool) {
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !sweep {
				continue
			}
			for _, e := range b.inbox.unfinished() {
				if b.now().Sub(e.At) >= sweepEvery {
					b.dispatch(e)
				}
			}
		case e := <-jobs:
			b.handle(ctx, e)
		}
	}
}

// handle processes one envelope once. Work cut short by shutdown is left
// in the inbox for the next Run.
func (b *Bot) handle(ctx context.Context, e *envelope) {
	if b.inbox.isDone(e.Key) {
		return
	}
	hctx, cancel := context.WithTimeout(ctx, handleTimeout)
	b.process(hctx, e)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err := b.inbox.done(ctx, e); err != nil {
		b.log.WarnContext(ctx, "inbox write failed", "key", e.Key, "err", err)
	}
}

func (b *Bot) process(ctx context.Context, e *envelope) {
	switch e.Type {
	case typeEvents:
		b.onEvent(ctx, e.Payload)
	case typeInteractive:
		b.onInteraction(ctx, e.Payload)
	case typeCommand:
		b.onCommand(ctx, e.Payload)
	}
}

// drain reads the Socket Mode client's events until ctx is done. Each
// envelope is recorded and acknowledged at once, without waiting for the
// ones before it (their records share a commit), then handed to a worker
// in the order Slack sent them; the client's own events are logged.
func (b *Bot) drain(ctx context.Context, smc *socketmode.Client) {
	type arrival struct {
		e     *envelope
		fresh chan bool
	}
	order := make(chan *arrival, jobBuffer)
	defer close(order)
	go func() {
		for a := range order {
			if <-a.fresh {
				b.dispatch(a.e)
			} else {
				b.log.DebugContext(ctx, "duplicate envelope", "key", a.e.Key)
			}
		}
	}()
	for {
		var evt socketmode.Event
		select {
		case <-ctx.Done():
			return
		case evt = <-smc.Events:
		}
		switch evt.Type {
		case socketmode.EventTypeEventsAPI, socketmode.EventTypeInteractive, socketmode.EventTypeSlashCommand:
			if evt.Request == nil {
				continue
			}
			e := newEnvelope(evt.Request.Type, evt.Request.Payload)
			e.Env = evt.Request.EnvelopeID
			a := &arrival{e: e, fresh: make(chan bool, 1)}
			select {
			case order <- a:
			case <-ctx.Done():
				return
			}
			env := evt.Request.EnvelopeID
			go func() {
				fresh := b.receive(ctx, e)
				actx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if err := smc.AckCtx(actx, env, nil); err != nil {
					b.log.WarnContext(ctx, "ack failed; Slack will send the envelope again", "envelope", env, "err", err)
				}
				cancel()
				a.fresh <- fresh
			}()
		case socketmode.EventTypeConnected:
			b.log.InfoContext(ctx, "socket mode connected")
		case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth, socketmode.EventTypeIncomingError,
			socketmode.EventTypeErrorWriteFailed, socketmode.EventTypeErrorBadMessage:
			b.log.WarnContext(ctx, "socket mode", "event", string(evt.Type), "detail", evt.Data)
		default:
			b.log.DebugContext(ctx, "socket mode", "event", string(evt.Type))
		}
	}
}

func (b *Bot) onEvent(ctx context.Context, payload []byte) {
	ev, err := slackevents.ParseEvent(payload, slackevents.OptionNoVerifyToken())
	if err != nil {
		b.log.DebugContext(ctx, "event not handled", "err", err)
		return
	}
	if ev.Type != slackevents.CallbackEvent {
		return
	}
	switch in := ev.InnerEvent.Data.(type) {
	case *slackevents.MessageEvent:
		b.onMessage(ctx, in)
	case *slackevents.AppMentionEvent:
		b.onMention(ctx, in)
	}
}

// onMessage handles a message: a staff member's DM to the app, or an
// agent's answer in a card's thread. Everything else (the app's own
// messages, edits, other channels) is ignored; mentions come as their own
// event.
func (b *Bot) onMessage(ctx context.Context, m *slackevents.MessageEvent) {
	me := b.identity()
	// Without a channel there is nowhere to answer and no conversation to
	// keep: Slack always sends one, so such an event is malformed.
	// An edit comes with the edited message inside, and no user outside.
	if m.SubType == "message_changed" && b.desk != nil && m.Channel == b.cfg.AgentsChannel && m.Message != nil && m.PreviousMessage != nil {
		if m.Message.Text != m.PreviousMessage.Text && m.Message.User != "" && m.Message.User != me.UserID && m.Message.BotID == "" {
			b.desk.edited(ctx, m.Channel, m.Message.ThreadTimestamp, m.Message.Timestamp, m.Message.User)
		}
		return
	}
	if m.BotID != "" || m.User == "" || m.Channel == "" || m.User == me.UserID {
		return
	}
	switch m.SubType {
	case "", "file_share", "thread_broadcast":
	default:
		return
	}
	files := attachments(m.Message)
	if b.desk != nil && m.Channel == b.cfg.AgentsChannel {
		if m.ThreadTimeStamp != "" && m.ThreadTimeStamp != m.TimeStamp {
			b.desk.threadMessage(ctx, m.Channel, m.ThreadTimeStamp, m.TimeStamp, m.User, m.Text, files)
		}
		return
	}
	if m.ChannelType != "im" && !isDM(m.Channel) {
		return
	}
	from := bots.Address{Platform: bots.Slack, Chat: m.Channel, User: m.User}
	b.converse(ctx, from, m.Text, files, messageID(m.Channel, m.TimeStamp), m.ThreadTimeStamp, tsTime(m.TimeStamp))
}

// attachments are the files shared with a message, as ayuda records them:
// their kind and name, and the Slack file id to find them by.
func attachments(m *slack.Msg) []bots.Attachment {
	if m == nil {
		return nil
	}
	var out []bots.Attachment
	for _, f := range m.Files {
		kind := "file"
		switch {
		case strings.HasPrefix(f.Mimetype, "image/"):
			kind = "photo"
		case strings.HasPrefix(f.Mimetype, "video/"):
			kind = "video"
		case strings.HasPrefix(f.Mimetype, "audio/"):
			kind = "audio"
		}
		name := f.Name
		if name == "" {
			name = f.Title
		}
		out = append(out, bots.Attachment{Kind: kind, Ref: "slack:file:" + f.ID, Name: name})
	}
	return out
}

// onMention handles the app mentioned in a channel: the conversation
// (one per person and channel) goes on in a thread under the mention.
func (b *Bot) onMention(ctx context.Context, m *slackevents.AppMentionEvent) {
	me := b.identity()
	if m.BotID != "" || m.User == "" || m.Channel == "" || m.User == me.UserID {
		return
	}
	if b.desk != nil && m.Channel == b.cfg.AgentsChannel && m.ThreadTimeStamp != "" {
		if _, ok := b.desk.ticketFor(ctx, m.ThreadTimeStamp); ok {
			return // an agent's answer on a card: the message event has it
		}
	}
	thread := m.ThreadTimeStamp
	if thread == "" {
		thread = m.TimeStamp
	}
	from := bots.Address{Platform: bots.Slack, Chat: m.Channel, User: m.User}
	b.converse(ctx, from, stripMention(m.Text, me.UserID), nil, messageID(m.Channel, m.TimeStamp), thread, tsTime(m.TimeStamp))
}

// onCommand handles /ayuda: the conversation goes on in the person's
// direct message with the app; no text asks for help.
func (b *Bot) onCommand(ctx context.Context, payload []byte) {
	var c slack.SlashCommand
	if err := json.Unmarshal(payload, &c); err != nil || c.UserID == "" {
		b.log.WarnContext(ctx, "bad slash command", "err", err)
		return
	}
	dm, err := b.dm(ctx, c.UserID)
	if err != nil {
		b.log.ErrorContext(ctx, "cannot open a direct message for a slash command", "user", c.UserID, "err", err)
		return
	}
	text := strings.TrimSpace(c.Text)
	if text == "" {
		text = "ayuda"
	}
	id := "slack:cmd:" + c.TriggerID
	if c.TriggerID == "" {
		id = ""
	}
	b.converse(ctx, bots.Address{Platform: bots.Slack, Chat: dm, User: c.UserID}, text, nil, id, "", b.now())
}

// onInteraction handles a pressed button or a chosen option (a staff
// member's choice in a conversation, or an agent's action on a card), or a
// desk form an agent sent.
func (b *Bot) onInteraction(ctx context.Context, payload []byte) {
	var cb slack.InteractionCallback
	if err := json.Unmarshal(payload, &cb); err != nil {
		b.log.WarnContext(ctx, "bad interaction", "err", err)
		return
	}
	if cb.Type == slack.InteractionTypeViewSubmission && strings.HasPrefix(cb.View.CallbackID, deskPrefix) && cb.User.ID != "" {
		if b.desk != nil {
			b.desk.submit(ctx, cb.User.ID, &cb.View)
		}
		return
	}
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) == 0 || cb.User.ID == "" {
		return
	}
	act := cb.ActionCallback.BlockActions[0]
	ch := cb.Channel.ID
	if ch == "" {
		ch = cb.Container.ChannelID
	}
	switch {
	case strings.HasPrefix(act.ActionID, deskPrefix):
		if b.desk != nil {
			b.desk.action(ctx, ch, cb.User.ID, cb.TriggerID, act)
		}
	case strings.HasPrefix(act.ActionID, choicePrefix):
		if ts := cb.Container.MessageTs; ts != "" && !cb.Container.IsEphemeral {
			b.disarm(ctx, ch, ts, cb.Message, act.Text.Text)
		}
		id := "slack:act:" + cb.TriggerID
		if cb.TriggerID == "" {
			id = "slack:act:" + cb.User.ID + ":" + act.ActionTs
		}
		from := bots.Address{Platform: bots.Slack, Chat: ch, User: cb.User.ID}
		b.converse(ctx, from, act.Value, nil, id, cb.Container.ThreadTs, b.now())
	}
}

// disarm replaces a message's buttons with the choice made, so a choice is
// made once. Failing is harmless: the engine ignores stale choices.
func (b *Bot) disarm(ctx context.Context, ch, ts string, m slack.Message, label string) {
	text := m.Text
	if strings.TrimSpace(text) == "" {
		text = "…"
	}
	err := b.call(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := b.api.UpdateMessageContext(ctx, ch, ts, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(chosenBlocks(m.Blocks.BlockSet, label)...))
		return err
	})
	if err != nil {
		b.log.WarnContext(ctx, "could not mark a choice as made", "channel", ch, "err", err)
	}
}

// messageID is the id the engine dedupes a Slack message on.
func messageID(ch, ts string) string {
	if ts == "" {
		return ""
	}
	return "slack:" + ch + ":" + ts
}

// converse runs one staff turn of the dialog engine and posts the reply
// where the message came from (in thread, if set). A reply that cannot be
// posted now goes to the Outbox, which delivers it to the person's direct
// message.
func (b *Bot) converse(ctx context.Context, from bots.Address, raw string, files []bots.Attachment, id, thread string, at time.Time) {
	hp := b.handler.Load()
	if hp == nil {
		return
	}
	text := plain(b.named(ctx, raw))
	u, _ := b.users.get(ctx, b, from.User)
	m := bots.Message{ID: id, From: from, Name: u.name(), Text: text, Attachments: files, Time: at, Internal: u.staff, Locale: u.locale}
	r := (*hp)(ctx, m)
	if r.IsZero() {
		// Added to their open request: 👀 on their message says so.
		if ts, ok := strings.CutPrefix(id, "slack:"+from.Chat+":"); r.Seen && ok && ts != "" {
			if err := b.react(ctx, from.Chat, ts, "eyes"); err != nil && ctx.Err() == nil {
				b.log.WarnContext(ctx, "could not mark a message as seen", "channel", from.Chat, "err", err)
			}
		}
		return
	}
	if _, err := b.post(ctx, from.Chat, thread, r); err != nil {
		if bots.IsPermanent(classify(err)) || ctx.Err() != nil {
			b.log.ErrorContext(ctx, "reply lost", "to", from.String(), "err", err)
			return
		}
		b.log.WarnContext(ctx, "reply not posted; queued for later", "to", from.String(), "err", err)
		if err := b.cfg.Outbox.Enqueue(ctx, from, r); err != nil {
			b.log.ErrorContext(ctx, "reply lost", "to", from.String(), "err", err)
		}
	}
}

// userMention is a mention of a user without a label: <@U0123>.
var userMention = regexp.MustCompile(`<@([UW][A-Z0-9]+)>`)

// named gives every bare user mention in Slack text its person's name, so
// that plain renders "@Marta", not "@U0AGMART01", for the customer. A user
// Slack cannot name keeps the id.
func (b *Bot) named(ctx context.Context, text string) string {
	return userMention.ReplaceAllStringFunc(text, func(m string) string {
		id := m[2 : len(m)-1]
		if n := b.users.name(ctx, b, id); n != "" {
			return "<@" + id + "|" + strings.NewReplacer("|", " ", ">", " ", "<", " ").Replace(n) + ">"
		}
		return m
	})
}

// userInfo is what ayuda keeps of a Slack user.
type userInfo struct {
	handle, display, real string
	// staff: a full member of the app's own workspace. Guests (single- and
	// multi-channel), people of other companies reached through Slack
	// Connect, bots and deactivated accounts are not, so they are offered
	// public articles only, like any customer.
	staff bool
	// locale is the person's Slack language ("es-ES"), a hint for the
	// engine when their words do not tell.
	locale string
	at     time.Time
}

// fullMember reports whether su is a full member of team (the app's
// workspace, from auth.test): not a guest, not a stranger from a shared
// channel, not a bot, not deactivated. On Enterprise Grid, a member of
// the organisation's other workspaces counts when Slack lists team among
// theirs. Without a team to compare with, nobody is.
func fullMember(su *slack.User, team string) bool {
	if su.Deleted || su.IsBot || su.IsRestricted || su.IsUltraRestricted || su.IsStranger {
		return false
	}
	if team != "" && su.TeamID == team {
		return true
	}
	for _, t := range su.Enterprise.Teams {
		if t == team {
			return true
		}
	}
	return false
}

func (u userInfo) name() string {
	for _, s := range []string{u.display, u.real, u.handle} {
		if s != "" {
			return s
		}
	}
	return ""
}

// userCache remembers users.info answers for an hour.
type userCache struct {
	mu sync.Mutex
	m  map[string]userInfo
}

const userTTL = time.Hour

// get returns what Slack says of user, from the cache when fresh.
func (c *userCache) get(ctx context.Context, b *Bot, user string) (userInfo, bool) {
	if user == "" {
		return userInfo{}, false
	}
	c.mu.Lock()
	u, ok := c.m[user]
	c.mu.Unlock()
	if ok && b.now().Sub(u.at) < userTTL {
		return u, true
	}
	var su *slack.User
	err := b.call(ctx, "users.info", func(ctx context.Context) error {
		var err error
		su, err = b.api.GetUserInfoContext(ctx, user)
		return err
	})
	if err != nil {
		// Stale or nothing: a user Slack cannot vouch for now is not
		// staff, so no internal article reaches them on a guess.
		b.log.WarnContext(ctx, "users.info failed", "user", user, "err", err)
		return u, ok
	}
	u = userInfo{handle: su.Name, display: su.Profile.DisplayName, real: su.RealName, staff: fullMember(su, b.identity().TeamID), locale: su.Locale, at: b.now()}
	if u.real == "" {
		u.real = su.Profile.RealName
	}
	c.mu.Lock()
	c.m[user] = u
	c.mu.Unlock()
	return u, true
}

// name is the user's display name, or "" when Slack cannot say.
func (c *userCache) name(ctx context.Context, b *Bot, user string) string {
	u, _ := c.get(ctx, b, user)
	return u.name()
}
