package discord

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"ayuda/bots"
)

// driver feeds gateway events to a Bot's handlers as discordgo does, and
// then does synchronously what Run's goroutines would: acknowledge the
// interactions, then handle each queued item as a shard worker does.
// discordgo decodes an event's d into its struct with encoding/json and
// calls the handlers even when that fails, with whatever was decoded
// (wsapi.go, onEvent), so the decoding error is ignored here too.
type driver struct{ r *runner }

func newDriver(b *Bot, h bots.Handler) *driver {
	r := &runner{b: b, h: h, done: make(chan struct{}), shards: make([]chan *item, workers),
		acks: make(chan *item, 64), catchUp: make(chan struct{}, 1)}
	for i := range r.shards {
		r.shards[i] = make(chan *item, 64)
	}
	return &driver{r: r}
}

// event dispatches one MESSAGE_CREATE or INTERACTION_CREATE and handles
// what it queued.
func (d *driver) event(ctx context.Context, typ string, raw []byte) {
	switch typ {
	case "MESSAGE_CREATE":
		e := &discordgo.MessageCreate{}
		_ = json.Unmarshal(raw, e)
		d.r.onMessage(e)
	case "INTERACTION_CREATE":
		e := &discordgo.InteractionCreate{}
		_ = json.Unmarshal(raw, e)
		d.r.onInteraction(e)
	}
	d.drain(ctx)
}

func (d *driver) drain(ctx context.Context) {
	for acked := false; !acked; {
		select {
		case it := <-d.r.acks:
			d.r.ack(it)
		default:
			acked = true
		}
	}
	for _, sh := range d.r.shards {
		for empty := false; !empty; {
			select {
			case it := <-sh:
				ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), turnTimeout)
				if it.msg != nil {
					d.r.handleMessage(ictx, it)
				} else {
					d.r.handleInteraction(ictx, it)
				}
				cancel()
			default:
				empty = true
			}
		}
	}
}

const (
	fuzzDM     = "400" // maria's DM channel
	fuzzThread = "410" // maria's thread in the support channel
)

// reset gives the fake the channels the seeds use, and forgets the rest.
func (f *fakeDiscord) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.channels = map[string]*fakeChannel{
		fakeSupport: {ID: fakeSupport, GuildID: fakeGuild},
		"201":       {ID: "201", GuildID: fakeGuild},
		fuzzDM:      {ID: fuzzDM, Type: 1, Recipient: maria.ID},
		fuzzThread:  {ID: fuzzThread, GuildID: fakeGuild, ParentID: fakeSupport, Type: 11},
	}
	f.requests, f.problems, f.fail, f.nonces = nil, nil, map[string][]int{}, map[string]fakeNonce{}
}

