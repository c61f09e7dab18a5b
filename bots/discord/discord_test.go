package discord

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ayuda/bots"
	"ayuda/dialog"
	"ayuda/escalation"
	"ayuda/faq"
	"ayuda/knowledge"
)

var (
	maria = fakeUser{ID: "501", Username: "maria", GlobalName: "María"}
	juan  = fakeUser{ID: "502", Username: "juan"}
	pedro = fakeUser{ID: "503", Username: "pedro"}
	ayuda = fakeUser{ID: fakeBotID, Username: "ayuda", Bot: true}
)

const question = "¿cuánto tarda en llegar un envío?"

// harness is ayuda running against the fake: the real discordgo client in
// a Bot, the real engine over the built-in articles, and the real store in
// a temporary directory, with the outbox dispatched through the Bot.
type harness struct {
	t    *testing.T
	fake *fakeDiscord
	q    *escalation.Queue
	bot  *Bot
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// builtinIndex is the built-in articles' index, built once for all the
// tests: it is read-only, and building it takes seconds under the race
// detector.
func builtinIndex(t *testing.T) *knowledge.Index {
	t.Helper()
	idx, err := builtinOnce()
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

var builtinOnce = sync.OnceValues(func() (*knowledge.Index, error) {
	entries, err := faq.Builtin()
	if err != nil {
		return nil, err
	}
	return knowledge.New(entries)
})

// start runs ayuda; wrap, if set, wraps the engine's handler.
func start(t *testing.T, wrap func(bots.Handler) bots.Handler) *harness {
	t.Helper()
	fake := newFake(t)
	idx := builtinIndex(t)
	log := testLogger(t)
	q, err := escalation.Open(filepath.Join(t.TempDir(), "ayuda.db"), escalation.Config{
		Agents: []escalation.Agent{{ID: "ana", Name: "Ana"}},
		Notify: dialog.Notifier(),
		Logger: log.With("part", "escalation"),
	})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := dialog.New(dialog.Config{Search: idx, Queue: q, Logger: log.With("part", "dialog")})
	if err != nil {
		t.Fatal(err)
	}
	bot, err := New(Config{
		Token: fakeToken, APIURL: fake.srv.URL, SupportChannel: fakeSupport, GuildID: fakeGuild,
		State: q, Outbox: q, Logger: log.With("platform", "discord"),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := bots.Handler(eng.Handle)
	if wrap != nil {
		h = wrap(h)
	}
	ctx, cancel := context.WithCancel(t.Context())
	runErr, dispatchErr := make(chan error, 1), make(chan error, 1)
	go func() { runErr <- bot.Run(ctx, h) }()
	go func() { dispatchErr <- q.Dispatch(ctx, bot, 0) }()
	t.Cleanup(func() {
		cancel()
		bound := time.NewTimer(time.Minute) // only against a hang
		defer bound.Stop()
		for name, c := range map[string]chan error{"Run": runErr, "Dispatch": dispatchErr} {
			select {
			case err := <-c:
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
			case <-bound.C:
				t.Errorf("%s did not return after its context ended", name)
			}
		}
		q.Close()
	})
	fake.waitFor("identify and slash commands", func() bool {
		return fake.identifies == 1 && len(fake.requestsLocked("PUT /api/v9/applications/")) == 2
	})
	return &harness{t: t, fake: fake, q: q, bot: bot}
}

// count returns how many of the bot's messages in channel contain s.
func (h *harness) count(channel, s string) int {
	h.fake.mu.Lock()
	defer h.fake.mu.Unlock()
	n := 0
	for _, m := range h.fake.botMessages(channel) {
		if strings.Contains(m.Content, s) {
			n++
		}
	}
	return n
}

func (h *harness) botCount(channel string) int {
	h.fake.mu.Lock()
	defer h.fake.mu.Unlock()
	return len(h.fake.botMessages(channel))
}

func indexOf(reqs []fakeRequest, method, path string) int {
	return slices.IndexFunc(reqs, func(r fakeRequest) bool { return r.Method == method && r.Path == path })
}

// With a server configured, the commands are registered in it (at once,
// no contexts: Discord takes those on global commands only) and globally
// for DMs, where guild commands are not offered.
func TestSlashCommandsInServerAndDMs(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	guild := h.fake.requestsTo("PUT /api/v9/applications/" + fakeBotID + "/guilds/" + fakeGuild + "/commands")
	global := h.fake.requestsTo("PUT /api/v9/applications/" + fakeBotID + "/commands")
	if len(guild) != 1 || len(global) != 1 {
		t.Fatalf("registered %d server and %d global command sets, want 1 and 1", len(guild), len(global))
	}
	var g, d []map[string]any
	json.Unmarshal(guild[0].Body, &g)
	json.Unmarshal(global[0].Body, &d)
	if len(g) != 4 || len(d) != 4 {
		t.Fatalf("commands: %d in the server, %d global, want 4 each", len(g), len(d))
	}
	for _, c := range g {
		if _, ok := c["contexts"]; ok {
			t.Errorf("server command %v has contexts", c["name"])
		}
	}
	for _, c := range d {
		ctxs, _ := c["contexts"].([]any)
		if len(ctxs) != 1 || ctxs[0] != 1.0 {
			t.Errorf("global command %v contexts %v, want [1] (bot DM only: the server has its own)", c["name"], c["contexts"])
		}
	}
}

// A question in a DM is answered with the article and Sí/No buttons; the
// press is acknowledged (type 6) before the engine works on it, then the
// buttons are disabled and the reply posted. A re-delivered press is
// handled once.
func TestDMQuestionAnsweredWithButtons(t *testing.T) {
	t.Parallel()
	var fake *fakeDiscord
	acked := make(chan bool, 1)
	h := start(t, func(next bots.Handler) bots.Handler {
		return func(ctx context.Context, m bots.Message) bots.Reply {
			if m.Text == "yes" {
				// The deferred update must not wait for this work.
				acked <- fake.await(func() bool { return len(fake.requestsLocked("POST /api/v9/interactions/")) > 0 })
			}
			return next(ctx, m)
		}
	})
	fake = h.fake
	dm := fake.dmWith(maria)
	fake.say(dm, maria, question, false)
	answer := fake.lastBot(dm, "Plazos y gastos de envío")
	ids, off := answer.buttons()
	if !slices.Equal(ids, []string{"yes", "no", "human"}) || slices.Contains(off, true) {
		t.Fatalf("buttons = %v disabled %v, want yes, no, human enabled", ids, off)
	}

	iid := fake.press(maria, answer, "yes")
	fake.lastBot(dm, "Me alegro")
	if !<-acked {
		t.Fatal("the engine ran before Discord was answered")
	}
	reqs := fake.requestsTo("")
	cb := indexOf(reqs, "POST", "/api/v9/interactions/"+iid+"/itoken-"+iid+"/callback")
	edit := indexOf(reqs, "PATCH", "/api/v9/channels/"+dm+"/messages/"+answer.ID)
	var post int
	for i, r := range reqs {
		if r.Method == "POST" && r.Path == "/api/v9/channels/"+dm+"/messages" && strings.Contains(string(r.Body), "Me alegro") {
			post = i
		}
	}
	if cb < 0 || edit < 0 || !(cb < edit && edit < post) {
		t.Fatalf("order of callback, edit, reply = %d, %d, %d; want increasing", cb, edit, post)
	}
	if typ := reqs[cb].JSON()["type"]; typ != float64(6) {
		t.Errorf("callback type = %v, want 6 (deferred update)", typ)
	}
	fake.mu.Lock()
	_, off = answer.buttons()
	fake.mu.Unlock()
	if !slices.Equal(off, []bool{true, true, true}) {
		t.Errorf("after the press, disabled = %v, want all", off)
	}

	// The same interaction delivered again, then a marker message.
	fake.mu.Lock()
	var again map[string]any
	for _, fr := range fake.session.log {
		if m, ok := fr.D.(map[string]any); ok && fr.T == "INTERACTION_CREATE" && m["id"] == iid {
			again = m
		}
	}
	fake.mu.Unlock()
	fake.redispatchEvent("INTERACTION_CREATE", again)
	fake.say(dm, maria, "gracias", false)
	fake.lastBot(dm, "De nada")
	if n := len(fake.requestsTo("POST /api/v9/interactions/" + iid)); n != 1 {
		t.Errorf("callbacks for the press = %d, want 1", n)
	}
	if n := h.count(dm, "Me alegro"); n != 1 {
		t.Errorf("replies to the press = %d, want 1", n)
	}
}

// A customer's first message in the support channel opens a thread from
// it, and the answer goes there; in that thread ayuda answers its
// customer, and others only when they mention it; elsewhere only when
// mentioned. A slash command in the support channel is answered privately
// and gets the customer a thread.
func TestSupportChannelOpensThread(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	fake := h.fake
	first := fake.say(fakeSupport, maria, question, false)
	thread := first.ID // a thread started from a message has its id
	plazos := fake.lastBot(thread, "Plazos y gastos de envío")
	if n := h.botCount(fakeSupport); n != 0 {
		t.Errorf("bot messages in the support channel = %d, want 0", n)
	}
	opened := fake.requestsTo("POST /api/v9/channels/" + fakeSupport + "/messages/" + first.ID + "/threads")
	if len(opened) != 1 || !strings.Contains(opened[0].JSON()["name"].(string), "María") {
		t.Fatalf("thread requests = %v, want one named after María", opened)
	}
	if n := len(fake.requestsTo("PUT /api/v9/channels/" + thread + "/thread-members/" + maria.ID)); n != 1 {
		t.Errorf("customer added to the thread %d times, want 1", n)
	}

	fake.say(thread, maria, "gracias", false)
	fake.lastBot(thread, "De nada")
	fake.say(thread, juan, "hola", false)               // not his thread, no mention: ignored
	fake.say(thread, juan, "<@100> hola", false, ayuda) // mentioned: answered
	fake.lastBot(thread, "Soy el asistente")
	if n := h.botCount(thread); n != 3 {
		t.Errorf("bot messages in the thread = %d, want 3 (answer, thanks, greeting)", n)
	}

	fake.say("201", juan, "hola", false)
	fake.say("201", juan, "<@!100> hola", false, ayuda)
	fake.lastBot("201", "Soy el asistente")
	if n := h.botCount("201"); n != 1 {
		t.Errorf("bot messages in another channel = %d, want 1 (only the mention)", n)
	}

	// A second message of hers in the channel goes to her thread.
	fake.say(fakeSupport, maria, "adiós", false)
	fake.lastBot(thread, "Hasta pronto")
	if n := len(fake.requestsTo("POST /api/v9/channels/" + fakeSupport + "/messages/")); n != 1 {
		t.Errorf("threads opened = %d, want 1", n)
	}

	// /estado from the channel: private answer, and a thread for juan.
	iid := fake.command(fakeSupport, juan, "estado")
	fake.waitFor("the command's answer", func() bool {
		return len(fake.requestsLocked("PATCH /api/v9/webhooks/"+fakeBotID+"/itoken-"+iid+"/messages/@original")) == 1
	})
	cb := fake.requestsTo("POST /api/v9/interactions/" + iid)[0].JSON()
	if cb["type"] != float64(5) || cb["data"].(map[string]any)["flags"] != float64(64) {
		t.Errorf("command callback = %v, want type 5 with the ephemeral flag", cb)
	}
	if n := len(fake.requestsTo("POST /api/v9/channels/" + fakeSupport + "/threads")); n != 1 {
		t.Errorf("standalone threads = %d, want 1 for juan", n)
	}
	answer := fake.requestsTo("PATCH /api/v9/webhooks/")[0].JSON()
	if !strings.Contains(answer["content"].(string), "No tienes solicitudes") {
		t.Errorf("answer = %v", answer["content"])
	}

	// In her thread, juan's /estado is private, and her buttons are not his.
	before := h.botCount(thread)
	iid = fake.command(thread, juan, "estado")
	fake.waitFor("the command's answer", func() bool {
		return len(fake.requestsLocked("PATCH /api/v9/webhooks/"+fakeBotID+"/itoken-"+iid+"/messages/@original")) == 1
	})
	if cb := fake.requestsTo("POST /api/v9/interactions/" + iid)[0].JSON(); cb["data"].(map[string]any)["flags"] != float64(64) {
		t.Errorf("command in another's thread: callback %v, want ephemeral", cb)
	}
	pid := fake.press(juan, plazos, "no")
	fake.say("201", juan, "<@100> gracias", false, ayuda) // after the press, on juan's worker
	fake.lastBot("201", "De nada")
	if n := len(fake.requestsTo("POST /api/v9/interactions/" + pid)); n != 1 {
		t.Errorf("press on another's buttons acknowledged %d times, want 1", n)
	}
	if n := len(fake.requestsTo("PATCH /api/v9/channels/" + thread + "/messages/" + plazos.ID)); n != 0 {
		t.Errorf("another's press disabled her buttons")
	}
	if n := h.botCount(thread); n != before {
		t.Errorf("bot messages in her thread went from %d to %d", before, n)
	}

	// The commands were registered in the server, in both languages.
	var cmds []map[string]any
	json.Unmarshal(fake.requestsTo("PUT /api/v9/applications/" + fakeBotID + "/guilds/" + fakeGuild + "/commands")[0].Body, &cmds)
	var names []string
	for _, c := range cmds {
		names = append(names, c["name"].(string))
		loc, _ := c["description_localizations"].(map[string]any)
		if loc["en-US"] == nil || loc["es-ES"] == nil || c["description"] == "" {
			t.Errorf("command %v lacks Spanish or English descriptions", c)
		}
	}
	if !slices.Equal(names, []string{"ayuda", "estado", "humano", "nueva"}) {
		t.Errorf("commands = %v", names)
	}
}

// "No" to the answer in a support thread opens a ticket; the agent's reply
// comes back through the outbox into that thread, once; an attachment the
// customer sends there is recorded on the ticket.
func TestEscalationAgentReplyInThread(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	fake := h.fake
	first := fake.say(fakeSupport, maria, question, false)
	thread := first.ID
	answer := fake.lastBot(thread, "Plazos y gastos de envío")
	fake.press(maria, answer, "no")
	fake.lastBot(thread, "solicitud #1")

	tk, err := h.q.Get(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	want := bots.Address{Platform: bots.Discord, Chat: thread, User: maria.ID}
	if tk.Customer.Address != want {
		t.Fatalf("ticket address = %+v, want %+v", tk.Customer.Address, want)
	}
	if _, err := h.q.Reply(t.Context(), 1, "ana", "Hola María, tu envío sale hoy."); err != nil {
		t.Fatal(err)
	}
	got := fake.lastBot(thread, "tu envío sale hoy")
	if !strings.Contains(got.Content, "Ana (solicitud #1)") {
		t.Errorf("agent reply = %q", got.Content)
	}

	fake.sayWith(thread, maria, "la etiqueta", false, []fakeAttachment{{ID: "77", URL: "https://cdn.discordapp.com/attachments/1/77/etiqueta.png", Filename: "etiqueta.png", ContentType: "image/png", Size: 10}})
	fake.lastBot(thread, "Añadido a tu solicitud #1")
	tk, err = h.q.Get(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	last := tk.Transcript[len(tk.Transcript)-1]
	wantA := bots.Attachment{Kind: "photo", Ref: "https://cdn.discordapp.com/attachments/1/77/etiqueta.png", Name: "etiqueta.png"}
	if last.Text != "la etiqueta" || len(last.Attachments) != 1 || last.Attachments[0] != wantA {
		t.Errorf("last transcript entry = %+v, want the text with %+v", last, wantA)
	}
	if n := h.count(thread, "tu envío sale hoy"); n != 1 {
		t.Errorf("agent reply posted %d times, want 1", n)
	}
}

// After op 7 the client resumes on resume_gateway_url; what was
// dispatched in the gap is replayed and handled once, and a duplicate
// delivery is dropped.
func TestGatewayResumeLosesNothing(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	fake := h.fake
	dm := fake.dmWith(maria)
	fake.say(dm, maria, "hola", false)
	fake.lastBot(dm, "Soy el asistente")

	fake.reconnect()
	gap := fake.say(dm, maria, question, false) // dispatched while disconnected
	fake.lastBot(dm, "Plazos y gastos de envío")
	fake.waitFor("the resume", func() bool { return len(fake.resumes) == 1 })
	fake.mu.Lock()
	identifies, resumes := fake.identifies, slices.Clone(fake.resumes)
	fake.mu.Unlock()
	if identifies != 1 || resumes[0] != resumeHost {
		t.Errorf("identifies = %d, resumed on %v; want 1 and %s", identifies, resumes, resumeHost)
	}

	fake.redispatch(gap)
	fake.say(dm, maria, "gracias", false)
	fake.lastBot(dm, "De nada")
	if n := h.botCount(dm); n != 3 {
		t.Errorf("bot messages = %d, want 3 (greeting, answer, thanks)", n)
	}
}

// After op 9 (not resumable) the client identifies again; the messages
// of the gap, in a DM, a support thread and the support channel, are
// caught up over REST and each answered once.
func TestCatchUpAfterInvalidSession(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	fake := h.fake
	dm := fake.dmWith(maria)
	hello := fake.say(dm, maria, "hola", false)
	fake.lastBot(dm, "Soy el asistente")
	thread := fake.say(fakeSupport, juan, "hola", false).ID
	fake.lastBot(thread, "Soy el asistente")

	fake.say(dm, maria, question, true)
	fake.say(thread, juan, "gracias", true)
	newcomer := fake.say(fakeSupport, pedro, "hola", true)
	fake.invalidate()

	fake.waitFor("a new session", func() bool { return fake.identifies == 2 })
	fake.lastBot(dm, "Plazos y gastos de envío")
	fake.lastBot(thread, "De nada")
	fake.lastBot(newcomer.ID, "Soy el asistente")
	lists := fake.requestsTo("GET /api/v9/channels/" + dm + "/messages")
	if len(lists) == 0 || lists[len(lists)-1].Query.Get("after") != hello.ID {
		t.Errorf("catch-up requests for the DM = %v, want one after %s", lists, hello.ID)
	}

	// Markers: anything handled twice would be answered before them.
	fake.say(dm, maria, "gracias", false)
	fake.lastBot(dm, "De nada")
	fake.say(thread, juan, "adiós", false)
	fake.lastBot(thread, "Hasta pronto")
	if n := h.botCount(dm); n != 3 {
		t.Errorf("bot messages in the DM = %d, want 3", n)
	}
	if n := h.botCount(thread); n != 3 {
		t.Errorf("bot messages in the thread = %d, want 3", n)
	}
	if n := h.botCount(newcomer.ID); n != 1 {
		t.Errorf("bot messages in the newcomer's thread = %d, want 1", n)
	}
}

// What the gateway delivers while a new session's catch-up is still
// reading waits for it: handled at once, a live message would be answered
// before the missed ones, and would move the channel's last seen message
// past them, so a catch-up that came to that channel later (or the next
// one, after a crash) would skip them. Without the wait, the live
// "gracias" is answered before the missed question.
func TestCatchUpBeforeLiveMessages(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	fake := h.fake
	dm := fake.dmWith(maria)
	fake.say(dm, maria, "hola", false)
	fake.lastBot(dm, "Soy el asistente")
	fake.say(dm, maria, question, true) // missed: only in the history
	// The catch-up's reads of the DM are rate limited a few times, so it
	// is still going when the gateway delivers the next message.
	fake.failNext("GET /api/v9/channels/"+dm+"/messages", 429, 3)
	fake.invalidate()
	fake.waitFor("a new session", func() bool { return fake.identifies == 2 })
	fake.say(dm, maria, "gracias", false)
	fake.lastBot(dm, "De nada")
	fake.lastBot(dm, "Plazos y gastos de envío")
	fake.mu.Lock()
	var got []string
	for _, m := range fake.botMessages(dm) {
		got = append(got, strings.SplitN(m.Content, "\n", 2)[0])
	}
	fake.mu.Unlock()
	answer := slices.IndexFunc(got, func(s string) bool { return strings.Contains(s, "Plazos y gastos de envío") })
	thanks := slices.IndexFunc(got, func(s string) bool { return strings.Contains(s, "De nada") })
	if answer > thanks || len(got) != 3 {
		t.Errorf("the bot answered %q; want the greeting, the missed question's answer, then the thanks", got)
	}
}

// User text shown back (a ticket's summary in /estado) is escaped, and
// no message ayuda sends could ping (the fake checks allowed_mentions on
// every message).
func TestEveryonePingsNobody(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	fake := h.fake
	dm := fake.dmWith(maria)
	fake.say(dm, maria, "@everyone mi pedido *AUR-555* llegó roto <@&999>, necesito ayuda de una persona", false)
	fake.lastBot(dm, "solicitud #1")

	iid := fake.command(dm, maria, "estado")
	path := "PATCH /api/v9/webhooks/" + fakeBotID + "/itoken-" + iid + "/messages/@original"
	fake.waitFor("the /estado answer", func() bool { return len(fake.requestsLocked(path)) == 1 })
	body := fake.requestsTo(path)[0].JSON()
	content := body["content"].(string)
	for _, want := range []string{"@\u200beveryone", `\*AUR-555\*`, "<@\u200b&999\\>"} {
		if !strings.Contains(content, want) {
			t.Errorf("content %q lacks %q", content, want)
		}
	}
	if strings.Contains(content, "@everyone") {
		t.Errorf("content %q has a live @everyone", content)
	}
	am, _ := json.Marshal(body["allowed_mentions"])
	if string(am) != `{"parse":[],"replied_user":false}` {
		t.Errorf("allowed_mentions = %s", am)
	}
	if cb := fake.requestsTo("POST /api/v9/interactions/" + iid)[0].JSON(); cb["type"] != float64(5) || cb["data"] != nil {
		t.Errorf("command callback in a DM = %v, want type 5, not ephemeral", cb)
	}
}

// A 2,500-character reply is posted as two messages, cut between
// paragraphs, with the buttons on the second.
func TestLongReplySplitInTwo(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	bot, err := New(Config{Token: fakeToken, APIURL: fake.srv.URL, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	dm := fake.dmWith(maria)
	p1 := strings.Repeat("Su pedido sale hoy del almacén. ", 40) // 1,280
	p2 := strings.Repeat("Le avisaremos por correo. ", 47)       // 1,222
	text := strings.TrimSpace(p1) + "\n\n" + strings.TrimSpace(p2)
	if n := len([]rune(text)); n < 2500 {
		t.Fatalf("text is %d characters", n)
	}
	r := bots.Reply{Text: text, Choices: []bots.Choice{{ID: "yes", Label: "Sí"}, {ID: "no", Label: "No"}}}
	if err := bot.Send(t.Context(), bots.Address{Platform: bots.Discord, Chat: dm, User: maria.ID}, r); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	ms := fake.botMessages(dm)
	fake.mu.Unlock()
	if len(ms) != 2 {
		t.Fatalf("messages = %d, want 2", len(ms))
	}
	if ms[0].Content != strings.TrimSpace(p1) || ms[1].Content != strings.TrimSpace(p2) {
		t.Errorf("parts = %q / %q, want the two paragraphs", ms[0].Content[:40], ms[1].Content[:40])
	}
	if ids, _ := ms[0].buttons(); len(ids) != 0 {
		t.Errorf("first part has buttons %v", ids)
	}
	if ids, _ := ms[1].buttons(); !slices.Equal(ids, []string{"yes", "no"}) {
		t.Errorf("last part buttons = %v", ids)
	}
}

// Send: 403 and 404 are permanent, a 5xx is worth retrying, a 429 is
// waited out, and a 429 that outlasts ctx gives up when ctx ends.
func TestSendErrors(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	bot, err := New(Config{Token: fakeToken, APIURL: fake.srv.URL, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	dm := fake.dmWith(maria)
	to := bots.Address{Platform: bots.Discord, Chat: dm, User: maria.ID}
	route := "POST /api/v9/channels/" + dm + "/messages"
	r := bots.Reply{Text: "hola"}

	if err := bot.Send(t.Context(), bots.Address{Platform: bots.Discord, Chat: "404404", User: "1"}, r); !bots.IsPermanent(err) {
		t.Errorf("unknown channel: err = %v, want permanent", err)
	}
	fake.failNext(route, 403, 1)
	if err := bot.Send(t.Context(), to, r); !bots.IsPermanent(err) {
		t.Errorf("403: err = %v, want permanent", err)
	}
	fake.failNext(route, 502, 4) // discordgo tries 4 times
	if err := bot.Send(t.Context(), to, r); err == nil || bots.IsPermanent(err) {
		t.Errorf("502: err = %v, want a temporary error", err)
	}
	fake.failNext(route, 429, 1)
	if err := bot.Send(t.Context(), to, r); err != nil {
		t.Errorf("one 429: %v", err)
	}
	if n := len(fake.requestsTo(route)); n != 1+4+2 {
		t.Errorf("requests = %d, want 7", n)
	}

	fake.failNext(route, 429, 1_000_000)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- bot.Send(ctx, to, r) }()
	fake.waitFor("a rate-limited request", func() bool { return len(fake.requestsLocked(route)) > 8 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("rate limited past ctx: err = %v, want context.Canceled", err)
	}
	fake.mu.Lock()
	delete(fake.fail, route)
	n := len(fake.botMessages(dm))
	fake.mu.Unlock()
	if n != 1 {
		t.Errorf("messages posted = %d, want 1 (after the single 429)", n)
	}

	// No chat: a DM is opened with the user.
	if err := bot.Send(t.Context(), bots.Address{Platform: bots.Discord, User: maria.ID}, r); err != nil {
		t.Errorf("send to a user: %v", err)
	}
	if n := len(fake.requestsTo("POST /api/v9/users/@me/channels")); n != 1 {
		t.Errorf("DM channels opened = %d, want 1", n)
	}
}

// A token Discord rejects stops Run with an error instead of retrying.
func TestTokenRejected(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	bot, err := New(Config{Token: "Bot wrong", APIURL: fake.srv.URL, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	err = bot.Run(t.Context(), func(context.Context, bots.Message) bots.Reply { return bots.Reply{} })
	if httpStatus(err) != 401 {
		t.Errorf("Run = %v, want the token rejected", err)
	}
	if err := bot.Run(t.Context(), nil); err == nil {
		t.Error("a second Run was allowed")
	}
}

// A customer who keeps writing to an open ticket hears that each message
// was received: the first in words, the next with a 👀 reaction on it.
func TestFollowUpsMarkedSeen(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	fake := h.fake
	dm := fake.dmWith(maria)
	fake.say(dm, maria, "quiero hablar con una persona: el pedido AUR-5 no llega", false)
	fake.lastBot(dm, "He abierto la solicitud #1")
	fake.say(dm, maria, "el seguimiento es 998877", false)
	fake.lastBot(dm, "Añadido a tu solicitud #1")
	m := fake.say(dm, maria, "hola? hay alguien?", false)
	route := "PUT /api/v9/channels/" + dm + "/messages/" + m.ID + "/reactions/"
	fake.waitFor("the reaction", func() bool { return len(fake.requestsLocked(route)) == 1 })
	if n := h.botCount(dm); n != 2 {
		t.Errorf("bot messages = %d, want 2 (receipt, first acknowledgement)", n)
	}
}
