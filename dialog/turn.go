package dialog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"ayuda/bots"
	"ayuda/escalation"
	"ayuda/faq"
	"ayuda/knowledge"
)

// turn is one message being handled.
type turn struct {
	e *Engine
	c *conversation
	m bots.Message
	// entryAt is one past where this turn's message went in the history
	// (0: it was not added), so a turn about past tickets can take it out.
	entryAt int
	// relayed is set when the message went to a ticket rather than the
	// bot's own history (and so does the reply).
	relayed bool
	// lastHit is the search hit being answered, for the offer's scores.
	lastHit knowledge.Hit
	// onDomain is set when the last search found articles near the
	// question, even if none fit well enough to answer.
	onDomain bool
	// answers are what the bot answered (or could not) in this turn, for
	// the reports; Handle records them.
	answers []escalation.Answer
}

func (t *turn) run(ctx context.Context) (bots.Reply, error) {
	c, m := t.c, t.m
	first := c.Lang == ""
	if first {
		// The platform's locale, when it names a language ayuda speaks,
		// stands in until the customer's words say otherwise.
		c.Lang = t.e.cfg.DefaultLang
		if l := localeLang(m.Locale); l != "" {
			c.Lang = l
		}
	}
	pressed := t.pressed()
	// A press keeps the conversation's language, but a first message that
	// reads like a button id ("human" typed alone) sets it.
	if m.Text != "" && (pressed == "" || first) {
		c.Lang = detectLang(m.Text, c.Lang)
	}
	entry := escalation.Entry{Time: m.Time, Author: escalation.AuthorCustomer, Name: m.Name, Text: t.said(pressed), Attachments: m.Attachments, MessageID: m.ID}

	if id, yes, ok := solvedChoice(pressed); ok {
		return t.solved(ctx, id, yes, escalation.Entry{})
	}
	if id, score, ok := rateChoice(pressed); ok {
		return t.rate(ctx, id, score)
	}
	if c.State == stateComment {
		if r, done, err := t.comment(ctx, pressed); err != nil || done {
			return r, err
		}
	}
	if c.Ticket != 0 {
		r, done, err := t.ticketBound(ctx, pressed, entry)
		if err != nil || done {
			return r, err
		}
	}
	t.entryAt = len(c.History) + 1
	c.History = append(c.History, entry)
	if m.Text == "" {
		if len(m.Attachments) > 0 {
			return bots.Reply{Text: say(c.Lang, "attachment-bot"), Choices: []bots.Choice{choice(c.Lang, "human", "c-human")}}, nil
		}
		return bots.Reply{Text: say(c.Lang, "empty")}, nil
	}

	in := None
	switch {
	case pressed == "human":
		in = Human
	case pressed == "status":
		in = StatusReq
	case pressed == "new":
		in = NewReq
	case pressed == "cancel":
		in = Cancel
	case pressed == "yes":
		in = Yes
	case pressed == "no", pressed == "none":
		in = No
	case pressed == "complain":
		return t.escalate(ctx, escalation.ReasonSensitive, escalation.Queja)
	case strings.HasPrefix(pressed, "type:"):
		typ, err := escalation.ParseType(strings.TrimPrefix(pressed, "type:"))
		if err == nil && c.Intake != nil {
			c.Intake.Type, c.Intake.Why = typ, "chosen by the customer"
			return t.continueIntake(ctx)
		}
	case strings.HasPrefix(pressed, "kb:"):
		if r, ok := t.answerArticle(strings.TrimPrefix(pressed, "kb:")); ok {
			return r, nil
		}
	case pressed == "":
		in = detectIntent(m.Text)
	}

	switch c.State {
	case stateType:
		if in == Cancel {
			return t.cancelIntake(), nil
		}
		if typ, err := escalation.ParseType(m.Text); err == nil {
			c.Intake.Type, c.Intake.Why = typ, "chosen by the customer"
			return t.continueIntake(ctx)
		}
		if in == None {
			// Not a type: take it as the description and infer the type.
			c.Question = m.Text
			c.Intake.Type, c.Intake.Why = inferType(m.Text)
			return t.continueIntake(ctx)
		}
	case stateDescribe:
		if in == Cancel {
			return t.cancelIntake(), nil
		}
		if in == None || in == No || in == Yes {
			c.Question = m.Text
			return t.continueIntake(ctx)
		}
	}

	// Safety and urgency go to a person before anything else, however
	// they are phrased; a question about the process is searched first.
	if pressed == "" && (in == None || in == Human) {
		if k, _ := urgentCase(m.Text); k != nil {
			if !asksAbout(k, m.Text) {
				c.Question = m.Text
				return t.escalate(ctx, escalation.ReasonSensitive, k.typ)
			}
			return t.search(ctx)
		}
	}

	switch in {
	case Greeting:
		c.State = stateIdle
		return bots.Reply{Text: say(c.Lang, "greeting")}, nil
	case Thanks:
		if c.State == stateFeedback {
			t.feedback("yes")
		}
		c.State = stateIdle
		return bots.Reply{Text: say(c.Lang, "thanks")}, nil
	case Goodbye:
		c.State = stateIdle
		return bots.Reply{Text: say(c.Lang, "goodbye")}, nil
	case Help, Cancel:
		c.State, c.Intake = stateIdle, nil
		return t.help(), nil
	case Human:
		if describesProblem(m.Text) {
			c.Question = m.Text
		}
		if pressed == "" && contactQuestion(m.Text) {
			// "¿En qué horario puedo hablar con una persona?" is a question
			// for the articles; the reply offers a person either way.
			return t.search(ctx)
		}
		return t.escalate(ctx, escalation.ReasonRequested, "")
	case StatusReq:
		return t.status(ctx)
	case NewReq:
		return t.escalate(ctx, escalation.ReasonNewRequest, "")
	case Yes:
		if c.State == stateFeedback {
			t.feedback("yes")
			c.State = stateIdle
			return bots.Reply{Text: say(c.Lang, "glad")}, nil
		}
		return t.help(), nil
	case No:
		switch c.State {
		case stateFeedback:
			t.feedback("no")
			return t.escalate(ctx, escalation.ReasonNegative, "")
		case stateClarify:
			return t.miss(ctx, "decline-after-clarify")
		}
		return t.help(), nil
	}

	// A complaint or a claim is answered when an article covers it ("the
	// showers are filthy, where do I say so?"); otherwise a person takes it.
	if typ, question := sensitiveType(m.Text); typ != "" && !question && !asks(m.Text) {
		if isRequest(m.Text) { // "quiero poner una queja: …"
			c.Question = m.Text
			return t.escalate(ctx, escalation.ReasonSensitive, typ)
		}
		return t.searchOr(ctx, func() (bots.Reply, error) {
			c.Question = m.Text
			return t.escalate(ctx, escalation.ReasonSensitive, typ)
		})
	}
	return t.search(ctx)
}

