package slack

import (
	"encoding/json"
	"strings"
	"testing"

	"ayuda/escalation"
)

// waitEphemeral waits for a private message to user containing want.
func (h *harness) waitEphemeral(user, want string) {
	h.t.Helper()
	h.f.waitFor("an ephemeral message with "+want, func() bool {
		for _, c := range h.f.callsLocked("chat.postEphemeral") {
			if c.Get("user") == user && strings.Contains(c.Get("text"), want) {
				return true
			}
		}
		return false
	})
}

// sentCount is how many of the customer's Telegram messages contain want.
func (h *harness) sentCount(chat, want string) int {
	n := 0
	for _, s := range h.tg.sentTo(chat) {
		if strings.Contains(s, want) {
			n++
		}
	}
	return n
}

// The card's forms are the way to write that cannot be mistyped: what the
// reply form holds reaches the customer as typed (even if it looks like a
// note marker), once, however often Slack delivers the submission; what
// the note form holds never does. Each shows in the thread with what
// became of it. Someone who is not an agent cannot open or send them, and
// a trigger Slack refuses asks the agent to press again.
func TestDeskForms(t *testing.T) {
	h := newHarness(t, nil)
	card := h.openTicket()
	h.press(ana, card, "desk_reply", "")
	v := h.waitView(1)
	if v.View["callback_id"] != formReply || v.View["private_metadata"] != "1" {
		t.Fatalf("reply form %v", v.View)
	}
	h.submitView(ana, v, "*nota:* sale el lunes y llega el martes")
	h.tg.waitSent("42", "sale el lunes y llega el martes")
	line := h.f.waitPosted(agentsCh, card.TS, "→ cliente: *nota:* sale el lunes")
	h.f.waitReaction(line.TS, "white_check_mark")

	// Slack delivers the same submission again (a new envelope): recorded once.
	done := h.submitView(ana, v, "*nota:* sale el lunes y llega el martes")
	h.f.waitAcked(done)
	h.press(ana, h.f.message(agentsCh, card.TS), "desk_note", "")
	nv := h.waitView(2)
	if nv.View["callback_id"] != formNote {
		t.Fatalf("note form %v", nv.View)
	}
	h.submitView(ana, nv, "revisar con logística")
	note := h.f.waitPosted(agentsCh, card.TS, "(nota interna): revisar con logística")
	h.f.waitReaction(note.TS, "memo")
	if n := h.sentCount("42", "sale el lunes"); n != 1 {
		t.Errorf("the form's reply reached the customer %d times, want once", n)
	}
	if n := h.sentCount("42", "logística"); n != 0 {
		t.Errorf("the note form's text reached the customer")
	}
	replies, notes := 0, 0
	for _, e := range h.ticket(1).Transcript {
		if e.Author == escalation.AuthorAgent && e.Note {
			notes++
		} else if e.Author == escalation.AuthorAgent {
			replies++
		}
	}
	if replies != 1 || notes != 1 {
		t.Errorf("the ticket has %d replies and %d notes from agents, want 1 and 1", replies, notes)
	}

	// A stranger can neither open a form nor send a forged one.
	h.press(stranger, h.f.message(agentsCh, card.TS), "desk_reply", "")
	h.waitEphemeral(stranger, "Solo los agentes")
	forged := h.submitView(stranger, v, "soy el jefe, devolvedle todo")
	h.f.waitAcked(forged)
	h.f.waitFor("a second refusal", func() bool {
		n := 0
		for _, c := range h.f.callsLocked("chat.postEphemeral") {
			if c.Get("user") == stranger {
				n++
			}
		}
		return n == 2
	})
	if len(h.f.views) != 2 || h.sentCount("42", "devolvedle") != 0 {
		t.Errorf("a stranger opened a form or reached the customer: %d views", len(h.f.views))
	}

	// Slack refuses the trigger (pressed, then Slack was slow): press again.
	h.f.failNext("views.open", fakeFailure{code: "expired_trigger_id"})
	h.press(ana, h.f.message(agentsCh, card.TS), "desk_reply", "")
	h.waitEphemeral(ana, "Pulsa el botón otra vez")
}

