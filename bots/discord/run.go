package discord

import (
	"context"
	"errors"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"ayuda/bots"
)

// item is one thing to handle: a message (from the gateway or caught up
// over REST) or an interaction (a button press or a slash command).
type item struct {
	msg *discordgo.Message
	dm  bool // msg is in a DM (REST messages carry no guild id to tell)

	in        *discordgo.Interaction
	ephemeral bool          // the command's answer is visible only to its user
	acked     chan struct{} // closed once Discord was answered (or could not be)
	ackErr    error         // set before acked is closed
}

// runner is one Run: the gateway handlers queue items, ack workers answer
// interactions at once, and shard workers run the conversations, each
// person always on the same worker so their messages keep their order.
type runner struct {
	b       *Bot
	h       bots.Handler
	done    <-chan struct{} // Run's ctx is done: handlers stop waiting to queue
	shards  []chan *item
	acks    chan *item
	catchUp chan struct{}

	mu      sync.RWMutex // held (read) by handlers while they queue; written to stop
	stopped bool

	// From a new session's READY until the catch-up after it is done,
	// the gateway's messages wait in held: routed before the catch-up,
	// a live message would be handled first and move the channel's last
	// seen message past the ones the catch-up has yet to read, which it
	// would then skip (and a kill before they were handled would lose).
	holdMu  sync.Mutex
	holding bool
	held    []*item
}

// Exclusive: one gateway session per bot (one shard).
func (b *Bot) Exclusive() bool { return true }

// Run checks the token, registers the slash commands, and handles what
// the gateway sends with h until ctx is done; then it closes the
// connection and waits for the messages being handled (each for at most
// 30 s). It returns nil once ctx is done; an error when Discord rejects
// the token, or closes the gateway with a code that retrying cannot fix
// (a *FatalError, whose text says what to do). Connection failures are
// retried with back-off, lost sessions resumed, and after one that could
// not be resumed the chats are caught up over REST.
func (b *Bot) Run(ctx context.Context, h bots.Handler) error {
	if !b.started.CompareAndSwap(false, true) {
		return errors.New("discord: Run is already running")
	}
	// Run may run again after it returned (a replica that leads again):
	// the dialer is opened for it and closed when it ends.
	b.closed.Store(false)
	defer b.started.Store(false)
	defer b.closed.Store(true)
	if err := b.chats.load(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &runner{b: b, h: h, done: ctx.Done(), shards: make([]chan *item, workers), acks: make(chan *item, 64), catchUp: make(chan struct{}, 1)}
	for i := range r.shards {
		r.shards[i] = make(chan *item, 64)
	}
	var wg sync.WaitGroup
	defer func() {
		cancel()
		r.stop() // handlers queue nothing more; the ack workers drain and end
		wg.Wait()
		b.calls.wait(closeTimeout)
	}()
	for range ackWorkers {
		wg.Go(r.ackLoop)
	}

	if err := b.checkToken(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	if err := b.registerCommands(ctx); err != nil {
		b.log.WarnContext(ctx, "slash commands not registered; messages and buttons still work", "err", err)
	}
	for _, sh := range r.shards {
		wg.Go(func() { r.work(ctx, sh) })
	}
	wg.Go(func() { r.catchUpLoop(ctx) })

	g := &gateway{b: b, dialer: b.s.Dialer, token: b.s.Identify.Token, up: b.up.Store, sleep: bots.Sleep,
		ev: events{ready: r.onReady, resumed: r.onResumed, message: r.onMessage, interaction: r.onInteraction}}
	if err := g.run(ctx); err != nil {
		b.log.ErrorContext(ctx, "Discord stopped for good; the other channels keep running", "err", err)
		return err
	}
	b.log.InfoContext(ctx, "stopping")
	return nil
}

// Up reports whether the gateway has a live session.
func (b *Bot) Up() bool { return b.up.Load() }

// stop makes the gateway handlers drop what arrives from now on and lets
// the ack workers finish.
func (r *runner) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		r.stopped = true
		close(r.acks)
	}
}