// throttled keeps a message that came too fast, without deciding anything:
// on the ticket if there is one, else in the conversation. The first one
// of a flood is told to slow down; the rest get no reply.
func (t *turn) throttled(ctx context.Context) (bots.Reply, error) {
	c, m := t.c, t.m
	if c.Lang == "" {
		c.Lang = t.e.cfg.DefaultLang
	}
	entry := escalation.Entry{Time: m.Time, Author: escalation.AuthorCustomer, Name: m.Name, Text: m.Text, Attachments: m.Attachments, MessageID: m.ID}
	t.relayed = true
	if c.Ticket != 0 {
		if tk, err := t.e.cfg.Queue.Get(ctx, c.Ticket); err == nil && tk.Status.Open() {
			if _, err := t.e.cfg.Queue.CustomerMessage(ctx, c.Ticket, entry); err != nil {
				return bots.Reply{}, err
			}
		} else {
			c.History = append(c.History, entry)
		}
	} else {
		c.History = append(c.History, entry)
	}
	if c.Throttled {
		return bots.Reply{}, nil
	}
	c.Throttled = true
	return bots.Reply{Text: say(c.Lang, "too-fast")}, nil
}

// pressed returns the choice the message selects: one of the choices
// offered last (by id, label or number), or an id the engine always
// understands, or "".
func (t *turn) pressed() string {
	text := strings.TrimSpace(t.m.Text)
	if text == "" {
		return ""
	}
	for i, ch := range t.c.Pending {
		if text == ch.ID || fold(text) == fold(ch.Label) || text == fmt.Sprint(i+1) {
			return ch.ID
		}
	}
	// Buttons pressed later, after the conversation moved on.
	if _, _, ok := solvedChoice(text); ok {
		return text
	}
	if _, _, ok := rateChoice(text); ok {
		return text
	}
	if strings.HasPrefix(text, "kb:") && !strings.ContainsAny(text, " \n") {
		return text
	}
	switch text {
	case "human", "status", "new":
		return text
	}
	return ""
}

