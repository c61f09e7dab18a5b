package dialog

import (
	"ayuda/bots"
	"ayuda/escalation"
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// The turn's side of tickets: a message on a ticket's conversation,
// follow-ups, "solved?", opening one (with its intake), ratings and
// comments.

// solvedChoice parses "solved:<ticket>:yes|no".
func solvedChoice(s string) (escalation.ID, bool, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] != "solved" || (parts[2] != "yes" && parts[2] != "no") {
		return 0, false, false
	}
	id, err := escalation.ParseID(parts[1])
	if err != nil {
		return 0, false, false
	}
	return id, parts[2] == "yes", true
}

// ticketBound handles a message while the conversation has a ticket. done
// is false when the ticket is over and the bot takes the conversation back.
func (t *turn) ticketBound(ctx context.Context, pressed string, entry escalation.Entry) (bots.Reply, bool, error) {
	c := t.c
	tk, err := t.e.cfg.Queue.Recent(ctx, c.Ticket)
	if errors.Is(err, escalation.ErrNotFound) {
		c.Ticket = 0
		return bots.Reply{}, false, nil
	}
	if err != nil {
		return bots.Reply{}, true, err
	}
	in := None
	if pressed == "" {
		in = detectIntent(t.m.Text)
	}
	switch {
	case tk.Status.Open():
		if in == StatusReq || pressed == "status" {
			r, err := t.status(ctx)
			return r, true, err
		}
		t.relayed = true
		if _, err := t.e.cfg.Queue.CustomerMessage(ctx, tk.ID, entry); err != nil {
			return bots.Reply{}, true, err
		}
		return t.followUp(ctx, tk), true, nil
	case tk.Status == escalation.Completed:
		switch {
		case in == StatusReq:
			r, err := t.status(ctx)
			return r, true, err
		case in == Yes || in == Thanks:
			r, err := t.solved(ctx, tk.ID, true, escalation.Entry{})
			return r, true, err
		case in == No:
			r, err := t.solved(ctx, tk.ID, false, escalation.Entry{})
			return r, true, err
		}
		// Anything else reopens it, with the message on the ticket.
		t.relayed = true
		r, err := t.solved(ctx, tk.ID, false, entry)
		return r, true, err
	}
	c.Ticket, c.Relayed = 0, false
	return bots.Reply{}, false, nil
}

// remindEvery is how often a customer who keeps writing to an open ticket
// is told again, in words, who has it and when to expect an answer.
const remindEvery = time.Hour

// followUp acknowledges a message added to open ticket tk: the first in
// words, then with a mark on the message (Seen), and at most once every
// remindEvery in words again, saying who has the ticket and when to
// expect an answer. A customer who writes "hola? hay alguien?" always
// hears that they were heard, and is never flooded.
func (t *turn) followUp(ctx context.Context, tk *escalation.Ticket) bots.Reply {
	c, now := t.c, t.e.now()
	if !c.Relayed {
		c.Relayed, c.Reminded = true, now
		return bots.Reply{Text: say(c.Lang, "relayed", tk.ID), Seen: true}
	}
	if now.Sub(c.Reminded) < remindEvery {
		return bots.Reply{Seen: true}
	}
	c.Reminded = now
	who := say(c.Lang, "remind-nobody")
	if tk.Assignee != "" {
		name := say(c.Lang, "anyone")
		if a, err := t.e.cfg.Queue.Agent(tk.Assignee); err == nil && a.Name != "" {
			name = a.Name
		}
		who = say(c.Lang, "remind-who", name)
	}
	when := ""
	switch {
	case tk.FirstResponse.IsZero() && !tk.FirstResponseDue.IsZero():
		when = " " + say(c.Lang, "remind-first", dueText(c.Lang, tk.FirstResponseDue, now, t.e.cfg.Location))
	case !tk.ResolutionDue.IsZero() && tk.ResolutionDue.After(now):
		when = " " + say(c.Lang, "remind-resolve", dueText(c.Lang, tk.ResolutionDue, now, t.e.cfg.Location))
	}
	return bots.Reply{Text: say(c.Lang, "remind", tk.ID) + " " + who + when, Seen: true}
}

