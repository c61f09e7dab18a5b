package telegram

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI is a Telegram Bot API server speaking the real wire format:
// form-encoded POSTs to /bot<token>/<method>, answered with
// {"ok":true,"result":…} or {"ok":false,"error_code":…}. getUpdates holds
// the poll until an update arrives, like Telegram, and forgets updates
// below the offset it is asked for (that is how Telegram confirms them).
// An unmodelled method fails the test.
type fakeAPI struct {
	t     *testing.T
	token string
	srv   *httptest.Server

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	updates  []fakeUpdate  // not yet confirmed
	nextUpd  int
	nextMsg  int
	messages map[int]map[string]any // every message, by message_id
	calls    []fakeCall             // answered with ok:true, in order
	polls    []int                  // the offsets getUpdates was asked for
	failures map[string][]fakeFailure
	failed   int // failures served

	immediate  bool                                   // getUpdates answers at once, even with nothing
	reserveAll bool                                   // the next getUpdates ignores the offset once
	hold       func(method string, f url.Values) bool // block this call until the client gives up
	held       int                                    // calls being held
}

// allowedReactions are some of the emoji Telegram accepts as reactions
// (the Bot API's ReactionTypeEmoji list).
const allowedReactions = "👍👎❤🔥🥰👏😁🤔🤯😱🤬😢🎉🤩🤮💩🙏👌🕊🤡🥱🥴😍🐳🌚🌭💯🤣⚡🍌🏆💔🤨😐🍓🍾💋🖕😈😴😭🤓👻👨‍💻👀🎃🙈😇😨🤝✍🤗🫡🎅🎄☃💅🤪🗿🆒💘🙉🦄😘💊🙊😎👾🤷‍♂🤷🤷‍♀😡"

type fakeUpdate struct {
	id  int
	obj map[string]any
}

type fakeCall struct {
	Method string
	Form   url.Values
	MsgID  int // the message_id given to a sent message
}

type fakeFailure struct {
	code       int
	desc       string
	retryAfter int
}