// said is what the customer said, for the transcript: the label of a
// pressed choice rather than its id.
func (t *turn) said(pressed string) string {
	if pressed != "" {
		for _, ch := range t.c.Pending {
			if ch.ID == pressed {
				return ch.Label
			}
		}
	}
	return t.m.Text
}

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
	tk, err := t.e.cfg.Queue.Get(ctx, c.Ticket)
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
	tk, err := t.e.cfg.Queue.Get(ctx, id)
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

func (t *turn) help() bots.Reply {
	l := t.c.Lang
	return bots.Reply{Text: say(l, "help"), Choices: []bots.Choice{choice(l, "human", "c-human"), choice(l, "status", "c-status")}}
}

// aside keeps this turn out of the history a new ticket would carry: it
// is about tickets already filed (their status, whether one is solved),
// not part of the customer's next story.
func (t *turn) aside() {
	t.relayed = true
	if t.entryAt > 0 && t.entryAt == len(t.c.History) {
		t.c.History = t.c.History[:t.entryAt-1]
		t.entryAt = 0
	}
}

func (t *turn) status(ctx context.Context) (bots.Reply, error) {
	t.aside()
	ts, err := t.e.cfg.Queue.List(ctx, escalation.Filter{Customer: t.m.From.Customer(), Limit: 10})
	if err != nil {
		return bots.Reply{}, err
	}
	r := statusReply(t.c.Lang, ts)
	if t.m.Private.IsZero() || t.m.Private == t.m.From {
		return r, nil
	}
	// Never list someone's requests where others read.
	if err := t.e.cfg.Queue.Enqueue(ctx, t.m.Private, r); err != nil {
		return bots.Reply{}, err
	}
	return bots.Reply{Text: say(t.c.Lang, "status-private")}, nil
}

// search looks the question up and answers, clarifies or declines.
func (t *turn) search(ctx context.Context) (bots.Reply, error) { return t.searchOr(ctx, nil) }

// searchOr is search that, when the articles hold no answer and fallback
// is set, replies with fallback instead of clarifying or declining.
func (t *turn) searchOr(ctx context.Context, fallback func() (bots.Reply, error)) (bots.Reply, error) {
	c := t.c
	c.Question = t.m.Text
	d, err := t.e.decide(ctx, t.m.Text, c.Lang, t.m.Internal)
	if err != nil {
		return bots.Reply{}, err
	}
	c.Lang = d.Lang
	if d.Decision != Answer && fallback != nil {
		return fallback()
	}
	t.onDomain = len(d.hits) > 0 && d.hits[0].Confidence >= t.e.cfg.ClarifyThreshold/2
	switch d.Decision {
	case Answer:
		t.lastHit = d.hits[0]
		r, _ := t.answerArticle(d.Article)
		if d.Also != "" {
			if en, ok := t.e.entry(d.Also, c.Lang, t.m.Internal); ok {
				r.Choices = append(r.Choices, bots.Choice{ID: "kb:" + en.ID, Label: en.Title})
			}
		}
		return r, nil
	case Clarify:
		c.State = stateClarify
		r := bots.Reply{Text: say(c.Lang, "clarify")}
		for _, h := range d.hits {
			if h.Confidence < t.e.cfg.ClarifyThreshold || len(r.Choices) == 3 {
				break
			}
			r.Choices = append(r.Choices, bots.Choice{ID: "kb:" + h.ID, Label: h.Title})
			c.Offered = append(c.Offered, escalation.Offer{Article: h.ID, Title: h.Title, Score: h.Score, Confidence: h.Confidence})
		}
		r.Choices = append(r.Choices, choice(c.Lang, "none", "c-none"))
		return r, nil
	}
	return t.miss(ctx, "decline")
}

