package telegram

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"ayuda/bots"
)

// offsetKey is where the polling position is kept, as "<last>" or, when
// later updates were handled out of order, "<last> <id>,<id>…".
const offsetKey = "telegram:offset"

// ledger records which updates are handled: every update up to last, and
// those in done after it (chats run concurrently, so they finish out of
// order). It is safe for concurrent use.
type ledger struct {
	mu   sync.Mutex
	last int
	done map[int]bool
}

func parseLedger(v string) (*ledger, error) {
	l := &ledger{done: map[int]bool{}}
	v = strings.TrimSpace(v)
	if v == "" {
		return l, nil
	}
	head, rest, _ := strings.Cut(v, " ")
	n, err := strconv.Atoi(head)
	if err != nil {
		return nil, fmt.Errorf("telegram: stored offset %q: %w", v, err)
	}
	l.last = n
	for _, f := range strings.Split(rest, ",") {
		if f == "" {
			continue
		}
		id, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("telegram: stored offset %q: %w", v, err)
		}
		if id > l.last {
			l.done[id] = true
		}
	}
	return l, nil
}

// encode is the stored form; the caller holds mu.
func (l *ledger) encode() string {
	s := strconv.Itoa(l.last)
	if len(l.done) == 0 {
		return s
	}
	ids := make([]int, 0, len(l.done))
	for id := range l.done {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	return s + " " + strings.Join(parts, ",")
}

func (l *ledger) handled(id int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return id <= l.last || l.done[id]
}

func (l *ledger) next() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last + 1
}

// complete marks update id handled (0 marks nothing), moves last forward
// over the batch's ids that are all handled, and stores the result. A
// failed store is logged: the dialog engine still recognises a re-delivered
// message.
func (b *Bot) complete(ctx context.Context, l *ledger, id int, batch []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	before := l.encode()
	if id > l.last {
		l.done[id] = true
	}
	for _, x := range batch {
		if x <= l.last {
			continue
		}
		if !l.done[x] {
			break
		}
		delete(l.done, x)
		l.last = x
	}
	for x := range l.done {
		if x <= l.last {
			delete(l.done, x)
		}
	}
	after := l.encode()
	if after == before {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
	defer cancel()
	if err := b.cfg.State.PutMeta(sctx, offsetKey, []byte(after)); err != nil {
		b.log.ErrorContext(ctx, "could not store the update offset", "err", err)
	}
}

// pollLoop long-polls getUpdates from the stored offset until ctx is done.
// It calls getUpdates itself rather than GetUpdatesChan, which keeps the
// offset only in memory and cannot be interrupted. A failure, or an empty
// answer that came back at once (a Bot API server that does not hold the
// poll), backs off from 1 s doubling to 30 s.
func (b *Bot) pollLoop(ctx context.Context, h bots.Handler) error {
	v, err := b.cfg.State.GetMeta(ctx, offsetKey)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("telegram: read the update offset: %w", err)
	}
	led, err := parseLedger(string(v))
	if err != nil {
		return err
	}
	bo := b.backoff()
	for ctx.Err() == nil {
		start := time.Now()
		ups, err := b.getUpdates(ctx, led.next())
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		var ae *APIError
		switch {
		case errors.As(err, &ae) && ae.Code == 401:
			return err // the token was revoked
		case err != nil:
			wait = bo.next()
			b.log.WarnContext(ctx, "getUpdates failed; backing off", "wait", wait, "err", err)
		case len(ups) == 0 && time.Since(start) < b.poll/2:
			wait = bo.next()
			b.log.DebugContext(ctx, "getUpdates answered at once without updates; backing off", "wait", wait)
		case len(ups) == 0:
			bo.reset()
		default:
			if err := b.handleBatch(ctx, h, led, ups); err != nil {
				wait = bo.next()
				b.log.ErrorContext(ctx, "updates left unhandled; they will be fetched again", "wait", wait, "err", err)
			} else {
				bo.reset()
			}
		}
		if wait > 0 && b.sleep(ctx, wait) != nil {
			return nil
		}
	}
	return nil
}

// getUpdates makes one long-poll call, cancelled with ctx.
func (b *Bot) getUpdates(ctx context.Context, offset int) ([]tgbotapi.Update, error) {
	ups, err := b.api(ctx).GetUpdates(tgbotapi.UpdateConfig{
		Offset:         offset,
		Limit:          100,
		Timeout:        int(b.poll / time.Second),
		AllowedUpdates: allowedUpdates,
	})
	if err != nil {
		return nil, apiError("getUpdates", err)
	}
	return ups, nil
}

