package slack

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"ayuda/bots"
	"ayuda/escalation"
)

// A staff member's DM is answered from an internal article, with the
// choices as buttons; pressing "No" opens an internal ticket with their
// Slack identity, whose card reaches the agents' desk.
func TestStaffDirectMessage(t *testing.T) {
	h := newHarness(t, nil)
	env, _ := h.dm(staff, "¿cómo me conecto a la VPN?")
	h.f.waitAcked(env)
	answer := h.f.waitPosted("D"+staff, "", "Aurora Connect")
	if !strings.Contains(answer.Text, "solo personal") {
		t.Errorf("answer %q, want the internal VPN article", answer.Text)
	}
	for _, e := range actions(t, answer.Blocks) {
		if !strings.HasPrefix(e.ActionID, choicePrefix) || e.Type != "button" || e.Value == "" {
			t.Errorf("choice button %+v, want action_id c:<choice> and the choice as value", e)
		}
	}

	h.click(staff, answer, button(t, answer, "No"), "")
	h.f.waitPosted("D"+staff, "", "#1")
	if got := h.f.message(answer.Channel, answer.TS); !strings.Contains(string(got.Blocks), "→ No") || len(actions(t, got.Blocks)) != 0 {
		t.Errorf("the answered message still offers its buttons: %s", got.Blocks)
	}
	tk := h.ticket(1)
	want := bots.Address{Platform: bots.Slack, Chat: "D" + staff, User: staff}
	if !tk.Internal || tk.Customer.Address != want || tk.Customer.Name != "Persona "+staff {
		t.Errorf("ticket internal=%v customer=%+v, want an internal ticket from %v named by Slack", tk.Internal, tk.Customer, want)
	}
	card := h.f.waitPosted(agentsCh, "", "#1")
	for _, want := range []string{"Solicitud interna", "Persona " + staff + " (slack:D" + staff, "Acceso a la VPN"} {
		if !strings.Contains(string(card.Blocks), want) {
			t.Errorf("card lacks %q: %s", want, card.Blocks)
		}
	}
	if strings.Contains(string(card.Blocks), `\u003c@`+staff) {
		t.Errorf("the card mentions the staff member, notifying them: %s", card.Blocks)
	}
}

// Only full members of the app's own workspace are staff: a guest, a
// person of another company in a Slack Connect channel, a deactivated
// account and someone Slack cannot vouch for right now (users.info
// failing) are answered as customers, with public articles only.
func TestOnlyFullMembersAreStaff(t *testing.T) {
	h := newHarness(t, nil)
	h.f.mu.Lock()
	h.f.users["UGUEST"] = map[string]any{"is_restricted": true}
	h.f.users["UONECH"] = map[string]any{"is_restricted": true, "is_ultra_restricted": true}
	h.f.users["UEXT"] = map[string]any{"team_id": "T9", "is_stranger": true}
	h.f.users["UOTHER"] = map[string]any{"team_id": "T9"}
	h.f.users["UGONE"] = map[string]any{"deleted": true}
	h.f.mu.Unlock()
	ask := func(user string) fakeMsg {
		t.Helper()
		env, _ := h.dm(user, "¿cómo me conecto a la VPN?")
		h.f.waitAcked(env)
		return h.f.waitPosted("D"+user, "", "")
	}
	for _, u := range []string{"UGUEST", "UONECH", "UEXT", "UOTHER", "UGONE"} {
		if m := ask(u); strings.Contains(m.Text+string(m.Blocks), "Aurora") {
			t.Errorf("%s is not a full member but got the internal article: %q", u, m.Text)
		}
	}
	h.f.failNext("users.info", fakeFailure{code: "internal_error"}, fakeFailure{code: "internal_error"}, fakeFailure{code: "internal_error"}, fakeFailure{code: "internal_error"}, fakeFailure{code: "internal_error"})
	if m := ask("UNEW"); strings.Contains(m.Text+string(m.Blocks), "Aurora") {
		t.Errorf("a user Slack could not vouch for got the internal article: %q", m.Text)
	}
	if m := ask(staff); !strings.Contains(m.Text, "Aurora") {
		t.Errorf("a full member did not get the internal article: %q", m.Text)
	}
}