// checkToken asks Discord who the bot is (GET /users/@me), retrying
// failures other than a rejected token with back-off until ctx is done.
func (b *Bot) checkToken(ctx context.Context) error {
	wait := time.Second
	for {
		var me *discordgo.User
		err := b.do(ctx, "check the bot token", func(o ...discordgo.RequestOption) (err error) {
			me, err = b.s.User("@me", o...)
			return err
		})
		if err == nil {
			b.setIDs(me.ID, "")
			b.log.InfoContext(ctx, "connected", "bot", me.Username, "support_channel", b.cfg.SupportChannel)
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if httpStatus(err) == 401 || errors.Is(err, discordgo.ErrUnauthorized) {
			return err // a wrong token: retrying cannot help
		}
		b.log.WarnContext(ctx, "cannot reach Discord; retrying", "in", wait, "err", err)
		if bots.Sleep(ctx, wait) != nil {
			return nil
		}
		wait = min(2*wait, 2*time.Minute)
	}
}

func (r *runner) onReady(e *discordgo.Ready) {
	var botID, appID string
	if e.User != nil {
		botID = e.User.ID
	}
	if e.Application != nil {
		appID = e.Application.ID
	}
	r.b.setIDs(botID, appID)
	r.b.log.Info("gateway session started")
	// A new session (not a resumed one) may have missed messages.
	r.holdMu.Lock()
	defer r.holdMu.Unlock()
	r.holding = true
	select {
	case r.catchUp <- struct{}{}:
	default:
	}
}

// release routes the messages held during a catch-up, in the order they
// came, unless another catch-up is due (a new session started meanwhile).
func (r *runner) release() {
	r.holdMu.Lock()
	defer r.holdMu.Unlock()
	if len(r.catchUp) > 0 {
		return
	}
	for _, it := range r.held {
		r.route(it.msg, it.dm)
	}
	r.held, r.holding = nil, false
}

func (r *runner) onResumed() {
	r.b.log.Info("gateway session resumed")
}

func (r *runner) onMessage(e *discordgo.MessageCreate) {
	if e.Message == nil {
		return
	}
	r.holdMu.Lock()
	if r.holding {
		r.held = append(r.held, &item{msg: e.Message, dm: e.GuildID == ""})
		r.holdMu.Unlock()
		return
	}
	r.holdMu.Unlock()
	r.route(e.Message, e.GuildID == "")
}

func (r *runner) onInteraction(e *discordgo.InteractionCreate) {
	in := e.Interaction
	if in == nil || (in.Type != discordgo.InteractionMessageComponent && in.Type != discordgo.InteractionApplicationCommand) {
		return
	}
	user := interactionUser(in)
	if user == nil || user.Bot || in.ID == "" || in.ChannelID == "" || user.ID == "" || !decoded(in) || !r.b.seen.first("i:"+in.ID) {
		return
	}
	it := &item{in: in, acked: make(chan struct{})}
	// A command's answer is public only in a DM and in the user's own
	// thread: elsewhere in a server others would read about their requests.
	if in.Type == discordgo.InteractionApplicationCommand && in.GuildID != "" {
		th, ok := r.b.chats.thread(in.ChannelID)
		it.ephemeral = !ok || th.User != user.ID
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.stopped {
		return
	}
	// Answer Discord first: it allows 3 seconds.
	select {
	case r.acks <- it:
	case <-r.done:
		return
	}
	select {
	case r.shards[shard(user.ID)] <- it:
	case <-r.done:
	}
}

// decoded reports whether discordgo could decode the interaction's data:
// it calls the handlers even when it could not, and then Data is nil, on
// which MessageComponentData and ApplicationCommandData panic.
func decoded(in *discordgo.Interaction) bool {
	switch in.Data.(type) {
	case discordgo.MessageComponentInteractionData:
		return in.Type == discordgo.InteractionMessageComponent
	case discordgo.ApplicationCommandInteractionData:
		return in.Type == discordgo.InteractionApplicationCommand
	}
	return false
}

// route queues a message ayuda should answer, once.
func (r *runner) route(m *discordgo.Message, dm bool) {
	if !r.wanted(m, dm) || !r.b.seen.first("m:"+m.ID) {
		return
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.stopped {
		r.b.seen.forget("m:" + m.ID)
		return
	}
	select {
	case r.shards[shard(m.Author.ID)] <- &item{msg: m, dm: dm}:
	case <-r.done:
		r.b.seen.forget("m:" + m.ID)
	}
}

// wanted says whether ayuda answers m: every DM; a person's message in the
// support channel; in ayuda's threads, its customer's messages; elsewhere
// in a server, only messages that mention ayuda.
func (r *runner) wanted(m *discordgo.Message, dm bool) bool {
	if m.Author == nil || m.Author.Bot || m.Author.System || m.WebhookID != "" {
		return false
	}
	if m.ID == "" || m.ChannelID == "" || m.Author.ID == "" {
		return false // not from Discord: nothing to answer or deduplicate on
	}
	if m.Type != discordgo.MessageTypeDefault && m.Type != discordgo.MessageTypeReply {
		return false
	}
	botID, _ := r.b.ids()
	if m.Author.ID == botID {
		return false
	}
	if dm {
		return true
	}
	switch r.b.chats.kind(m.ChannelID) {
	case "support":
		return true
	case kindThread:
		if th, _ := r.b.chats.thread(m.ChannelID); th.User == m.Author.ID {
			return true
		}
	}
	return mentions(m, botID)
}

func mentions(m *discordgo.Message, id string) bool {
	if id == "" {
		return false
	}
	for _, u := range m.Mentions {
		if u != nil && u.ID == id {
			return true
		}
	}
	return false
}

// shard is the worker for a person: all they do, in any chat, is handled
// in order.
func shard(user string) int {
	h := fnv.New32a()
	h.Write([]byte(user))
	return int(h.Sum32() % workers)
}

// ackLoop answers interactions until the runner stops: a deferred update
// for a button (the message is edited later), a deferred answer for a
// slash command (written when the reply is ready).
func (r *runner) ackLoop() {
	for it := range r.acks {
		r.ack(it)
	}
}

func (r *runner) ack(it *item) {
	defer close(it.acked)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second) // Discord's limit
	defer cancel()
	resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
	if it.in.Type == discordgo.InteractionApplicationCommand {
		resp.Type = discordgo.InteractionResponseDeferredChannelMessageWithSource
		if it.ephemeral {
			resp.Data = &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}
		}
	}
	it.ackErr = r.b.do(ctx, "answer interaction", func(o ...discordgo.RequestOption) error {
		return r.b.s.InteractionRespond(it.in, resp, o...)
	})
	if it.ackErr != nil {
		r.b.log.Warn("interaction not acknowledged", "interaction", it.in.ID, "err", it.ackErr)
	}
}

// work handles the items of one shard until ctx is done. Each item gets
// its own deadline, detached from ctx, so one being handled at shutdown
// is finished (its reply posted or queued) rather than cut in half.
func (r *runner) work(ctx context.Context, in <-chan *item) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-in:
			if ctx.Err() != nil {
				return
			}
			ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), turnTimeout)
			if it.msg != nil {
				r.handleMessage(ictx, it)
			} else {
				r.handleInteraction(ictx, it)
			}
			cancel()
		}
	}
}

