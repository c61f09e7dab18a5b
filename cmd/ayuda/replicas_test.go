package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ayuda/api"
	"ayuda/auth"
	"ayuda/escalation"
	"ayuda/internal/pgtest"
)

// tgReplicaFake is the Telegram Bot API as several replicas meet it: one
// bot token, so getUpdates has one poller at a time (Telegram answers a
// second, concurrent one with 409 Conflict and ends the first); an update
// is confirmed, and never sent again, once a getUpdates asks for an offset
// past it.
type tgReplicaFake struct {
	t       *testing.T
	mu      sync.Mutex
	changed chan struct{}
	updates []tgUpdate // not confirmed yet
	nextID  int
	offset  int // the highest offset asked for: the updates before it are confirmed
	polls   int // getUpdates in flight
	overlap int // getUpdates that found another in flight
	nextMsg int
	sent    map[int64][]string // chat → texts the bot sent, in order
	sentAt  map[int64][]time.Time
	texts   map[int]string // update id → its message's text
}

type tgUpdate struct {
	id  int
	obj map[string]any
}

const replicaBotToken = "4242:replica-test-token"

func newTgReplicaFake(t *testing.T) *tgReplicaFake {
	return &tgReplicaFake{t: t, changed: make(chan struct{}), nextID: 1, nextMsg: 1, sent: map[int64][]string{}, sentAt: map[int64][]time.Time{}, texts: map[int]string{}}
}

func (f *tgReplicaFake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// push is a customer's message, as an update.
func (f *tgReplicaFake) push(user int64, text string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.nextID
	f.nextID++
	f.texts[id] = text
	f.updates = append(f.updates, tgUpdate{id: id, obj: map[string]any{
		"update_id": id,
		"message": map[string]any{
			"message_id": 10000 + id, "date": time.Now().Unix(), "text": text,
			"chat": map[string]any{"id": user, "type": "private"},
			"from": map[string]any{"id": user, "is_bot": false, "first_name": fmt.Sprint("C", user), "language_code": "es"},
		},
	}})
	f.notify()
	return id
}

func (f *tgReplicaFake) allConfirmed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nextID <= f.offset
}

func (f *tgReplicaFake) sentTo(chat int64) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent[chat])
}

func (f *tgReplicaFake) sentTimes(chat int64) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sentAt[chat])
}

func (f *tgReplicaFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method, ok := strings.CutPrefix(r.URL.Path, "/bot"+replicaBotToken+"/")
	if !ok {
		writeTg(w, 401, map[string]any{"ok": false, "error_code": 401, "description": "Unauthorized"})
		return
	}
	r.ParseForm()
	var result any = true
	switch method {
	case "getMe":
		result = map[string]any{"id": 4242, "is_bot": true, "first_name": "Ayuda", "username": "ayuda_replica_bot"}
	case "getUpdates":
		ups, ok := f.getUpdates(r)
		if !ok {
			return
		}
		result = ups
	case "sendMessage":
		chat, _ := strconv.ParseInt(r.PostForm.Get("chat_id"), 10, 64)
		f.mu.Lock()
		id := f.nextMsg
		f.nextMsg++
		f.sent[chat] = append(f.sent[chat], r.PostForm.Get("text"))
		f.sentAt[chat] = append(f.sentAt[chat], time.Now())
		f.notify()
		f.mu.Unlock()
		result = map[string]any{"message_id": id, "date": time.Now().Unix(), "text": r.PostForm.Get("text"),
			"chat": map[string]any{"id": chat, "type": "private"}, "from": map[string]any{"id": 4242, "is_bot": true, "first_name": "Ayuda"}}
	case "answerCallbackQuery", "editMessageReplyMarkup", "setMyCommands", "deleteWebhook", "setMessageReaction", "sendChatAction":
	default:
		writeTg(w, 404, map[string]any{"ok": false, "error_code": 404, "description": "Not Found: method " + method})
		return
	}
	writeTg(w, 200, map[string]any{"ok": true, "result": result})
}

