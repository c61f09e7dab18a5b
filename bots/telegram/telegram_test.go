package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"ayuda/bots"
	"ayuda/dialog"
	"ayuda/escalation"
	"ayuda/faq"
	"ayuda/knowledge"
)

var (
	ana    = escalation.Agent{ID: "ana", Name: "Ana"}
	index  *knowledge.Index
	idxErr error
	idxMu  sync.Mutex
)

// searcher builds the knowledge index once for all tests.
func searcher(t *testing.T) *knowledge.Index {
	t.Helper()
	idxMu.Lock()
	defer idxMu.Unlock()
	if index == nil && idxErr == nil {
		entries, err := faq.Builtin()
		if err == nil {
			index, err = knowledge.New(entries)
		}
		idxErr = err
	}
	if idxErr != nil {
		t.Fatal(idxErr)
	}
	return index
}

// openStore opens the real store in dir and an engine on it.
func openStore(t *testing.T, dir string) (*escalation.Queue, *dialog.Engine) {
	t.Helper()
	q, err := escalation.Open(filepath.Join(dir, "ayuda.db"), escalation.Config{
		Notify: dialog.Notifier(), Agents: []escalation.Agent{ana}, Logger: testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := dialog.New(dialog.Config{Search: searcher(t), Queue: q, Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	return q, eng
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newBot(t *testing.T, f *fakeAPI, q *escalation.Queue, tweak func(*Config)) *Bot {
	t.Helper()
	cfg := Config{Token: fakeToken, APIURL: f.srv.URL, State: q, Outbox: q, Logger: testLog(t), PollTimeout: 20 * time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// running is a Bot's Run and the outbox dispatcher, as `ayuda serve` runs them.
type running struct {
	t      *testing.T
	cancel context.CancelFunc
	wg     sync.WaitGroup
	err    error
	once   sync.Once
}

func start(t *testing.T, b *Bot, q *escalation.Queue, eng *dialog.Engine) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{t: t, cancel: cancel}
	r.wg.Go(func() { r.err = b.Run(ctx, eng.Handle) })
	r.wg.Go(func() { q.Dispatch(ctx, b, 0) })
	t.Cleanup(r.stop)
	return r
}

// stop cancels and waits. The bound is far below the poll timeout in
// slow tests (60 s) only to report a hang rather than time out the run.
func (r *running) stop() {
	r.once.Do(func() {
		r.cancel()
		done := make(chan struct{})
		go func() { r.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			r.t.Fatal("Run did not return after its context was cancelled")
		}
		if r.err != nil {
			r.t.Errorf("Run: %v", r.err)
		}
	})
}

func keyboardOf(t *testing.T, c fakeCall) [][]map[string]string {
	t.Helper()
	var kb struct {
		InlineKeyboard [][]map[string]string `json:"inline_keyboard"`
	}
	if err := json.Unmarshal([]byte(c.Form.Get("reply_markup")), &kb); err != nil {
		t.Fatalf("reply_markup %q: %v", c.Form.Get("reply_markup"), err)
	}
	return kb.InlineKeyboard
}

func buttons(t *testing.T, c fakeCall) (labels, data []string) {
	for _, row := range keyboardOf(t, c) {
		for _, b := range row {
			labels = append(labels, b["text"])
			data = append(data, b["callback_data"]+b["url"])
		}
	}
	return labels, data
}

var maria = user{id: 42, name: "María"}

// A question is answered with buttons; "No" opens a ticket with the
// transcript; a photo and a location go on the ticket; an agent's reply
// reaches the chat, escaped.
func TestPrivateChat(t *testing.T) {
	f := newFakeAPI(t)
	q, eng := openStore(t, t.TempDir())
	defer q.Close()
	r := start(t, newBot(t, f, q, nil), q, eng)
	defer r.stop()

	// Commands are registered in Spanish (no language_code) and English.
	f.waitFor("setMyCommands twice", func() bool {
		n := 0
		for _, c := range f.calls {
			if c.Method == "setMyCommands" {
				n++
			}
		}
		return n == 2
	})
	var langs []string
	for _, c := range f.callsOf("setMyCommands") {
		langs = append(langs, c.Get("language_code"))
		var cmds []struct{ Command, Description string }
		if err := json.Unmarshal([]byte(c.Get("commands")), &cmds); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range cmds {
			names = append(names, c.Command)
		}
		if want := []string{"start", "ayuda", "estado", "humano", "nueva"}; !slices.Equal(names, want) {
			t.Errorf("commands = %v, want %v", names, want)
		}
	}
	if !slices.Equal(langs, []string{"", "en"}) {
		t.Errorf("setMyCommands language codes = %q, want default and en", langs)
	}

	// 1. A question, answered with Yes/No buttons.
	f.message(maria.id, maria, "¿cuánto tarda el envío?", nil)
	answer := f.waitSent(maria.id, 1)[0]
	if got := answer.Form.Get("parse_mode"); got != "HTML" {
		t.Errorf("parse_mode = %q, want HTML", got)
	}
	if got := answer.Form.Get("chat_id"); got != "42" {
		t.Errorf("chat_id = %q, want 42", got)
	}
	if !strings.Contains(answer.Form.Get("text"), "¿Te ha servido esta respuesta?") {
		t.Errorf("answer = %q, want the article and the feedback question", answer.Form.Get("text"))
	}
	labels, data := buttons(t, answer)
	if !slices.Equal(labels, []string{"Sí", "No", "Hablar con una persona"}) || !slices.Equal(data, []string{"yes", "no", "human"}) {
		t.Errorf("buttons = %q %q, want [Sí No Hablar con una persona] [yes no human]", labels, data)
	}

	// 2. "No": acknowledged, keyboard removed, ticket opened.
	_, query := f.press(maria, answer.MsgID, "no")
	receipt := f.waitSent(maria.id, 2)[1]
	acks := f.callsOf("answerCallbackQuery")
	if len(acks) != 1 || acks[0].Get("callback_query_id") != query {
		t.Errorf("answerCallbackQuery calls = %v, want one for %s", acks, query)
	}
	edits := f.callsOf("editMessageReplyMarkup")
	if len(edits) != 1 || edits[0].Get("message_id") != strconv.Itoa(answer.MsgID) || edits[0].Get("chat_id") != "42" ||
		edits[0].Get("reply_markup") != `{"inline_keyboard":[]}` {
		t.Errorf("editMessageReplyMarkup calls = %v, want the keyboard of message %d removed", edits, answer.MsgID)
	}
	ts, err := q.List(t.Context(), escalation.Filter{Customer: "telegram:42"})
	if err != nil || len(ts) != 1 {
		t.Fatalf("tickets of telegram:42 = %v, %v; want one", ts, err)
	}
	tk, err := q.Get(t.Context(), ts[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (bots.Address{Platform: "telegram", Chat: "42", User: "42"}); tk.Customer.Address != want || tk.Customer.Name != "María" {
		t.Errorf("customer = %+v, want %v María", tk.Customer, want)
	}
	if tk.Reason != escalation.ReasonNegative {
		t.Errorf("reason = %s, want negative", tk.Reason)
	}
	if !transcriptHas(tk, escalation.AuthorCustomer, "¿cuánto tarda el envío?") || !transcriptHas(tk, escalation.AuthorBot, "¿Te ha servido") {
		t.Errorf("transcript = %+v, want the question and the answer", tk.Transcript)
	}
	if want := fmt.Sprintf("#%d", tk.ID); !strings.Contains(receipt.Form.Get("text"), want) || receipt.Form.Get("reply_markup") != "" {
		t.Errorf("receipt = %q (markup %q), want %s and no buttons", receipt.Form.Get("text"), receipt.Form.Get("reply_markup"), want)
	}

	// Pressing the same keyboard again (before it went away) does nothing.
	again, _ := f.press(maria, answer.MsgID, "no")
	f.waitPolledPast(again)
	if n, e := len(f.sent(maria.id)), len(f.callsOf("editMessageReplyMarkup")); n != 2 || e != 1 {
		t.Errorf("after a second press: %d messages and %d edits, want 2 and 1", n, e)
	}

	// 3. A photo with a caption and a location go on the ticket.
	f.message(maria.id, maria, "", map[string]any{
		"photo":   []map[string]any{{"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90}, {"file_id": "photo-big", "file_unique_id": "b", "width": 800, "height": 800}},
		"caption": "así llegó la caja",
	})
	loc, _ := f.message(maria.id, maria, "", map[string]any{"location": map[string]any{"latitude": 40.4168, "longitude": -3.7038}})
	f.waitPolledPast(loc)
	tk, _ = q.Get(t.Context(), tk.ID)
	var atts []bots.Attachment
	for _, e := range tk.Transcript {
		atts = append(atts, e.Attachments...)
	}
	wantAtts := []bots.Attachment{
		{Kind: "photo", Ref: "photo-big", Caption: "así llegó la caja"},
		{Kind: "location", Ref: "40.4168,-3.7038"},
	}
	if !slices.Equal(atts, wantAtts) {
		t.Errorf("attachments on the ticket = %+v, want %+v", atts, wantAtts)
	}
	if !transcriptHas(tk, escalation.AuthorCustomer, "así llegó la caja") {
		t.Errorf("the caption is not the message text: %+v", tk.Transcript)
	}

	// 4. An agent's reply arrives in the chat, escaped for HTML.
	if _, err := q.Reply(t.Context(), tk.ID, "ana", "Hola María, lo reviso: <b>caja</b> & etiqueta"); err != nil {
		t.Fatal(err)
	}
	var reply fakeCall
	f.waitFor("the agent's reply", func() bool {
		for _, c := range f.sentLocked(maria.id) {
			if strings.Contains(c.Form.Get("text"), "lo reviso") {
				reply = c
				return true
			}
		}
		return false
	})
	if want := "Hola María, lo reviso: &lt;b&gt;caja&lt;/b&gt; &amp; etiqueta"; !strings.Contains(reply.Form.Get("text"), want) {
		t.Errorf("agent reply = %q, want it to contain %q", reply.Form.Get("text"), want)
	}
}

func transcriptHas(tk *escalation.Ticket, who escalation.Author, text string) bool {
	for _, e := range tk.Transcript {
		if e.Author == who && strings.Contains(e.Text, text) {
			return true
		}
	}
	return false
}

// Stopping mid-send and starting a new Bot on the same store delivers
// every reply once: the interrupted one through the outbox, the update
// not yet handled after the restart, and none of the handled ones again
// even when Telegram re-serves them.
func TestRestartNoDuplicateNoLoss(t *testing.T) {
	f := newFakeAPI(t)
	dir := t.TempDir()
	q, eng := openStore(t, dir)
	one := func(c *Config) { c.Workers = 1 }
	pedro, lucia := user{id: 7, name: "Pedro"}, user{id: 8, name: "Lucía"}

	r := start(t, newBot(t, f, q, one), q, eng)
	f.message(pedro.id, pedro, "hola", nil)
	f.waitSent(pedro.id, 1)
	// Pedro's next reply hangs in flight; Lucía's update waits its turn.
	f.set(func(f *fakeAPI) {
		f.hold = func(method string, form url.Values) bool {
			return method == "sendMessage" && form.Get("chat_id") == "7"
		}
	})
	u2, _ := f.message(pedro.id, pedro, "gracias", nil)
	f.message(lucia.id, lucia, "hola", nil)
	f.waitFor("the held send", func() bool { return f.held == 1 })
	r.stop()
	q.Close()

	f.set(func(f *fakeAPI) { f.hold, f.reserveAll = nil, true }) // Telegram forgets nothing
	q, eng = openStore(t, dir)
	defer q.Close()
	if v, err := q.GetMeta(t.Context(), offsetKey); err != nil || string(v) != strconv.Itoa(u2) {
		t.Errorf("stored offset = %q, %v; want %d (Pedro's reply queued, Lucía's update not handled)", v, err, u2)
	}
	if p, err := q.Pending(t.Context()); err != nil || len(p) != 1 || p[0].To != address(pedro.id, pedro.id) || !strings.HasPrefix(p[0].Reply.Text, "¡De nada!") {
		t.Errorf("outbox = %+v, %v; want Pedro's interrupted reply", p, err)
	}
	r = start(t, newBot(t, f, q, one), q, eng)
	defer r.stop()
	f.waitSent(lucia.id, 1)
	f.waitSent(pedro.id, 2)
	f.message(pedro.id, pedro, "adiós", nil)
	got := f.waitSent(pedro.id, 3)
	if len(got) != 3 {
		t.Fatalf("Pedro got %d messages, want 3: %s", len(got), f.summary())
	}
	for i, want := range []string{"¡Hola!", "¡De nada!", "¡Hasta pronto!"} {
		if !strings.HasPrefix(got[i].Form.Get("text"), want) {
			t.Errorf("Pedro's message %d = %q, want %q…", i+1, got[i].Form.Get("text"), want)
		}
	}
	if n := len(f.sent(lucia.id)); n != 1 {
		t.Errorf("Lucía got %d messages, want 1", n)
	}
}

// recorder replaces the Bot's sleep: it records each wait and returns at
// once; from the limit-th wait on it blocks until ctx is done.
type recorder struct {
	mu    sync.Mutex
	waits []time.Duration
	limit int
	f     *fakeAPI
}

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	n := len(r.waits)
	r.mu.Unlock()
	r.f.set(func(*fakeAPI) {}) // wake waitFor
	if r.limit > 0 && n >= r.limit {
		<-ctx.Done()
		return ctx.Err()
	}
	return ctx.Err()
}

func (r *recorder) get() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.waits)
}

// A burst of 429s (and a 502) delays replies but loses or reorders none,
// inline and through the outbox; each 429 waits the retry_after asked.
func TestRateLimitBurst(t *testing.T) {
	f := newFakeAPI(t)
	q, eng := openStore(t, t.TempDir())
	defer q.Close()
	rec := &recorder{f: f}
	b := newBot(t, f, q, nil)
	b.sleep = rec.sleep
	tooMany := fakeFailure{code: 429, desc: "Too Many Requests: retry after 1", retryAfter: 1}
	f.failNext("sendMessage", tooMany, tooMany, fakeFailure{code: 502, desc: "Bad Gateway"}, tooMany)
	pablo := user{id: 9, name: "Pablo"}
	for _, text := range []string{"hola", "gracias", "adiós"} {
		f.message(pablo.id, pablo, text, nil)
	}
	r := start(t, b, q, eng)
	defer r.stop()
	got := f.waitSent(pablo.id, 3)
	for i, want := range []string{"¡Hola!", "¡De nada!", "¡Hasta pronto!"} {
		if !strings.HasPrefix(got[i].Form.Get("text"), want) {
			t.Errorf("reply %d = %q, want %q…", i+1, got[i].Form.Get("text"), want)
		}
	}
	if n := f.failuresServed(); n != 4 {
		t.Errorf("failures served = %d, want 4", n)
	}
	if w := rec.get(); !slices.Equal(w, []time.Duration{time.Second, time.Second, time.Second, time.Second}) {
		t.Errorf("waits = %v, want 1s for each 429 and a first back-off of 1s for the 502", w)
	}

	// Through the outbox, in order.
	f.failNext("sendMessage", tooMany, tooMany)
	to := address(pablo.id, pablo.id)
	for _, text := range []string{"primero", "segundo", "tercero"} {
		if err := q.Enqueue(t.Context(), to, bots.Reply{Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	got = f.waitSent(pablo.id, 6)
	var texts []string
	for _, c := range got[3:] {
		texts = append(texts, c.Form.Get("text"))
	}
	if want := []string{"primero", "segundo", "tercero"}; !slices.Equal(texts, want) {
		t.Errorf("outbox deliveries = %q, want %q", texts, want)
	}
}

// In a group ayuda answers only when mentioned, replied to or given one of
// its commands; one conversation per person; a person's requests are never
// listed there, and an agent's answer goes to the person privately.
func TestGroup(t *testing.T) {
	f := newFakeAPI(t)
	q, eng := openStore(t, t.TempDir())
	defer q.Close()
	const group = -100200
	sofia, tomas := user{id: 5, name: "Sofía"}, user{id: 6, name: "Tomás", lang: "en"}
	// Sofía has a request from a private chat: it must not show in the group.
	if _, err := q.Open(t.Context(), escalation.Ticket{Customer: escalation.Customer{Address: address(sofia.id, sofia.id), Lang: "es"}, Summary: "SECRETO mi pedido 991"}); err != nil {
		t.Fatal(err)
	}
	r := start(t, newBot(t, f, q, nil), q, eng)
	defer r.stop()

	f.message(group, sofia, "hola a todos, ¿cuánto tarda el envío?", nil) // not for ayuda
	f.message(group, tomas, "/estado@otro_bot", nil)                      // for another bot
	f.message(group, tomas, "/foo", nil)                                  // not ayuda's command
	_, asked := f.message(group, sofia, "@Ayuda_Test_Bot ¿cuánto tarda el envío?", nil)
	got := f.waitSent(group, 1)
	if len(got) != 1 || got[0].Form.Get("reply_to_message_id") != strconv.Itoa(asked) {
		t.Fatalf("group messages = %v, want one answer to message %d", got, asked)
	}
	answer := got[0]
	if !strings.Contains(answer.Form.Get("text"), "¿Te ha servido") {
		t.Errorf("answer = %q", answer.Form.Get("text"))
	}

	// Tomás cannot press Sofía's buttons.
	_, query := f.press(tomas, answer.MsgID, "no")
	f.waitFor("the refused press", func() bool {
		for _, c := range f.calls {
			if c.Method == "answerCallbackQuery" && c.Form.Get("callback_query_id") == query {
				return true
			}
		}
		return false
	})
	acks := f.callsOf("answerCallbackQuery")
	if !strings.Contains(acks[0].Get("text"), "someone else") {
		t.Errorf("refusal toast = %q, want it in Tomás's English", acks[0].Get("text"))
	}

	// A reply to ayuda's message is for ayuda.
	f.message(group, sofia, "gracias", map[string]any{"reply_to_message": f.msg(answer.MsgID)})
	got = f.waitSent(group, 2)
	if !strings.HasPrefix(got[1].Form.Get("text"), "¡De nada!") {
		t.Errorf("reply to a reply = %q, want thanks", got[1].Form.Get("text"))
	}

	// Her requests: pointed to a private chat, not listed.
	for i, text := range []string{"/estado", "@ayuda_test_bot mis solicitudes"} {
		f.message(group, sofia, text, nil)
		m := f.waitSent(group, 3+i)[2+i]
		if s := m.Form.Get("text"); strings.Contains(s, "SECRETO") || strings.Contains(s, "#") || !strings.Contains(s, "privado") {
			t.Errorf("%q in the group answered %q, want a pointer to a private chat and no request", text, s)
		}
		if _, urls := buttons(t, m); !slices.Equal(urls, []string{"https://t.me/ayuda_test_bot?start=estado"}) {
			t.Errorf("%q: button = %v, want the private chat link", text, urls)
		}
	}
	// A bare command of ayuda's is for ayuda.
	f.message(group, tomas, "/ayuda", nil)
	if help := f.waitSent(group, 5)[4]; !strings.Contains(help.Form.Get("text"), "Puedo responder") {
		t.Errorf("/ayuda from Tomás = %q, want help", help.Form.Get("text"))
	}
	if n := len(f.sent(group)); n != 5 {
		t.Errorf("the group got %d messages, want 5: %s", n, f.summary())
	}
	for _, who := range []user{sofia, tomas} {
		if c, err := q.LoadConversation(t.Context(), address(group, who.id).Key()); err != nil || c == nil {
			t.Errorf("no group conversation for %s: %v", who.name, err)
		}
	}

	// A ticket from the group conversation: the agent's answer goes to
	// Sofía privately. The first try fails (she never opened a private
	// chat), so the group is told to open one, without the answer.
	tk, err := q.Open(t.Context(), escalation.Ticket{Customer: escalation.Customer{Address: address(group, sofia.id), Lang: "es"}, Summary: "pedido 991"})
	if err != nil {
		t.Fatal(err)
	}
	f.failNext("sendMessage", fakeFailure{code: 403, desc: "Forbidden: bot can't initiate conversation with a user"})
	if _, err := q.Reply(t.Context(), tk.ID, "ana", "Tu pedido 991 sale mañana"); err != nil {
		t.Fatal(err)
	}
	nudge := f.waitSent(group, 6)[5]
	if s := nudge.Form.Get("text"); strings.Contains(s, "991") || !strings.Contains(s, "tg://user?id=5") {
		t.Errorf("nudge = %q, want a mention of Sofía and nothing of the answer", s)
	}
	private := f.waitSent(sofia.id, 1)
	if !strings.Contains(private[0].Form.Get("text"), "Tu pedido 991 sale mañana") {
		t.Errorf("private delivery = %q", private[0].Form.Get("text"))
	}
	for _, c := range f.sent(group) {
		if strings.Contains(c.Form.Get("text"), "991") {
			t.Errorf("the group saw %q", c.Form.Get("text"))
		}
	}

	// A request for a person made in the group continues privately: the
	// group hears only that, the receipt goes to Tomás's private chat, and
	// what he writes there reaches the ticket.
	f.message(group, tomas, "@Ayuda_Test_Bot quiero poner una queja: el repartidor rompió mi paquete 774", nil)
	moved := f.waitSent(group, 7)[6]
	if s := moved.Form.Get("text"); strings.Contains(s, "#") || strings.Contains(s, "774") || !strings.Contains(s, "privado") {
		t.Errorf("the group was told %q, want only that it continues privately", s)
	}
	receipt := f.waitSent(tomas.id, 1)[0]
	if s := receipt.Form.Get("text"); !strings.Contains(s, "#3") {
		t.Errorf("private receipt = %q, want request #3", s)
	}
	f.message(tomas.id, tomas, "el número de seguimiento es XZ-55", nil)
	f.waitFor("the private follow-up on the ticket", func() bool {
		tk, err := q.Get(t.Context(), 3)
		if err != nil {
			return false
		}
		for _, e := range tk.Transcript {
			if strings.Contains(e.Text, "XZ-55") {
				return tk.Customer.Address == address(tomas.id, tomas.id) && tk.Type == escalation.Queja
			}
		}
		return false
	})
}

func TestSplit(t *testing.T) {
	para := strings.Repeat("palabra ", 300) // 2400 bytes
	sentences := strings.Repeat("Una frase corta. ", 300)
	for _, tc := range []struct {
		name  string
		text  string
		limit int
		want  []string // nil: only check limits and content
	}{
		{"short", "  hola  ", 4096, []string{"hola"}},
		{"empty", " \n ", 4096, nil},
		{"paragraphs", "uno dos.\n\ntres cuatro.", 15, []string{"uno dos.", "tres cuatro."}},
		{"sentence", "Uno dos. Tres cuatro cinco seis.", 20, []string{"Uno dos.", "Tres cuatro cinco", "seis."}},
		{"words", "uno dos tres cuatro", 9, []string{"uno dos", "tres", "cuatro"}},
		{"no spaces", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"utf-16", "😀😀😀", 4, []string{"😀😀", "😀"}},
		{"long paragraphs", strings.TrimSpace(para) + "\n\n" + strings.TrimSpace(para), 4096, []string{strings.TrimSpace(para), strings.TrimSpace(para)}},
		{"long sentences", sentences, 4096, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := split(tc.text, tc.limit)
			if tc.want != nil && !slices.Equal(got, tc.want) {
				t.Fatalf("split = %q, want %q", got, tc.want)
			}
			for _, p := range got {
				if utf16Len(p) > tc.limit {
					t.Errorf("part of %d units > %d", utf16Len(p), tc.limit)
				}
			}
			if strings.Join(strings.Fields(strings.Join(got, "")), "") != strings.Join(strings.Fields(tc.text), "") {
				t.Errorf("split lost or changed text")
			}
			if tc.name == "long sentences" {
				for _, p := range got {
					if !strings.HasSuffix(p, ".") {
						t.Errorf("part ends %q, want a sentence end", p[len(p)-10:])
					}
				}
			}
		})
	}
}

// A long reply is split on paragraphs, escaped, with its buttons only on
// the last part; a choice ID over 64 bytes travels as a short key.
func TestLongReplyThroughOutbox(t *testing.T) {
	f := newFakeAPI(t)
	q, eng := openStore(t, t.TempDir())
	defer q.Close()
	r := start(t, newBot(t, f, q, nil), q, eng)
	defer r.stop()
	first := "<b>& " + strings.Repeat("a", 3000)
	second := strings.Repeat("b", 3000)
	long := "kb:" + strings.Repeat("x", 80)
	to := address(11, 11)
	if err := q.Enqueue(t.Context(), to, bots.Reply{Text: first + "\n\n" + second, Choices: []bots.Choice{{ID: "yes", Label: "Sí"}, {ID: long, Label: "Otra cosa"}}}); err != nil {
		t.Fatal(err)
	}
	got := f.waitSent(11, 2)
	if s := got[0].Form.Get("text"); s != "&lt;b&gt;&amp; "+strings.Repeat("a", 3000) || got[0].Form.Get("reply_markup") != "" {
		t.Errorf("first part = %.40q… with markup %q, want the escaped first paragraph and no buttons", s, got[0].Form.Get("reply_markup"))
	}
	if got[1].Form.Get("text") != second {
		t.Errorf("second part = %.40q…, want the second paragraph", got[1].Form.Get("text"))
	}
	_, data := buttons(t, got[1])
	if len(data) != 2 || data[0] != "yes" || len(data[1]) > 64 || !strings.HasPrefix(data[1], longChoice) {
		t.Fatalf("callback data = %q, want yes and a short key", data)
	}
	// Pressing the long choice hands its full ID to the engine: a kb: ID it
	// does not know is not an answer, so the engine offers help.
	b := newBot(t, f, q, nil)
	if id, err := b.choiceID(t.Context(), data[1]); err != nil || id != long {
		t.Errorf("choiceID(%q) = %q, %v; want %q", data[1], id, err, long)
	}
}

// The webhook answers 401 without the secret, handles an update with it
// before answering, and handles a re-delivered update once.
func TestWebhook(t *testing.T) {
	f := newFakeAPI(t)
	q, eng := openStore(t, t.TempDir())
	defer q.Close()
	b := newBot(t, f, q, func(c *Config) {
		c.Webhook = Webhook{URL: "https://ayuda.example/tg/hook", Secret: "s3cret_ok-1"}
	})
	hook := http.Handler(b.WebhookHandler())
	post := func(secret string, body []byte) int {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/tg/hook", bytes.NewReader(body))
		if secret != "" {
			req.Header.Set(secretHeader, secret)
		}
		w := httptest.NewRecorder()
		hook.ServeHTTP(w, req)
		return w.Code
	}
	update, _ := json.Marshal(map[string]any{"update_id": 500, "message": map[string]any{
		"message_id": 1, "date": time.Now().Unix(), "text": "hola",
		"chat": map[string]any{"id": 77, "type": "private"}, "from": map[string]any{"id": 77, "first_name": "Eva"},
	}})
	if got := post("s3cret_ok-1", update); got != http.StatusServiceUnavailable {
		t.Errorf("before Run: status %d, want 503", got)
	}

	r := start(t, b, q, eng)
	defer r.stop()
	f.waitFor("setWebhook", func() bool {
		for _, c := range f.calls {
			if c.Method == "setWebhook" {
				return true
			}
		}
		return false
	})
	sw := f.callsOf("setWebhook")[0]
	if sw.Get("url") != "https://ayuda.example/tg/hook" || sw.Get("secret_token") != "s3cret_ok-1" || sw.Get("allowed_updates") != `["message","callback_query"]` {
		t.Errorf("setWebhook form = %v", sw)
	}
	for _, secret := range []string{"", "wrong", "s3cret_ok-"} {
		if got := post(secret, update); got != http.StatusUnauthorized {
			t.Errorf("secret %q: status %d, want 401", secret, got)
		}
	}
	if n := len(f.sent(77)); n != 0 {
		t.Fatalf("unauthorised requests sent %d messages", n)
	}
	for range 2 {
		if got := post("s3cret_ok-1", update); got != http.StatusOK {
			t.Errorf("status %d, want 200", got)
		}
		if got := f.sent(77); len(got) != 1 || !strings.HasPrefix(got[0].Form.Get("text"), "¡Hola!") {
			t.Errorf("sent = %v, want one greeting", got)
		}
	}
	if n := len(f.callsOf("getUpdates")); n != 0 {
		t.Errorf("webhook mode polled %d times", n)
	}
}

// A Bot API server that answers getUpdates at once, and refuses
// setMyCommands, is backed off from (1 s doubling to 30 s), not spun on,
// and not a reason to stop.
func TestPollBackoff(t *testing.T) {
	f := newFakeAPI(t)
	q, eng := openStore(t, t.TempDir())
	defer q.Close()
	f.set(func(f *fakeAPI) { f.immediate = true })
	notFound := fakeFailure{code: 404, desc: "Not Found: method not found"}
	f.failNext("setMyCommands", notFound, notFound)
	rec := &recorder{f: f, limit: 8}
	b := newBot(t, f, q, nil)
	b.sleep = rec.sleep
	r := start(t, b, q, eng)
	f.waitFor("8 waits", func() bool { return len(rec.get()) >= 8 })
	r.stop()
	s := time.Second
	if want := []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s, 30 * s}; !slices.Equal(rec.get(), want) {
		t.Errorf("waits = %v, want %v", rec.get(), want)
	}
	if n := len(f.callsOf("getUpdates")); n != 8 {
		t.Errorf("getUpdates calls = %d, want 8 (one per wait)", n)
	}
}

// Shutdown interrupts a long poll in flight at once.
func TestShutdownDuringLongPoll(t *testing.T) {
	f := newFakeAPI(t)
	q, eng := openStore(t, t.TempDir())
	defer q.Close()
	b := newBot(t, f, q, func(c *Config) { c.PollTimeout = 10 * time.Minute })
	r := start(t, b, q, eng)
	f.waitFor("a long poll", func() bool { return len(f.polls) > 0 })
	r.stop() // reports a hang if the poll is not cut
}

func TestSecretNeverPrinted(t *testing.T) {
	s := Secret(fakeToken)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "token", s, "cfg", Config{Token: s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %q %#v %+v", s, s, s, s, Config{Token: s}), buf.String()} {
		if strings.Contains(out, "SECRET") {
			t.Errorf("printed the token: %s", out)
		}
	}
	// Errors from the HTTP client carry the URL, which holds the token.
	q, _ := openStore(t, t.TempDir())
	defer q.Close()
	b, err := New(Config{Token: s, APIURL: "http://127.0.0.1:1", State: q, Outbox: q})
	if err != nil {
		t.Fatal(err)
	}
	b.sleep = func(ctx context.Context, d time.Duration) error { return nil }
	err = b.Send(t.Context(), address(1, 1), bots.Reply{Text: "hola"})
	if err == nil || strings.Contains(err.Error(), "SECRET") || bots.IsPermanent(err) {
		t.Errorf("Send to an unreachable server: %v; want a retryable error without the token", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("the cause is lost: %v", err)
	}
}

func TestSendErrors(t *testing.T) {
	f := newFakeAPI(t)
	q, _ := openStore(t, t.TempDir())
	defer q.Close()
	b := newBot(t, f, q, nil)
	b.sleep = func(ctx context.Context, d time.Duration) error { return nil }
	for _, tc := range []struct {
		fail      fakeFailure
		permanent bool
	}{
		{fakeFailure{code: 403, desc: "Forbidden: bot was blocked by the user"}, true},
		{fakeFailure{code: 400, desc: "Bad Request: chat not found"}, true},
	} {
		f.failNext("sendMessage", tc.fail)
		err := b.Send(t.Context(), address(3, 3), bots.Reply{Text: "hola"})
		var ae *APIError
		if !errors.As(err, &ae) || ae.Code != tc.fail.code || bots.IsPermanent(err) != tc.permanent {
			t.Errorf("%d: Send = %v, want a permanent *APIError", tc.fail.code, err)
		}
	}
	// 5xx eight times in a row: a plain error, for the dispatcher to retry.
	for range maxAttempts {
		f.failNext("sendMessage", fakeFailure{code: 500, desc: "Internal Server Error"})
	}
	if err := b.Send(t.Context(), address(3, 3), bots.Reply{Text: "hola"}); err == nil || bots.IsPermanent(err) {
		t.Errorf("Send after 5xx = %v, want a retryable error", err)
	}
	if err := b.Send(t.Context(), bots.Address{Platform: "telegram", Chat: "abc", User: "abc"}, bots.Reply{Text: "x"}); !bots.IsPermanent(err) {
		t.Errorf("Send to a non-numeric chat = %v, want permanent", err)
	}
}

func TestLedger(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		next     int
	}{
		{"", "0", 1},
		{"41", "41", 42},
		{"41 43,45", "41 43,45", 42},
	} {
		l, err := parseLedger(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := l.encode(); got != tc.want || l.next() != tc.next {
			t.Errorf("parseLedger(%q) = %q next %d, want %q next %d", tc.in, got, l.next(), tc.want, tc.next)
		}
	}
	if _, err := parseLedger("x"); err == nil {
		t.Error("parseLedger(x) did not fail")
	}
}

func TestConfig(t *testing.T) {
	q, _ := openStore(t, t.TempDir())
	defer q.Close()
	ok := Config{Token: "t", State: q, Outbox: q}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"no token", func(c *Config) { c.Token = "" }},
		{"no state", func(c *Config) { c.State = nil }},
		{"no outbox", func(c *Config) { c.Outbox = nil }},
		{"bad api url", func(c *Config) { c.APIURL = "api.telegram.org" }},
		{"short client timeout", func(c *Config) { c.Client = &http.Client{Timeout: time.Second} }},
		{"webhook without secret", func(c *Config) { c.Webhook.URL = "https://x.example/hook" }},
		{"webhook bad secret", func(c *Config) { c.Webhook = Webhook{URL: "https://x.example/hook", Secret: "no spaces"} }},
		{"addr without url", func(c *Config) { c.Webhook.Addr = ":8443" }},
	} {
		cfg := ok
		tc.mod(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New did not fail", tc.name)
		}
	}
	if _, err := New(ok); err != nil {
		t.Errorf("New(minimal) = %v", err)
	}
}

func TestStartPayload(t *testing.T) {
	for in, want := range map[string]string{
		"/start estado":     "/estado",
		"/start humano":     "/humano",
		"/start@bot nueva":  "/nueva",
		"/start":            "/start",
		"/start otra-cosa":  "/start otra-cosa",
		"hola /start nueva": "hola /start nueva",
	} {
		if got := startPayload(in); got != want {
			t.Errorf("startPayload(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAttachments(t *testing.T) {
	for _, tc := range []struct {
		json string
		want bots.Attachment
	}{
		{`{"document":{"file_id":"d1","file_unique_id":"u","file_name":"factura.pdf"},"caption":"mi factura"}`, bots.Attachment{Kind: "document", Ref: "d1", Name: "factura.pdf", Caption: "mi factura"}},
		{`{"voice":{"file_id":"v1","file_unique_id":"u","duration":3}}`, bots.Attachment{Kind: "voice", Ref: "v1"}},
		{`{"sticker":{"file_id":"s1","file_unique_id":"u","width":1,"height":1,"emoji":"😀"}}`, bots.Attachment{Kind: "sticker", Ref: "s1", Name: "😀"}},
		{`{"location":{"latitude":-33.45,"longitude":-70.66}}`, bots.Attachment{Kind: "location", Ref: "-33.45,-70.66"}},
	} {
		var m tgbotapi.Message
		if err := json.Unmarshal([]byte(tc.json), &m); err != nil {
			t.Fatal(err)
		}
		if got := attachments(&m); len(got) != 1 || got[0] != tc.want {
			t.Errorf("attachments(%s) = %+v, want %+v", tc.json, got, tc.want)
		}
	}
}

// A customer who keeps writing to an open ticket hears that each message
// was received: the first in words, the next with a 👀 reaction on it.
func TestFollowUpsMarkedSeen(t *testing.T) {
	f := newFakeAPI(t)
	q, eng := openStore(t, t.TempDir())
	defer q.Close()
	r := start(t, newBot(t, f, q, nil), q, eng)
	defer r.stop()
	ana := user{id: 31, name: "Ana"}
	f.message(ana.id, ana, "quiero hablar con una persona: el pedido AUR-5 no llega", nil)
	f.waitSent(ana.id, 1)
	f.message(ana.id, ana, "el seguimiento es 998877", nil)
	if got := f.waitSent(ana.id, 2)[1]; !strings.Contains(got.Form.Get("text"), "Añadido a tu solicitud") {
		t.Fatalf("first follow-up got %q", got.Form.Get("text"))
	}
	_, id := f.message(ana.id, ana, "hola? hay alguien?", nil)
	f.waitFor("a reaction", func() bool {
		for _, c := range f.calls {
			if c.Method == "setMessageReaction" {
				return true
			}
		}
		return false
	})
	c := f.callsOf("setMessageReaction")[0]
	if c.Get("chat_id") != "31" || c.Get("message_id") != strconv.Itoa(id) || !strings.Contains(c.Get("reaction"), "👀") {
		t.Errorf("reaction %v, want 👀 on message %d in chat 31", c, id)
	}
	if n := len(f.sent(ana.id)); n != 2 {
		t.Errorf("%d messages sent to Ana, want 2 (the receipt, the first acknowledgement)", n)
	}
}
