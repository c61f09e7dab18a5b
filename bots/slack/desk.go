package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"ayuda/bots"
	"ayuda/escalation"
)

// card is what the desk posted for one ticket, kept in State under
// "slack:card:<id>": where the card is, the ticket's Updated time it
// shows, how many transcript entries its thread accounts for, and the
// agents' thread messages with what became of each.
type card struct {
	Channel string    `json:"channel"`
	TS      string    `json:"ts"`
	Updated time.Time `json:"updated"`
	Lines   int       `json:"lines"`
	Relays  []relay   `json:"relays,omitempty"`
}

// relay is an agent's message in a card's thread.
type relay struct {
	TS    string `json:"ts"`
	Ref   string `json:"ref"`
	Note  bool   `json:"note,omitempty"`
	State string `json:"state"`
	// Reason says why it failed or waits.
	Reason string `json:"reason,omitempty"`
	// Shown is the state the thread already shows (reaction and reply).
	Shown string `json:"shown,omitempty"`
}

// Relay states.
const (
	relayPending   = "pending"   // in the outbox, not tried yet
	relayRetrying  = "retrying"  // tried and failed; the outbox retries
	relayDelivered = "delivered" // the customer's platform accepted it
	relayFailed    = "failed"    // not recorded, or given up on
	relayNoted     = "noted"     // kept as an internal note
)

var relayReactions = map[string]string{
	relayPending:   "outbox_tray",
	relayDelivered: "white_check_mark",
	relayNoted:     "memo",
	relayFailed:    "x",
	relayRetrying:  "hourglass_flowing_sand",
}

func (r relay) final() bool {
	return r.State == relayDelivered || r.State == relayFailed || r.State == relayNoted
}

// openStatuses are the statuses of tickets that need work.
var openStatuses = []escalation.Status{escalation.New, escalation.Assigned, escalation.InProgress, escalation.Waiting, escalation.Reopened}

const (
	// recentClosed is how many completed or closed tickets each pass
	// looks at, so their cards show how they ended.
	recentClosed = 50
	// keepCards: a ticket that ended longer ago than this gets no card.
	keepCards = 24 * time.Hour
	// resyncEvery is how often the whole desk is compared with the queue
	// when nothing changes.
	resyncEvery = 5 * time.Minute
	// keepRelays is how many finished relays a card remembers.
	keepRelays = 20
	// maxLine is the most characters of one transcript entry a thread
	// line shows.
	maxLine = 3500
)

// desk keeps the agents' channel in step with the queue. One goroutine
// (run) posts and updates cards, thread lines and reactions; workers only
// record what agents did and wake it.
type desk struct {
	b       *Bot
	q       Queue
	channel string
	wake    chan struct{}

	mu      sync.Mutex // guards the maps and the cards in them
	cards   map[escalation.ID]*card
	threads map[string]escalation.ID // card ts → ticket
	dirty   map[escalation.ID]bool   // changed since the last pass
	// opened holds how many transcript entries tickets were opened with,
	// as the queue reported them: the card shows those, the thread what
	// comes after.
	opened map[escalation.ID]int
}

func newDesk(b *Bot) *desk {
	return &desk{b: b, q: b.cfg.Queue, channel: b.cfg.AgentsChannel, wake: make(chan struct{}, 1),
		cards: map[escalation.ID]*card{}, threads: map[string]escalation.ID{}, dirty: map[escalation.ID]bool{},
		opened: map[escalation.ID]int{}}
}

func cardKey(id escalation.ID) string { return "slack:card:" + id.String() }
func threadKey(ts string) string      { return "slack:thread:" + ts }

