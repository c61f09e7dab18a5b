package escalation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"ayuda/escalation/store"
)

// Protocol configures what the watchdog does. Periods are open time on the
// calendar. Zero fields are the documented defaults.
type Protocol struct {
	// Warn is the share of a target's time after which the agents are
	// warned that it is about to be missed; zero means 0.8.
	Warn float64
	// Extension is the share of a missed target's time given to the
	// customer as the new expectation, at least an hour; zero means 0.5.
	Extension float64
	// Progress is how long an assigned ticket may go without news for the
	// customer (an agent's message or a progress message) before it gets
	// a progress message; zero means 10 h, negative never.
	Progress time.Duration
	// AssumeResolved is how long a completed ticket waits for the answer to
	// "is it solved?" before it closes as assumed resolved; zero means 30 h.
	AssumeResolved time.Duration
	// RecurringWindow, RecurringMin and Similarity: when at least
	// RecurringMin tickets opened within the last RecurringWindow (wall
	// clock) are alike (Jaccard similarity of their summaries' terms at
	// least Similarity), the agents are alerted. Zero means 24 h, 3 and 0.4.
	RecurringWindow time.Duration
	RecurringMin    int
	Similarity      float64
	// Every is how often Watchdog looks; zero means a minute.
	Every time.Duration
}

func (p Protocol) check() error {
	for _, f := range []float64{p.Warn, p.Extension, p.Similarity} {
		if f < 0 || f > 1 {
			return errors.New("escalation: protocol: warn, extension and similarity are shares between 0 and 1")
		}
	}
	if p.AssumeResolved < 0 || p.RecurringWindow < 0 || p.RecurringMin < 0 || p.Every < 0 {
		return errors.New("escalation: protocol: periods and counts must not be negative")
	}
	return nil
}

func (p Protocol) withDefaults() Protocol {
	if p.Warn == 0 {
		p.Warn = 0.8
	}
	if p.Extension == 0 {
		p.Extension = 0.5
	}
	if p.Progress == 0 {
		p.Progress = 10 * time.Hour
	}
	if p.AssumeResolved == 0 {
		p.AssumeResolved = 30 * time.Hour
	}
	if p.RecurringWindow == 0 {
		p.RecurringWindow = 24 * time.Hour
	}
	if p.RecurringMin == 0 {
		p.RecurringMin = 3
	}
	if p.Similarity == 0 {
		p.Similarity = 0.4
	}
	if p.Every == 0 {
		p.Every = time.Minute
	}
	return p
}

