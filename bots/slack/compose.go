package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"ayuda/bots"
	"ayuda/escalation"
)

// What agents do on the desk: answer in a card's thread, press its
// buttons, and write in the forms the card's "Responder al cliente…" and
// "Nota interna…" buttons open. The forms are the way that cannot be
// mistyped; what a plain thread reply does is the desk's choice
// (Config.ThreadReplies).

// Thread reply modes.
const (
	// RepliesToCustomer: a thread reply goes to the customer unless it
	// starts with a note marker (the default).
	RepliesToCustomer = "customer"
	// RepliesInternal: every thread reply is an internal note; only the
	// "Responder al cliente…" form writes to the customer.
	RepliesInternal = "internal"
)

// refusal is what someone who is not an agent is told, privately.
const refusal = "Solo los agentes configurados de ayuda pueden usar los botones de las solicitudes o responder en sus hilos. No se ha cambiado nada."

// Form ids: the callback of a reply or note form, and its one input.
const (
	formReply = deskPrefix + "reply"
	formNote  = deskPrefix + "note"
	formBlock = "text"
	formInput = "text"
	// maxForm is the most characters the form takes: a Slack message's
	// text limit, with room for the line that shows it.
	maxForm = 3000
)

// threadMessage handles a message in a card's thread: from an agent, it
// goes to the customer or stays an internal note (after a note marker, or
// always when the desk keeps thread replies internal); from anyone else,
// it is refused privately. What became of it is shown on it by the desk:
// 📝 for a note, 📤 on its way to the customer, ✅ delivered.
func (d *desk) threadMessage(ctx context.Context, ch, thread, ts, user, text string, files []bots.Attachment) {
	ctx = escalation.WithVia(ctx, "slack")
	id, ok := d.ticketFor(ctx, thread)
	if !ok {
		return
	}
	ag, ok := d.b.agents.agentFor(ctx, user)
	if !ok {
		d.b.ephemeral(ctx, ch, user, thread, refusal)
		return
	}
	note, body := noteMarker(plain(d.b.named(ctx, stripMention(text, d.b.identity().UserID))))
	if d.b.cfg.ThreadReplies == RepliesInternal {
		note = true
	}
	if len(files) > 0 {
		// Files stay in Slack: the customer's platform never gets them.
		// The ticket records them, and the agent is told at once.
		var names []string
		for _, f := range files {
			names = append(names, f.Name)
		}
		list := strings.Join(names, ", ")
		if strings.TrimSpace(body) == "" {
			note, body = true, ":paperclip: "+list+" (compartido en Slack)"
		}
		d.b.ephemeral(ctx, ch, user, thread, "Los archivos no se envían al cliente: "+list+" queda en este hilo y en la solicitud como nota interna. Si el cliente lo necesita, descríbeselo o envíale un enlace.")
		if !note {
			if err := d.keep(ctx, id, ag, true, ":paperclip: "+list+" (compartido en Slack)", messageID(ch, ts)+"/files"); err != nil && ctx.Err() == nil {
				d.b.log.WarnContext(ctx, "cannot note an agent's files", "ticket", id, "err", err)
			}
		}
	}
	d.record(ctx, id, user, ag, relay{TS: ts, Ref: messageID(ch, ts), Note: note}, body)
}

// edited tells an agent who edited a message in a card's thread that the
// edit goes nowhere: the customer (or the ticket's note) keeps what was
// sent first. Chat platforms cannot take back or change what a customer
// already read, so the correction must be a new message.
func (d *desk) edited(ctx context.Context, ch, thread, ts, user string) {
	if thread == "" || thread == ts {
		return
	}
	id, ok := d.ticketFor(ctx, thread)
	if !ok {
		return
	}
	if _, ok := d.b.agents.agentFor(ctx, user); !ok {
		return
	}
	d.b.ephemeral(ctx, ch, user, thread, fmt.Sprintf("#%d: has editado un mensaje del hilo, pero la edición no se envía: el cliente (o la nota de la solicitud) conserva lo que escribiste primero. Escribe la corrección en un mensaje nuevo.", id))
}

// record keeps an agent's message r on ticket id (as a note or a reply to
// the customer) and remembers it on the card, so the desk shows what
// became of it on the message r.TS.
func (d *desk) record(ctx context.Context, id escalation.ID, user string, ag escalation.Agent, r relay, body string) {
	r.State = relayPending
	if r.Note {
		r.State = relayNoted
	}
	if err := d.keep(ctx, id, ag, r.Note, body, r.Ref); err != nil {
		if ctx.Err() != nil {
			return // shutting down: the envelope is handled again next time
		}
		d.b.log.WarnContext(ctx, "an agent's message was refused", "ticket", id, "err", err)
		r.State, r.Reason = relayFailed, reason(err)
		if errors.Is(err, escalation.ErrClaimed) {
			d.refuse(ctx, user, "", id, err) // with the button to take it over
		}
	}
	err := d.modify(ctx, id, func(c *card) {
		for _, x := range c.Relays {
			if x.TS == r.TS {
				return
			}
		}
		c.Relays = append(c.Relays, r)
	})
	if err != nil {
		d.b.log.ErrorContext(ctx, "cannot record an agent's message", "ticket", id, "err", err)
	}
	d.mark(id)
}