// mark notes that ticket id changed and wakes the desk. It never blocks:
// the queue calls it while committing.
func (d *desk) mark(id escalation.ID) {
	d.mu.Lock()
	d.dirty[id] = true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// run reconciles the desk with the queue now, after every change, and
// every resyncEvery, until ctx is done. A pass that fails is retried with
// growing pauses (1 s to 5 min), during which changes only accumulate.
func (d *desk) run(ctx context.Context) {
	d.q.Watch(func(c escalation.Change) {
		if c.Event.What == "opened" {
			d.mu.Lock()
			d.opened[c.Ticket.ID] = len(c.Ticket.Transcript)
			d.mu.Unlock()
		}
		d.mark(c.Ticket.ID)
	})
	d.q.WatchDeliveries(func(x escalation.Delivery) {
		if x.Message.Ticket != 0 && strings.HasPrefix(x.Message.Ref, "slack:") {
			d.mark(x.Message.Ticket)
		}
	})
	every := time.NewTicker(resyncEvery)
	defer every.Stop()
	failures := 0
	for {
		err := d.reconcile(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			wait := min(time.Second<<min(failures-1, 9), 5*time.Minute)
			d.b.log.WarnContext(ctx, "agents' desk out of date; retrying", "in", wait, "err", err)
			if d.b.sleep(ctx, wait) != nil {
				return
			}
			continue
		}
		failures = 0
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-every.C:
		}
	}
}