const (
	fakeToken   = "123456:SECRET-token"
	botID       = 999
	botUsername = "ayuda_test_bot"
)

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, token: fakeToken, changed: make(chan struct{}), nextUpd: 100, nextMsg: 1,
		messages: map[int]map[string]any{}, failures: map[string][]fakeFailure{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

// notify wakes everyone waiting for a change; the caller holds mu.
func (f *fakeAPI) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method, ok := strings.CutPrefix(r.URL.Path, "/bot"+f.token+"/")
	if !ok {
		writeJSON(w, 401, map[string]any{"ok": false, "error_code": 401, "description": "Unauthorized"})
		return
	}
	if r.Method != http.MethodPost {
		f.t.Errorf("fake Telegram: %s %s, want POST", r.Method, method)
	}
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("fake Telegram: %s: form: %v", method, err)
	}
	form := r.PostForm

	f.mu.Lock()
	if fs := f.failures[method]; len(fs) > 0 {
		fl := fs[0]
		f.failures[method] = fs[1:]
		f.failed++
		f.notify()
		f.mu.Unlock()
		body := map[string]any{"ok": false, "error_code": fl.code, "description": fl.desc}
		if fl.retryAfter > 0 {
			body["parameters"] = map[string]any{"retry_after": fl.retryAfter}
		}
		writeJSON(w, fl.code, body)
		return
	}
	if f.hold != nil && f.hold(method, form) {
		f.held++
		f.notify()
		f.mu.Unlock()
		<-r.Context().Done()
		f.mu.Lock()
		f.held--
		f.notify()
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()

	var result any
	msgID := 0
	switch method {
	case "getMe":
		result = map[string]any{"id": botID, "is_bot": true, "first_name": "Ayuda", "username": botUsername}
	case "getUpdates":
		ups, ok := f.getUpdates(r, form)
		if !ok {
			return
		}
		result = ups
	case "sendMessage":
		m := f.sendMessage(form)
		result, msgID = m, m["message_id"].(int)
	case "answerCallbackQuery", "editMessageReplyMarkup", "setMyCommands", "deleteWebhook", "setWebhook":
		result = true
	case "setMessageReaction":
		// Bot API: reaction is a JSON array of ReactionType; a bot may set
		// one emoji reaction, from Telegram's list, on a message that exists.
		var rs []struct{ Type, Emoji string }
		if err := json.Unmarshal([]byte(form.Get("reaction")), &rs); err != nil || len(rs) != 1 || rs[0].Type != "emoji" || !strings.Contains(allowedReactions, rs[0].Emoji) || rs[0].Emoji == "" {
			writeJSON(w, 400, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: REACTION_INVALID"})
			return
		}
		if form.Get("chat_id") == "" || form.Get("message_id") == "" {
			writeJSON(w, 400, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: message to react not found"})
			return
		}
		result = true
	default:
		f.t.Errorf("fake Telegram: unmodelled method %s", method)
		writeJSON(w, 404, map[string]any{"ok": false, "error_code": 404, "description": "Not Found"})
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{Method: method, Form: form, MsgID: msgID})
	f.notify()
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{"ok": true, "result": result})
}

func (f *fakeAPI) getUpdates(r *http.Request, form url.Values) ([]map[string]any, bool) {
	offset, _ := strconv.Atoi(form.Get("offset"))
	timeout, _ := strconv.Atoi(form.Get("timeout"))
	if form.Get("allowed_updates") != `["message","callback_query"]` {
		f.t.Errorf("getUpdates allowed_updates = %q", form.Get("allowed_updates"))
	}
	deadline := time.NewTimer(time.Duration(timeout) * time.Second)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		if len(f.polls) == 0 || f.polls[len(f.polls)-1] != offset {
			f.polls = append(f.polls, offset)
			f.notify()
		}
		if f.reserveAll {
			offset, f.reserveAll = 0, false
		}
		var out []map[string]any
		kept := f.updates[:0]
		for _, u := range f.updates {
			if offset > 0 && u.id < offset {
				continue // confirmed
			}
			kept = append(kept, u)
			out = append(out, u.obj)
		}
		f.updates = kept
		ch, immediate := f.changed, f.immediate
		f.mu.Unlock()
		if len(out) > 0 || immediate {
			if out == nil {
				out = []map[string]any{}
			}
			return out, true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return []map[string]any{}, true
		case <-r.Context().Done():
			return nil, false
		}
	}
}

func (f *fakeAPI) sendMessage(form url.Values) map[string]any {
	chat, _ := strconv.ParseInt(form.Get("chat_id"), 10, 64)
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.nextMsg
	f.nextMsg++
	typ := "private"
	if chat < 0 {
		typ = "supergroup"
	}
	m := map[string]any{
		"message_id": id, "date": time.Now().Unix(), "text": form.Get("text"),
		"from": map[string]any{"id": botID, "is_bot": true, "first_name": "Ayuda", "username": botUsername},
		"chat": map[string]any{"id": chat, "type": typ},
	}
	if rt, _ := strconv.Atoi(form.Get("reply_to_message_id")); rt != 0 && f.messages[rt] != nil {
		m["reply_to_message"] = f.messages[rt]
	}
	if rm := form.Get("reply_markup"); rm != "" {
		var v any
		if err := json.Unmarshal([]byte(rm), &v); err != nil {
			f.t.Errorf("sendMessage reply_markup %q: %v", rm, err)
		}
		m["reply_markup"] = v
	}
	f.messages[id] = m
	return m
}

// failNext makes the next calls of method fail, one failure each.
func (f *fakeAPI) failNext(method string, fs ...fakeFailure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[method] = append(f.failures[method], fs...)
}

func (f *fakeAPI) set(fn func(f *fakeAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
	f.notify()
}

// push queues an update built by obj (given its update_id) and returns
// the update_id.
func (f *fakeAPI) push(obj func(id int) map[string]any) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.nextUpd
	f.nextUpd++
	o := obj(id)
	o["update_id"] = id
	f.updates = append(f.updates, fakeUpdate{id: id, obj: o})
	f.notify()
	return id
}

