package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"ayuda/bots"
	"ayuda/dialog"
	"ayuda/escalation"
)

// fuzzState is State and Outbox in memory: the inbox is written on every
// envelope, and the real store's fsyncs would make each exec slow.
type fuzzState struct {
	mu     sync.Mutex
	meta   map[string][]byte
	queued int
}

func (s *fuzzState) GetMeta(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta[key], nil
}

func (s *fuzzState) PutMeta(_ context.Context, key string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.meta[key] = bytes.Clone(v)
	return nil
}

func (s *fuzzState) ScanMeta(_ context.Context, prefix string, fn func(string, []byte) error) error {
	s.mu.Lock()
	keys := make([]string, 0, len(s.meta))
	for k := range s.meta {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	s.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		s.mu.Lock()
		v, ok := s.meta[k]
		s.mu.Unlock()
		if ok {
			if err := fn(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *fuzzState) DeleteMeta(_ context.Context, keys ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.meta, k)
	}
	return nil
}

func (s *fuzzState) Enqueue(context.Context, bots.Address, bots.Reply) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued++
	return nil
}

// Envelope kinds of FuzzEnvelope: three Socket Mode envelope types, and
// the Events API's two kinds of body (JSON events, form-encoded
// interactions and commands).
const (
	fuzzSocketEvent = iota
	fuzzSocketInteractive
	fuzzSocketCommand
	fuzzHTTPJSON
	fuzzHTTPForm
	fuzzKinds
)

const (
	fuzzSecret = "fuzz-signing-secret"
	fuzzCard   = "1700000001.000001" // the ts of ticket 1's card in the agents' channel
)