// A thread reply whose marker Slack formatting or a look-alike character
// disguises stays internal; a colleague mentioned in a reply reaches the
// customer by name.
func TestDisguisedNoteMarkersStayInternal(t *testing.T) {
	h := newHarness(t, nil)
	card := h.openTicket()
	h.press(ana, card, "desk_claim", "")
	h.tg.waitSent("42", "Ana")
	markers := []string{"*nota:* uno", "_nota:_ dos", "&gt; nota: tres", "nota : cuatro", "[nota] cinco", "interno: seis", "internal: siete", "notas: ocho", "／／ nueve", "nota： diez", "`//` once"}
	for _, m := range markers {
		_, ts := h.inThread(ana, card.TS, m)
		h.f.waitReaction(ts, "memo")
	}
	_, last := h.inThread(ana, card.TS, "Hola María, ya está: <@"+luis+"> te llama mañana")
	h.tg.waitSent("42", "Hola María, ya está: @Persona "+luis+" te llama mañana") // a name, not an id
	h.f.waitReaction(last, "white_check_mark")
	for _, s := range h.tg.sentTo("42") {
		for _, w := range []string{"uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "once"} {
			if strings.HasSuffix(s, " "+w) {
				t.Errorf("a disguised note reached the customer: %q", s)
			}
		}
	}
}

// With thread replies internal, a plain thread reply is a note, shown as
// one at once; only the reply form writes to the customer.
func TestThreadRepliesInternal(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ThreadReplies = RepliesInternal })
	card := h.openTicket()
	if !strings.Contains(string(card.Blocks), "es una nota interna") {
		t.Errorf("the card does not say thread replies are internal: %s", card.Blocks)
	}
	_, ts := h.inThread(ana, card.TS, "Hola María, el paquete sale hoy")
	h.f.waitReaction(ts, "memo")
	h.press(ana, h.f.message(agentsCh, card.TS), "desk_reply", "")
	h.submitView(ana, h.waitView(1), "Hola María, sale mañana")
	h.tg.waitSent("42", "sale mañana")
	if n := h.sentCount("42", "sale hoy"); n != 0 {
		t.Errorf("a thread reply reached the customer with thread replies internal")
	}
	if _, err := New(Config{BotToken: "x", AppToken: "y", ThreadReplies: "cliente", State: h.q, Outbox: h.q}); err == nil || !strings.Contains(err.Error(), "internal") {
		t.Errorf("an unknown thread reply mode: %v", err)
	}
}

// A file an agent shares in a card's thread never reaches the customer's
// platform: the ticket records it as a note and the agent is told at once.
// An agent who edits a thread message is told the edit goes nowhere. A
// staff member's photo without words is recorded as an attachment.
func TestDeskFilesAndEdits(t *testing.T) {
	h := newHarness(t, nil)
	card := h.openTicket()
	ts := h.newTS()
	env, _ := h.event(map[string]any{"type": "message", "subtype": "file_share", "channel": agentsCh, "channel_type": "channel", "user": ana,
		"text": "", "ts": ts, "thread_ts": card.TS, "event_ts": ts,
		"files": []any{map[string]any{"id": "F1", "name": "albaran.png", "mimetype": "image/png"}}})
	h.f.waitAcked(env)
	h.f.waitReaction(ts, "memo")
	h.waitEphemeral(ana, "Los archivos no se envían al cliente: albaran.png")
	found := false
	for _, e := range h.ticket(1).Transcript {
		if e.Note && strings.Contains(e.Text, "albaran.png") {
			found = true
		}
	}
	if !found {
		t.Errorf("the shared file is not on the ticket: %+v", h.ticket(1).Transcript)
	}

	_, reply := h.inThread(ana, card.TS, "Hola María, sale hoy")
	h.f.waitReaction(reply, "white_check_mark")
	edit := h.newTS()
	h.event(map[string]any{"type": "message", "subtype": "message_changed", "channel": agentsCh, "channel_type": "channel", "ts": edit, "event_ts": edit,
		"message":          map[string]any{"type": "message", "user": ana, "text": "Hola María, sale mañana", "ts": reply, "thread_ts": card.TS},
		"previous_message": map[string]any{"type": "message", "user": ana, "text": "Hola María, sale hoy", "ts": reply, "thread_ts": card.TS}})
	h.waitEphemeral(ana, "la edición no se envía")
	if h.sentCount("42", "sale mañana") != 0 {
		t.Errorf("an edit reached the customer")
	}

	photo := h.newTS()
	h.event(map[string]any{"type": "message", "subtype": "file_share", "channel": "D" + staff, "channel_type": "im", "user": staff,
		"text": "", "ts": photo, "event_ts": photo, "files": []any{map[string]any{"id": "F2", "name": "pantalla.png", "mimetype": "image/png"}}})
	answer := h.f.waitPosted("D"+staff, "", "")
	if strings.Contains(answer.Text, "vacío") {
		t.Errorf("a photo without words was called empty: %q", answer.Text)
	}
}