// Watchdog keeps the service protocol until ctx is done, looking every
// Protocol.Every: see WatchdogOnce. It returns nil when ctx is done; a
// failed pass is logged and retried at the next one.
func (q *Queue) Watchdog(ctx context.Context) error {
	t := time.NewTicker(q.cfg.Protocol.withDefaults().Every)
	defer t.Stop()
	start := time.Now()
	var guard jumpGuard
	for {
		now := time.Now()
		if skip, why := guard.check(now.Sub(start.Round(0)), now.Sub(start)); skip {
			q.log.WarnContext(ctx, "the wall clock jumped; the watchdog waits before acting on it", "why", why)
		} else if err := q.WatchdogOnce(ctx); err != nil && ctx.Err() == nil {
			q.log.ErrorContext(ctx, "watchdog pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// WatchdogOnce makes one pass over the open and completed tickets, at the
// Queue's clock: it warns the agents of targets about to be missed, tells
// customers about missed targets with a new expectation, sends progress
// messages, closes completed tickets nobody answered as assumed resolved,
// and alerts the agents to recurring problems. Each action is recorded on
// the ticket in the same transaction as what it sends, so a restart never
// repeats one. Agents hear through Watch (the events named Event*) and an
// internal note on the ticket.
func (q *Queue) WatchdogOnce(ctx context.Context) error {
	var ids []ID
	var statuses []Status
	for _, s := range Statuses {
		if s != Closed {
			statuses = append(statuses, s)
		}
	}
	ts, err := q.List(ctx, Filter{Status: statuses})
	if err != nil {
		return fmt.Errorf("escalation: watchdog: %w", err)
	}
	now := q.now()
	if _, err := q.applyRetention(ctx, now); err != nil {
		return fmt.Errorf("escalation: retention: %w", err)
	}
	for i := range ts {
		if len(q.protocolStep(&ts[i], now)) > 0 {
			ids = append(ids, ts[i].ID)
		}
	}
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := q.update(ctx, id, func(tx store.Tx, t *Ticket) error {
			acts := q.protocolStep(t, q.now())
			if len(acts) == 0 {
				return errNoChange
			}
			for _, act := range acts {
				if err := act(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("#%d: %w", id, err))
		}
	}
	if err := q.recurring(ctx, now); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("escalation: watchdog: %w", err)
	}
	return nil
}

// protocolStep returns what is due for t at now, as actions that change t
// (and put what they owe the customer in tx's outbox). It changes nothing
// itself, so it also tells whether anything is due.
func (q *Queue) protocolStep(t *Ticket, now time.Time) []func(tx store.Tx) error {
	p := q.cfg.Protocol.withDefaults()
	cal := q.cfg.Calendar
	var acts []func(tx store.Tx) error
	if t.Status == Completed {
		if !t.Completed.IsZero() && cal.Between(t.Completed, now) >= p.AssumeResolved {
			acts = append(acts, func(tx store.Tx) error {
				t.Status, t.Closed, t.ClosedAs = Closed, now, ClosedAssumed
				q.event(t, "system", EventAssumed, "")
				return q.notify(tx, Notice{Kind: NoticeAssumedClosed, Ticket: t, Agent: q.assignee(t), Now: now.In(cal.Location())})
			})
		}
		return acts
	}
	if !t.Status.Open() || t.Status == Waiting {
		return nil // the clock is paused while the customer owes an answer
	}
	type watch struct {
		name                     string
		done                     bool
		due                      time.Time
		expected, warned, missed *time.Time
	}
	target := q.Target(t.Type, t.Priority)
	missed := false
	for _, w := range []watch{
		{TargetFirstResponse, !t.FirstResponse.IsZero(), t.FirstResponseDue, &t.Alerts.FirstResponseExpected, &t.Alerts.FirstResponseWarned, &t.Alerts.FirstResponseMissed},
		{TargetResolution, false, t.ResolutionDue, &t.Alerts.ResolutionExpected, &t.Alerts.ResolutionWarned, &t.Alerts.ResolutionMissed},
	} {
		if w.done || w.due.IsZero() {
			continue
		}
		deadline := w.due
		if !w.expected.IsZero() {
			deadline = *w.expected
		}
		switch {
		case !now.Before(deadline) && !w.missed.Equal(deadline):
			length := target.FirstResponse
			if w.name == TargetResolution {
				length = target.Resolution
			}
			ext := max(time.Duration(float64(length)*p.Extension), time.Hour)
			missed = true
			acts = append(acts, func(tx store.Tx) error {
				next := cal.Add(now, ext)
				*w.missed, *w.expected = deadline, next
				loc := cal.Location()
				t.Transcript = append(t.Transcript, Entry{Time: now, Author: AuthorSystem, Note: true, Text: fmt.Sprintf(
					"Missed the %s target (due %s). The customer was told and now expects it by %s.",
					strings.ReplaceAll(w.name, "_", " "), deadline.In(loc).Format("Mon 2 Jan 15:04"), next.In(loc).Format("Mon 2 Jan 15:04"))})
				q.event(t, "system", EventMissed, w.name)
				return q.notify(tx, Notice{Kind: NoticeMissed, Ticket: t, Agent: q.assignee(t), Target: w.name, Due: next.In(loc), Now: now.In(loc)})
			})
		case now.Before(deadline) && w.expected.IsZero() && !w.warned.Equal(deadline):
			total := cal.Between(t.Created, deadline) - t.Paused
			used := cal.Between(t.Created, now) - t.Paused
			if total <= 0 || float64(used) < p.Warn*float64(total) {
				continue
			}
			acts = append(acts, func(tx store.Tx) error {
				*w.warned = deadline
				t.Transcript = append(t.Transcript, Entry{Time: now, Author: AuthorSystem, Note: true, Text: fmt.Sprintf(
					"The %s target is due %s: %d%% of its time is used.",
					strings.ReplaceAll(w.name, "_", " "), deadline.In(cal.Location()).Format("Mon 2 Jan 15:04"), int(100*float64(used)/float64(total)))})
				q.event(t, "system", EventWarning, w.name)
				return nil
			})
		}
	}
	if p.Progress > 0 && t.Assignee != "" && !missed {
		last := lastNews(t)
		if cal.Between(last, now) >= p.Progress {
			acts = append(acts, func(tx store.Tx) error {
				t.Alerts.Progress = now
				q.event(t, "system", EventProgress, "")
				text := ""
				if e, ok := lastAgentMessage(t); ok {
					text = e.Text
				}
				return q.notify(tx, Notice{Kind: NoticeProgress, Ticket: t, Agent: q.assignee(t), Text: text, Now: now.In(cal.Location())})
			})
		}
	}
	return acts
}

// lastNews is when the customer last heard about the ticket from a person
// or the watchdog: an agent's public message, a progress message, a missed
// target, or (failing those) the opening.
func lastNews(t *Ticket) time.Time {
	last := t.Created
	if e, ok := lastAgentMessage(t); ok && e.Time.After(last) {
		last = e.Time
	}
	if t.LastReply.After(last) { // a reply older than the ticket's latest part
		last = t.LastReply
	}
	for _, x := range []time.Time{t.Alerts.Progress, t.Alerts.FirstResponseMissed, t.Alerts.ResolutionMissed} {
		if x.After(last) {
			last = x
		}
	}
	return last
}

func lastAgentMessage(t *Ticket) (Entry, bool) {
	for i := len(t.Transcript) - 1; i >= 0; i-- {
		if e := t.Transcript[i]; e.Author == AuthorAgent && !e.Note {
			return e, true
		}
	}
	return Entry{}, false
}

// assignee returns t's agent, or the zero Agent.
func (q *Queue) assignee(t *Ticket) Agent {
	if t.Assignee == "" {
		return Agent{}
	}
	a, err := q.Agent(t.Assignee)
	if err != nil {
		return Agent{ID: t.Assignee, Name: t.Assignee}
	}
	return a
}

// recurring alerts the agents to groups of similar tickets opened within
// the window: a note on the newest and an EventRecurring, once per ticket.
func (q *Queue) recurring(ctx context.Context, now time.Time) error {
	p := q.cfg.Protocol.withDefaults()
	groups, err := q.RecentClusters(ctx, now.Add(-p.RecurringWindow), now.Add(time.Nanosecond))
	if err != nil {
		return err
	}
	for _, g := range groups {
		if len(g.Tickets) < p.RecurringMin {
			continue
		}
		var fresh []ID
		for _, id := range g.Tickets {
			t, err := q.Get(ctx, id)
			if err != nil {
				return err
			}
			if t.Alerts.Recurring.IsZero() {
				fresh = append(fresh, id)
			}
		}
		if len(fresh) == 0 {
			continue
		}
		var refs []string
		for _, id := range g.Tickets {
			refs = append(refs, "#"+id.String())
		}
		list := strings.Join(refs, " ")
		newest := slices.Max(g.Tickets)
		for _, id := range g.Tickets {
			_, err := q.update(ctx, id, func(tx store.Tx, t *Ticket) error {
				if !t.Alerts.Recurring.IsZero() && id != newest {
					return errNoChange
				}
				t.Alerts.Recurring = now
				if id != newest {
					return nil
				}
				t.Transcript = append(t.Transcript, Entry{Time: now, Author: AuthorSystem, Note: true, Text: fmt.Sprintf(
					"Recurring problem: %d similar tickets in the last %s (%s), about: %s.", len(g.Tickets), shortDuration(p.RecurringWindow), list, strings.Join(g.Terms, ", "))})
				q.event(t, "system", EventRecurring, list)
				return nil
			})
			if err != nil {
				return fmt.Errorf("#%d: %w", id, err)
			}
		}
	}
	return nil
}

// TicketCluster is a group of similar tickets.
type TicketCluster struct {
	Tickets []ID     `json:"tickets"`
	Terms   []string `json:"terms"`
	Example string   `json:"example"`
}

// RecentClusters groups the tickets opened from since to until by the
// similarity of their summaries, largest group first, leaving out tickets
// like no other.
func (q *Queue) RecentClusters(ctx context.Context, since, until time.Time) ([]TicketCluster, error) {
	ts, err := q.List(ctx, Filter{})
	if err != nil {
		return nil, err
	}
	var recent []Ticket
	for _, t := range ts {
		if !t.Created.Before(since) && t.Created.Before(until) {
			recent = append(recent, t)
		}
	}
	slices.Reverse(recent) // oldest first
	texts := make([]string, len(recent))
	for i, t := range recent {
		texts[i] = t.Summary
	}
	var out []TicketCluster
	for _, c := range Group(texts, q.cfg.Protocol.withDefaults().Similarity) {
		if len(c.Members) < 2 {
			continue
		}
		tc := TicketCluster{Terms: c.Terms, Example: texts[c.Members[0]]}
		for _, m := range c.Members {
			tc.Tickets = append(tc.Tickets, recent[m].ID)
		}
		out = append(out, tc)
	}
	return out, nil
}

// Rate records the customer's rating of a closed ticket, 1 to 5, with an
// optional comment; rating again replaces it, and a comment alone (score
// 0) is added to the rating given. A rating of 1 or 2 tells the team: an
// internal note and an EventLowRating, once per ticket.
func (q *Queue) Rate(ctx context.Context, id ID, score int, comment string) (*Ticket, error) {
	comment = strings.TrimSpace(comment)
	if score < 0 || score > 5 || (score == 0 && comment == "") {
		return nil, fmt.Errorf("escalation: a rating is 1 to 5, not %d", score)
	}
	return q.update(ctx, id, func(tx store.Tx, t *Ticket) error {
		if t.Status != Closed {
			return fmt.Errorf("%w: #%d is %s; only a closed ticket is rated", ErrTransition, t.ID, t.Status)
		}
		now := q.now()
		r := Rating{Time: now}
		if t.Rating != nil {
			r = *t.Rating
		}
		if score == 0 && t.Rating == nil {
			return fmt.Errorf("%w: #%d has no rating to comment on", ErrTransition, t.ID)
		}
		if score != 0 {
			if r.Score == score && comment == "" && t.Rating != nil {
				return errNoChange
			}
			r.Score, r.Time = score, now
			q.event(t, "customer", EventRated, fmt.Sprint(score))
		}
		if comment != "" {
			r.Comment = comment
			if score == 0 {
				q.event(t, "customer", EventRated, "comment")
			}
		}
		t.Rating = &r
		if r.Score <= 2 && (t.Alerts.LowRating.IsZero() || comment != "") {
			text := fmt.Sprintf("The customer rated this ticket %d of 5.", r.Score)
			if r.Comment != "" {
				text += " Comment: " + r.Comment
			}
			t.Transcript = append(t.Transcript, Entry{Time: now, Author: AuthorSystem, Note: true, Text: text})
			if t.Alerts.LowRating.IsZero() {
				t.Alerts.LowRating = now
				q.event(t, "system", EventLowRating, fmt.Sprint(r.Score))
			}
		}
		return nil
	})
}

// shortDuration writes 24h rather than 24h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	s, _ = strings.CutSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// jumpGuard notices the wall clock moving apart from the monotonic one
// (NTP stepping it, an operator setting it): every due time and message of
// the protocol follows the wall clock, and a clock a month ahead would
// tell every customer that their targets were missed and close completed
// tickets for good. While the two clocks disagree by more than jumpLimit
// the watchdog does nothing; a clock that comes back resumes at once, and
// one that stays where it jumped is believed after jumpHold.
type jumpGuard struct {
	accepted time.Duration // the wall clock's offset from the monotonic one that is believed
	since    time.Duration // monotonic time since the offset left it; 0: it has not
}

const (
	jumpLimit = 5 * time.Minute
	jumpHold  = time.Hour
)

// check takes the time since the watchdog started by the wall clock and by
// the monotonic clock, and says whether to skip this pass.
func (g *jumpGuard) check(wall, mono time.Duration) (bool, string) {
	off := wall - mono
	d := off - g.accepted
	if d < 0 {
		d = -d
	}
	if d <= jumpLimit {
		g.since = 0
		return false, ""
	}
	if g.since == 0 {
		g.since = max(mono, 1)
	}
	if mono-g.since >= jumpHold {
		g.accepted, g.since = off, 0
		return false, ""
	}
	return true, fmt.Sprintf("the wall clock is %s off the monotonic one; it is believed if it stays so for %s", (off - g.accepted).Round(time.Second), jumpHold-(mono-g.since).Round(time.Second))
}