// miss counts a question the bot could not answer; the second in a row
// goes to a person.
func (t *turn) miss(ctx context.Context, key string) (bots.Reply, error) {
	c := t.c
	if c.Question != "" {
		t.answers = append(t.answers, escalation.Answer{Customer: t.m.From.Customer(), Question: c.Question, Lang: c.Lang, At: t.m.Time})
	}
	c.Misses++
	c.State = stateIdle
	// After two misses in a row the customer is offered a person and one
	// more try; a ticket opens by itself only for a real request about
	// what the articles cover, never for chatter or gibberish.
	if c.Misses >= 2 {
		if t.onDomain && isRequest(t.m.Text) {
			return t.escalate(ctx, escalation.ReasonRepeatedMiss, "")
		}
		key = "miss-again"
	}
	return bots.Reply{Text: say(c.Lang, key), Choices: []bots.Choice{choice(c.Lang, "human", "c-human")}}, nil
}

// answerArticle replies with an article's answer and asks for feedback.
func (t *turn) answerArticle(id string) (bots.Reply, bool) {
	c := t.c
	e, ok := t.e.entry(id, c.Lang, t.m.Internal)
	if !ok {
		return bots.Reply{}, false
	}
	c.Lang = e.Lang
	c.State, c.Article, c.Misses = stateFeedback, e.ID, 0
	var score, conf float64
	for _, o := range c.Offered {
		if o.Article == e.ID {
			score, conf = o.Score, o.Confidence
		}
	}
	if t.lastHit.ID == e.ID {
		score, conf = t.lastHit.Score, t.lastHit.Confidence
	}
	c.Offered = append(c.Offered, escalation.Offer{Article: e.ID, Title: e.Title, Score: score, Confidence: conf})
	c.Answered = &escalation.Answer{Customer: t.m.From.Customer(), Question: c.Question, Article: e.ID, Lang: e.Lang, At: t.m.Time}
	t.answers = append(t.answers, *c.Answered)
	r := bots.Reply{
		Text: e.Title + "\n\n" + e.Body + "\n\n" + say(c.Lang, "feedback"),
		// A person is one press away without saying the article did not
		// help: "No" is feedback on the article, not the way to a person.
		Choices: []bots.Choice{choice(c.Lang, "yes", "c-yes"), choice(c.Lang, "no", "c-no"), choice(c.Lang, "human", "c-human")},
	}
	if e.ID == "quejas-reclamos" {
		r.Choices = append(r.Choices, choice(c.Lang, "complain", "c-complain"))
	}
	return r, true
}

// feedback records the customer's answer to "did this help?" on the last
// offer of the answered article.
func (t *turn) feedback(v string) {
	c := t.c
	if a := c.Answered; a != nil && a.Article == c.Article {
		a.Feedback = v
		t.answers = append(t.answers, *a)
	}
	for i := len(c.Offered) - 1; i >= 0; i-- {
		if c.Offered[i].Article == c.Article {
			c.Offered[i].Feedback = v
			return
		}
	}
}