// A customer's name, summary and words are shown as typed on the card
// and in its thread, never read as mrkdwn: a Telegram name of <!channel>
// pings nobody. The fake fails the test on any unescaped <, > or &.
func TestCardEscapesEverything(t *testing.T) {
	h := newHarness(t, nil)
	from := bots.Address{Platform: bots.Telegram, Chat: "66", User: "66"}
	name := "<!channel> & <@UANA> *jefe*"
	say := func(text string) bots.Reply {
		return h.eng.Handle(t.Context(), bots.Message{ID: "tg:" + text, From: from, Name: name, Text: text, Time: time.Now()})
	}
	say("¿cuánto tarda un envío a Canarias? <!here> & <#CDESK>")
	if r := say("no"); !strings.Contains(r.Text, "#1") {
		t.Fatalf("no ticket opened: %q", r.Text)
	}
	card := h.f.waitPosted(agentsCh, "", "#1")
	if !strings.Contains(string(card.Blocks), `*Cliente*\n\u0026lt;!channel\u0026gt; \u0026amp; \u0026lt;@UANA\u0026gt;`) {
		t.Errorf("the card does not show the name as typed: %s", card.Blocks)
	}
	say("<!everyone> sigo esperando")
	h.f.waitPosted(agentsCh, card.TS, "sigo esperando")
}

// Internal articles never reach Telegram (through the real Telegram
// channel) or Discord (through the engine with a Discord address), however
// they are asked for.
func TestInternalArticlesStayInternal(t *testing.T) {
	h := newHarness(t, nil)
	h.runTelegram()
	h.tg.say(77, "¿cómo me conecto a la VPN?")
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for len(h.tg.sentTo("77")) == 0 {
		h.tg.mu.Lock()
		ch := h.tg.changed
		h.tg.mu.Unlock()
		if len(h.tg.sentTo("77")) > 0 {
			break
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatal("Telegram never answered")
		}
	}
	for _, s := range h.tg.sentTo("77") {
		if strings.Contains(s, "Aurora") || strings.Contains(s, "solo personal") {
			t.Errorf("Telegram got an internal article: %q", s)
		}
	}
	discord := bots.Address{Platform: bots.Discord, Chat: "900", User: "901"}
	for _, to := range []bots.Address{discord, {Platform: bots.Telegram, Chat: "78", User: "78"}} {
		for _, text := range []string{"¿cómo me conecto a la VPN?", "kb:vpn-acceso", "kb:politica-reembolsos-interna", "¿hasta qué importe puedo aprobar un reembolso como agente?"} {
			r := h.eng.Handle(t.Context(), bots.Message{From: to, Text: text})
			all := r.Text
			for _, c := range r.Choices {
				all += " " + c.ID + " " + c.Label
			}
			if strings.Contains(all, "Aurora") || strings.Contains(all, "solo personal") || strings.Contains(all, "interna") {
				t.Errorf("%s asked %q and got internal content: %q", to.Platform, text, all)
			}
		}
	}
}

