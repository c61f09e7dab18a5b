// Package inbox is the agents' inbox in the browser (/inbox): an agent
// signs in with their own token, sees the queue sorted by due time with
// each target's state, updated live on every change from any channel, and
// works a ticket there: the whole transcript, what the bot offered, the
// delivery of each message, reply, internal note, claim, take over,
// status, type and priority. Every action is taken as the signed-in agent,
// through the same escalation.Queue calls as Slack, the terminal and the
// HTTP API, recorded as coming "via inbox".
//
// Sessions are a random id in a cookie (HttpOnly, SameSite=Strict, Secure
// over HTTPS), kept in the store as a hash, so a restart keeps agents
// signed in and signing out ends the session everywhere. Every change
// needs the session's CSRF token in a header, and a request from another
// origin is refused.
package inbox

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"ayuda/auth"
	"ayuda/bots"
	"ayuda/escalation"
)

// Credentials checks an agent's token. *auth.Store is one.
type Credentials interface {
	Check(token string) (auth.Principal, bool)
	Has(role auth.Role, name string) bool
}

// Config configures the inbox.
type Config struct {
	Queue *escalation.Queue
	Creds Credentials
	// Key signs the CSRF tokens; at least 16 bytes.
	Key []byte
	// Lang is the page's language until an agent picks one: es or en.
	Lang string
	// SessionTTL is how long a session lasts without use; zero: 12 hours.
	SessionTTL time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// Inbox serves /inbox.
type Inbox struct {
	cfg Config

	mu   sync.Mutex
	subs map[chan int64]struct{} // live views: ids of changed tickets
}

// New checks cfg and starts watching the queue.
func New(cfg Config) (*Inbox, error) {
	switch {
	case cfg.Queue == nil || cfg.Creds == nil:
		return nil, errors.New("inbox: Config.Queue and Config.Creds are required")
	case len(cfg.Key) < 16:
		return nil, errors.New("inbox: Config.Key must be at least 16 bytes")
	}
	if cfg.Lang != "en" {
		cfg.Lang = "es"
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	x := &Inbox{cfg: cfg, subs: map[chan int64]struct{}{}}
	cfg.Queue.Watch(func(c escalation.Change) { x.publish(int64(c.Ticket.ID)) })
	cfg.Queue.WatchDeliveries(func(d escalation.Delivery) {
		if d.Message.Ticket != 0 {
			x.publish(int64(d.Message.Ticket))
		}
	})
	return x, nil
}

// publish tells every live view that ticket id changed, without waiting
// for any: a view that fell behind is told to reload everything (-1).
func (x *Inbox) publish(id int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for ch := range x.subs {
		select {
		case ch <- id:
		default:
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- -1:
			default:
			}
		}
	}
}

//go:embed static
var static embed.FS

// Handler serves the page, its files and its API.
func (x *Inbox) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /inbox", x.page)
	mux.HandleFunc("GET /inbox/{$}", x.page)
	mux.HandleFunc("GET /inbox/inbox.js", x.file("inbox.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /inbox/inbox.css", x.file("inbox.css", "text/css; charset=utf-8"))
	mux.HandleFunc("POST /inbox/api/login", x.login)
	mux.HandleFunc("POST /inbox/api/logout", x.signedIn(x.logout))
	mux.HandleFunc("GET /inbox/api/me", x.signedIn(x.me))
	mux.HandleFunc("GET /inbox/api/tickets", x.signedIn(x.list))
	mux.HandleFunc("GET /inbox/api/tickets/{id}", x.signedIn(x.show))
	mux.HandleFunc("POST /inbox/api/tickets/{id}/{action}", x.signedIn(x.act))
	mux.HandleFunc("GET /inbox/api/events", x.signedIn(x.events))
	mux.HandleFunc("/inbox/api/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "route", r.Method+" "+r.URL.Path+" is not part of the inbox's API")
	})
	return mux
}

func (x *Inbox) page(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	data, _ := static.ReadFile("static/inbox.html")
	w.Write(bytes.Replace(data, []byte(`<html lang="es">`), []byte(`<html lang="`+x.cfg.Lang+`">`), 1))
}

func (x *Inbox) file(name, typ string) http.HandlerFunc {
	return bots.ServeFile(static, "static/"+name, typ)
}

// Sessions.

const cookieName = "ayuda_inbox"

// maxBody bounds a request's body: a reply or note of 64 KB is longer
// than any platform takes in one message.
const maxBody = 64 << 10

// The queue.

// summary is a ticket as the queue lists it.
type summary struct {
	ID       escalation.ID       `json:"id"`
	Status   escalation.Status   `json:"status"`
	Type     escalation.Type     `json:"type"`
	Priority escalation.Priority `json:"priority"`
	Team     string              `json:"team,omitempty"`
	Assignee string              `json:"assignee,omitempty"`
	Customer string              `json:"customer"`
	Channel  string              `json:"channel"`
	Summary  string              `json:"summary"`
	Due      time.Time           `json:"due,omitzero"`
	DueWhat  string              `json:"due_what,omitempty"` // first_response or resolution
	Target   string              `json:"target"`             // on_time, warning, missed, none
	Updated  time.Time           `json:"updated"`
	Internal bool                `json:"internal,omitempty"`
}