// escalate starts handing the conversation to a person: it opens the
// ticket at once when it knows the type and the problem, or asks for what
// it does not know.
func (t *turn) escalate(ctx context.Context, reason escalation.Reason, typ escalation.Type) (bots.Reply, error) {
	c := t.c
	why := ""
	switch {
	case typ == "":
		typ, why = t.typeFromConversation()
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
	opened, err := t.e.cfg.Queue.Open(ctx, tk)
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
	unlock := e.locks.lock(key)
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
	tk, err := t.e.cfg.Queue.Get(ctx, id)
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

// Decisions the engine makes about a question.
const (
	Answer   = "answer"
	Clarify  = "clarify"
	Decline  = "decline"
	Escalate = "escalate"
)

// Hit is a scored article in a Decision.
type Hit struct {
	ID         string  `json:"id"`
	Title      string  `json:"title,omitempty"`
	Score      float64 `json:"score"`
	Confidence float64 `json:"confidence"`
}

// Decision explains what the engine would do with a question.
type Decision struct {
	Decision string `json:"decision"`
	// Reason says why a question is escalated: "requested", a request
	// type, or the kind of urgent case and the words that say so.
	Reason  string `json:"reason,omitempty"`
	Article string `json:"article"`
	// Also is the article of a second question in the same message,
	// offered with the answer ("¿cuánto tarda el envío? y otra cosa, ¿cómo
	// cambio la contraseña?").
	Also string `json:"also,omitempty"`
	Lang string `json:"lang"`
	Hits []Hit  `json:"hits"`

	hits []knowledge.Hit
}

// Ask returns the decision for a single question, outside any
// conversation: what `ayuda ask` shows. An empty lang is detected.
func (e *Engine) Ask(ctx context.Context, text, lang string, internal bool) (Decision, error) {
	text = clean(text)
	if lang == "" {
		lang = detectLang(text, e.cfg.DefaultLang)
	}
	escalate := func(why string) (Decision, error) {
		return Decision{Decision: Escalate, Reason: why, Lang: lang, Hits: []Hit{}}, nil
	}
	// The same order as a conversation's turn: safety and urgency, a
	// request for a person, a complaint; each searched first when it is
	// only a question.
	orEscalate := func(why string) (Decision, error) {
		d, err := e.decide(ctx, text, lang, internal)
		if err != nil || d.Decision == Answer {
			return d, err
		}
		return escalate(why)
	}
	in := detectIntent(text)
	if in == None || in == Human {
		if k, w := urgentCase(text); k != nil {
			why := k.name + ": «" + w + "»"
			if asksAbout(k, text) {
				return e.decide(ctx, text, lang, internal)
			}
			return escalate(why)
		}
	}
	if in == Human {
		if contactQuestion(text) {
			return e.decide(ctx, text, lang, internal)
		}
		return escalate("requested")
	}
	if typ, question := sensitiveType(text); typ != "" && !question && !asks(text) {
		if isRequest(text) {
			return escalate(string(typ))
		}
		return orEscalate(string(typ))
	}
	return e.decide(ctx, text, lang, internal)
}

// decide searches the question in lang (and in the other language when lang
// finds nothing good) and applies the thresholds.
func (e *Engine) decide(ctx context.Context, text, lang string, internal bool) (Decision, error) {
	hits, err := e.cfg.Search.Search(ctx, knowledge.Query{Text: text, Lang: lang, Internal: internal, Limit: 5})
	if err != nil && !errors.Is(err, knowledge.ErrEmpty) {
		return Decision{}, err
	}
	if len(hits) == 0 || hits[0].Confidence < e.cfg.AnswerThreshold {
		other := "en"
		if lang == "en" {
			other = "es"
		}
		alt, err := e.cfg.Search.Search(ctx, knowledge.Query{Text: text, Lang: other, Internal: internal, Limit: 5})
		if err != nil && !errors.Is(err, knowledge.ErrEmpty) {
			return Decision{}, err
		}
		if len(alt) > 0 && alt[0].Confidence >= e.cfg.AnswerThreshold && (len(hits) == 0 || alt[0].Confidence > hits[0].Confidence+e.cfg.Margin) {
			hits, lang = alt, other
		}
	}
	d := Decision{Decision: Decline, Lang: lang, Hits: make([]Hit, 0, len(hits)), hits: hits}
	for _, h := range hits {
		d.Hits = append(d.Hits, Hit{ID: h.ID, Title: h.Title, Score: h.Score, Confidence: h.Confidence})
	}
	if len(hits) == 0 {
		return d, nil
	}
	top := hits[0]
	var second float64
	for _, h := range hits[1:] {
		if h.ID != top.ID {
			second = h.Confidence
			break
		}
	}
	// A short question two articles both fit well says too little to pick
	// one ("el pedido": cancel it, or where is it?): the customer chooses.
	contested := len(strings.Fields(fold(text))) <= 3 && second >= e.cfg.AnswerThreshold*2/3 && top.Confidence-second < 3*e.cfg.Margin
	switch {
	case top.Confidence >= e.cfg.AnswerThreshold && !contested:
		d.Decision, d.Article = Answer, top.ID
		for _, h := range hits[1:] {
			if h.ID != top.ID && h.Part != top.Part && h.Confidence >= e.cfg.AnswerThreshold*partOffer {
				d.Also = h.ID
				break
			}
		}
	case top.Confidence >= e.cfg.ClarifyThreshold:
		d.Decision = Clarify
	}
	return d, nil
}

// partOffer: a second question's article is offered with the answer
// from this share of the answer threshold (its part's confidence is
// already discounted).
const partOffer = 0.75

// entry finds an article for the engine's own use, in lang or else the
// other language, never an internal one unless internal is allowed.
func (e *Engine) entry(id, lang string, internal bool) (faq.Entry, bool) {
	for _, l := range []string{lang, "es", "en"} {
		if en, ok := e.cfg.Search.Entry(id, l); ok {
			if en.IsInternal() && !internal {
				return faq.Entry{}, false
			}
			return en, true
		}
	}
	return faq.Entry{}, false
}