// handleMessage runs a message through the handler and posts the reply.
// In the support channel the reply goes to the customer's thread, opened
// from their first message.
func (r *runner) handleMessage(ctx context.Context, it *item) {
	b, m := r.b, it.msg
	// The answer's nonces come from the message: if ayuda dies after
	// Discord created the answer but before it was recorded, the answer
	// sent again after the restart (the engine repeats it for the same
	// message) is the one Discord already has.
	ctx = bots.WithSendKey(ctx, "m:"+m.ID)
	if it.dm {
		// Remembered before it is answered, so a crash before the answer
		// leaves a DM that catch-up reads on the next start.
		if err := b.chats.touch(ctx, m.ChannelID, kindDM, m.Author.ID, time.Now()); err != nil {
			b.log.WarnContext(ctx, "remembering DM channel", "err", err)
		}
	}
	for attempt := 0; ; attempt++ {
		to, fresh := r.messageAddress(ctx, it)
		reply := r.h(ctx, bots.Message{
			ID:          "discord:" + m.ID,
			From:        to,
			Name:        displayName(m.Author, m.Member),
			Text:        r.text(m),
			Attachments: attachments(m),
			Time:        m.Timestamp,
		})
		if reply.IsZero() && reply.Seen {
			b.react(ctx, m.ChannelID, m.ID)
			break
		}
		parts := render(reply)
		n, err := b.post(ctx, to.Chat, parts)
		if err != nil && !fresh && attempt == 0 && httpStatus(err) == 404 && to.Chat != m.ChannelID {
			// The customer's thread was deleted: open a new one.
			b.log.WarnContext(ctx, "thread gone; opening a new one", "thread", to.Chat)
			if ferr := b.chats.forgetThread(ctx, to.Chat); ferr != nil {
				b.log.WarnContext(ctx, "forgetting thread", "err", ferr)
			}
			continue
		}
		if err != nil {
			b.undelivered(ctx, to, reply, parts, n, err)
		}
		break
	}
	if _, ok := b.chats.thread(m.ChannelID); ok && !it.dm {
		if err := b.chats.touch(ctx, m.ChannelID, kindThread, m.Author.ID, time.Now()); err != nil {
			b.log.WarnContext(ctx, "remembering thread", "err", err)
		}
	}
	if err := b.chats.advance(ctx, m.ChannelID, m.ID); err != nil {
		b.log.WarnContext(ctx, "recording last message", "err", err)
	}
}

