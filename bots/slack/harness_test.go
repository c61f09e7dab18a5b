package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ayuda/bots"
	"ayuda/bots/telegram"
	"ayuda/dialog"
	"ayuda/escalation"
	"ayuda/faq"
	"ayuda/knowledge"
)

// People in the tests.
const (
	agentsCh = "CDESK"
	ana      = "UANA"
	luis     = "ULUIS"
	stranger = "USTRANGER"
	staff    = "USTAFF"
)

// harness runs the real stack: the store in a temporary directory, the
// built-in articles, the dialog engine, the outbox dispatcher routing to
// this Slack Bot and to a real telegram.Bot, against fake Slack and
// Telegram servers.
type harness struct {
	t   *testing.T
	f   *fakeSlack
	tg  *fakeTelegram
	q   *escalation.Queue
	eng *dialog.Engine
	tgb *telegram.Bot
	cfg Config

	mu     sync.Mutex
	bot    *Bot
	stop   func()
	n      int
	sleeps []time.Duration
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, f: newFakeSlack(t), tg: newFakeTelegram(t)}
	idx := builtinIndex(t)
	var err error
	h.q, err = escalation.Open(filepath.Join(t.TempDir(), "ayuda.db"), escalation.Config{
		Agents: []escalation.Agent{{ID: "ana", Name: "Ana", Slack: ana}, {ID: "luis", Name: "Luis", Slack: luis}},
		Notify: dialog.Notifier(),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.eng, err = dialog.New(dialog.Config{Search: idx, Queue: h.q})
	if err != nil {
		t.Fatal(err)
	}
	h.tgb, err = telegram.New(telegram.Config{Token: telegram.Secret(h.tg.token), APIURL: h.tg.srv.URL, State: h.q, Outbox: h.q, PollTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	agents := map[string]string{}
	for _, a := range h.q.Agents() {
		if a.Slack != "" {
			agents[a.Slack] = a.ID
		}
	}
	h.cfg = Config{
		BotToken: botToken, AppToken: appToken, APIURL: h.f.srv.URL + "/api/",
		AgentsChannel: agentsCh, Agents: agents,
		Queue: h.q, State: h.q, Outbox: h.q, Logger: log.With("platform", "slack"),
	}
	if mod != nil {
		mod(&h.cfg)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	router := escalation.SenderFunc(func(ctx context.Context, to bots.Address, r bots.Reply) error {
		switch to.Platform {
		case bots.Telegram:
			return h.tgb.Send(ctx, to, r)
		case bots.Slack:
			h.mu.Lock()
			b := h.bot
			h.mu.Unlock()
			if b == nil {
				return bots.ErrUnreachable
			}
			return b.Send(ctx, to, r)
		}
		return bots.ErrUnreachable
	})
	wg.Go(func() { h.q.Dispatch(ctx, router, 2) })
	t.Cleanup(func() {
		h.stopBot()
		cancel()
		wg.Wait()
		h.q.Close()
	})
	h.startBot()
	return h
}

// index is the built-in articles' index, built once: it is read-only and
// safe for concurrent use, and building it is most of a test's time.
var index struct {
	once sync.Once
	idx  *knowledge.Index
	err  error
}

func builtinIndex(t *testing.T) *knowledge.Index {
	t.Helper()
	index.once.Do(func() {
		entries, err := faq.Builtin()
		if err != nil {
			index.err = err
			return
		}
		index.idx, index.err = knowledge.New(entries)
	})
	if index.err != nil {
		t.Fatal(index.err)
	}
	return index.idx
}

// newBot builds a Bot from the harness's configuration, with a clock that
// records waits instead of waiting.
func (h *harness) newBot() *Bot {
	h.t.Helper()
	b, err := New(h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	b.sleep = func(ctx context.Context, d time.Duration) error {
		h.mu.Lock()
		h.sleeps = append(h.sleeps, d)
		h.mu.Unlock()
		return ctx.Err()
	}
	return b
}

// startBot runs a new Bot until stopBot.
func (h *harness) startBot() {
	h.t.Helper()
	b := h.newBot()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, h.eng.Handle) }()
	h.mu.Lock()
	h.bot = b
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("Run: %v", err)
		}
	}
	h.mu.Unlock()
}

func (h *harness) stopBot() {
	h.mu.Lock()
	stop := h.stop
	h.stop, h.bot = nil, nil
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// runTelegram runs the Telegram channel for inbound customer messages.
func (h *harness) runTelegram() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.tgb.Run(ctx, h.eng.Handle) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("telegram Run: %v", err)
		}
	})
}

var maria = bots.Address{Platform: bots.Telegram, Chat: "42", User: "42"}

// customer says text as María on Telegram, through the engine.
func (h *harness) customer(text string) bots.Reply {
	h.n++
	return h.eng.Handle(h.t.Context(), bots.Message{ID: fmt.Sprintf("tg:%d", h.n), From: maria, Name: "María", Text: text, Time: time.Now()})
}

// openTicket has María ask, say the answer did not help, and returns the
// card of the ticket that opens.
func (h *harness) openTicket() fakeMsg {
	h.t.Helper()
	h.customer("¿cuánto tarda un envío a Canarias?")
	if r := h.customer("no"); !strings.Contains(r.Text, "#1") {
		h.t.Fatalf("no ticket opened: %q", r.Text)
	}
	card := h.f.waitPosted(agentsCh, "", "#1")
	// The desk has recorded where the card is (the fake has the message
	// before the desk has Slack's answer): a test may stop the bot now.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if data, err := h.q.GetMeta(h.t.Context(), threadKey(card.TS)); err == nil && data != nil {
			break
		}
		if time.Now().After(deadline) {
			h.t.Fatal("the desk never recorded where it posted the card")
		}
	}
	return card
}