// The desk: a ticket's card with everything an agent needs; a customer's
// message in its thread; a claim updating it in place; an agent's thread
// reply reaching the customer on Telegram (marked delivered), and a note
// that stays internal (marked as a note).
func TestDesk(t *testing.T) {
	h := newHarness(t, nil)
	card := h.openTicket()
	for _, want := range []string{
		"#1 · ¿cuánto tarda un envío a Canarias?", "María (telegram:42)", "Nueva", "consulta", "Normal",
		"la respuesta no le sirvió", "Plazos y gastos de envío", "(`envio-plazos`) · confianza ", "no le sirvió", "!date^",
	} {
		if !strings.Contains(string(card.Blocks), want) {
			t.Errorf("card lacks %q: %s", want, card.Blocks)
		}
	}
	var ids []string
	for _, e := range actions(t, card.Blocks) {
		ids = append(ids, e.ActionID)
		if e.Type == "static_select" && len(e.Options) != 4 {
			t.Errorf("priority menu has %d options, want 4", len(e.Options))
		}
	}
	if want := []string{"desk_claim", "desk_progress", "desk_waiting", "desk_completed", "desk_priority", "desk_reply", "desk_note"}; !slices.Equal(ids, want) {
		t.Errorf("card actions %v, want %v", ids, want)
	}

	h.customer("el pedido es AUR-123456 <!channel> & <b>urgente</b>")
	line := h.f.waitPosted(agentsCh, card.TS, "AUR-123456")
	if !strings.Contains(line.Text, "&lt;!channel&gt; &amp; &lt;b&gt;urgente&lt;/b&gt;") {
		t.Errorf("thread line %q, want the customer's <, > and & escaped", line.Text)
	}

	h.press(ana, h.f.message(agentsCh, card.TS), "desk_claim", "")
	h.f.waitFor("the card to show Ana's claim", func() bool {
		m := h.f.find(agentsCh, card.TS)
		return strings.Contains(string(m.Blocks), "Asignada") && strings.Contains(string(m.Blocks), "Ana")
	})
	if tk := h.ticket(1); tk.Assignee != "ana" || tk.Status != escalation.Assigned {
		t.Errorf("after the claim: %s/%s, want ana/assigned", tk.Assignee, tk.Status)
	}
	h.tg.waitSent("42", "Ana")

	_, reply := h.inThread(ana, card.TS, "Hola María: sale hoy &amp; llega el jueves &lt;3")
	h.tg.waitSent("42", "sale hoy &amp; llega el jueves &lt;3") // HTML-escaped by the Telegram channel
	h.f.waitReaction(reply, "white_check_mark")

	_, note := h.inThread(ana, card.TS, "NOTA: revisar con logística")
	h.f.waitReaction(note, "memo")
	_, note2 := h.inThread(ana, card.TS, "// el almacén confirma")
	h.f.waitReaction(note2, "memo")
	tk := h.ticket(1)
	notes := 0
	for _, e := range tk.Transcript {
		if e.Note && e.Author == escalation.AuthorAgent {
			notes++
		}
	}
	if notes != 2 {
		t.Errorf("%d agent notes on the ticket, want 2", notes)
	}
	// The outbox keeps order per customer: once a later reply arrived,
	// anything queued before it did too.
	_, last := h.inThread(ana, card.TS, "¿Algo más?")
	h.tg.waitSent("42", "¿Algo más?")
	h.f.waitReaction(last, "white_check_mark")
	for _, s := range h.tg.sentTo("42") {
		if strings.Contains(s, "logística") || strings.Contains(s, "almacén") {
			t.Errorf("an internal note reached the customer: %q", s)
		}
	}
	h.press(ana, h.f.message(agentsCh, card.TS), "desk_completed", "")
	h.tg.waitSent("42", "¿Se resolvió")
	h.f.waitFor("the card to show the ticket completed", func() bool {
		return strings.Contains(string(h.f.find(agentsCh, card.TS).Blocks), "Completada (pendiente")
	})
	if a := actions(t, h.f.message(agentsCh, card.TS).Blocks); len(a) != 0 {
		t.Errorf("a completed ticket's card still has buttons: %v", a)
	}
	// The agent's own messages are not echoed into the thread.
	h.f.mu.Lock()
	for _, m := range h.f.postedLocked(agentsCh, card.TS) {
		if strings.Contains(m.Text, "sale hoy") || strings.Contains(m.Text, "almacén") {
			t.Errorf("the bot repeated an agent's thread message: %q", m.Text)
		}
	}
	h.f.mu.Unlock()
}

// Someone who is not an agent is told so privately, and nothing changes:
// not the ticket, not the customer's chat.
func TestStrangerRefused(t *testing.T) {
	h := newHarness(t, nil)
	card := h.openTicket()
	h.press(stranger, card, "desk_claim", "")
	h.f.waitFor("an ephemeral refusal", func() bool {
		for _, c := range h.f.callsLocked("chat.postEphemeral") {
			if c.Get("user") == stranger && strings.Contains(c.Get("text"), "Solo los agentes") {
				return true
			}
		}
		return false
	})
	if tk := h.ticket(1); tk.Status != escalation.New || tk.Assignee != "" {
		t.Errorf("a stranger's press changed the ticket: %s/%q", tk.Status, tk.Assignee)
	}
	_, msg := h.inThread(stranger, card.TS, "Hola, soy yo")
	h.f.waitFor("a second refusal", func() bool {
		n := 0
		for _, c := range h.f.callsLocked("chat.postEphemeral") {
			if c.Get("user") == stranger && c.Get("thread_ts") == card.TS {
				n++
			}
		}
		return n == 1
	})
	_, ok := h.inThread(luis, card.TS, "Te atiendo yo")
	h.tg.waitSent("42", "Te atiendo yo")
	h.f.waitReaction(ok, "white_check_mark")
	for _, s := range h.tg.sentTo("42") {
		if strings.Contains(s, "soy yo") {
			t.Errorf("a stranger's message reached the customer: %q", s)
		}
	}
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if r := h.f.reactionsLocked(msg); len(r) != 0 {
		t.Errorf("a stranger's message got reactions %v", r)
	}
}