// seenEmoji is the reaction that says "received, added to your request".
const seenEmoji = "👀"

// react marks the customer's message as seen. A channel where the bot may
// not add reactions refuses it; the message is on the ticket all the same,
// so that is only logged.
func (b *Bot) react(ctx context.Context, channel, id string) {
	err := b.do(ctx, "mark a message as seen", func(o ...discordgo.RequestOption) error {
		return b.s.MessageReactionAdd(channel, id, seenEmoji, o...)
	})
	if err != nil && ctx.Err() == nil {
		b.log.WarnContext(ctx, "could not mark a message as seen", "channel", channel, "err", err)
	}
}

// messageAddress is where a message's conversation happens; fresh is set
// when a thread was opened for it just now.
func (r *runner) messageAddress(ctx context.Context, it *item) (bots.Address, bool) {
	m := it.msg
	to := bots.Address{Platform: bots.Discord, Chat: m.ChannelID, User: m.Author.ID}
	if it.dm || r.b.chats.kind(m.ChannelID) != "support" {
		return to, false
	}
	id, fresh, err := r.b.supportThread(ctx, m.Author, m.Member, m.ID)
	if err != nil {
		r.b.log.ErrorContext(ctx, "cannot open a thread; answering in the support channel", "err", err)
		return to, false
	}
	to.Chat = id
	return to, fresh
}