// reconcile brings every open or recently changed ticket's card, thread
// and reactions up to date. It stops at the first failure worth retrying
// (Slack or the store is down) and returns it; a ticket whose card Slack
// refuses is logged and skipped until the next pass.
func (d *desk) reconcile(ctx context.Context) error {
	d.mu.Lock()
	dirty := d.dirty
	d.dirty = map[escalation.ID]bool{}
	d.mu.Unlock()
	requeue := func() {
		for id := range dirty {
			d.mark(id)
		}
	}
	byID := map[escalation.ID]escalation.Ticket{}
	open, err := d.q.List(ctx, escalation.Filter{Status: openStatuses})
	if err != nil {
		requeue()
		return fmt.Errorf("list open tickets: %w", err)
	}
	recent, err := d.q.List(ctx, escalation.Filter{Status: []escalation.Status{escalation.Completed, escalation.Closed}, Limit: recentClosed})
	if err != nil {
		requeue()
		return fmt.Errorf("list closed tickets: %w", err)
	}
	for _, t := range append(open, recent...) {
		byID[t.ID] = t
	}
	for id := range dirty {
		if _, ok := byID[id]; ok {
			continue
		}
		t, err := d.q.Get(ctx, id)
		switch {
		case errors.Is(err, escalation.ErrNotFound):
		case err != nil:
			requeue()
			return fmt.Errorf("ticket #%d: %w", id, err)
		default:
			byID[id] = *t
		}
	}
	ids := make([]escalation.ID, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for i, id := range ids {
		t := byID[id]
		err := d.sync(ctx, &t)
		if err == nil {
			continue
		}
		if _, transient := retryAfter(err, 1); transient || ctx.Err() != nil || !isSlackError(err) {
			for _, rest := range ids[i:] {
				d.mark(rest)
			}
			return fmt.Errorf("ticket #%d: %w", id, err)
		}
		d.b.log.ErrorContext(ctx, "Slack refused a ticket's card", "ticket", id, "err", err)
	}
	return nil
}

// isSlackError reports whether err is Slack's answer to a call (as
// opposed to the store or the network failing).
func isSlackError(err error) bool {
	var se slack.SlackErrorResponse
	return errors.As(err, &se)
}

// snapshot returns a copy of ticket id's card, or nil if it has none.
func (d *desk) snapshot(ctx context.Context, id escalation.ID) (*card, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.loadLocked(ctx, id)
	if c == nil || err != nil {
		return nil, err
	}
	cp := *c
	cp.Relays = append([]relay(nil), c.Relays...)
	return &cp, nil
}

// loadLocked returns ticket id's card from memory or State; the caller
// holds mu.
func (d *desk) loadLocked(ctx context.Context, id escalation.ID) (*card, error) {
	if c, ok := d.cards[id]; ok {
		return c, nil
	}
	data, err := d.b.cfg.State.GetMeta(ctx, cardKey(id))
	if err != nil || data == nil {
		return nil, err
	}
	c := &card{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("%s: %w", cardKey(id), err)
	}
	d.cards[id] = c
	d.threads[c.TS] = id
	return c, nil
}

// modify changes ticket id's card with fn and stores it. fn gets a new
// card when there is none.
func (d *desk) modify(ctx context.Context, id escalation.ID, fn func(c *card)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.loadLocked(ctx, id)
	if err != nil {
		return err
	}
	next := &card{}
	if c != nil {
		*next = *c
		next.Relays = append([]relay(nil), c.Relays...)
	}
	fn(next)
	data, err := json.Marshal(next)
	if err != nil {
		return err
	}
	if err := d.b.cfg.State.PutMeta(ctx, cardKey(id), data); err != nil {
		return err
	}
	d.cards[id] = next
	d.threads[next.TS] = id
	return nil
}

// ticketFor returns the ticket whose card is the message ts.
func (d *desk) ticketFor(ctx context.Context, ts string) (escalation.ID, bool) {
	d.mu.Lock()
	id, ok := d.threads[ts]
	d.mu.Unlock()
	if ok {
		return id, true
	}
	data, err := d.b.cfg.State.GetMeta(ctx, threadKey(ts))
	if err != nil || data == nil {
		return 0, false
	}
	n, err := strconv.ParseUint(string(data), 10, 64)
	if err != nil {
		return 0, false
	}
	d.mu.Lock()
	d.threads[ts] = escalation.ID(n)
	d.mu.Unlock()
	return escalation.ID(n), true
}

// sync brings one ticket's card, thread and reactions up to date.
func (d *desk) sync(ctx context.Context, t *escalation.Ticket) error {
	c, err := d.snapshot(ctx, t.ID)
	if err != nil {
		return err
	}
	switch {
	case c == nil:
		if !t.Status.Open() && d.b.now().Sub(t.Updated) > keepCards {
			return nil
		}
		ts, err := d.postCard(ctx, t)
		if err != nil {
			return err
		}
		c = &card{Channel: d.channel, TS: ts, Updated: t.Updated, Lines: d.firstLine(t)}
		if err := d.store(ctx, t.ID, c); err != nil {
			return err
		}
	case !c.Updated.Equal(t.Updated):
		err := d.updateCard(ctx, c, t)
		var se slack.SlackErrorResponse
		if errors.As(err, &se) && se.Err == "message_not_found" {
			// Someone deleted the card: post it again.
			c.TS, err = d.postCard(ctx, t)
		}
		if err != nil {
			return err
		}
		c.Updated = t.Updated
		if err := d.store(ctx, t.ID, c); err != nil {
			return err
		}
	}
	for i := c.Lines; i < len(t.Transcript); i++ {
		e := t.Transcript[i]
		if mirrored(e) {
			if _, err := d.postLine(ctx, c, entryLine(e, maxLine)); err != nil {
				return err
			}
		}
		if err := d.modify(ctx, t.ID, func(c *card) { c.Lines = i + 1 }); err != nil {
			return err
		}
	}
	if err := d.showRelays(ctx, t.ID, c); err != nil {
		return err
	}
	if !t.Status.Open() {
		d.forget(t.ID)
	}
	return nil
}

// forget drops an ended ticket's card from memory once nothing about it
// is on its way; State keeps it, and a change reads it again.
func (d *desk) forget(id escalation.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.cards[id]
	if c == nil {
		return
	}
	for _, r := range c.Relays {
		if !r.final() || r.Shown != r.State {
			return
		}
	}
	delete(d.cards, id)
	delete(d.threads, c.TS)
}

// store records where ticket id's card is and what it shows.
func (d *desk) store(ctx context.Context, id escalation.ID, c *card) error {
	err := d.modify(ctx, id, func(cur *card) {
		cur.Channel, cur.TS, cur.Updated = c.Channel, c.TS, c.Updated
		if cur.Lines < c.Lines {
			cur.Lines = c.Lines
		}
	})
	if err != nil {
		return err
	}
	return d.b.cfg.State.PutMeta(ctx, threadKey(c.TS), []byte(id.String()))
}

// firstLine is the index of the first transcript entry written after the
// ticket was opened: what came before is on the card, what comes after
// goes to the thread. The queue said so when the ticket opened; for a
// ticket opened before this process started, entry times tell.
func (d *desk) firstLine(t *escalation.Ticket) int {
	d.mu.Lock()
	n, ok := d.opened[t.ID]
	delete(d.opened, t.ID)
	d.mu.Unlock()
	if ok && n <= len(t.Transcript) {
		return n
	}
	for i, e := range t.Transcript {
		if e.Time.After(t.Created) {
			return i
		}
	}
	return len(t.Transcript)
}

// mirrored reports whether entry e belongs in the card's thread: all but
// the agents' own messages from the thread, which are there already.
func mirrored(e escalation.Entry) bool {
	return !(e.Author == escalation.AuthorAgent && strings.HasPrefix(e.MessageID, "slack:"))
}

func (d *desk) agentName(id string) string {
	if a, err := d.q.Agent(id); err == nil && a.Name != "" {
		return a.Name
	}
	return id
}

func (d *desk) postCard(ctx context.Context, t *escalation.Ticket) (string, error) {
	var ts string
	err := d.b.call(ctx, "chat.postMessage", func(ctx context.Context) error {
		var err error
		_, ts, err = d.b.api.PostMessageContext(ctx, d.channel,
			slack.MsgOptionText(fallback(cardText(t)), true), slack.MsgOptionBlocks(cardBlocks(t, d.agentName, d.b.cfg.ThreadReplies == RepliesInternal)...), slack.MsgOptionDisableLinkUnfurl())
		return err
	})
	return ts, err
}

func (d *desk) updateCard(ctx context.Context, c *card, t *escalation.Ticket) error {
	return d.b.call(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := d.b.api.UpdateMessageContext(ctx, c.Channel, c.TS,
			slack.MsgOptionText(fallback(cardText(t)), true), slack.MsgOptionBlocks(cardBlocks(t, d.agentName, d.b.cfg.ThreadReplies == RepliesInternal)...))
		return err
	})
}