// An envelope Slack sends twice (the same envelope again, or a retry with
// a new envelope id and the same event id) is acknowledged each time and
// handled once.
func TestDuplicateEnvelopeHandledOnce(t *testing.T) {
	h := newHarness(t, nil)
	env, payload := h.dm(staff, "¿cómo me conecto a la VPN?")
	h.f.waitAcked(env)
	h.f.send(typeEvents, env, payload, 1)
	retry := h.nextEnv()
	h.f.send(typeEvents, retry, payload, 2)
	h.f.waitFor("both re-deliveries acknowledged", func() bool { return h.f.countAcksLocked(env) == 2 && h.f.countAcksLocked(retry) == 1 })
	// Envelopes of one conversation are handled in order: once the next
	// message is answered, the duplicates were handled.
	h.dm(staff, "gracias")
	// The event and the command are handled apart: wait for both answers
	// (under load the command's could come first).
	h.f.waitPosted("D"+staff, "", "Aurora Connect")
	h.f.waitPosted("D"+staff, "", "nada")
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	n := 0
	for _, m := range h.f.postedLocked("D"+staff, "") {
		if strings.Contains(m.Text, "Aurora Connect") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the answer was posted %d times, want once", n)
	}
}

// A dropped Socket Mode connection is re-opened; an envelope Slack sends
// again on the new connection is handled once, and new ones are handled.
func TestReconnectLosesNothing(t *testing.T) {
	h := newHarness(t, nil)
	env, payload := h.dm(staff, "hola")
	h.f.waitAcked(env)
	h.f.waitPosted("D"+staff, "", "")
	h.f.drop <- struct{}{}
	h.f.waitFor("a second connection", func() bool { return h.f.conns == 2 })
	h.f.send(typeEvents, env, payload, 1)
	h.dm(staff, "¿cómo me conecto a la VPN?")
	h.f.waitPosted("D"+staff, "", "Aurora Connect")
	h.f.waitFor("the re-delivery acknowledged", func() bool { return h.f.countAcksLocked(env) == 2 })
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if got := h.f.postedLocked("D"+staff, ""); len(got) != 2 {
		t.Errorf("%d messages in the DM, want the greeting and the answer once each", len(got))
	}
}

// An envelope acknowledged by a process that died before handling it is
// handled by the next one.
func TestUnfinishedEnvelopeReplayed(t *testing.T) {
	h := newHarness(t, nil)
	h.stopBot()
	dead := h.newBot()
	ts := h.newTS()
	payload, _ := json.Marshal(map[string]any{"type": "event_callback", "event_id": "EvDied", "event": map[string]any{
		"type": "message", "channel": "D" + staff, "channel_type": "im", "user": staff, "text": "¿cómo me conecto a la VPN?", "ts": ts}})
	if !dead.receive(t.Context(), newEnvelope(typeEvents, payload)) {
		t.Fatal("a new envelope was taken for a duplicate")
	}
	h.startBot()
	h.f.waitPosted("D"+staff, "", "Aurora Connect")
}

// A slash command answers in the person's DM; a mention answers in a
// thread under it.
func TestSlashCommandAndMention(t *testing.T) {
	h := newHarness(t, nil)
	env := h.nextEnv()
	h.f.send(typeCommand, env, map[string]any{"command": "/ayuda", "text": "vpn", "user_id": staff, "user_name": "staff",
		"channel_id": "CGENERAL", "trigger_id": "trig-" + env, "team_id": "T1"}, 0)
	h.f.waitAcked(env)
	h.f.waitPosted("D"+staff, "", "Aurora Connect")

	ts := h.newTS()
	h.event(map[string]any{"type": "app_mention", "channel": "CGENERAL", "user": luis,
		"text": "<@" + botUser + "> ¿cómo me conecto a la VPN?", "ts": ts, "event_ts": ts})
	h.f.waitPosted("CGENERAL", ts, "Aurora Connect")
}

// The priority menu changes the ticket's priority and the card shows it.
func TestPriorityMenu(t *testing.T) {
	h := newHarness(t, nil)
	card := h.openTicket()
	h.press(luis, card, "desk_priority", "1:alta")
	h.waitTicket(1, "became alta", func(tk *escalation.Ticket) bool { return tk.Priority == escalation.Alta })
	h.f.waitFor("the card to show the new priority", func() bool {
		m := h.f.find(agentsCh, card.TS)
		return m.Updates > 0 && strings.Contains(string(m.Blocks), `"initial_option":{"text":{"type":"plain_text","text":"Alta"`)
	})
}