// keep records an agent's note or reply on ticket id, once per ref.
func (d *desk) keep(ctx context.Context, id escalation.ID, ag escalation.Agent, note bool, body, ref string) error {
	var err error
	if note {
		_, err = d.q.NoteRef(ctx, id, ag.ID, body, ref)
	} else {
		_, err = d.q.ReplyRef(ctx, id, ag.ID, body, ref)
	}
	return err
}

// action handles a desk button or the priority menu.
func (d *desk) action(ctx context.Context, ch, user, trigger string, act *slack.BlockAction) {
	ctx = escalation.WithVia(ctx, "slack")
	ag, ok := d.b.agents.agentFor(ctx, user)
	if !ok {
		d.b.ephemeral(ctx, ch, user, "", refusal)
		return
	}
	value := act.Value
	if value == "" {
		value = act.SelectedOption.Value
	}
	idText, prio, _ := strings.Cut(value, ":")
	id, err := escalation.ParseID(idText)
	if err != nil {
		d.b.log.WarnContext(ctx, "desk action without a ticket", "action", act.ActionID, "value", value)
		return
	}
	switch strings.TrimPrefix(act.ActionID, deskPrefix) {
	case "claim":
		_, err = d.q.Claim(ctx, id, ag.ID)
	case "progress":
		_, err = d.q.SetStatus(ctx, id, ag.ID, escalation.InProgress)
	case "waiting":
		_, err = d.q.SetStatus(ctx, id, ag.ID, escalation.Waiting)
	case "completed":
		_, err = d.q.SetStatus(ctx, id, ag.ID, escalation.Completed)
	case "priority":
		_, err = d.q.Classify(ctx, id, ag.ID, "", escalation.Priority(prio))
	case "takeover":
		_, err = d.q.Takeover(ctx, id, ag.ID, "desde Slack")
	case "reply":
		d.openForm(ctx, ch, user, trigger, id, false)
		return
	case "note":
		d.openForm(ctx, ch, user, trigger, id, true)
		return
	default:
		return
	}
	if err != nil && ctx.Err() == nil {
		d.b.log.WarnContext(ctx, "a desk action was refused", "ticket", id, "action", act.ActionID, "err", err)
		d.refuse(ctx, user, "", id, err)
	}
	d.mark(id)
}

// refuse tells an agent privately why the queue refused what they did on
// ticket id. When another agent holds it, it offers to take it over: the
// only way to act on someone else's ticket, and recorded on it.
func (d *desk) refuse(ctx context.Context, user, thread string, id escalation.ID, err error) {
	text := fmt.Sprintf("#%d: %s", id, reason(err))
	if !errors.Is(err, escalation.ErrClaimed) {
		d.b.ephemeral(ctx, d.channel, user, thread, text)
		return
	}
	btn := slack.NewButtonBlockElement(deskPrefix+"takeover", fmt.Sprint(id), slack.NewTextBlockObject(slack.PlainTextType, "Quedármela", true, false))
	d.b.ephemeral(ctx, d.channel, user, thread, text,
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, escape(text), false, false), nil, nil),
		slack.NewActionBlock("", btn))
}

// openForm opens the form for a reply to the customer, or a note, on
// ticket id. Slack accepts a trigger once and for three seconds; when it
// is refused the agent is asked to press the button again.
func (d *desk) openForm(ctx context.Context, ch, user, trigger string, id escalation.ID, note bool) {
	t, err := d.q.Get(ctx, id)
	if err != nil {
		d.b.ephemeral(ctx, ch, user, "", fmt.Sprintf("#%d: %s", id, reason(err)))
		return
	}
	if trigger == "" {
		d.b.log.WarnContext(ctx, "a form button without a trigger", "ticket", id)
		return
	}
	err = d.b.call(ctx, "views.open", func(ctx context.Context) error {
		_, err := d.b.api.OpenViewContext(ctx, trigger, formView(t, note))
		return err
	})
	if err != nil && ctx.Err() == nil {
		d.b.log.WarnContext(ctx, "cannot open a form", "ticket", id, "err", err)
		d.b.ephemeral(ctx, ch, user, "", fmt.Sprintf("#%d: Slack no ha abierto el formulario a tiempo. Pulsa el botón otra vez.", id))
	}
}