func dispatchSeeds() (messages, interactions []string) {
	user := `{"id":"501","username":"maria","global_name":"María"}`
	member := `"member":{"nick":null,"roles":[]}`
	msg := func(channel, guild, rest string) string {
		g := ""
		if guild != "" {
			g = `"guild_id":"` + guild + `",` + member + `,`
		}
		return `{"id":"1100","channel_id":"` + channel + `",` + g + `"author":` + user + `,"timestamp":"2026-01-01T00:00:00Z","type":0,"mentions":[],"attachments":[],` + rest + `}`
	}
	long, _ := json.Marshal(strings.Repeat("¿dónde está mi pedido? 😀 ", 100)) // two parts; see TestHugeMessage
	messages = []string{
		msg(fuzzDM, "", `"content":"¿cuánto tarda en llegar un envío?"`),
		msg(fakeSupport, fakeGuild, `"content":"hola, mi pedido no llega"`),
		msg(fuzzThread, fakeGuild, `"content":"gracias"`),
		msg("201", fakeGuild, `"content":"<@100> hola","mentions":[{"id":"100","username":"ayuda","bot":true}]`),
		msg("201", fakeGuild, `"content":"<@!100> hola","mentions":[null,{"id":"100"}]`),
		msg("201", fakeGuild, `"content":"hola a todos"`),
		msg(fuzzDM, "", `"content":"la etiqueta","attachments":[{"id":"77","url":"https://cdn.discordapp.com/a/77/e.png","filename":"e.png","content_type":"image/png","size":10},null,{"id":"78","url":"https://cdn.discordapp.com/a/78/v.ogg","filename":"v.ogg","content_type":"audio/ogg"}],"flags":8192`),
		msg(fuzzDM, "", `"content":"","sticker_items":[{"id":"9","name":"gato","format_type":1},null]`),
		msg(fuzzDM, "", `"content":"@everyone **bold** <@&999> # título\n> cita `+"`x`"+` ||s||"`),
		msg(fuzzDM, "", `"content":"\u202eabc\u200f\u0000\u001b[31m\ud83d"`),
		msg(fuzzDM, "", "\"content\":\"\xff\xfe inválido\""),
		msg(fuzzDM, "", `"content":`+string(long)),
		msg(fuzzDM, "", `"content":"😀😀😀","type":19`),
		msg(fuzzDM, "", `"content":"x","type":7`),
		msg(fuzzDM, "", `"content":"x","webhook_id":"5"`),
		msg(fuzzDM, "", `"content":"x","timestamp":"ayer"`),
		`{"id":"1100","channel_id":"400","author":{"id":"100","username":"ayuda","bot":true},"content":"mío"}`,
		`{"id":"1100","channel_id":"400","author":{"id":"9","bot":true},"content":"otro bot"}`,
		`{"id":"1100","channel_id":"400","author":{"id":"9","system":true},"content":"sistema"}`,
		`{"id":"1100","channel_id":"400","content":"sin autor"}`,
		`{"id":"","channel_id":"","author":{"id":""},"content":"vacío"}`,
		`{"id":"1100","channel_id":"../../users/@me","author":{"id":"501"},"content":"ruta"}`,
		`null`,
		`[]`,
		`{"id":1100}`,
	}
	press := func(channel, guild, data, rest string) string {
		who := `"user":` + user
		if guild != "" {
			who = `"guild_id":"` + guild + `","member":{"user":` + user + `,"nick":"Mari","roles":[]}`
		}
		return `{"id":"2200","application_id":"100","type":3,"token":"itoken-2200","version":1,"locale":"es-ES","channel_id":"` + channel + `",` + who + `,"data":` + data + rest + `}`
	}
	botMsg := `,"message":{"id":"1200","channel_id":"400","author":{"id":"100","bot":true},"content":"¿Te ha servido?","components":[{"type":1,"components":[{"type":2,"style":1,"label":"Sí","custom_id":"yes"},{"type":2,"style":1,"label":"No","custom_id":"no"}]}]}`
	interactions = []string{
		press(fuzzDM, "", `{"custom_id":"yes","component_type":2}`, botMsg),
		press(fuzzDM, "", `{"custom_id":"no","component_type":2}`, strings.Replace(botMsg, `"content"`, `"flags":64,"content"`, 1)),
		press(fuzzThread, fakeGuild, `{"custom_id":"status","component_type":2}`, strings.ReplaceAll(botMsg, `"400"`, `"410"`)),
		press(fakeSupport, fakeGuild, `{"custom_id":"human","component_type":2}`, ""),
		strings.Replace(press(fuzzDM, "", `{"id":"900","name":"estado","type":1}`, ""), `"type":3`, `"type":2`, 1),
		strings.Replace(press(fakeSupport, fakeGuild, `{"id":"900","name":"humano","type":1}`, ""), `"type":3`, `"type":2`, 1),
		strings.Replace(press(fuzzThread, fakeGuild, `{"id":"900","name":"nueva","type":1}`, ""), `"type":3`, `"type":2`, 1),
		press(fuzzDM, "", `null`, ""),
		press(fuzzDM, "", `"x"`, ""),
		strings.Replace(press(fuzzDM, "", `5`, ""), `"type":3`, `"type":2`, 1),
		strings.Replace(press(fuzzDM, "", `{"custom_id":"x"}`, ""), `"type":3`, `"type":5`, 1),
		strings.Replace(press(fuzzDM, "", `{"custom_id":"x"}`, ""), `"type":3`, `"type":4`, 1),
		`{"id":"2200","type":3,"channel_id":"400","token":"t","user":{"id":"9","bot":true},"data":{"custom_id":"yes"}}`,
		`{"id":"2200","type":3,"channel_id":"400","token":"t","data":{"custom_id":"yes"}}`,
		`{"id":"2200","type":3,"channel_id":"400","token":"a/../b","member":{"user":null},"user":{"id":"501"},"data":{"custom_id":"yes"}}`,
		`null`,
		`{"type":"3"}`,
	}
	return messages, interactions
}

// FuzzDispatch feeds arbitrary MESSAGE_CREATE (interaction false) and
// INTERACTION_CREATE (true) payloads to the Bot's gateway handlers, the
// way discordgo does, against the fake's REST API. The handler checks
// every bots.Message it gets and answers with the text it got, so the
// reply path (escaping, splitting, buttons, threads, interaction answers)
// runs too; what the Bot sent is checked against Discord's limits.
func FuzzDispatch(f *testing.F) {
	messages, interactions := dispatchSeeds()
	for _, s := range messages {
		f.Add(false, []byte(s))
	}
	for _, s := range interactions {
		f.Add(true, []byte(s))
	}
	f.Fuzz(dispatchTarget(f))
}

// TestHugeMessage runs a 1 MB message through FuzzDispatch's checks (too
// big a seed: the fuzzer would spend its time minimising what it derives).
func TestHugeMessage(t *testing.T) {
	content, err := json.Marshal(strings.Repeat("¿dónde está mi pedido? 😀 ", 1<<20/28))
	if err != nil {
		t.Fatal(err)
	}
	raw := `{"id":"1100","channel_id":"` + fuzzDM + `","author":{"id":"501","username":"maria"},"type":0,"content":` + string(content) + `}`
	dispatchTarget(t)(t, false, []byte(raw))
}