// handleBatch handles one getUpdates answer: each chat's updates in order,
// up to Workers chats at once, skipping updates already handled. Once ctx
// is done no update is started; those not handled are fetched again later.
func (b *Bot) handleBatch(ctx context.Context, h bots.Handler, led *ledger, ups []tgbotapi.Update) error {
	ids := make([]int, 0, len(ups))
	type queue struct{ ups []tgbotapi.Update }
	var order []*queue
	byChat := map[string]*queue{}
	for _, u := range ups {
		ids = append(ids, u.UpdateID)
		if led.handled(u.UpdateID) {
			continue
		}
		k := chatKey(u)
		q := byChat[k]
		if q == nil {
			q = &queue{}
			byChat[k] = q
			order = append(order, q)
		}
		q.ups = append(q.ups, u)
	}
	sort.Ints(ids)
	b.complete(ctx, led, 0, ids) // updates handled before a restart

	var wg sync.WaitGroup
	var failed atomic.Int32
	sem := make(chan struct{}, b.cfg.Workers)
start:
	for _, q := range order {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break start
		}
		wg.Go(func() {
			defer func() { <-sem }()
			for _, u := range q.ups {
				if ctx.Err() != nil {
					return
				}
				if err := b.process(ctx, h, u); err != nil {
					failed.Add(1)
					b.log.ErrorContext(ctx, "update not handled", "update", u.UpdateID, "err", err)
					return
				}
				b.complete(ctx, led, u.UpdateID, ids)
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("telegram: %d chats had an update that could not be handled", n)
	}
	return nil
}

// chatKey names the chat an update belongs to, for ordering.
func chatKey(u tgbotapi.Update) string {
	switch {
	case u.Message != nil && u.Message.Chat != nil:
		return strconv.FormatInt(u.Message.Chat.ID, 10)
	case u.CallbackQuery != nil && u.CallbackQuery.Message != nil && u.CallbackQuery.Message.Chat != nil:
		return strconv.FormatInt(u.CallbackQuery.Message.Chat.ID, 10)
	}
	return "update:" + strconv.Itoa(u.UpdateID)
}

// process handles one update. It returns nil once nothing more is owed
// for it (the reply was sent or queued, or it was not for ayuda); an error
// means it must be handled again.
func (b *Bot) process(ctx context.Context, h bots.Handler, u tgbotapi.Update) error {
	switch {
	case u.CallbackQuery != nil:
		return b.onCallback(ctx, h, u.UpdateID, u.CallbackQuery)
	case u.Message != nil:
		return b.onMessage(ctx, h, u.UpdateID, u.Message)
	}
	return nil
}

// handle runs one turn of the handler. The turn is not cut short by
// shutdown (it stores the message and its reply in one go, quickly); the
// sending that follows is.
func (b *Bot) handle(ctx context.Context, h bots.Handler, m bots.Message) bots.Reply {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handleTimeout)
	defer cancel()
	return h(hctx, m)
}

func (b *Bot) onMessage(ctx context.Context, h bots.Handler, update int, m *tgbotapi.Message) error {
	if m.From == nil || m.From.IsBot || m.Chat == nil || m.From.ID == 0 || m.Chat.ID == 0 {
		return nil // 0 is no Telegram id: nothing could be sent back
	}
	me := b.me.Load()
	text := m.Text
	if text == "" {
		text = m.Caption
	}
	replyTo := 0
	switch {
	case m.Chat.IsPrivate():
		text = startPayload(text)
	case m.Chat.IsGroup() || m.Chat.IsSuperGroup():
		t, ok := groupText(m, text, me)
		if !ok {
			return nil
		}
		text, replyTo = t, m.MessageID
		if p := privateOnly(text); p != "" {
			b.redirect(ctx, m.Chat.ID, m.MessageID, m.From, p)
			return nil
		}
	default:
		return nil // channels
	}
	atts := attachments(m)
	if strings.TrimSpace(text) == "" && len(atts) == 0 && !m.Chat.IsPrivate() {
		text = "/ayuda" // just "@bot" in a group
	}
	to := address(m.Chat.ID, m.From.ID)
	msg := bots.Message{ID: strconv.Itoa(update), From: to, Name: fullName(m.From), Text: text, Attachments: atts, Locale: m.From.LanguageCode}
	if !m.Chat.IsPrivate() {
		// A private chat's id is the user's id.
		msg.Private = address(m.From.ID, m.From.ID)
	}
	if m.Date != 0 {
		msg.Time = time.Unix(int64(m.Date), 0)
	}
	return b.deliver(ctx, m.Chat.ID, replyTo, m.MessageID, to, b.handle(ctx, h, msg))
}

// onCallback handles a pressed button: it is acknowledged at once, its
// keyboard removed so it cannot be pressed twice, and the press becomes a
// message whose text is the choice's ID.
func (b *Bot) onCallback(ctx context.Context, h bots.Handler, update int, q *tgbotapi.CallbackQuery) error {
	if q.From == nil || q.Message == nil || q.Message.Chat == nil || q.From.ID == 0 || q.Message.Chat.ID == 0 {
		b.answer(ctx, q.ID, "")
		return nil
	}
	msg, chat := q.Message, q.Message.Chat
	group := !chat.IsPrivate()
	replyTo := 0
	if group && msg.ReplyToMessage != nil {
		replyTo = msg.ReplyToMessage.MessageID
		// In a group, a keyboard belongs to the person it answered.
		if f := msg.ReplyToMessage.From; f != nil && f.ID != q.From.ID {
			b.answer(ctx, q.ID, say(langOf(q.From), "not-yours"))
			return nil
		}
	}
	id, err := b.choiceID(ctx, q.Data)
	if err != nil {
		return err
	}
	b.answer(ctx, q.ID, "")
	if !b.pressed.add(fmt.Sprintf("%d:%d", chat.ID, msg.MessageID)) {
		return nil // pressed again before the keyboard went away
	}
	b.removeKeyboard(ctx, chat.ID, msg.MessageID)
	if group {
		if p := privateOnly(id); p != "" {
			b.redirect(ctx, chat.ID, replyTo, q.From, p)
			return nil
		}
	}
	to := address(chat.ID, q.From.ID)
	m := bots.Message{ID: strconv.Itoa(update), From: to, Name: fullName(q.From), Text: id, Time: time.Now()}
	if group {
		m.Private = address(q.From.ID, q.From.ID)
	}
	return b.deliver(ctx, chat.ID, replyTo, 0, to, b.handle(ctx, h, m))
}

// answer acknowledges a callback query, once: Telegram shows a spinner
// on the button until it is answered. text, if any, shows as a toast.
func (b *Bot) answer(ctx context.Context, id, text string) {
	if _, err := b.api(ctx).Request(tgbotapi.NewCallback(id, text)); err != nil && ctx.Err() == nil {
		b.log.DebugContext(ctx, "could not answer a button press", "err", apiError("answerCallbackQuery", err))
	}
}

// removeKeyboard takes the buttons off a message.
func (b *Bot) removeKeyboard(ctx context.Context, chat int64, message int) {
	edit := tgbotapi.NewEditMessageReplyMarkup(chat, message, tgbotapi.InlineKeyboardMarkup{InlineKeyboard: [][]tgbotapi.InlineKeyboardButton{}})
	if _, err := b.request(ctx, "editMessageReplyMarkup", edit); err != nil && ctx.Err() == nil {
		b.log.DebugContext(ctx, "could not remove a keyboard", "err", err)
	}
}

// redirect answers, in a group, something that belongs in a private chat
// (a person's requests, a new request) with a button that opens one.
// Nothing is owed if it fails: the person can ask again.
func (b *Bot) redirect(ctx context.Context, chat int64, replyTo int, from *tgbotapi.User, payload string) {
	lang := langOf(from)
	mc := tgbotapi.NewMessage(chat, tgbotapi.EscapeText(tgbotapi.ModeHTML, say(lang, "private")))
	mc.ParseMode = tgbotapi.ModeHTML
	if replyTo != 0 {
		mc.ReplyToMessageID = replyTo
		mc.AllowSendingWithoutReply = true
	}
	if kb := b.privateButton(lang, payload); kb != nil {
		mc.ReplyMarkup = kb
	}
	if _, err := b.request(ctx, "sendMessage", mc); err != nil && ctx.Err() == nil {
		b.log.WarnContext(ctx, "could not point a group member to a private chat", "chat", chat, "err", err)
	}
}

// privateButton is a button that opens a private chat with the bot and
// starts it with payload (see startPayload); nil before getMe answered.
func (b *Bot) privateButton(lang, payload string) *tgbotapi.InlineKeyboardMarkup {
	me := b.me.Load()
	if me == nil || me.UserName == "" {
		return nil
	}
	kb := tgbotapi.NewInlineKeyboardMarkup(tgbotapi.NewInlineKeyboardRow(
		tgbotapi.NewInlineKeyboardButtonURL(say(lang, "open-private"), "https://t.me/"+me.UserName+"?start="+payload)))
	return &kb
}

// startPayload turns the deep link a group sent someone to ("/start
// estado") into the command it stands for.
func startPayload(text string) string {
	cmd, arg, _ := strings.Cut(strings.TrimSpace(text), " ")
	if name, _, _ := strings.Cut(cmd, "@"); name != "/start" {
		return text
	}
	switch strings.TrimSpace(arg) {
	case "estado", "humano", "nueva":
		return "/" + strings.TrimSpace(arg)
	}
	return text
}

// knownCommands are the commands ayuda answers in a group without an
// @mention (the dialog engine understands all of them).
var knownCommands = map[string]bool{
	"start": true, "ayuda": true, "help": true, "menu": true,
	"estado": true, "status": true, "humano": true, "human": true, "agente": true, "agent": true, "persona": true,
	"nueva": true, "new": true, "cancelar": true, "cancel": true,
}

// groupText decides whether a group message is for ayuda (one of its
// commands, a reply to it, or an @mention) and returns its text without
// the mention.
func groupText(m *tgbotapi.Message, text string, me *identity) (string, bool) {
	if me == nil {
		return "", false
	}
	entities := m.Entities
	if m.Text == "" {
		entities = m.CaptionEntities
	}
	if len(entities) > 0 && entities[0].Type == "bot_command" && entities[0].Offset == 0 &&
		entities[0].Length > 0 && entities[0].Length <= len(text) {
		cmd := text[:entities[0].Length]
		name, at, found := strings.Cut(cmd[1:], "@")
		switch {
		case found && strings.EqualFold(at, me.UserName):
			return strings.TrimSpace("/" + name + text[len(cmd):]), true
		case found:
			return "", false // for another bot
		case knownCommands[strings.ToLower(name)]:
			return strings.TrimSpace(text), true
		}
	}
	if r := m.ReplyToMessage; r != nil && r.From != nil && r.From.ID == me.ID {
		return stripMention(text, me), true
	}
	if me.mention != nil && me.mention.MatchString(text) {
		return stripMention(text, me), true
	}
	return "", false
}

func stripMention(text string, me *identity) string {
	if me.mention != nil {
		text = me.mention.ReplaceAllString(text, " ")
	}
	return strings.TrimLeft(strings.Join(strings.Fields(text), " "), ",:;.!- ")
}

// attachments lists what a message carries besides text.
func attachments(m *tgbotapi.Message) []bots.Attachment {
	c := m.Caption
	switch {
	case len(m.Photo) > 0:
		return []bots.Attachment{{Kind: "photo", Ref: m.Photo[len(m.Photo)-1].FileID, Caption: c}}
	case m.Document != nil:
		return []bots.Attachment{{Kind: "document", Ref: m.Document.FileID, Name: m.Document.FileName, Caption: c}}
	case m.Voice != nil:
		return []bots.Attachment{{Kind: "voice", Ref: m.Voice.FileID, Caption: c}}
	case m.Audio != nil:
		name := m.Audio.FileName
		if name == "" {
			name = m.Audio.Title
		}
		return []bots.Attachment{{Kind: "audio", Ref: m.Audio.FileID, Name: name, Caption: c}}
	case m.Video != nil:
		return []bots.Attachment{{Kind: "video", Ref: m.Video.FileID, Name: m.Video.FileName, Caption: c}}
	case m.VideoNote != nil:
		return []bots.Attachment{{Kind: "video", Ref: m.VideoNote.FileID, Caption: c}}
	case m.Animation != nil:
		return []bots.Attachment{{Kind: "video", Ref: m.Animation.FileID, Name: m.Animation.FileName, Caption: c}}
	case m.Sticker != nil:
		return []bots.Attachment{{Kind: "sticker", Ref: m.Sticker.FileID, Name: m.Sticker.Emoji}}
	case m.Venue != nil:
		return []bots.Attachment{{Kind: "location", Ref: latLon(m.Venue.Location), Name: m.Venue.Title}}
	case m.Location != nil:
		return []bots.Attachment{{Kind: "location", Ref: latLon(*m.Location)}}
	}
	return nil
}

func latLon(l tgbotapi.Location) string {
	return strconv.FormatFloat(l.Latitude, 'f', -1, 64) + "," + strconv.FormatFloat(l.Longitude, 'f', -1, 64)
}

func address(chat, user int64) bots.Address {
	return bots.Address{Platform: bots.Telegram, Chat: strconv.FormatInt(chat, 10), User: strconv.FormatInt(user, 10)}
}

func fullName(u *tgbotapi.User) string {
	return strings.TrimSpace(u.FirstName + " " + u.LastName)
}

func langOf(u *tgbotapi.User) string {
	if u != nil && strings.HasPrefix(strings.ToLower(u.LanguageCode), "en") {
		return "en"
	}
	return "es"
}