// A reply the customer's platform refuses for good is marked failed on
// the agent's message, with the reason in the thread.
func TestFailedDeliveryShown(t *testing.T) {
	h := newHarness(t, nil)
	card := h.openTicket()
	h.tg.mu.Lock()
	h.tg.blocked["42"] = true
	h.tg.mu.Unlock()
	_, reply := h.inThread(ana, card.TS, "¿Sigues ahí?")
	h.f.waitReaction(reply, "x")
	h.f.waitPosted(agentsCh, card.TS, "No ha llegado al cliente: el cliente ha bloqueado el bot")
}

// A customer in the terminal (or over HTTP) pulls their messages: the
// agent's reply shows ⏳ in words while they are away, and ✅ as soon as
// they take it, not at the ticket's next change.
func TestPulledDeliveryShown(t *testing.T) {
	h := newHarness(t, nil)
	term := bots.Address{Platform: bots.Console, Chat: "pc", User: "pc"}
	ask := func(text string) bots.Reply {
		h.n++
		return h.eng.Handle(t.Context(), bots.Message{ID: fmt.Sprintf("c:%d", h.n), From: term, Name: "Pepe", Text: text, Time: time.Now()})
	}
	ask("¿cuánto tarda un envío a Canarias?")
	if r := ask("no"); !strings.Contains(r.Text, "#1") {
		t.Fatalf("no ticket: %q", r.Text)
	}
	card := h.f.waitPosted(agentsCh, "", "#1")
	_, reply := h.inThread(ana, card.TS, "Hola Pepe, sale mañana")
	h.f.waitReaction(reply, "hourglass_flowing_sand")
	h.f.waitPosted(agentsCh, card.TS, "el cliente no está conectado ahora")
	// Let the ticket's own changes (the claim, its notice) settle, so the
	// ✅ below can only come from the Take. The pause makes the test
	// stricter, never flakier: without it, a late change could show ✅.
	time.Sleep(time.Second)
	if _, err := h.q.Take(t.Context(), term); err != nil {
		t.Fatal(err)
	}
	h.f.waitReaction(reply, "white_check_mark")
}

func TestDeliveryWords(t *testing.T) {
	for in, want := range map[string]string{
		bots.ErrUnreachable.Error():                        "no está conectado",
		"telegram: Forbidden: bot was blocked by the user": "bloqueado",
		"telegram: 502 Bad Gateway":                        "no responde",
		"la solicitud no existe":                           "la solicitud no existe",
		"discord: weird thing: 40001":                      "rechazado",
	} {
		if got := deliveryWords(in); !strings.Contains(got, want) {
			t.Errorf("deliveryWords(%q) = %q, want it to say %q", in, got, want)
		}
	}
}

// With Slack down, the desk waits and retries; after a restart it does
// not post a card twice and posts what it missed.
func TestDeskCatchesUp(t *testing.T) {
	h := newHarness(t, nil)
	card := h.openTicket()
	h.stopBot()
	h.customer("¿hay novedades?")
	h.f.failNext("chat.postMessage", fakeFailure{status: 503}, fakeFailure{status: 503}, fakeFailure{status: 503},
		fakeFailure{status: 503}, fakeFailure{status: 503}, fakeFailure{status: 503})
	h.startBot()
	h.f.waitPosted(agentsCh, card.TS, "novedades")
	h.f.mu.Lock()
	cards := 0
	for _, m := range h.f.postedLocked(agentsCh, "") {
		if strings.Contains(m.Text, "#1") {
			cards++
		}
	}
	h.f.mu.Unlock()
	if cards != 1 {
		t.Errorf("%d cards for ticket #1, want 1", cards)
	}
	// Each call tries five times (pauses of 1, 2, 4 and 8 s); then the
	// desk pauses its pass (1 s) and tries again.
	waits := h.slept()
	i := slices.Index(waits, 8*time.Second)
	if i < 3 || !slices.Equal(waits[i-3:i+2], []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, time.Second}) {
		t.Errorf("waits %v, want a call's 1, 2, 4, 8 s and then the desk's 1 s", waits)
	}
}