// due is the target a ticket works to now, and its state.
func due(t *escalation.Ticket, now time.Time) (time.Time, string, string) {
	if !t.Status.Open() || !t.WaitingSince.IsZero() {
		return time.Time{}, "", "none"
	}
	at, what, warned, missed := t.ResolutionDue, "resolution", t.Alerts.ResolutionWarned, t.Alerts.ResolutionMissed
	if t.FirstResponse.IsZero() {
		at, what, warned, missed = t.FirstResponseDue, "first_response", t.Alerts.FirstResponseWarned, t.Alerts.FirstResponseMissed
	}
	switch {
	case at.IsZero():
		return at, what, "none"
	case !missed.IsZero() || now.After(at):
		return at, what, "missed"
	case !warned.IsZero():
		return at, what, "warning"
	}
	return at, what, "on_time"
}

func summarize(t *escalation.Ticket, now time.Time) summary {
	at, what, state := due(t, now)
	who := t.Customer.Name
	if who == "" {
		who = t.Customer.Address.User
	}
	return summary{
		ID: t.ID, Status: t.Status, Type: t.Type, Priority: t.Priority, Team: t.Team, Assignee: t.Assignee,
		Customer: who, Channel: t.Channel, Summary: t.Summary, Due: at, DueWhat: what, Target: state,
		Updated: t.Updated, Internal: t.Internal,
	}
}

type listReply struct {
	Tickets []summary `json:"tickets"`
}

// Views of the queue.
var views = []string{"open", "mine", "unassigned", "waiting", "overdue", "closed"}

func (x *Inbox) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	view := q.Get("view")
	if view == "" {
		view = "open"
	}
	if !slices.Contains(views, view) {
		fail(w, http.StatusBadRequest, "view", "view is one of "+strings.Join(views, ", "))
		return
	}
	var f escalation.Filter
	for _, st := range escalation.Statuses {
		if st.Open() == (view != "closed") {
			f.Status = append(f.Status, st)
		}
	}
	if view == "mine" {
		f.Assignee = current(r).agent.ID
	}
	if view == "closed" {
		f.Limit = 100
	}
	ts, err := x.cfg.Queue.List(r.Context(), f)
	if err != nil {
		x.unavailable(w, r, err)
		return
	}
	now := x.cfg.Now()
	out := listReply{Tickets: []summary{}}
	for i := range ts {
		s := summarize(&ts[i], now)
		keep := true
		switch view {
		case "unassigned":
			keep = s.Assignee == ""
		case "waiting":
			keep = s.Status == escalation.Waiting
		case "overdue":
			keep = s.Target == "missed"
		}
		for k, v := range map[string]string{"team": s.Team, "type": string(s.Type), "priority": string(s.Priority), "channel": s.Channel} {
			if want := q.Get(k); want != "" && want != v {
				keep = false
			}
		}
		if keep {
			out.Tickets = append(out.Tickets, s)
		}
	}
	// Due first (the oldest due time at the top), then the rest by update.
	slices.SortStableFunc(out.Tickets, func(a, b summary) int {
		switch {
		case !a.Due.IsZero() && !b.Due.IsZero():
			return a.Due.Compare(b.Due)
		case !a.Due.IsZero():
			return -1
		case !b.Due.IsZero():
			return 1
		}
		return b.Updated.Compare(a.Updated)
	})
	bots.WriteJSON(w, http.StatusOK, out)
}

