package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"ayuda/bots"
)

// memState is State and Outbox in memory, for the fuzz target: the real
// store's fsyncs would make every exec slow and teach the fuzzer nothing.
type memState struct {
	mu     sync.Mutex
	meta   map[string][]byte
	queued []bots.Reply
}

func (m *memState) GetMeta(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.meta[key], nil
}

func (m *memState) PutMeta(_ context.Context, key string, v []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.meta == nil {
		m.meta = map[string][]byte{}
	}
	m.meta[key] = bytes.Clone(v)
	return nil
}

func (m *memState) Enqueue(_ context.Context, _ bots.Address, r bots.Reply) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queued = append(m.queued, r)
	return nil
}

// fakeSwitch serves whichever fakeAPI is current, so one server (and the
// client's kept-alive connection) serves every exec with fresh state.
type fakeSwitch struct{ cur atomic.Pointer[fakeAPI] }

func (s *fakeSwitch) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.cur.Load().ServeHTTP(w, r) }

// newFakeState is a fakeAPI with no server of its own.
func newFakeState(t *testing.T) *fakeAPI {
	return &fakeAPI{t: t, token: fakeToken, changed: make(chan struct{}), nextUpd: 100, nextMsg: 1,
		messages: map[int]map[string]any{}, failures: map[string][]fakeFailure{}}
}