// supportThread returns the customer's thread in the support channel,
// opening it (from their message starter, or standalone when starter is
// empty) if they have none.
func (b *Bot) supportThread(ctx context.Context, u *discordgo.User, mem *discordgo.Member, starter string) (string, bool, error) {
	if id := b.chats.threadFor(u.ID); id != "" {
		return id, false, nil
	}
	name := threadName(displayName(u, mem))
	var ch *discordgo.Channel
	err := b.do(ctx, "open thread", func(o ...discordgo.RequestOption) (err error) {
		if starter != "" {
			ch, err = b.s.MessageThreadStart(b.cfg.SupportChannel, starter, name, archiveMinutes, o...)
		} else {
			ch, err = b.s.ThreadStartComplex(b.cfg.SupportChannel, &discordgo.ThreadStart{
				Name: name, AutoArchiveDuration: archiveMinutes, Type: discordgo.ChannelTypeGuildPublicThread,
			}, o...)
		}
		return err
	})
	const threadExists = 160004 // "A thread has already been created for this message"
	if err != nil && starter != "" && apiCode(err) == threadExists {
		ch, err = &discordgo.Channel{ID: starter}, nil // such a thread has the message's id
	}
	if err != nil {
		return "", false, err
	}
	if err := b.chats.add(ctx, ch.ID, chat{Kind: kindThread, User: u.ID, Parent: b.cfg.SupportChannel}, time.Now()); err != nil {
		b.log.WarnContext(ctx, "remembering thread", "thread", ch.ID, "err", err)
	}
	// Catch-up covers the thread from its start (its id is older than
	// anything said in it).
	if err := b.chats.advance(ctx, ch.ID, ch.ID); err != nil {
		b.log.WarnContext(ctx, "recording thread start", "thread", ch.ID, "err", err)
	}
	// So the customer is notified of what is said there, agents included.
	err = b.do(ctx, "add customer to thread", func(o ...discordgo.RequestOption) error {
		return b.s.ThreadMemberAdd(ch.ID, u.ID, o...)
	})
	if err != nil {
		b.log.WarnContext(ctx, "customer not added to their thread", "thread", ch.ID, "err", err)
	}
	b.log.InfoContext(ctx, "thread opened", "thread", ch.ID)
	return ch.ID, true, nil
}

// text is what the person wrote, without the mention of ayuda.
func (r *runner) text(m *discordgo.Message) string {
	botID, _ := r.b.ids()
	s := m.Content
	if botID != "" {
		s = strings.ReplaceAll(s, "<@"+botID+">", "")
		s = strings.ReplaceAll(s, "<@!"+botID+">", "")
	}
	return strings.TrimSpace(s)
}

func displayName(u *discordgo.User, m *discordgo.Member) string {
	if m != nil && m.Nick != "" {
		return m.Nick
	}
	if u == nil {
		return ""
	}
	if u.GlobalName != "" {
		return u.GlobalName
	}
	return u.Username
}

func threadName(name string) string {
	s := "ayuda · " + strings.Join(strings.Fields(name), " ")
	if r := []rune(s); len(r) > 100 {
		s = string(r[:100])
	}
	return s
}

// attachments records files and stickers as bots.Attachments: the file's
// URL, a kind from its content type, and its name.
func attachments(m *discordgo.Message) []bots.Attachment {
	var out []bots.Attachment
	for _, a := range m.Attachments {
		if a == nil {
			continue
		}
		out = append(out, bots.Attachment{Kind: attachmentKind(a.ContentType, m.Flags), Ref: a.URL, Name: a.Filename})
	}
	for _, s := range m.StickerItems {
		if s != nil {
			out = append(out, bots.Attachment{Kind: "sticker", Ref: s.ID, Name: s.Name})
		}
	}
	return out
}

func attachmentKind(contentType string, flags discordgo.MessageFlags) string {
	switch {
	case strings.HasPrefix(contentType, "image/"):
		return "photo"
	case strings.HasPrefix(contentType, "video/"):
		return "video"
	case strings.HasPrefix(contentType, "audio/") && flags&discordgo.MessageFlagsIsVoiceMessage != 0:
		return "voice"
	case strings.HasPrefix(contentType, "audio/"):
		return "audio"
	case contentType == "":
		return "file"
	}
	return "document"
}

// tracker counts goroutines that may outlive their caller (a REST call
// abandoned when its ctx ended, discordgo's Open and Close) so Run can
// wait for them, bounded.
type tracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to zero
}

func (t *tracker) add() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		t.idle = make(chan struct{})
	}
	t.n++
}

func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 {
		close(t.idle)
	}
}

// wait returns when no tracked goroutine runs, or after d.
func (t *tracker) wait(d time.Duration) bool {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return true
	}
	idle := t.idle
	t.mu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-idle:
		return true
	case <-timer.C:
		return false
	}
}