// formView is the form for a reply to the customer (note false) or an
// internal note on t. Its text goes through the queue as typed: nothing in
// it is read as a marker.
func formView(t *escalation.Ticket, note bool) slack.ModalViewRequest {
	title, submit, label, callback := "Responder al cliente", "Enviar al cliente", "Lo que leerá el cliente", formReply
	who := "El cliente lo recibe en " + escape(string(t.Customer.Address.Platform)) + "."
	if note {
		title, submit, label, callback = "Nota interna", "Guardar nota", "Solo la verán los agentes", formNote
		who = ":memo: Solo para agentes: el cliente no la verá."
	}
	input := slack.NewPlainTextInputBlockElement(nil, formInput)
	input.Multiline = true
	input.MaxLength = maxForm
	summary := fmt.Sprintf("*#%d* · %s\n%s", t.ID, escape(cut(t.Summary, 200)), who)
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      callback,
		PrivateMetadata: t.ID.String(),
		Title:           slack.NewTextBlockObject(slack.PlainTextType, title, false, false),
		Submit:          slack.NewTextBlockObject(slack.PlainTextType, submit, false, false),
		Close:           slack.NewTextBlockObject(slack.PlainTextType, "Cancelar", false, false),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, summary, false, false), nil, nil),
			slack.NewInputBlock(formBlock, slack.NewTextBlockObject(slack.PlainTextType, label, false, false), nil, input),
		}},
	}
}

// submit handles a sent reply or note form: the text is recorded on the
// ticket, shown in the card's thread as a line of the bot's, and that line
// then shows what became of it, as an agent's own thread reply does. A
// form Slack delivers again is recorded once (by the view's id).
func (d *desk) submit(ctx context.Context, user string, v *slack.View) {
	ctx = escalation.WithVia(ctx, "slack")
	id, err := escalation.ParseID(v.PrivateMetadata)
	if err != nil {
		d.b.log.WarnContext(ctx, "a desk form without a ticket", "callback", v.CallbackID)
		return
	}
	note := v.CallbackID == formNote
	ag, ok := d.b.agents.agentFor(ctx, user)
	if !ok {
		d.b.ephemeral(ctx, d.channel, user, "", refusal)
		return
	}
	text := strings.TrimSpace(v.State.Values[formBlock][formInput].Value)
	ref := "slack:view:" + v.ID
	c, err := d.snapshot(ctx, id)
	if err != nil {
		d.b.log.ErrorContext(ctx, "cannot read a card", "ticket", id, "err", err)
		return
	}
	var ts string
	if c != nil {
		for _, r := range c.Relays {
			if r.Ref == ref {
				return
			}
		}
		line := entryLine(escalation.Entry{Author: escalation.AuthorAgent, Name: ag.Display(), Text: text, Note: note}, maxLine)
		ts, err = d.postLine(ctx, c, line)
		if err != nil && ctx.Err() != nil {
			return
		}
		if err != nil {
			d.b.log.WarnContext(ctx, "cannot show a form's message in the thread", "ticket", id, "err", err)
		}
	}
	if ts != "" {
		d.record(ctx, id, user, ag, relay{TS: ts, Ref: ref, Note: note}, text)
		return
	}
	// Nowhere to show it (no card, or the thread out of reach): it counts
	// all the same, the card lists it among the last messages, and the
	// agent is told privately if it was refused.
	if err := d.keep(ctx, id, ag, note, text, ref); err != nil && ctx.Err() == nil {
		d.b.ephemeral(ctx, d.channel, user, "", fmt.Sprintf("#%d: %s", id, reason(err)))
	}
	d.mark(id)
}

// reason says in Spanish, in an agent's words, why the queue refused
// something. What it cannot name is "an internal error", and the log has
// the details: Go's error text is for operators, not agents.
func reason(err error) string {
	switch {
	case errors.Is(err, escalation.ErrClaimed):
		return "la lleva otra persona: para actuar en ella, quédatela (queda registrado en la solicitud)"
	case errors.Is(err, escalation.ErrTransition):
		return "ese cambio no está permitido en el estado en que está la solicitud (por ejemplo, cerrada: reábrela antes)"
	case errors.Is(err, escalation.ErrEmptyText):
		return "el mensaje está vacío"
	case errors.Is(err, escalation.ErrNotFound):
		return "la solicitud no existe"
	case errors.Is(err, escalation.ErrNotAgent):
		return "no eres un agente configurado"
	}
	return "error interno al guardarlo; el registro del servidor tiene los detalles"
}