// solved records the customer's answer to "is it solved?" for ticket id.
func (t *turn) solved(ctx context.Context, id escalation.ID, yes bool, why escalation.Entry) (bots.Reply, error) {
	t.aside()
	c := t.c
	tk, err := t.e.cfg.Queue.Recent(ctx, id)
	if err != nil {
		if errors.Is(err, escalation.ErrNotFound) {
			return t.help(), nil
		}
		return bots.Reply{}, err
	}
	if tk.Customer.Address != t.m.From {
		return t.help(), nil // not this customer's ticket
	}
	if yes {
		if tk.Status != escalation.Completed {
			return statusReply(c.Lang, []escalation.Ticket{*tk}), nil
		}
		if _, err := t.e.cfg.Queue.Accept(ctx, id); err != nil {
			return bots.Reply{}, err
		}
		if c.Ticket == id {
			c.Ticket, c.Relayed = 0, false
		}
		c.State = stateIdle
		return bots.Reply{Text: say(c.Lang, "accepted", id) + " " + say(c.Lang, "rate-ask"), Choices: rateChoices(id)}, nil
	}
	if tk.Status == escalation.Completed || tk.Status == escalation.Closed {
		if _, err := t.e.cfg.Queue.Reopen(ctx, id, why); err != nil {
			return bots.Reply{}, err
		}
	}
	c.Ticket, c.Relayed, c.State = id, true, stateIdle
	return bots.Reply{Text: say(c.Lang, "reopened-by-customer", id)}, nil
}

// escalate starts handing the conversation to a person: it opens the
// ticket at once when it knows the type and the problem, or asks for what
// it does not know.
func (t *turn) escalate(ctx context.Context, reason escalation.Reason, typ escalation.Type) (bots.Reply, error) {
	return t.escalateWhy(ctx, reason, typ, "")
}

// escalateWhy is escalate with the reason for the request type given
// (when the type is).
func (t *turn) escalateWhy(ctx context.Context, reason escalation.Reason, typ escalation.Type, why string) (bots.Reply, error) {
	c := t.c
	switch {
	case typ == "":
		typ, why = t.typeFromConversation()
	case why != "":
	case reason == escalation.ReasonSensitive:
		why = "the customer chose to file a complaint"
		if _, w := sensitiveWord(c.Question); w != "" {
			why = "sensitive words: «" + w + "»"
		}
	}
	c.Intake = &intake{Type: typ, Reason: reason, Why: why}
	lead := map[escalation.Reason]string{
		escalation.ReasonRequested:     "requested",
		escalation.ReasonNegative:      "negative",
		escalation.ReasonRepeatedMiss:  "repeated-miss",
		escalation.ReasonSensitive:     "sensitive",
		escalation.ReasonNewRequest:    "new-request",
		escalation.ReasonLowConfidence: "requested",
	}[reason]
	r, err := t.continueIntake(ctx)
	if err != nil {
		return r, err
	}
	r.Text = say(c.Lang, lead) + " " + r.Text
	return r, nil
}

// typeFromConversation infers the request type when the conversation makes
// it clear, and says why: a sensitive word, the type hint of the article
// that did not help, or a question the bot could not answer (a consulta).
func (t *turn) typeFromConversation() (escalation.Type, string) {
	c := t.c
	for i := len(c.History) - 1; i >= 0; i-- {
		if h := c.History[i]; h.Author == escalation.AuthorCustomer {
			if typ, w := sensitiveWord(h.Text); typ != "" {
				return typ, "sensitive words: «" + w + "»"
			}
		}
	}
	if c.Article != "" {
		if e, ok := t.e.entry(c.Article, c.Lang, true); ok && e.Type != "" {
			if typ, err := escalation.ParseType(e.Type); err == nil {
				return typ, "the type of the article offered, " + e.ID
			}
		}
	}
	if c.Question != "" {
		return escalation.Consulta, "no sign of another type in the conversation"
	}
	return "", ""
}

func inferType(text string) (escalation.Type, string) {
	if typ, w := sensitiveWord(text); typ != "" {
		return typ, "sensitive words: «" + w + "»"
	}
	return escalation.Consulta, "no sign of another type in the conversation"
}