// A staff member who keeps writing to their open request sees each
// message marked as received (👀) after the first acknowledgement.
func TestStaffFollowUpsMarkedSeen(t *testing.T) {
	h := newHarness(t, nil)
	env, _ := h.dm(staff, "quiero hablar con una persona: el portátil no arranca")
	h.f.waitAcked(env)
	h.f.waitPosted("D"+staff, "", "#1")
	h.dm(staff, "es el modelo X13")
	h.f.waitPosted("D"+staff, "", "Añadido a tu solicitud #1")
	_, payload := h.dm(staff, "hola? alguien?")
	ts := payload["event"].(map[string]any)["ts"].(string)
	h.f.waitReaction(ts, "eyes")
}

// A staff member's Slack locale is the language of a first message whose
// words do not tell it.
func TestStaffLocaleHint(t *testing.T) {
	h := newHarness(t, nil)
	h.f.mu.Lock()
	h.f.users["UENG"] = map[string]any{"locale": "en-GB"}
	h.f.mu.Unlock()
	env, _ := h.dm("UENG", "ok")
	h.f.waitAcked(env)
	en := h.f.waitPosted("DUENG", "", "")
	env, _ = h.dm("UESP", "ok")
	h.f.waitAcked(env)
	es := h.f.waitPosted("DUESP", "", "")
	if en.Text == es.Text || strings.ContainsAny(en.Text, "¿¡ñ") {
		t.Errorf("an en-GB user's «ok» got %q, an es-ES user's %q: want English and Spanish", en.Text, es.Text)
	}
}

// A colleague cannot act on a ticket another agent holds: the desk says
// so privately and offers to take it over, which is recorded on the ticket
// with the channel it came from; after it, the colleague's thread replies
// reach the customer.
func TestTakeoverFromSlack(t *testing.T) {
	h := newHarness(t, nil)
	card := h.openTicket()
	h.press(ana, card, "desk_claim", "")
	h.waitTicket(1, "ana to hold it", func(tk *escalation.Ticket) bool { return tk.Assignee == "ana" })
	h.inThread(luis, card.TS, "ya lo miro yo")
	h.waitEphemeral(luis, "quédatela")
	var offer fakeMsg
	h.f.waitFor("the takeover button", func() bool {
		for _, c := range h.f.callsLocked("chat.postEphemeral") {
			if c.Get("user") == luis && strings.Contains(c.Get("blocks"), "desk_takeover") {
				offer = fakeMsg{Channel: c.Get("channel"), TS: "1.0", Text: c.Get("text"), Blocks: json.RawMessage(c.Get("blocks"))}
				return true
			}
		}
		return false
	})
	if n := h.sentCount("42", "ya lo miro yo"); n != 0 {
		t.Fatalf("a reply on someone else's ticket reached the customer %d times", n)
	}
	h.press(luis, offer, "desk_takeover", "")
	tk := h.waitTicket(1, "luis to take it over", func(tk *escalation.Ticket) bool { return tk.Assignee == "luis" })
	last := tk.Events[len(tk.Events)-1]
	if last.What != escalation.EventTakenOver || last.Actor != "luis" || last.Via != "slack" || !strings.Contains(last.Detail, "from ana") {
		t.Errorf("takeover event %+v", last)
	}
	h.tg.waitSent("42", "Luis")
	h.inThread(luis, card.TS, "Te lo mandamos hoy por mensajero.")
	h.tg.waitSent("42", "Te lo mandamos hoy por mensajero.")
}