type user struct {
	id   int64
	name string
	lang string
}

func (u user) obj() map[string]any {
	o := map[string]any{"id": u.id, "is_bot": false, "first_name": u.name}
	if u.lang != "" {
		o["language_code"] = u.lang
	}
	return o
}

// message pushes a message from u in chat (a private chat when chat is
// u.id) and returns its update_id and message_id. extra adds fields.
func (f *fakeAPI) message(chat int64, u user, text string, extra map[string]any) (update, message int) {
	c := map[string]any{"id": chat, "type": "private", "first_name": u.name}
	if chat < 0 {
		c = map[string]any{"id": chat, "type": "supergroup", "title": "Clientes"}
	}
	m := map[string]any{"date": time.Now().Unix(), "chat": c, "from": u.obj()}
	if text != "" {
		m["text"] = text
		if strings.HasPrefix(text, "/") {
			cmd, _, _ := strings.Cut(text, " ")
			m["entities"] = []map[string]any{{"type": "bot_command", "offset": 0, "length": len(cmd)}}
		}
	}
	for k, v := range extra {
		m[k] = v
	}
	f.mu.Lock()
	message = f.nextMsg
	f.nextMsg++
	m["message_id"] = message
	f.messages[message] = m
	f.mu.Unlock()
	update = f.push(func(int) map[string]any { return map[string]any{"message": m} })
	return update, message
}

// press pushes a callback query: u pressed the button with data on the
// bot's message msg.
func (f *fakeAPI) press(u user, msg int, data string) (update int, queryID string) {
	f.mu.Lock()
	m := f.messages[msg]
	f.mu.Unlock()
	if m == nil {
		f.t.Fatalf("press: no message %d", msg)
	}
	update = f.push(func(id int) map[string]any {
		queryID = fmt.Sprintf("cb-%d", id)
		return map[string]any{"callback_query": map[string]any{
			"id": queryID, "from": u.obj(), "message": m, "chat_instance": "1", "data": data,
		}}
	})
	return update, queryID
}

// waitFor waits until cond, called with mu held, is true. The bound only
// catches a hang; nothing depends on how fast things happen.
func (f *fakeAPI) waitFor(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ok, ch := cond(), f.changed
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			f.t.Fatalf("gave up waiting for %s; calls: %s", what, f.summary())
		}
	}
}

// sentLocked returns the sendMessage calls to chat, in order; the caller
// holds mu.
func (f *fakeAPI) sentLocked(chat int64) []fakeCall {
	var out []fakeCall
	for _, c := range f.calls {
		if c.Method == "sendMessage" && c.Form.Get("chat_id") == strconv.FormatInt(chat, 10) {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeAPI) sent(chat int64) []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sentLocked(chat)
}

// waitSent waits until chat got n messages and returns them all.
func (f *fakeAPI) waitSent(chat int64, n int) []fakeCall {
	f.t.Helper()
	f.waitFor(fmt.Sprintf("%d messages to %d", n, chat), func() bool { return len(f.sentLocked(chat)) >= n })
	return f.sent(chat)
}

func (f *fakeAPI) callsOf(method string) []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []url.Values
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c.Form)
		}
	}
	return out
}

// waitPolledPast waits until the bot asked for updates after update,
// which it does only once update was handled.
func (f *fakeAPI) waitPolledPast(update int) {
	f.t.Helper()
	f.waitFor(fmt.Sprintf("a poll past update %d", update), func() bool {
		return len(f.polls) > 0 && f.polls[len(f.polls)-1] > update
	})
}

// msg returns a message as Telegram knows it.
func (f *fakeAPI) msg(id int) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.messages[id]
}

func (f *fakeAPI) failuresServed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *fakeAPI) summary() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, c := range f.calls {
		if c.Method == "getUpdates" {
			continue
		}
		fmt.Fprintf(&b, "\n  %s %v", c.Method, c.Form)
	}
	fmt.Fprintf(&b, "\n  polls %v, failures served %d, held %d", f.polls, f.failed, f.held)
	return b.String()
}