// continueIntake asks for the next missing piece, or opens the ticket.
func (t *turn) continueIntake(ctx context.Context) (bots.Reply, error) {
	c := t.c
	l := c.Lang
	if c.Intake.Type == "" {
		c.State = stateType
		r := bots.Reply{Text: say(l, "ask-type")}
		for _, typ := range escalation.Types {
			r.Choices = append(r.Choices, bots.Choice{ID: "type:" + string(typ), Label: capitalize(name(typeNames[typ], l))})
		}
		r.Choices = append(r.Choices, choice(l, "cancel", "c-cancel"))
		return r, nil
	}
	if c.Question == "" {
		c.State = stateDescribe
		return bots.Reply{Text: say(l, "ask-description"), Choices: []bots.Choice{choice(l, "cancel", "c-cancel")}}, nil
	}
	return t.open(ctx)
}

func (t *turn) cancelIntake() bots.Reply {
	c := t.c
	c.State, c.Intake = stateIdle, nil
	return bots.Reply{Text: say(c.Lang, "intake-cancelled")}
}

// open files the ticket with the whole conversation and returns the receipt.
func (t *turn) open(ctx context.Context) (bots.Reply, error) {
	c, m := t.c, t.m
	var said []string
	for _, h := range c.History {
		if h.Author == escalation.AuthorCustomer {
			said = append(said, h.Text)
		}
	}
	priority, priorityWhy := classifyPriority(said, c.Intake.Type)
	tk := escalation.Ticket{
		Type:           c.Intake.Type,
		TypeReason:     c.Intake.Why,
		Priority:       priority,
		PriorityReason: priorityWhy,
		Tags:           t.offeredTags(),
		Customer:       escalation.Customer{Address: m.From, Name: c.Name, Lang: c.Lang},
		Channel:        m.From.Platform,
		Summary:        summarize(c.Question),
		Reason:         c.Intake.Reason,
		Internal:       m.Internal,
		Transcript:     append([]escalation.Entry(nil), c.History...),
		Offered:        append([]escalation.Offer(nil), c.Offered...),
		OpenedBy:       m.ID,
	}
	if m.Internal && tk.Reason == escalation.ReasonNewRequest {
		tk.Reason = escalation.ReasonStaff
	}
	shared := !m.Private.IsZero() && m.Private != m.From
	if shared {
		tk.Customer.Address = m.Private
	}
	opened, err := t.e.cfg.Queue.OpenOrJoin(ctx, tk)
	if err != nil {
		return bots.Reply{}, err
	}
	c.History, c.Offered, c.Intake = nil, nil, nil
	c.State, c.Misses, c.Question, c.Article = stateIdle, 0, "", ""
	t.relayed = true // the receipt starts no new bot history
	l := c.Lang
	due := dueText(l, opened.FirstResponseDue, t.e.now(), t.e.cfg.Location)
	receipt := bots.Reply{Text: say(l, "receipt", opened.ID, summaryFor(opened.Summary), due)}
	if opened.Assignee != "" { // given by round robin: said here, before anything the agent sends
		agent := say(l, "anyone")
		if a, err := t.e.cfg.Queue.Agent(opened.Assignee); err == nil && a.Name != "" {
			agent = a.Name
		}
		agent = capitalize(agent)
		receipt.Text += " " + say(l, "n-claimed", agent, opened.ID)
	}
	if !shared {
		c.Ticket, c.Relayed = opened.ID, false
		return receipt, nil
	}
	// Others read this chat: the request continues in the private one.
	if err := t.e.bindPrivate(ctx, m.Private, opened.ID, l, c.Name); err != nil {
		return bots.Reply{}, err
	}
	if err := t.e.cfg.Queue.Enqueue(ctx, m.Private, receipt); err != nil {
		return bots.Reply{}, err
	}
	return bots.Reply{Text: say(l, "moved-private")}, nil
}