func envelopeSeeds() []struct {
	kind uint8
	data string
} {
	ev := func(inner string) string {
		return `{"token":"legacy","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"Ev1","event_time":1700000000,"event":` + inner + `}`
	}
	dm := func(rest string) string {
		return ev(`{"type":"message","channel":"DUSTAFF","channel_type":"im","user":"USTAFF","ts":"1700000100.000100","event_ts":"1700000100.000100",` + rest + `}`)
	}
	press := func(user, action string) string {
		return `{"type":"block_actions","trigger_id":"T1","user":{"id":"` + user + `","name":"x"},"team":{"id":"T1"},` +
			`"channel":{"id":"DUSTAFF"},"container":{"type":"message","message_ts":"1700000200.000001","channel_id":"DUSTAFF","is_ephemeral":false},` +
			`"message":{"type":"message","text":"¿Te ha servido?","ts":"1700000200.000001","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"¿Te ha servido?"}},{"type":"actions","block_id":"choices-0","elements":[{"type":"button","action_id":"c:yes","value":"yes","text":{"type":"plain_text","text":"Sí"}}]}]},` +
			`"actions":[` + action + `]}`
	}
	choice := `{"type":"button","action_id":"c:yes","block_id":"choices-0","value":"yes","text":{"type":"plain_text","text":"Sí"},"action_ts":"1700000300.000001"}`
	claim := `{"type":"button","action_id":"desk_claim","value":"1","action_ts":"1700000300.000002"}`
	prio := `{"type":"static_select","action_id":"desk_priority","selected_option":{"value":"1:alta","text":{"type":"plain_text","text":"Alta"}},"action_ts":"1700000300.000003"}`
	long, _ := json.Marshal(strings.Repeat("¿cómo configuro la VPN? 😀 <https://x.example|x> &amp; ", 70)) // two sections; see TestHugeEnvelope
	form := url.Values{"payload": {press("USTAFF", choice)}}.Encode()
	return []struct {
		kind uint8
		data string
	}{
		{fuzzSocketEvent, dm(`"text":"¿cómo configuro la VPN?"`)},
		{fuzzSocketEvent, dm(`"text":"mira <https://x.example/a?b=1|esto> y <@UANA|ana> en <#C1|general> &lt;b&gt; <!here>"`)},
		{fuzzSocketEvent, dm(`"text":` + string(long))},
		{fuzzSocketEvent, dm("\"text\":\"\xff\xfe inválido \\u202e\\u0000\\u001b[31m\\ud83d\"")},
		{fuzzSocketEvent, dm(`"text":"x","subtype":"message_changed"`)},
		{fuzzSocketEvent, dm(`"text":"adjunto","subtype":"file_share","files":[{"id":"F1","name":"a.png"}]`)},
		{fuzzSocketEvent, dm(`"text":"de un bot","bot_id":"B9"`)},
		{fuzzSocketEvent, ev(`{"type":"message","channel":"DUSTAFF","channel_type":"im","text":"sin usuario","ts":"1"}`)},
		{fuzzSocketEvent, ev(`{"type":"app_mention","channel":"C1","user":"USTAFF","text":"<@UBOT> hola, ¿y la VPN?","ts":"1700000400.000001","event_ts":"1700000400.000001"}`)},
		{fuzzSocketEvent, ev(`{"type":"app_mention","channel":"C1","user":"USTAFF","text":"<@UBOT|ayuda>","ts":"1700000400.000002","thread_ts":"1700000400.000001"}`)},
		{fuzzSocketEvent, ev(`{"type":"message","channel":"CDESK","channel_type":"channel","user":"UANA","text":"Tu pedido sale hoy","ts":"1700000500.000001","thread_ts":"` + fuzzCard + `"}`)},
		{fuzzSocketEvent, ev(`{"type":"message","channel":"CDESK","channel_type":"channel","user":"UANA","text":"// nota interna","ts":"1700000500.000002","thread_ts":"` + fuzzCard + `"}`)},
		{fuzzSocketEvent, ev(`{"type":"message","channel":"CDESK","channel_type":"channel","user":"USTRANGER","text":"hola","ts":"1700000500.000003","thread_ts":"` + fuzzCard + `"}`)},
		{fuzzSocketEvent, ev(`{"type":"reaction_added","user":"USTAFF","reaction":"x"}`)},
		{fuzzSocketEvent, `{"type":"url_verification","challenge":"c"}`},
		{fuzzSocketEvent, `{"type":"event_callback","event":null}`},
		{fuzzSocketInteractive, press("USTAFF", choice)},
		{fuzzSocketInteractive, strings.Replace(press("USTAFF", choice), `"is_ephemeral":false`, `"is_ephemeral":true`, 1)},
		{fuzzSocketInteractive, press("UANA", claim)},
		{fuzzSocketInteractive, press("UANA", prio)},
		{fuzzSocketInteractive, press("USTRANGER", claim)},
		{fuzzSocketInteractive, press("UANA", `{"type":"button","action_id":"desk_completed","value":"999999999999999999999"}`)},
		{fuzzSocketInteractive, press("", choice)},
		{fuzzSocketInteractive, press("USTAFF", "")},
		{fuzzSocketInteractive, `{"type":"view_submission","user":{"id":"USTAFF"}}`},
		{fuzzSocketCommand, `{"command":"/ayuda","text":"vpn","user_id":"USTAFF","channel_id":"C1","trigger_id":"T2"}`},
		{fuzzSocketCommand, `{"command":"/ayuda","text":"","user_id":"USTAFF","channel_id":"C1"}`},
		{fuzzSocketCommand, `{"command":"/ayuda","text":"x"}`},
		{fuzzHTTPJSON, dm(`"text":"¿cómo configuro la VPN?"`)},
		{fuzzHTTPJSON, `{"token":"x","challenge":"c-123","type":"url_verification"}`},
		{fuzzHTTPJSON, `{"type":"app_rate_limited","minute_rate_limited":1}`},
		{fuzzHTTPForm, form},
		{fuzzHTTPForm, "command=%2Fayuda&text=%C2%BFvpn%3F%FF&user_id=USTAFF&channel_id=C1&trigger_id=T3"},
		{fuzzHTTPForm, "payload=%7B%7D"},
		{fuzzHTTPForm, "%zz=1&payload"},
		{fuzzHTTPJSON, `null`},
	}
}