// dispatchTarget returns FuzzDispatch's function: one fake Discord and
// HTTP client for every exec, a fresh Bot and fake state for each.
func dispatchTarget(tb testing.TB) func(t *testing.T, interaction bool, payload []byte) {
	fake := newFake(tb)
	client := &http.Client{Timeout: time.Minute}
	quiet := slog.New(slog.DiscardHandler)

	return func(t *testing.T, interaction bool, payload []byte) {
		fake.reset()
		b, err := New(Config{Token: fakeToken, APIURL: fake.srv.URL, SupportChannel: fakeSupport, Client: client, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		b.setIDs(fakeBotID, fakeBotID) // as READY does
		if err := b.chats.load(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := b.chats.add(t.Context(), fuzzThread, chat{Kind: kindThread, User: maria.ID, Parent: fakeSupport}, time.Now()); err != nil {
			t.Fatal(err)
		}
		calls := 0
		h := func(ctx context.Context, m bots.Message) bots.Reply {
			calls++
			checkDiscordMessage(t, m)
			return bots.Reply{Text: clip(m.Text, 5000), Choices: []bots.Choice{{ID: "yes", Label: "Sí"}, {ID: clip(m.Text, 100), Label: "Otra cosa, " + m.Name}}}
		}
		typ := "MESSAGE_CREATE"
		if interaction {
			typ = "INTERACTION_CREATE"
		}
		newDriver(b, h).event(t.Context(), typ, payload)
		if calls > 1 {
			t.Errorf("one event reached the handler %d times", calls)
		}
		fake.mu.Lock()
		reqs, problems := fake.requests, fake.problems
		fake.problems = nil
		fake.mu.Unlock()
		for _, p := range problems {
			// Routes the fake does not know come from ids that are not
			// snowflakes, which Discord never sends; a message that
			// could ping is a bug whatever the input.
			if !strings.HasPrefix(p, "unmodelled route") {
				t.Error(p)
			}
		}
		for _, r := range reqs {
			checkRequest(t, r)
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

// checkDiscordMessage checks what the handler got.
func checkDiscordMessage(t *testing.T, m bots.Message) {
	t.Helper()
	for what, s := range map[string]string{"ID": m.ID, "Text": m.Text, "Name": m.Name} {
		if !utf8.ValidString(s) {
			t.Errorf("%s is not UTF-8: %q", what, s)
		}
	}
	if id, ok := strings.CutPrefix(m.ID, "discord:"); !ok || id == "" {
		t.Errorf("ID = %q, want discord:<snowflake>", m.ID)
	}
	if a := m.From; a.Platform != bots.Discord || a.Chat == "" || a.User == "" {
		t.Errorf("address %+v: want a Discord chat and user", a)
	}
	if !m.Private.IsZero() {
		t.Errorf("private address %+v: Discord conversations happen where the person is", m.Private)
	}
	for _, at := range m.Attachments {
		if !attachmentKinds[at.Kind] {
			t.Errorf("attachment kind %q", at.Kind)
		}
		if !utf8.ValidString(at.Ref) || !utf8.ValidString(at.Name) {
			t.Errorf("attachment %+v is not UTF-8", at)
		}
	}
}

// checkRequest checks a message the Bot sent or edited against what
// Discord accepts.
func checkRequest(t *testing.T, r fakeRequest) {
	t.Helper()
	sends := (r.Method == "POST" || r.Method == "PATCH") &&
		(strings.Contains(r.Path, "/messages") || strings.HasPrefix(r.Path, "/api/v9/webhooks/")) && !strings.HasSuffix(r.Path, "/threads")
	if !sends {
		return
	}
	if !utf8.Valid(r.Body) {
		t.Errorf("%s %s: body is not UTF-8", r.Method, r.Path)
	}
	var body struct {
		Content    *string `json:"content"`
		Components []struct {
			Components []struct {
				Type     int    `json:"type"`
				CustomID string `json:"custom_id"`
				Label    string `json:"label"`
			} `json:"components"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	if c := body.Content; c != nil && length(*c) > maxContent {
		t.Errorf("%s %s: content of %d characters", r.Method, r.Path, length(*c))
	}
	if r.Method == "POST" && strings.HasSuffix(r.Path, "/messages") && (body.Content == nil || *body.Content == "") && len(body.Components) == 0 {
		t.Errorf("POST %s: an empty message", r.Path)
	}
	if r.Method == "PATCH" && strings.HasPrefix(r.Path, "/api/v9/channels/") {
		return // disabling a message's buttons: they are Discord's, as it sent them
	}
	if len(body.Components) > maxRows {
		t.Errorf("%s %s: %d rows of buttons", r.Method, r.Path, len(body.Components))
	}
	for _, row := range body.Components {
		if len(row.Components) > maxButtons {
			t.Errorf("%s %s: %d buttons in a row", r.Method, r.Path, len(row.Components))
		}
		for _, btn := range row.Components {
			if btn.Type != int(discordgo.ButtonComponent) {
				t.Errorf("%s %s: a component of type %d", r.Method, r.Path, btn.Type)
				continue
			}
			if btn.CustomID == "" || len(btn.CustomID) > maxCustomID || utf8.RuneCountInString(btn.Label) > maxLabel || btn.Label == "" {
				t.Errorf("%s %s: button %q %q", r.Method, r.Path, btn.CustomID, btn.Label)
			}
		}
	}
}