// updateSeeds are the shapes Telegram sends, and some it never would.
func updateSeeds() []string {
	private := `"chat":{"id":42,"type":"private","first_name":"María"},"from":{"id":42,"is_bot":false,"first_name":"María","language_code":"es"}`
	group := `"chat":{"id":-100200,"type":"supergroup","title":"Clientes"},"from":{"id":5,"is_bot":false,"first_name":"Sofía","language_code":"en"}`
	botMsg := `{"message_id":7,"date":1700000000,"chat":{"id":42,"type":"private"},"from":{"id":999,"is_bot":true,"first_name":"Ayuda","username":"ayuda_test_bot"},"text":"¿Te ha servido?","reply_markup":{"inline_keyboard":[[{"text":"Sí","callback_data":"yes"},{"text":"No","callback_data":"no"}]]}}`
	groupBotMsg := `{"message_id":8,"date":1700000000,"chat":{"id":-100200,"type":"supergroup"},"from":{"id":999,"is_bot":true,"first_name":"Ayuda","username":"ayuda_test_bot"},"text":"respuesta","reply_to_message":{"message_id":3,"date":1700000000,"chat":{"id":-100200,"type":"supergroup"},"from":{"id":6,"is_bot":false,"first_name":"Tomás"},"text":"@ayuda_test_bot hola"}}`
	msg := func(common, rest string) string {
		return `{"update_id":1,"message":{"message_id":3,"date":1700000000,` + common + `,` + rest + `}}`
	}
	long, _ := json.Marshal(map[string]any{"update_id": 2, "message": map[string]any{
		"message_id": 4, "date": 1700000000, "text": strings.Repeat("¿dónde está mi pedido? 😀 ", 180), // two parts; see TestHugeUpdate
		"chat": map[string]any{"id": 42, "type": "private"}, "from": map[string]any{"id": 42, "first_name": "María"},
	}})
	return []string{
		msg(private, `"text":"¿cuánto tarda el envío?"`),
		msg(private, `"text":"/start estado","entities":[{"type":"bot_command","offset":0,"length":6}]`),
		msg(group, `"text":"@ayuda_test_bot ¿cuánto tarda el envío?","entities":[{"type":"mention","offset":0,"length":15}]`),
		msg(group, `"text":"/estado@ayuda_test_bot","entities":[{"type":"bot_command","offset":0,"length":22}]`),
		msg(group, `"text":"/humano@otro_bot","entities":[{"type":"bot_command","offset":0,"length":16}]`),
		msg(group, `"text":"/ayuda","entities":[{"type":"bot_command","offset":0,"length":6}]`),
		msg(group, `"text":"gracias","reply_to_message":`+groupBotMsg),
		msg(group, `"text":"@ayuda_test_bot","entities":[{"type":"mention","offset":0,"length":15}]`),
		msg(group, `"text":"/x","entities":[{"type":"bot_command","offset":0,"length":0}]`),
		msg(group, `"text":"/x","entities":[{"type":"bot_command","offset":0,"length":-3}]`),
		msg(group, `"text":"/é@ayuda_test_bot","entities":[{"type":"bot_command","offset":0,"length":2}]`),
		msg(group, `"caption":"/nueva mi factura","caption_entities":[{"type":"bot_command","offset":0,"length":6}],"document":{"file_id":"d1","file_unique_id":"u","file_name":"factura.pdf"}`),
		`{"update_id":3,"callback_query":{"id":"cb-1","from":{"id":42,"first_name":"María"},"chat_instance":"1","data":"no","message":` + botMsg + `}}`,
		`{"update_id":3,"callback_query":{"id":"cb-2","from":{"id":5,"first_name":"Sofía"},"chat_instance":"1","data":"status","message":` + groupBotMsg + `}}`,
		`{"update_id":3,"callback_query":{"id":"cb-3","from":{"id":6,"first_name":"Tomás"},"chat_instance":"1","data":"~AAAAAAAAAAAAAAAAAAAAAA","message":` + groupBotMsg + `}}`,
		`{"update_id":3,"callback_query":{"id":"cb-4","from":{"id":42,"first_name":"María"},"chat_instance":"1","data":"yes"}}`,
		`{"update_id":3,"callback_query":{"id":"cb-5","from":{"id":42,"first_name":"María"},"data":"yes","message":{"message_id":9,"date":0}}}`,
		msg(private, `"photo":[{"file_id":"small","file_unique_id":"s","width":90,"height":90},{"file_id":"big","file_unique_id":"b","width":800,"height":800}],"caption":"así llegó la caja"`),
		msg(private, `"photo":[]`),
		msg(private, `"voice":{"file_id":"v1","file_unique_id":"u","duration":3}`),
		msg(private, `"audio":{"file_id":"a1","file_unique_id":"u","duration":3,"title":"nota"}`),
		msg(private, `"video":{"file_id":"vi1","file_unique_id":"u","width":1,"height":1,"duration":1,"file_name":"caja.mp4"}`),
		msg(private, `"video_note":{"file_id":"vn1","file_unique_id":"u","length":1,"duration":1}`),
		msg(private, `"animation":{"file_id":"an1","file_unique_id":"u","width":1,"height":1,"duration":1}`),
		msg(private, `"sticker":{"file_id":"s1","file_unique_id":"u","width":1,"height":1,"emoji":"😀"}`),
		msg(private, `"location":{"latitude":40.4168,"longitude":-3.7038}`),
		msg(private, `"venue":{"location":{"latitude":1e308,"longitude":-1e-308},"title":"Almacén","address":"x"}`),
		msg(private, `"contact":{"phone_number":"+34600000000","first_name":"Ana"}`),
		`{"update_id":4,"edited_message":{"message_id":3,"date":1700000000,` + private + `,"text":"editado"}}`,
		`{"update_id":5,"channel_post":{"message_id":3,"date":1700000000,"chat":{"id":-1001,"type":"channel"},"text":"hola"}}`,
		string(long),
		msg(private, "\"text\":\"\xff\xfe\xc3(\xed\xa0\x80 inválido\""),
		msg(private, `"text":"\u202eabc\u200f\u0000\u001b[31m\ud83d"`),
		msg(private, `"text":"😀😀😀🎉"`),
		msg(private, `"text":"+a -b \"c ~2 /re/ <b>x</b> &amp; *y* _z_ [l](http://x)"`),
		`{"update_id":-5,"message":{"message_id":-1,"date":-1,"chat":{"id":0,"type":"private"},"from":{"id":0,"first_name":""},"text":"x"}}`,
		`{"update_id":9223372036854775807,"message":{"message_id":1,"date":9223372036854775807,"chat":{"id":9223372036854775807,"type":"group"},"from":{"id":-9223372036854775808,"first_name":"x"},"text":"@ayuda_test_bot x"}}`,
		`{"update_id":6,"message":{"message_id":1,"chat":{"id":42,"type":"bogus"},"from":{"id":42},"text":"x"}}`,
		`{"update_id":6,"message":{"message_id":1,"chat":{"id":42,"type":"private"},"text":"sin remitente"}}`,
		`{"update_id":6,"message":{"message_id":1,"from":{"id":42},"text":"sin chat"}}`,
		`{"update_id":6,"message":{"message_id":1,"chat":{"id":42,"type":"private"},"from":{"id":43,"is_bot":true},"text":"otro bot"}}`,
		`{"update_id":7}`,
		`null`,
		`[]`,
		`{"update_id":"1"}`,
	}
}