// Run keeps asking who it is while Slack is unreachable, and fails when
// Slack refuses the token.
func TestStartWithSlackDown(t *testing.T) {
	h := newHarness(t, nil)
	h.stopBot()
	var fails []fakeFailure
	for range 7 {
		fails = append(fails, fakeFailure{status: 502})
	}
	h.f.failNext("auth.test", fails...)
	h.startBot()
	h.dm(staff, "¿cómo me conecto a la VPN?")
	h.f.waitPosted("D"+staff, "", "Aurora Connect")

	h.cfg.BotToken = "xoxb-revoked"
	b := h.newBot()
	if err := b.Run(t.Context(), h.eng.Handle); err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("Run with a refused token: %v, want invalid_auth", err)
	}
}

// A 429 is retried after the Retry-After Slack asked for.
func TestRateLimitHonoured(t *testing.T) {
	h := newHarness(t, nil)
	h.f.failNext("chat.postMessage", fakeFailure{status: 429, retryAfter: 7})
	h.dm(staff, "¿cómo me conecto a la VPN?")
	h.f.waitPosted("D"+staff, "", "Aurora Connect")
	if !slices.Contains(h.slept(), 7*time.Second) {
		t.Errorf("waits %v, want the 7 s Slack asked for", h.slept())
	}
}

// With a user group, only its members are agents: a member is the agent
// whose id is their Slack handle; a listed user outside the group is not.
func TestAgentGroup(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.AgentGroup = "SAGENTS"
		c.Agents = map[string]string{ana: "ana"}
	})
	h.f.mu.Lock()
	h.f.groups["SAGENTS"] = []string{luis}
	h.f.mu.Unlock()
	ctx := t.Context()
	b := h.newBot()
	// luis is in the group and his handle is "luis", an agent's id, but
	// no agent has his user id: a handle anyone can take is not trusted.
	if a, ok := b.agents.agentFor(ctx, luis); ok {
		t.Errorf("group member %s with an agent's handle acts as %+v, want no agent", luis, a)
	}
	if a, ok := b.agents.agentFor(ctx, ana); ok {
		t.Errorf("%s is outside the group but acts as %+v", ana, a)
	}
	h.f.mu.Lock()
	h.f.groups["SAGENTS"] = []string{luis, ana}
	h.f.mu.Unlock()
	b = h.newBot()
	if a, ok := b.agents.agentFor(ctx, ana); !ok || a.ID != "ana" {
		t.Errorf("group member %s mapped to ana: %+v %v", ana, a, ok)
	}
	if _, ok := b.agents.agentFor(ctx, stranger); ok {
		t.Errorf("a stranger is an agent")
	}
}