// postLine posts mrkdwn text (escaped already) in the card's thread.
func (d *desk) postLine(ctx context.Context, c *card, text string) (string, error) {
	var ts string
	err := d.b.call(ctx, "chat.postMessage", func(ctx context.Context) error {
		var err error
		_, ts, err = d.b.api.PostMessageContext(ctx, c.Channel, slack.MsgOptionText(cut(text, maxFallback), false),
			slack.MsgOptionTS(c.TS), slack.MsgOptionDisableLinkUnfurl())
		return err
	})
	return ts, err
}

// showRelays decides what became of the agents' thread messages that are
// still on their way (from the outbox: still there, moved aside, or gone
// because delivered) and shows every new state with a reaction, and a
// reply saying why when a message failed or waits.
func (d *desk) showRelays(ctx context.Context, id escalation.ID, c *card) error {
	var view *outboxView
	for _, r := range c.Relays {
		state, reason := r.State, r.Reason
		if state == relayPending || state == relayRetrying {
			if view == nil {
				// Read after the snapshot: a relay is recorded only once
				// its message is in the outbox, so absence means delivered.
				v, err := d.readOutbox(ctx)
				if err != nil {
					return err
				}
				view = v
			}
			state, reason = view.resolve(r.Ref, state, reason)
		}
		if state == r.State && state == r.Shown {
			continue
		}
		if state != r.Shown {
			if err := d.show(ctx, c, r, state, reason); err != nil {
				return err
			}
		}
		err := d.modify(ctx, id, func(c *card) {
			for i := range c.Relays {
				if c.Relays[i].TS == r.TS {
					c.Relays[i].State, c.Relays[i].Reason, c.Relays[i].Shown = state, reason, state
				}
			}
			c.Relays = pruneRelays(c.Relays)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// show puts state on the agent's message r.
func (d *desk) show(ctx context.Context, c *card, r relay, state, reason string) error {
	if name := relayReactions[state]; name != "" {
		if err := d.b.react(ctx, c.Channel, r.TS, name); err != nil {
			return err
		}
	}
	var line string
	switch {
	case state == relayFailed && r.Note:
		line = ":x: No se ha guardado la nota: " + escape(deliveryWords(reason))
	case state == relayFailed:
		line = ":x: No ha llegado al cliente: " + escape(deliveryWords(reason))
	case state == relayRetrying:
		line = ":hourglass_flowing_sand: Aún no ha llegado al cliente: " + escape(deliveryWords(reason)) + ". Se sigue intentando; no hace falta repetirlo."
	}
	if line == "" {
		return nil
	}
	_, err := d.postLine(ctx, c, line)
	return err
}

// react puts reaction name on message ts of channel ch; one already
// there is no error.
func (b *Bot) react(ctx context.Context, ch, ts, name string) error {
	return b.call(ctx, "reactions.add", func(ctx context.Context) error {
		err := b.api.AddReactionContext(ctx, name, slack.NewRefToMessage(ch, ts))
		var se slack.SlackErrorResponse
		if errors.As(err, &se) && se.Err == "already_reacted" {
			return nil
		}
		return err
	})
}

// pruneRelays keeps the relays still on their way and the latest
// finished ones.
func pruneRelays(rs []relay) []relay {
	finished := 0
	for _, r := range rs {
		if r.final() && r.Shown == r.State {
			finished++
		}
	}
	out := rs[:0:0]
	for _, r := range rs {
		if r.final() && r.Shown == r.State && finished > keepRelays {
			finished--
			continue
		}
		out = append(out, r)
	}
	return out
}

// outboxView is the outbox at one moment, by ref.
type outboxView struct {
	pending, dead map[string]escalation.Outgoing
}

func (d *desk) readOutbox(ctx context.Context) (*outboxView, error) {
	v := &outboxView{pending: map[string]escalation.Outgoing{}, dead: map[string]escalation.Outgoing{}}
	p, err := d.q.Pending(ctx)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	for _, o := range p {
		if o.Ref != "" {
			v.pending[o.Ref] = o
		}
	}
	dead, err := d.q.Undeliverable(ctx)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	for _, o := range dead {
		if o.Ref != "" {
			v.dead[o.Ref] = o
		}
	}
	return v, nil
}

func (v *outboxView) resolve(ref, state, reason string) (string, string) {
	if o, ok := v.dead[ref]; ok {
		return relayFailed, o.LastErr
	}
	if o, ok := v.pending[ref]; ok {
		if o.LastErr != "" {
			return relayRetrying, o.LastErr
		}
		return relayPending, ""
	}
	return relayDelivered, ""
}

// deliveryWords says in words an agent understands why a message has not
// reached the customer, from the outbox's record of the last attempt.
// The queue's own refusals are already in words (reason).
func deliveryWords(lastErr string) string {
	l := strings.ToLower(lastErr)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(l, s) {
				return true
			}
		}
		return false
	}
	switch {
	case lastErr == "":
		return "motivo desconocido"
	case has(strings.ToLower(bots.ErrUnreachable.Error())):
		return "el cliente no está conectado ahora; le llegará en cuanto vuelva"
	case has("blocked", "bot was blocked", "forbidden", "403", "cannot send messages to this user", "50007"):
		return "el cliente ha bloqueado el bot o ya no acepta sus mensajes"
	case has("chat not found", "channel_not_found", "unknown channel", "10003", "user is deactivated", "account_inactive"):
		return "la conversación del cliente ya no existe en su plataforma"
	case has("429", "too many requests", "ratelimited", "rate limit"):
		return "la plataforma pide esperar (límite de mensajes)"
	case has("500", "502", "503", "504", "bad gateway", "service unavailable", "timeout", "connection refused", "no such host", "eof"):
		return "la plataforma del cliente no responde ahora"
	}
	if !strings.Contains(lastErr, ":") && !strings.Contains(lastErr, "escalation") {
		return lastErr // already in words: the queue's refusal
	}
	return "la plataforma del cliente lo ha rechazado (" + lastErr + ")"
}

// ephemeral tells user something only they see, in channel ch (and
// thread, if set).
func (b *Bot) ephemeral(ctx context.Context, ch, user, thread, text string, blocks ...slack.Block) {
	opts := []slack.MsgOption{slack.MsgOptionText(text, true)}
	if len(blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(blocks...))
	}
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
	}
	err := b.call(ctx, "chat.postEphemeral", func(ctx context.Context) error {
		_, err := b.api.PostEphemeralContext(ctx, ch, user, opts...)
		return err
	})
	if err != nil {
		b.log.WarnContext(ctx, "could not answer privately", "user", user, "err", err)
	}
}