// FuzzUpdate decodes arbitrary bytes as an update, as the webhook does
// (getUpdates decodes the same type), and runs it through process, the
// function the poll loop and the webhook share, against the fake Bot API.
// The handler checks every bots.Message it gets and answers with the text
// it got, so the reply path (escaping, splitting, keyboards) runs too.
func FuzzUpdate(f *testing.F) {
	for _, s := range updateSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(updateTarget(f))
}

// TestHugeUpdate runs a 1 MB message through FuzzUpdate's checks (too big
// a seed: the fuzzer would spend its time minimising what it derives).
func TestHugeUpdate(t *testing.T) {
	huge, err := json.Marshal(map[string]any{"update_id": 2, "message": map[string]any{
		"message_id": 4, "date": 1700000000, "text": strings.Repeat("¿dónde está mi pedido? 😀 ", 1<<20/28),
		"chat": map[string]any{"id": 42, "type": "private"}, "from": map[string]any{"id": 42, "first_name": "María"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	updateTarget(t)(t, huge)
}

// updateTarget returns FuzzUpdate's function: one fake API server and
// HTTP client for every exec, fresh fake state and Bot for each.
func updateTarget(tb testing.TB) func(t *testing.T, data []byte) {
	sw := &fakeSwitch{}
	srv := httptest.NewServer(sw)
	tb.Cleanup(srv.Close)
	client := &http.Client{Timeout: time.Minute}
	var me atomic.Pointer[identity]

	return func(t *testing.T, data []byte) {
		var u tgbotapi.Update
		if json.NewDecoder(bytes.NewReader(data)).Decode(&u) != nil {
			return // the webhook answers 400; Telegram never sends it
		}
		fake := newFakeState(t)
		fake.srv = srv
		sw.cur.Store(fake)
		state := &memState{}
		b, err := New(Config{Token: fakeToken, APIURL: srv.URL, Client: client, State: state, Outbox: state, PollTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		b.sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
		if me.Load() == nil {
			if err := b.whoAmI(t.Context()); err != nil {
				t.Fatal(err)
			}
			me.Store(b.me.Load())
		}
		b.me.Store(me.Load())

		calls := 0
		h := func(ctx context.Context, m bots.Message) bots.Reply {
			calls++
			checkMessage(t, u, m)
			text := clip(m.Text, 9000) // enough for three parts
			choice := clip(m.Text, 100)
			return bots.Reply{Text: text, Choices: []bots.Choice{{ID: "yes", Label: "Sí"}, {ID: choice, Label: "Otra cosa, " + m.Name}}}
		}
		if err := b.process(t.Context(), h, u); err != nil {
			t.Fatalf("process: %v", err)
		}
		if calls > 1 {
			t.Errorf("one update reached the handler %d times", calls)
		}
		fake.mu.Lock()
		sent := slices.Clone(fake.calls)
		fake.mu.Unlock()
		for _, c := range sent {
			checkCall(t, c)
		}
		state.mu.Lock()
		defer state.mu.Unlock()
		if len(state.queued) > 0 {
			t.Errorf("the fake never fails, yet %d replies were queued", len(state.queued))
		}
	}
}

// clip cuts s to at most n bytes, at a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

var attachmentKinds = map[string]bool{"photo": true, "document": true, "voice": true, "audio": true, "video": true, "sticker": true, "location": true, "file": true}

// checkMessage checks what the handler got for update u.
func checkMessage(t *testing.T, u tgbotapi.Update, m bots.Message) {
	t.Helper()
	for what, s := range map[string]string{"ID": m.ID, "Text": m.Text, "Name": m.Name} {
		if !utf8.ValidString(s) {
			t.Errorf("%s is not UTF-8: %q", what, s)
		}
	}
	if m.ID != strconv.Itoa(u.UpdateID) {
		t.Errorf("ID = %q, want the update_id %d", m.ID, u.UpdateID)
	}
	a := m.From
	if a.Platform != bots.Telegram {
		t.Errorf("platform = %q", a.Platform)
	}
	chat, err1 := strconv.ParseInt(a.Chat, 10, 64)
	user, err2 := strconv.ParseInt(a.User, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("address %+v is not a Telegram chat and user", a)
	}
	var wantChat, wantUser int64
	switch {
	case u.CallbackQuery != nil:
		wantChat, wantUser = u.CallbackQuery.Message.Chat.ID, u.CallbackQuery.From.ID
	case u.Message != nil:
		wantChat, wantUser = u.Message.Chat.ID, u.Message.From.ID
	default:
		t.Fatalf("the handler got a message for an update with none: %+v", m)
	}
	if chat == 0 || user == 0 {
		t.Errorf("address %+v: 0 is no Telegram id", a)
	}
	if chat != wantChat || user != wantUser {
		t.Errorf("address %+v, want chat %d user %d", a, wantChat, wantUser)
	}
	if p := m.Private; !p.IsZero() && p != address(user, user) {
		t.Errorf("private address %+v, want the user's own chat", p)
	}
	if u.Message != nil && u.Message.Chat.IsPrivate() && !m.Private.IsZero() {
		t.Errorf("a private chat's message has a private address %+v", m.Private)
	}
	for _, at := range m.Attachments {
		if !attachmentKinds[at.Kind] {
			t.Errorf("attachment kind %q", at.Kind)
		}
		for _, s := range []string{at.Ref, at.Name, at.Caption} {
			if !utf8.ValidString(s) {
				t.Errorf("attachment %+v is not UTF-8", at)
			}
		}
	}
	if strings.TrimSpace(m.Text) == "" && len(m.Attachments) == 0 && u.Message != nil && !u.Message.Chat.IsPrivate() {
		t.Errorf("an empty group message reached the handler: %+v", m)
	}
}

// checkCall checks a call the bot made: what Telegram would refuse.
func checkCall(t *testing.T, c fakeCall) {
	t.Helper()
	if c.Method != "sendMessage" {
		return
	}
	text := c.Form.Get("text")
	if !utf8.ValidString(text) {
		t.Errorf("sendMessage text is not UTF-8: %q", text)
	}
	if n := utf16Len(html.UnescapeString(text)); n > maxText || n == 0 {
		t.Errorf("sendMessage text of %d UTF-16 units", n)
	}
	if _, err := strconv.ParseInt(c.Form.Get("chat_id"), 10, 64); err != nil {
		t.Errorf("sendMessage chat_id %q", c.Form.Get("chat_id"))
	}
	if rm := c.Form.Get("reply_markup"); rm != "" {
		var kb struct {
			InlineKeyboard [][]struct {
				Text         string  `json:"text"`
				CallbackData *string `json:"callback_data"`
				URL          *string `json:"url"`
			} `json:"inline_keyboard"`
		}
		if err := json.Unmarshal([]byte(rm), &kb); err != nil {
			t.Fatalf("reply_markup %q: %v", rm, err)
		}
		for _, row := range kb.InlineKeyboard {
			for _, btn := range row {
				if btn.Text == "" || !utf8.ValidString(btn.Text) {
					t.Errorf("button text %q", btn.Text)
				}
				if d := btn.CallbackData; d != nil && (len(*d) == 0 || len(*d) > maxCallbackData || !utf8.ValidString(*d)) {
					t.Errorf("callback_data %q", *d)
				}
			}
		}
	}
}