func writeTg(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (f *tgReplicaFake) getUpdates(r *http.Request) ([]map[string]any, bool) {
	offset, _ := strconv.Atoi(r.PostForm.Get("offset"))
	timeout, _ := strconv.Atoi(r.PostForm.Get("timeout"))
	f.mu.Lock()
	f.polls++
	if f.polls > 1 {
		f.overlap++
		f.t.Errorf("two getUpdates at once: two replicas poll one bot token (Telegram answers 409 Conflict)")
	}
	if offset > f.offset {
		f.offset = offset
		kept := f.updates[:0]
		for _, u := range f.updates {
			if u.id >= offset {
				kept = append(kept, u)
			}
		}
		f.updates = kept
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.polls--
		f.mu.Unlock()
	}()
	deadline := time.NewTimer(time.Duration(min(timeout, 2)) * time.Second)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		var out []map[string]any
		for _, u := range f.updates {
			if u.id >= offset {
				out = append(out, u.obj)
			}
		}
		ch := f.changed
		f.mu.Unlock()
		if len(out) > 0 {
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

// TestReplicasUnderKills runs three `ayuda serve` replicas on one
// PostgreSQL database behind one Telegram bot, with customers writing and
// an agent answering through whichever replica is up, and kills one
// replica with SIGKILL every few seconds (restarting it). Then: no two
// replicas ever polled Telegram at once; every customer has one ticket;
// every message Telegram saw confirmed is on it exactly once; every agent
// reply the API acknowledged reached the customer, in the order it was
// acknowledged, once (twice only when a kill cut its sending short, which
// Telegram's API gives no way to tell).
func TestReplicasUnderKills(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills server processes")
	}
	schema := pgtest.Schema(t)
	bin := serverBinary(t)
	fake := newTgReplicaFake(t)
	tg := httptest.NewServer(fake)
	defer tg.Close()
	dir := t.TempDir()
	// The agent's token is issued into the first replica's data
	// directory; that replica's first start takes it into the database,
	// where the others (whose data directories have no credentials) find it.
	var datas []string
	creds, err := auth.Open(filepath.Join(dir, "r0"))
	if err != nil {
		t.Fatal(err)
	}
	agentToken, err := creds.Issue(auth.Agent, "agente")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		d := filepath.Join(dir, fmt.Sprint("r", i))
		os.MkdirAll(d, 0o700)
		datas = append(datas, d)
	}
	env := []string{
		"AYUDA_DATABASE_URL=" + pgtest.URL() + "&search_path=" + schema,
		"TELEGRAM_BOT_TOKEN=" + replicaBotToken,
		"TELEGRAM_API_URL=" + tg.URL,
	}
	if !strings.Contains(pgtest.URL(), "?") {
		env[0] = "AYUDA_DATABASE_URL=" + pgtest.URL() + "?search_path=" + schema
	}

	var live sync.Mutex // guards replicas
	replicas := make([]*server, 3)
	for i := range replicas {
		replicas[i] = startServer(t, bin, datas[i], env...)
	}
	defer func() {
		for _, s := range replicas {
			s.kill()
		}
	}()
	anyReplica := func() *server {
		live.Lock()
		defer live.Unlock()
		return replicas[rand.IntN(len(replicas))]
	}

	const customers = 12
	user := func(c int) int64 { return int64(7000 + c) }
	var mu sync.Mutex
	followUps := map[int64][]int{} // customer → update ids of their follow-ups
	acked := map[escalation.ID][]string{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range customers {
		u := user(c)
		wg.Go(func() {
			fake.push(u, fmt.Sprintf("quiero hablar con una persona: mi pedido c%d no llega", c))
			// Follow-ups once the ticket's receipt came: from then on
			// each belongs on the ticket.
			for !slices.ContainsFunc(fake.sentTo(u), func(m string) bool { return strings.Contains(m, "#") }) {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(100+rand.IntN(200)) * time.Millisecond):
				}
				id := fake.push(u, fmt.Sprintf("mensaje c%d-%d", c, i))
				mu.Lock()
				followUps[u] = append(followUps[u], id)
				mu.Unlock()
			}
		})
	}
	wg.Go(func() { // the agent, on whichever replica answers
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			s := anyReplica()
			var list api.TicketList
			if !s.call("GET", "/api/tickets?status=open", nil, &list) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			for _, tk := range list.Tickets {
				text := fmt.Sprintf("respuesta [r%d-%d]", tk.ID, n)
				if s.callAs(agentToken, "POST", fmt.Sprintf("/api/tickets/%d/reply", tk.ID), api.Action{Agent: "agente", Text: text}, nil) {
					mu.Lock()
					acked[tk.ID] = append(acked[tk.ID], text)
					mu.Unlock()
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// Every 50 ms, what each live replica says it leads: never two
	// replicas for one role.
	samples, twice, owned := 0, map[string]int{}, map[string]int{}
	wg.Go(func() {
		cl := &http.Client{Timeout: time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			live.Lock()
			rs := slices.Clone(replicas)
			live.Unlock()
			owners := map[string]int{}
			for _, s := range rs {
				resp, err := cl.Get(s.base + "/healthz")
				if err != nil {
					continue // killed
				}
				var body strings.Builder
				io.Copy(&body, resp.Body)
				resp.Body.Close()
				for _, line := range strings.Split(body.String(), "\n") {
					if roles, ok := strings.CutPrefix(line, "leads: "); ok {
						for _, r := range strings.Fields(roles) {
							owners[r]++
						}
					}
				}
			}
			mu.Lock()
			samples++
			for r, n := range owners {
				owned[r]++
				if n > 1 {
					twice[r]++
				}
			}
			mu.Unlock()
		}
	})
	kills := 6
	var killedAt []time.Time
	if n, err := strconv.Atoi(os.Getenv("AYUDA_KILLS")); err == nil && n > 0 {
		kills = n
	}
	for range kills {
		time.Sleep(time.Duration(2000+rand.IntN(2000)) * time.Millisecond)
		i := rand.IntN(len(replicas))
		live.Lock()
		old := replicas[i]
		live.Unlock()
		killedAt = append(killedAt, time.Now())
		old.kill()
		time.Sleep(time.Duration(rand.IntN(500)) * time.Millisecond)
		s := startServer(t, bin, datas[i], env...)
		live.Lock()
		replicas[i] = s
		live.Unlock()
	}
	close(stop)
	wg.Wait()

	// Everything settles: every update confirmed, every reply delivered.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Fatalf("after 60 s: %s", what)
	}
	waitFor("Telegram sees every update confirmed", fake.allConfirmed)
	mu.Lock()
	defer mu.Unlock()
	var list api.TicketList
	if !anyReplica().call("GET", "/api/tickets", nil, &list) {
		t.Fatal("list failed")
	}
	byChat := map[string][]escalation.ID{}
	for _, tk := range list.Tickets {
		byChat[tk.Customer.Address.Chat] = append(byChat[tk.Customer.Address.Chat], tk.ID)
	}
	stored, replies, resent := 0, 0, 0
	for c := range customers {
		u := user(c)
		ids := byChat[fmt.Sprint(u)]
		if len(ids) != 1 {
			t.Errorf("customer %d has tickets %v, want one", u, ids)
			continue
		}
		var tk escalation.Ticket
		if !anyReplica().call("GET", fmt.Sprintf("/api/tickets/%d", ids[0]), nil, &tk) {
			t.Fatal("ticket failed")
		}
		on := map[string]int{}
		for _, e := range tk.Transcript {
			if e.Author == escalation.AuthorCustomer {
				on[e.Text]++
			}
		}
		for _, id := range followUps[u] {
			text := fake.texts[id]
			if n := on[text]; n != 1 {
				t.Errorf("%q (update %d, confirmed) is on ticket #%d %d times, want once", text, id, tk.ID, n)
			}
			stored++
		}
		want := acked[tk.ID]
		waitFor(fmt.Sprintf("the %d replies to #%d reach the customer", len(want), tk.ID), func() bool {
			got := 0
			for _, m := range fake.sentTo(u) {
				if strings.Contains(m, "[r") {
					got++
				}
			}
			return got >= len(want)
		})
		var got []string
		var at []time.Time
		times := fake.sentTimes(u)
		for k, m := range fake.sentTo(u) {
			if i := strings.Index(m, "respuesta [r"); i >= 0 {
				got = append(got, m[i:i+strings.Index(m[i:], "]")+1])
				at = append(at, times[k])
			}
		}
		// Telegram's sendMessage has no idempotency key: a replica killed
		// after Telegram took a message and before it struck it off the
		// outbox leaves it to be sent again. That, and only that, may
		// repeat a reply: a kill between the two sendings.
		first := map[string]time.Time{}
		for k, g := range got {
			t0, again := first[g]
			if !again {
				first[g] = at[k]
				continue
			}
			if !slices.ContainsFunc(killedAt, func(kt time.Time) bool { return kt.After(t0) && kt.Before(at[k]) }) {
				t.Errorf("%q reached customer %d twice with no kill between", g, u)
			}
			resent++
		}
		// In the order acknowledged: those acknowledged are a
		// subsequence of what arrived (a reply whose acknowledgement was
		// lost to a kill may arrive too).
		j := 0
		for _, g := range got {
			if j < len(want) && g == want[j] {
				j++
			}
		}
		if j != len(want) {
			t.Errorf("ticket #%d: replies arrived as %v, acknowledged in the order %v", tk.ID, got, want)
		}
		replies += len(want)
	}
	for r, n := range twice {
		t.Errorf("%s had two owners in %d of %d looks", r, n, samples)
	}
	for _, r := range []string{"outbox", "watchdog", "channel:telegram"} {
		if samples < 50 || owned[r] < samples/2 {
			t.Errorf("%s had an owner in %d of %d looks", r, owned[r], samples)
		}
	}
	if stored < customers*5 || replies < customers {
		t.Fatalf("only %d follow-ups and %d replies: the load was too light to check anything", stored, replies)
	}
	t.Logf("3 replicas, %d kills: %d follow-ups stored once each, %d agent replies delivered in order (%d sent again after a kill cut their sending short), %d concurrent getUpdates, never two owners of a role in %d looks (the watchdog had one in %d, Telegram's polling in %d; none while handed over)", kills, stored, replies, resent, fake.overlap, samples, owned["watchdog"], owned["channel:telegram"])
}
