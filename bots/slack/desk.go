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
			d.opened[c.Ticket.ID] = c.Ticket.Len()
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
	// What it records has happened in Slack already (a card or a line was
	// posted): it is stored even when the desk is stopping, or a restart
	// would post it again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
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
	if c.Lines < t.Archived {
		// Lines the thread lacks are no longer in the ticket's latest part.
		whole, err := d.q.Get(ctx, t.ID)
		if err != nil {
			return err
		}
		t = whole
	}
	// Lines count the whole transcript; t may hold its latest part only.
	for i := c.Lines; i < t.Len(); i++ {
		e := t.Transcript[i-t.Archived]
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

// recordTimeout bounds the writes that record what was done in Slack.
const recordTimeout = 5 * time.Second

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
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
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
	if ok && n <= t.Len() {
		return n
	}
	for i, e := range t.Transcript {
		if e.Time.After(t.Created) {
			return t.Archived + i
		}
	}
	return t.Len()
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