func (h *harness) ticket(id escalation.ID) *escalation.Ticket {
	h.t.Helper()
	tk, err := h.q.Get(h.t.Context(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return tk
}

func (h *harness) nextEnv() string {
	h.n++
	return fmt.Sprintf("env-%d", h.n)
}

func (h *harness) newTS() string {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	return h.f.ts()
}

// event sends an Events API envelope with inner event ev, and returns the
// envelope id and the whole payload (to send it again).
func (h *harness) event(ev map[string]any) (string, map[string]any) {
	env := h.nextEnv()
	payload := map[string]any{"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
		"event_id": "Ev" + env, "event_time": time.Now().Unix(), "event": ev}
	h.f.send(typeEvents, env, payload, 0)
	return env, payload
}

// dm sends user's direct message to the app.
func (h *harness) dm(user, text string) (env string, payload map[string]any) {
	ts := h.newTS()
	return h.event(map[string]any{"type": "message", "channel": "D" + user, "channel_type": "im", "user": user,
		"text": text, "ts": ts, "event_ts": ts})
}

// inThread sends user's message in the thread of the message thread in
// the agents' channel, and returns the message's ts.
func (h *harness) inThread(user, thread, text string) (env, ts string) {
	ts = h.newTS()
	env, _ = h.event(map[string]any{"type": "message", "channel": agentsCh, "channel_type": "channel", "user": user,
		"text": text, "ts": ts, "thread_ts": thread, "event_ts": ts})
	return env, ts
}

// press sends user's click on the element actionID of message m (with
// option chosen, for a menu).
func (h *harness) press(user string, m fakeMsg, actionID, option string) string {
	h.t.Helper()
	el := findAction(h.t, m, actionID)
	return h.click(user, m, el, option)
}

func (h *harness) click(user string, m fakeMsg, el element, option string) string {
	env := h.nextEnv()
	act := map[string]any{"action_id": el.ActionID, "block_id": el.BlockID, "type": el.Type, "action_ts": h.newTS(),
		"text": map[string]any{"type": "plain_text", "text": el.Text.Text}}
	if el.Type == "static_select" {
		act["selected_option"] = map[string]any{"value": option, "text": map[string]any{"type": "plain_text", "text": option}}
	} else {
		act["value"] = el.Value
	}
	payload := map[string]any{"type": "block_actions", "trigger_id": "trig-" + env, "api_app_id": "A1",
		"user": map[string]any{"id": user, "username": strings.ToLower(user)}, "team": map[string]any{"id": "T1"},
		"container": map[string]any{"type": "message", "message_ts": m.TS, "channel_id": m.Channel, "is_ephemeral": false, "thread_ts": m.Thread},
		"channel":   map[string]any{"id": m.Channel},
		"message":   map[string]any{"type": "message", "ts": m.TS, "text": m.Text, "blocks": json.RawMessage(m.Blocks)},
		"actions":   []any{act}}
	h.f.mu.Lock()
	h.f.triggers["trig-"+env] = time.Now()
	h.f.mu.Unlock()
	h.f.send(typeInteractive, env, payload, 0)
	return env
}

// waitView waits for the n-th form (from 1) opened with views.open.
func (h *harness) waitView(n int) fakeView {
	h.t.Helper()
	var v fakeView
	h.f.waitFor(fmt.Sprintf("form %d to open", n), func() bool {
		if len(h.f.views) >= n {
			v = h.f.views[n-1]
			return true
		}
		return false
	})
	return v
}

// submitView sends user's submission of form v with text typed in it, as
// Slack's view_submission payload.
func (h *harness) submitView(user string, v fakeView, text string) string {
	env := h.nextEnv()
	payload := map[string]any{"type": "view_submission", "trigger_id": "trig-" + env, "api_app_id": "A1",
		"user": map[string]any{"id": user, "username": strings.ToLower(user)}, "team": map[string]any{"id": "T1"},
		"view": map[string]any{"id": v.ID, "type": "modal", "callback_id": v.View["callback_id"], "private_metadata": v.View["private_metadata"],
			"state": map[string]any{"values": map[string]any{formBlock: map[string]any{formInput: map[string]any{"type": "plain_text_input", "value": text}}}}}}
	h.f.send(typeInteractive, env, payload, 0)
	return env
}

// button returns the element of m whose label is label.
func button(t *testing.T, m fakeMsg, label string) element {
	t.Helper()
	for _, e := range actions(t, m.Blocks) {
		if e.Text.Text == label {
			return e
		}
	}
	t.Fatalf("no button %q in %s", label, m.Blocks)
	return element{}
}

func (h *harness) waitTicket(id escalation.ID, what string, cond func(t *escalation.Ticket) bool) *escalation.Ticket {
	h.t.Helper()
	changed := make(chan struct{}, 1)
	h.q.Watch(func(escalation.Change) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		tk := h.ticket(id)
		if cond(tk) {
			return tk
		}
		select {
		case <-changed:
		case <-deadline.C:
			h.t.Fatalf("ticket #%d never %s: %+v", id, what, tk)
		}
	}
}

func (h *harness) slept() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.sleeps...)
}