// FuzzEnvelope feeds arbitrary Socket Mode envelopes (kind 0-2: the
// payload of an events_api, interactive or slash_commands envelope, as
// drain gets it) and Events API bodies (kind 3-4: a signed JSON or form
// POST to Handler) to the Bot, which records each in its inbox and
// handles it as its workers do, with the agents' desk on the real store
// (ticket 1 has a card), against the fake Web API. The handler checks
// every bots.Message it gets and answers with the text it got, so the
// reply path (blocks, buttons) runs too; what the Bot posts is checked
// against Slack's limits.
func FuzzEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds() {
		f.Add(s.kind, []byte(s.data))
	}
	f.Fuzz(envelopeTarget(f))
}

// TestHugeEnvelope runs 1 MB messages through FuzzEnvelope's checks (too
// big a seed: the fuzzer would spend its time minimising what it
// derives): over Socket Mode, and over HTTP, where it is refused.
func TestHugeEnvelope(t *testing.T) {
	text, err := json.Marshal(strings.Repeat("¿cómo configuro la VPN? 😀 ", 1<<20/28))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"type":"event_callback","event_id":"Ev1","event":{"type":"message","channel":"DUSTAFF","channel_type":"im","user":"USTAFF","ts":"1700000100.000100","text":` + string(text) + `}}`
	run := envelopeTarget(t)
	for _, kind := range []uint8{fuzzSocketEvent, fuzzHTTPJSON} {
		run(t, kind, []byte(body))
	}
}

// envelopeTarget returns FuzzEnvelope's function: one fake Web API
// server, store and HTTP client for every exec, a fresh Bot, inbox and
// fake state for each.
func envelopeTarget(tb testing.TB) func(t *testing.T, kind uint8, data []byte) {
	var cur atomic.Pointer[fakeSlack]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cur.Load().api(w, r) }))
	tb.Cleanup(srv.Close)
	q, err := escalation.Open(filepath.Join(tb.TempDir(), "ayuda.db"), escalation.Config{
		Agents: []escalation.Agent{{ID: "ana", Name: "Ana", Slack: ana}},
		Notify: dialog.Notifier(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { q.Close() })
	tk, err := q.Open(tb.Context(), escalation.Ticket{Customer: escalation.Customer{Address: bots.Address{Platform: bots.Telegram, Chat: "42", User: "42"}, Name: "María"}, Summary: "pedido 991"})
	if err != nil {
		tb.Fatal(err)
	}
	template := map[string][]byte{"slack:thread:" + fuzzCard: []byte(tk.ID.String())}
	client := &http.Client{Timeout: time.Minute}
	quiet := slog.New(slog.DiscardHandler)

	return func(t *testing.T, kind uint8, data []byte) {
		fake := &fakeSlack{t: t, srv: srv, drop: make(chan struct{}), closed: make(chan struct{}),
			changed: make(chan struct{}), failures: map[string][]fakeFailure{}, groups: map[string][]string{}, nextTS: 1}
		cur.Store(fake)
		state := &fuzzState{meta: maps.Clone(template)}
		b, err := New(Config{BotToken: botToken, Mode: HTTP, SigningSecret: fuzzSecret, APIURL: srv.URL + "/api/", Client: client,
			AgentsChannel: agentsCh, Agents: map[string]string{ana: "ana"}, Queue: q, State: state, Outbox: state, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		b.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
		b.me.Store(&identity{UserID: botUser, BotID: "BBOT", TeamID: "T1"}) // as whoAmI does
		calls := 0
		h := bots.Handler(func(ctx context.Context, m bots.Message) bots.Reply {
			calls++
			checkSlackMessage(t, m)
			return bots.Reply{Text: fuzzClip(m.Text, 5000), Choices: []bots.Choice{{ID: "yes", Label: "Sí"}, {ID: fuzzClip(m.Text, 300), Label: "Otra cosa, " + m.Name}}}
		})
		b.handler.Store(&h)
		if err := b.inbox.load(t.Context()); err != nil {
			t.Fatal(err)
		}

		switch kind % fuzzKinds {
		case fuzzSocketEvent, fuzzSocketInteractive, fuzzSocketCommand:
			typ := []string{typeEvents, typeInteractive, typeCommand}[kind%fuzzKinds]
			e := newEnvelope(typ, data)
			e.Env = "env-1"
			if b.receive(t.Context(), e) {
				b.handle(t.Context(), e)
			}
		default:
			ctype := "application/json"
			if kind%fuzzKinds == fuzzHTTPForm {
				ctype = "application/x-www-form-urlencoded"
			}
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/slack/events", bytes.NewReader(data))
			ts := time.Now().Unix()
			req.Header.Set("Content-Type", ctype)
			req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
			req.Header.Set("X-Slack-Signature", sign(fuzzSecret, ts, string(data)))
			w := httptest.NewRecorder()
			b.Handler().ServeHTTP(w, req)
			if w.Code == http.StatusUnauthorized {
				t.Fatalf("a signed request was refused: %s", w.Body)
			}
			for _, jobs := range b.jobs { // what Run's workers would do
				select {
				case e := <-jobs:
					b.handle(t.Context(), e)
				default:
				}
			}
		}
		if calls > 1 {
			t.Errorf("one envelope reached the handler %d times", calls)
		}
		if len(b.inbox.unfinished()) > 0 {
			t.Errorf("an envelope was left unfinished in the inbox")
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		for _, c := range fake.calls {
			checkSlackCall(t, c)
		}
	}
}

// fuzzClip cuts s to at most n bytes, at a character boundary.
func fuzzClip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// checkSlackMessage checks what the handler got: Slack's people are staff.
func checkSlackMessage(t *testing.T, m bots.Message) {
	t.Helper()
	for what, s := range map[string]string{"ID": m.ID, "Text": m.Text, "Name": m.Name} {
		if !utf8.ValidString(s) {
			t.Errorf("%s is not UTF-8: %q", what, s)
		}
	}
	// An event without a channel once reached the handler with no Chat
	// and its reply was lost (found by this target); such events are now
	// dropped.
	if a := m.From; a.Platform != bots.Slack || a.User == "" || a.Chat == "" {
		t.Errorf("address %+v: want a Slack chat and user", a)
	}
	if !m.Internal {
		t.Errorf("a staff message without Internal: %+v", m)
	}
	if m.ID != "" && !strings.HasPrefix(m.ID, "slack:") {
		t.Errorf("ID = %q, want slack:…", m.ID)
	}
}

// checkSlackCall checks a message the Bot posted against Slack's limits.
func checkSlackCall(t *testing.T, c fakeCall) {
	t.Helper()
	if c.Method != "chat.postMessage" && c.Method != "chat.update" && c.Method != "chat.postEphemeral" {
		return
	}
	text := c.Form.Get("text")
	if !utf8.ValidString(text) || utf8.RuneCountInString(text) > 40_000 { // where Slack cuts
		t.Errorf("%s text of %d characters (UTF-8 %v)", c.Method, utf8.RuneCountInString(text), utf8.ValidString(text))
	}
	raw := c.Form.Get("blocks")
	if raw == "" {
		return
	}
	var blocks slack.Blocks
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		t.Fatalf("%s blocks %.200q: %v", c.Method, raw, err)
	}
	if n := len(blocks.BlockSet); n > maxBlocks {
		t.Errorf("%s with %d blocks", c.Method, n)
	}
	for _, bl := range blocks.BlockSet {
		switch x := bl.(type) {
		case *slack.SectionBlock:
			if x.Text == nil || x.Text.Text == "" || utf8.RuneCountInString(x.Text.Text) > maxSection {
				t.Errorf("%s: a section of %d characters", c.Method, utf8.RuneCountInString(x.Text.Text))
			}
		case *slack.ActionBlock:
			if n := len(x.Elements.ElementSet); n == 0 || n > maxElements {
				t.Errorf("%s: %d elements in an actions block", c.Method, n)
			}
			for _, el := range x.Elements.ElementSet {
				btn, ok := el.(*slack.ButtonBlockElement)
				if !ok {
					continue
				}
				if btn.Text == nil || btn.Text.Text == "" || utf8.RuneCountInString(btn.Text.Text) > maxButton ||
					btn.ActionID == "" || utf8.RuneCountInString(btn.ActionID) > maxActionID || utf8.RuneCountInString(btn.Value) > maxValue {
					t.Errorf("%s: button %+v", c.Method, btn)
				}
			}
		}
	}
}