// sign signs body as Slack does.
func sign(secret string, ts int64, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:%s", ts, body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// The Events API: the challenge is answered, forged and stale requests
// get 401, and a signed event, re-delivered, is handled once.
func TestEventsAPI(t *testing.T) {
	const secret = "signing-secret"
	h := newHarness(t, func(c *Config) {
		c.Mode, c.SigningSecret, c.AppToken = HTTP, secret, ""
	})
	srv := httptest.NewServer(h.bot.Handler())
	defer srv.Close()
	post := func(body, ctype string, at time.Time, sig string, retry int) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		ts := at.Unix()
		if sig == "" {
			sig = sign(secret, ts, body)
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("X-Slack-Signature", sig)
		if retry > 0 {
			req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const jsonType = "application/json"
	challenge := `{"token":"x","challenge":"c-123","type":"url_verification"}`
	if code, body := post(challenge, jsonType, time.Now(), "", 0); code != 200 || body != "c-123" {
		t.Errorf("url_verification: %d %q, want 200 c-123", code, body)
	}
	if code, _ := post(challenge, jsonType, time.Now(), sign("another secret", time.Now().Unix(), challenge), 0); code != http.StatusUnauthorized {
		t.Errorf("a forged signature: %d, want 401", code)
	}
	if code, _ := post(challenge, jsonType, time.Now().Add(-10*time.Minute), "", 0); code != http.StatusUnauthorized {
		t.Errorf("a stale request: %d, want 401", code)
	}
	event := func(id, text string) string {
		ts := h.newTS()
		b, _ := json.Marshal(map[string]any{"type": "event_callback", "event_id": id, "team_id": "T1", "event": map[string]any{
			"type": "message", "channel": "D" + staff, "channel_type": "im", "user": staff, "text": text, "ts": ts}})
		return string(b)
	}
	vpn := event("Ev1", "¿cómo me conecto a la VPN?")
	for retry := range 2 {
		if code, _ := post(vpn, jsonType, time.Now(), "", retry); code != 200 {
			t.Fatalf("event: %d, want 200", code)
		}
	}
	cmd := url.Values{"command": {"/ayuda"}, "text": {"gracias"}, "user_id": {staff}, "channel_id": {"CGENERAL"}, "trigger_id": {"trig-http"}}.Encode()
	if code, _ := post(cmd, "application/x-www-form-urlencoded", time.Now(), "", 0); code != 200 {
		t.Fatalf("slash command: %d, want 200", code)
	}
	// The event and the command are handled apart: wait for both answers
	// (under load the command's could come first).
	h.f.waitPosted("D"+staff, "", "Aurora Connect")
	h.f.waitPosted("D"+staff, "", "nada")
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	n := 0
	for _, m := range h.f.postedLocked("D"+staff, "") {
		if strings.Contains(m.Text, "Aurora Connect") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the event was handled %d times, want once", n)
	}
	if len(h.f.callsLocked("apps.connections.open")) != 0 {
		t.Error("HTTP mode opened a Socket Mode connection")
	}
}

// Send posts to the person's DM and marks what Slack will never accept
// as permanent.
func TestSend(t *testing.T) {
	h := newHarness(t, nil)
	ctx := t.Context()
	b := h.newBot()
	if err := b.Send(ctx, bots.Address{Platform: bots.Slack, Chat: "CGENERAL", User: staff}, bots.Reply{Text: "Tu solicitud <#2> & más"}); err != nil {
		t.Fatal(err)
	}
	m := h.f.waitPosted("D"+staff, "", "Tu solicitud")
	if m.Text != "Tu solicitud &lt;#2&gt; &amp; más" || !bytes.Contains(m.Blocks, []byte(`Tu solicitud \u0026lt;#2\u0026gt; \u0026amp; más`)) {
		t.Errorf("text %q blocks %s, want &, < and > escaped in both", m.Text, m.Blocks)
	}
	h.f.failNext("chat.postMessage", fakeFailure{code: "channel_not_found"})
	err := b.Send(ctx, bots.Address{Platform: bots.Slack, Chat: "DGONE"}, bots.Reply{Text: "hola"})
	if !bots.IsPermanent(err) {
		t.Errorf("channel_not_found: %v, want a permanent error", err)
	}
	if err := b.Send(ctx, maria, bots.Reply{Text: "hola"}); err != bots.ErrUnreachable {
		t.Errorf("a Telegram address: %v, want ErrUnreachable", err)
	}
}

func TestNew(t *testing.T) {
	st := fakeState{}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no bot token", Config{AppToken: "x", State: st, Outbox: st}},
		{"socket without app token", Config{BotToken: "x", State: st, Outbox: st}},
		{"http without secret", Config{BotToken: "x", Mode: HTTP, State: st, Outbox: st}},
		{"unknown mode", Config{BotToken: "x", Mode: "carrier pigeon", State: st, Outbox: st}},
		{"desk without queue", Config{BotToken: "x", AppToken: "y", AgentsChannel: "C1", State: st, Outbox: st}},
		{"bad URL", Config{BotToken: "x", AppToken: "y", APIURL: "ftp://slack", State: st, Outbox: st}},
	} {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v %s", Secret("xoxb-1"), Secret("xoxb-1"), Secret("xoxb-1"), Secret("xoxb-1")); strings.Contains(s, "xoxb") {
		t.Errorf("a secret printed: %s", s)
	}
}

type fakeState struct{}

func (fakeState) GetMeta(context.Context, string) ([]byte, error) { return nil, nil }
func (fakeState) PutMeta(context.Context, string, []byte) error   { return nil }
func (fakeState) DeleteMeta(context.Context, ...string) error     { return nil }
func (fakeState) ScanMeta(context.Context, string, func(string, []byte) error) error {
	return nil
}
func (fakeState) Enqueue(context.Context, bots.Address, bots.Reply) error { return nil }

func TestPlain(t *testing.T) {
	for in, want := range map[string]string{
		"a &amp; b &lt;c&gt;":             "a & b <c>",
		"mira <https://x.es/a|la web>":    "mira la web (https://x.es/a)",
		"<https://x.es>":                  "https://x.es",
		"hola <@U1> y <@U2|ana>":          "hola @U1 y @ana",
		"en <#C1|general> <!here>":        "en #general @here",
		"<mailto:a@b.es|a@b.es>":          "a@b.es",
		"<!subteam^S1|@agentes> ayuda":    "@agentes ayuda",
		"  &amp;lt; stays escaped once  ": "&lt; stays escaped once",
	} {
		if got := plain(in); got != want {
			t.Errorf("plain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNoteMarker(t *testing.T) {
	for in, want := range map[string]struct {
		note bool
		text string
	}{
		"// revisar":                {true, "revisar"},
		"  NOTA: ojo":               {true, "ojo"},
		"Note:x":                    {true, "x"},
		"*nota:* revisar":           {true, "revisar"},
		"*nota*: revisar":           {true, "revisar"},
		"_nota:_ revisar":           {true, "revisar"},
		"> nota: revisar":           {true, "revisar"},
		"nota : revisar":            {true, "revisar"},
		"[nota] revisar":            {true, "revisar"},
		"(interno) revisar":         {true, "revisar"},
		"interno: revisar":          {true, "revisar"},
		"Internal: check":           {true, "check"},
		"notas: revisar":            {true, "revisar"},
		"nota interna: revisar":     {true, "revisar"},
		"／／ revisar":                {true, "revisar"},
		"nota： revisar":             {true, "revisar"},
		"`//` revisar":              {true, "revisar"},
		"~privado:~ revisar":        {true, "revisar"},
		"nota mental":               {false, "nota mental"},
		"notable: el envío":         {false, "notable: el envío"},
		"http://x.es":               {false, "http://x.es"},
		"hola // adiós":             {false, "hola // adiós"},
		"Interno 4 tiene tu pedido": {false, "Interno 4 tiene tu pedido"},
	} {
		note, text := noteMarker(in)
		if note != want.note || text != want.text {
			t.Errorf("noteMarker(%q) = %v %q, want %v %q", in, note, text, want.note, want.text)
		}
	}
}

// Long text is split into sections within Slack's limit, escaped, and a
// reply never exceeds 50 blocks.
func TestReplyBlocksLimits(t *testing.T) {
	long := strings.Repeat("<&> línea\n", 2000)
	var choices []bots.Choice
	for i := range 30 {
		choices = append(choices, bots.Choice{ID: fmt.Sprint("id-", i), Label: strings.Repeat("x", 100)})
	}
	bs := replyBlocks(bots.Reply{Text: long, Choices: choices})
	if len(bs) > maxBlocks {
		t.Fatalf("%d blocks, want at most %d", len(bs), maxBlocks)
	}
	data, _ := json.Marshal(bs)
	var raw []struct {
		Type string `json:"type"`
		Text struct {
			Text string `json:"text"`
		} `json:"text"`
		Elements []json.RawMessage `json:"elements"`
	}
	json.Unmarshal(data, &raw)
	buttons := 0
	for _, b := range raw {
		if n := len([]rune(b.Text.Text)); n > maxSection {
			t.Errorf("a section of %d characters", n)
		}
		if strings.ContainsAny(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(b.Text.Text, "&lt;", ""), "&gt;", ""), "&amp;", ""), "<>&") {
			t.Errorf("unescaped text in a section: %.80q", b.Text.Text)
		}
		buttons += len(b.Elements)
	}
	if buttons != 30 {
		t.Errorf("%d buttons, want all 30 choices", buttons)
	}
}

// A desk that was down while a ticket grew past what its record keeps in
// line (the older messages are kept apart) posts every message to the
// thread once, in order, when it comes back.
func TestDeskCatchesUpOnLongTicket(t *testing.T) {
	h := newHarness(t, nil)
	card := h.openTicket()
	h.stopBot()
	for i := range 100 {
		if _, err := h.q.CustomerMessage(t.Context(), 1, escalation.Entry{Author: escalation.AuthorCustomer, Name: "María", Text: fmt.Sprintf("línea-%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if tk, _ := h.q.Recent(t.Context(), 1); tk.Archived == 0 {
		t.Fatal("the ticket keeps everything in line; the test needs a longer one")
	}
	h.startBot()
	h.f.waitPosted(agentsCh, card.TS, "línea-099")
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	var got []string
	for _, m := range h.f.postedLocked(agentsCh, card.TS) {
		if i := strings.Index(m.Text, "línea-"); i >= 0 {
			got = append(got, m.Text[i:i+len("línea-000")])
		}
	}
	if len(got) != 100 {
		t.Fatalf("%d lines in the thread, want 100: %v", len(got), got)
	}
	for i, s := range got {
		if want := fmt.Sprintf("línea-%03d", i); s != want {
			t.Fatalf("line %d is %s, want %s", i, s, want)
		}
	}
}