// bindPrivate makes the person's private conversation carry the ticket, so
// what they write there reaches it.
func (e *Engine) bindPrivate(ctx context.Context, to bots.Address, id escalation.ID, lang, name string) error {
	key := to.Key()
	unlock := e.locks.Lock(key)
	defer unlock()
	pc, err := e.load(ctx, key)
	if err != nil {
		return err
	}
	pc.Ticket, pc.Relayed, pc.State, pc.Intake = id, false, stateIdle, nil
	pc.Lang = lang
	if name != "" {
		pc.Name = name
	}
	pc.Updated = e.now()
	return e.save(ctx, key, pc)
}

// offeredTags returns the tags of the articles offered, for routing.
func (t *turn) offeredTags() []string {
	var tags []string
	for _, o := range t.c.Offered {
		e, ok := t.e.entry(o.Article, t.c.Lang, true)
		if !ok {
			continue
		}
		for _, tag := range e.Tags {
			if !slices.Contains(tags, tag) {
				tags = append(tags, tag)
			}
		}
	}
	return tags
}

// rateChoice parses "rate:<ticket>:<1-5>".
func rateChoice(s string) (escalation.ID, int, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] != "rate" || len(parts[2]) != 1 || parts[2][0] < '1' || parts[2][0] > '5' {
		return 0, 0, false
	}
	id, err := escalation.ParseID(parts[1])
	if err != nil {
		return 0, 0, false
	}
	return id, int(parts[2][0] - '0'), true
}

// rate records the customer's 1–5 rating of a closed ticket and offers to
// take a comment.
func (t *turn) rate(ctx context.Context, id escalation.ID, score int) (bots.Reply, error) {
	c := t.c
	t.relayed = true // ratings are not part of the next request's story
	tk, err := t.e.cfg.Queue.Recent(ctx, id)
	if errors.Is(err, escalation.ErrNotFound) || (err == nil && tk.Customer.Address != t.m.From) {
		return t.help(), nil
	}
	if err != nil {
		return bots.Reply{}, err
	}
	if tk.Status != escalation.Closed {
		return statusReply(c.Lang, []escalation.Ticket{*tk}), nil
	}
	if _, err := t.e.cfg.Queue.Rate(ctx, id, score, ""); err != nil {
		return bots.Reply{}, err
	}
	if c.Ticket == id {
		c.Ticket, c.Relayed = 0, false
	}
	c.State, c.Rated = stateComment, id
	key := "rated"
	if score <= 2 {
		key = "rated-low"
	}
	return bots.Reply{Text: say(c.Lang, key), Choices: []bots.Choice{choice(c.Lang, "nocomment", "c-no-comment")}}, nil
}

// comment takes the message after a rating as its comment, unless the
// customer declines or moves on to something else (done is then false).
func (t *turn) comment(ctx context.Context, pressed string) (bots.Reply, bool, error) {
	c := t.c
	id := c.Rated
	c.State, c.Rated = stateIdle, 0
	in := None
	if pressed == "" {
		in = detectIntent(t.m.Text)
	}
	switch {
	case pressed == "nocomment", in == No, in == Yes, in == Cancel:
		t.relayed = true
		return bots.Reply{Text: say(c.Lang, "no-comment")}, true, nil
	case pressed != "", in != None, strings.TrimSpace(t.m.Text) == "", id == 0:
		return bots.Reply{}, false, nil
	case strings.Contains(t.m.Text, "?") || isProcessQuestion(t.m.Text):
		// A new question the bot can answer is not a comment on the last one.
		d, err := t.e.decide(ctx, t.m.Text, c.Lang, t.m.Internal)
		if err != nil {
			return bots.Reply{}, true, err
		}
		if d.Decision == Answer {
			return bots.Reply{}, false, nil
		}
	}
	t.relayed = true
	if _, err := t.e.cfg.Queue.Rate(ctx, id, 0, t.m.Text); err != nil {
		return bots.Reply{}, true, err
	}
	return bots.Reply{Text: say(c.Lang, "commented")}, true, nil
}

// summarize makes a one-line summary of the customer's problem.
func summarize(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) > 100 {
		return string(r[:99]) + "…"
	}
	return s
}

func capitalize(s string) string {
	r := []rune(s)
	if len(r) == 0 {
		return s
	}
	return strings.ToUpper(string(r[0])) + string(r[1:])
}