// delivery is the state of one message ayuda owes the customer.
type delivery struct {
	Text     string    `json:"text"`
	State    string    `json:"state"` // queued or undeliverable
	Error    string    `json:"error,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	Created  time.Time `json:"created"`
}

type ticketReply struct {
	Ticket     *escalation.Ticket `json:"ticket"`
	Summary    summary            `json:"summary"`
	Deliveries []delivery         `json:"deliveries"`
}

func (x *Inbox) show(w http.ResponseWriter, r *http.Request) {
	id, err := escalation.ParseID(r.PathValue("id"))
	if err != nil {
		fail(w, http.StatusBadRequest, "id", err.Error())
		return
	}
	t, err := x.cfg.Queue.Get(r.Context(), id)
	if err != nil {
		x.problem(w, r, err)
		return
	}
	out := ticketReply{Ticket: t, Summary: summarize(t, x.cfg.Now()), Deliveries: []delivery{}}
	// What still waits for the customer is read by recipient (indexed);
	// the messages given up on only when the ticket says one was, so a
	// ticket's page does not cost more as the store fills.
	queued, err := x.cfg.Queue.Peek(r.Context(), t.Customer.Address)
	if err != nil {
		x.unavailable(w, r, err)
		return
	}
	var dead []escalation.Outgoing
	if slices.ContainsFunc(t.Events, func(e escalation.Event) bool { return e.What == "delivery_failed" }) {
		if dead, err = x.cfg.Queue.Undeliverable(r.Context()); err != nil {
			x.unavailable(w, r, err)
			return
		}
	}
	for state, os := range map[string][]escalation.Outgoing{"queued": queued, "undeliverable": dead} {
		for _, o := range os {
			if o.Ticket == id {
				out.Deliveries = append(out.Deliveries, delivery{Text: o.Reply.Text, State: state, Error: o.LastErr, Attempts: o.Attempts, Created: o.Created})
			}
		}
	}
	slices.SortFunc(out.Deliveries, func(a, b delivery) int { return a.Created.Compare(b.Created) })
	bots.WriteJSON(w, http.StatusOK, out)
}

type actRequest struct {
	Text     string `json:"text"`
	Status   string `json:"status"`
	Type     string `json:"type"`
	Priority string `json:"priority"`
}

func (x *Inbox) act(w http.ResponseWriter, r *http.Request) {
	id, err := escalation.ParseID(r.PathValue("id"))
	if err != nil {
		fail(w, http.StatusBadRequest, "id", err.Error())
		return
	}
	var b actRequest
	if !decode(w, r, &b) {
		return
	}
	agent := current(r).agent.ID
	ctx, q := r.Context(), x.cfg.Queue
	var t *escalation.Ticket
	switch r.PathValue("action") {
	case "reply", "note":
		if strings.TrimSpace(b.Text) == "" {
			fail(w, http.StatusBadRequest, "empty", "write something first")
			return
		}
		if r.PathValue("action") == "reply" {
			t, err = q.Reply(ctx, id, agent, b.Text)
		} else {
			t, err = q.Note(ctx, id, agent, b.Text)
		}
	case "claim":
		t, err = q.Claim(ctx, id, agent)
	case "takeover":
		t, err = q.Takeover(ctx, id, agent, strings.TrimSpace(b.Text))
	case "status":
		var st escalation.Status
		if st, err = escalation.ParseStatus(b.Status); err != nil {
			fail(w, http.StatusBadRequest, "status", err.Error())
			return
		}
		t, err = q.SetStatus(ctx, id, agent, st)
	case "classify":
		typ, p := escalation.Type(""), escalation.Priority("")
		if b.Type != "" {
			if typ, err = escalation.ParseType(b.Type); err != nil {
				fail(w, http.StatusBadRequest, "type", err.Error())
				return
			}
		}
		if b.Priority != "" {
			if p, err = escalation.ParsePriority(b.Priority); err != nil {
				fail(w, http.StatusBadRequest, "priority", err.Error())
				return
			}
		}
		t, err = q.Classify(ctx, id, agent, typ, p)
	default:
		fail(w, http.StatusNotFound, "action", "no such action: reply, note, claim, takeover, status or classify")
		return
	}
	if err != nil {
		x.problem(w, r, err)
		return
	}
	bots.WriteJSON(w, http.StatusOK, summarize(t, x.cfg.Now()))
}

// events is the live feed: the id of each ticket that changes, as
// server-sent events; "0" every 25 s keeps proxies from closing it, and
// "-1" means reload everything.
func (x *Inbox) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		fail(w, http.StatusInternalServerError, "stream", "this server cannot stream")
		return
	}
	rc := http.NewResponseController(w)
	ch := make(chan int64, 64)
	x.mu.Lock()
	x.subs[ch] = struct{}{}
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		delete(x.subs, ch)
		x.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	tick := time.NewTicker(25 * time.Second)
	defer tick.Stop()
	for {
		var id int64
		select {
		case <-r.Context().Done():
			return
		case id = <-ch:
		case <-tick.C:
		}
		// A stream outlives the server's write timeout: each event moves it.
		rc.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := fmt.Fprintf(w, "data: %d\n\n", id); err != nil {
			return
		}
		fl.Flush()
	}
}

// Errors, in words.

type problemReply struct {
	Code  string `json:"code"`
	Error string `json:"error"`
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	bots.WriteJSON(w, status, problemReply{Code: code, Error: msg})
}

func (x *Inbox) problem(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, escalation.ErrNotFound):
		fail(w, http.StatusNotFound, "ticket", "no such ticket")
	case errors.Is(err, escalation.ErrStalled), errors.Is(err, escalation.ErrStalledInFlight):
		x.unavailable(w, r, err)
	default:
		// The queue's refusals (a closed ticket, someone else's claim)
		// are sentences for the agent.
		fail(w, http.StatusConflict, "refused", strings.TrimPrefix(err.Error(), "escalation: "))
	}
}

func (x *Inbox) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	x.cfg.Logger.ErrorContext(r.Context(), "inbox: the store did not answer", "err", err)
	w.Header().Set("Retry-After", "2")
	fail(w, http.StatusServiceUnavailable, "unavailable", "the store did not answer in time: try again")
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		fail(w, http.StatusUnsupportedMediaType, "json", "send application/json")
		return false
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(v); err != nil {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			fail(w, http.StatusRequestEntityTooLarge, "long", fmt.Sprintf("that is too long: at most %d KB", maxBody>>10))
			return false
		}
		fail(w, http.StatusBadRequest, "json", "the request is not the JSON the inbox sends")
		return false
	}
	return true
}
