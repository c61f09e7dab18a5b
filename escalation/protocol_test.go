package escalation

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ayuda/bots"
)

// desk is a protocol test's world: a store on the shop's calendar, a
// clock, and what the agents' hook (Watch) saw.
type desk struct {
	t    *testing.T
	q    *Queue
	clk  *fakeClock
	path string
	cfg  Config

	mu     sync.Mutex
	events []string // "#id what detail"
}

// protocolNotices words notices so tests can read the target and due time.
func protocolNotices(n Notice) bots.Reply {
	s := fmt.Sprintf("%s #%d %s", n.Kind, n.Ticket.ID, n.Agent.Name)
	if n.Target != "" {
		s += " " + n.Target
	}
	if !n.Due.IsZero() {
		s += " by " + n.Due.Format("Mon 15:04 MST")
	}
	if n.Text != "" {
		s += ": " + n.Text
	}
	return bots.Reply{Text: s}
}

func newDesk(t *testing.T, start string, edit func(*Config)) *desk {
	t.Helper()
	cfg := Config{
		Agents:   []Agent{{ID: "ana", Name: "Ana"}, {ID: "luis", Name: "Luis"}, {ID: "eva", Name: "Eva"}},
		Notify:   protocolNotices,
		Calendar: shopCalendar(t),
	}
	if edit != nil {
		edit(&cfg)
	}
	d := &desk{t: t, clk: &fakeClock{t: at(start)}, path: filepath.Join(t.TempDir(), "ayuda.db"), cfg: cfg}
	d.open()
	t.Cleanup(func() { d.q.Close() })
	return d
}

// quiet turns progress messages off, for tests about something else.
func quiet(c *Config) { c.Protocol.Progress = -1 }

func (d *desk) open() {
	cfg := d.cfg
	cfg.Now = d.clk.now
	q, err := openQ(d.t, d.path, cfg)
	if err != nil {
		d.t.Fatal(err)
	}
	q.Watch(func(c Change) {
		if c.Event.Actor == "system" || c.Event.What == EventRated {
			d.mu.Lock()
			d.events = append(d.events, strings.TrimSpace(fmt.Sprintf("#%d %s %s", c.Ticket.ID, c.Event.What, c.Event.Detail)))
			d.mu.Unlock()
		}
	})
	d.q = q
}

func (d *desk) restart() {
	d.t.Helper()
	if err := d.q.Close(); err != nil {
		d.t.Fatal(err)
	}
	d.open()
}

// set moves the clock to a time in Madrid.
func (d *desk) set(s string) {
	d.clk.mu.Lock()
	d.clk.t = at(s)
	d.clk.mu.Unlock()
}

func (d *desk) watch() {
	d.t.Helper()
	if err := d.q.WatchdogOnce(d.t.Context()); err != nil {
		d.t.Fatal(err)
	}
}

// heard returns and forgets what the agents' hook saw.
func (d *desk) heard() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.events
	d.events = nil
	return out
}

// told returns and forgets what waits in the outbox for customers.
func (d *desk) told() []string {
	d.t.Helper()
	p, err := d.q.Pending(d.t.Context())
	if err != nil {
		d.t.Fatal(err)
	}
	var out []string
	for _, o := range p {
		out = append(out, o.Reply.Text)
	}
	if _, err := d.q.Take(d.t.Context(), maria); err != nil {
		d.t.Fatal(err)
	}
	for _, o := range p {
		if _, err := d.q.Take(d.t.Context(), o.To); err != nil {
			d.t.Fatal(err)
		}
	}
	return out
}

func (d *desk) ticket(id ID) *Ticket {
	d.t.Helper()
	tk, err := d.q.Get(d.t.Context(), id)
	if err != nil {
		d.t.Fatal(err)
	}
	return tk
}

func (d *desk) openTicket(tk Ticket) *Ticket {
	d.t.Helper()
	if tk.Customer.Address.IsZero() {
		tk.Customer = Customer{Address: maria, Name: "María", Lang: "es"}
	}
	if tk.Summary == "" {
		tk.Summary = "no llega"
	}
	out, err := d.q.Open(d.t.Context(), tk)
	if err != nil {
		d.t.Fatal(err)
	}
	d.heard()
	return out
}

func lastNote(t *Ticket) string {
	for i := len(t.Transcript) - 1; i >= 0; i-- {
		if t.Transcript[i].Note {
			return t.Transcript[i].Text
		}
	}
	return ""
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// Due times are counted on the calendar, kept on the ticket and survive a
// restart, whatever the calendar says afterwards.
func TestDueTimesOnTheCalendar(t *testing.T) {
	d := newDesk(t, "2026-11-27 18:30", nil) // a Friday evening
	tk := d.openTicket(Ticket{Type: Consulta, Priority: Normal})
	if !tk.FirstResponseDue.Equal(at("2026-11-30 12:30")) {
		t.Errorf("first response due %v, want Monday 12:30 (½ h Friday, 4 h Saturday, 3½ h Monday)", tk.FirstResponseDue.In(madrid))
	}
	if want := d.cfg.Calendar.Add(tk.Created, 72*time.Hour); !tk.ResolutionDue.Equal(want) {
		t.Errorf("resolution due %v, want %v", tk.ResolutionDue.In(madrid), want.In(madrid))
	}
	d.cfg.Calendar = nil // the configuration changes: stored due times stay
	d.restart()
	if got := d.ticket(tk.ID); !got.FirstResponseDue.Equal(tk.FirstResponseDue) || !got.ResolutionDue.Equal(tk.ResolutionDue) {
		t.Errorf("after a restart the due times moved: %v %v", got.FirstResponseDue, got.ResolutionDue)
	}
}

// A target is met quietly, warned about at 80 % of its time, and once
// missed the customer is told with a new expectation, once, across
// restarts.
func TestTargetsMetWarnedMissed(t *testing.T) {
	d := newDesk(t, "2026-11-24 10:00", quiet) // Tuesday
	ctx := t.Context()
	met := d.openTicket(Ticket{Type: Consulta, Priority: Normal})
	late := d.openTicket(Ticket{Type: Consulta, Priority: Normal, Customer: Customer{Address: tg("200"), Lang: "en"}})
	if !late.FirstResponseDue.Equal(at("2026-11-24 18:00")) {
		t.Fatalf("due %v, want 18:00", late.FirstResponseDue.In(madrid))
	}

	d.set("2026-11-24 12:00")
	if _, err := d.q.Reply(ctx, met.ID, "ana", "Hola, lo miro."); err != nil {
		t.Fatal(err)
	}
	d.told()
	d.heard()
	d.watch()
	same(t, "at 12:00", d.heard(), nil)

	d.set("2026-11-24 16:23") // 6 h 23 min of 8 h: not yet 80 %
	d.watch()
	same(t, "at 16:23", d.heard(), nil)
	d.set("2026-11-24 16:24") // 80 %
	d.watch()
	same(t, "at 16:24 the agents are warned", d.heard(), []string{"#2 target_warning first_response"})
	same(t, "a warning tells the customer nothing", d.told(), nil)
	if n := lastNote(d.ticket(late.ID)); !strings.Contains(n, "first response target is due Tue 24 Nov 18:00") {
		t.Errorf("the note for terminal agents: %q", n)
	}
	d.restart()
	d.watch()
	same(t, "after a restart", d.heard(), nil)

	d.set("2026-11-24 18:00")
	d.watch()
	same(t, "at 18:00 the agents hear of the miss", d.heard(), []string{"#2 target_missed first_response"})
	// Half the 8 h target, on the calendar: 1 h on Tuesday, 3 h on Wednesday.
	same(t, "the customer is told, with a new expectation", d.told(), []string{"missed #2  first_response by Wed 12:00 CET"})
	got := d.ticket(late.ID)
	if !got.Alerts.FirstResponseMissed.Equal(at("2026-11-24 18:00")) || !got.Alerts.FirstResponseExpected.Equal(at("2026-11-25 12:00")) {
		t.Errorf("alerts %+v", got.Alerts)
	}
	d.watch()
	d.restart()
	d.watch()
	same(t, "the miss is told once", d.told(), nil)
	same(t, "and heard once", d.heard(), nil)

	// The new expectation missed too: the customer is told again.
	d.set("2026-11-25 12:00")
	d.watch()
	same(t, "the new expectation missed", d.told(), []string{"missed #2  first_response by Wed 16:00 CET"})
	// The ticket that got its answer was never warned about first response.
	if a := d.ticket(met.ID).Alerts; !a.FirstResponseWarned.IsZero() || !a.FirstResponseMissed.IsZero() {
		t.Errorf("a met target was alerted: %+v", a)
	}
}

// While the ticket waits on the customer the targets' clock stops; when
// the customer answers, the due times move by the open time spent waiting.
func TestTargetsPausedWhileWaiting(t *testing.T) {
	d := newDesk(t, "2026-11-24 10:00", quiet)
	ctx := t.Context()
	tk := d.openTicket(Ticket{Type: Solicitud, Priority: Urgente}) // 1 h / 8 h
	due := tk.ResolutionDue
	if !due.Equal(at("2026-11-24 18:00")) {
		t.Fatalf("resolution due %v", due.In(madrid))
	}
	d.set("2026-11-24 10:30")
	if _, err := d.q.Reply(ctx, tk.ID, "ana", "¿Me pasas el número de pedido?"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.q.SetStatus(ctx, tk.ID, "ana", Waiting); err != nil {
		t.Fatal(err)
	}
	d.heard()
	d.set("2026-11-26 11:00") // Thursday: long past the due time, but paused
	d.watch()
	same(t, "while waiting", d.heard(), nil)
	if _, err := d.q.CustomerMessage(ctx, tk.ID, Entry{Text: "AUR-1"}); err != nil {
		t.Fatal(err)
	}
	got := d.ticket(tk.ID)
	waited := 8*time.Hour + 30*time.Minute + 10*time.Hour + 2*time.Hour // Tue 10:30–19, Wed, Thu 9–11
	if got.Status != InProgress || got.Paused != waited || !got.WaitingSince.IsZero() {
		t.Fatalf("after the answer: %s paused %v since %v", got.Status, got.Paused, got.WaitingSince)
	}
	if want := d.cfg.Calendar.Add(due, waited); !got.ResolutionDue.Equal(want) || !want.Equal(at("2026-11-26 18:30")) {
		t.Errorf("resolution due %v, want Thursday 18:30", got.ResolutionDue.In(madrid))
	}
	// 7½ h left of 8: the warning comes at 80 %, i.e. 6 h 24 min of open
	// time after opening, not counting the wait: Thursday 16:54.
	d.set("2026-11-26 16:53")
	d.watch()
	same(t, "before 80 %", d.heard(), nil)
	d.set("2026-11-26 16:54")
	d.watch()
	same(t, "at 80 %", d.heard(), []string{"#1 target_warning resolution"})
}

// An assigned ticket without news gets a progress message: the agent's
// last public update, then again only after another quiet period.
func TestProgressMessages(t *testing.T) {
	d := newDesk(t, "2026-11-24 10:00", func(c *Config) {
		c.TypeTargets = map[Type]map[Priority]Target{Consulta: {Normal: {FirstResponse: 8 * time.Hour, Resolution: 200 * time.Hour}}}
	})
	ctx := t.Context()
	tk := d.openTicket(Ticket{Type: Consulta, Priority: Normal})
	if _, err := d.q.Reply(ctx, tk.ID, "ana", "Lo consulto con el almacén."); err != nil {
		t.Fatal(err)
	}
	d.told()
	d.set("2026-11-25 09:59") // 9 h 59 min of open time since the reply
	d.watch()
	same(t, "before 10 h of silence", d.told(), nil)
	d.set("2026-11-25 10:00")
	d.watch()
	same(t, "after 10 h", d.told(), []string{"progress #1 Ana: Lo consulto con el almacén."})
	same(t, "agents", d.heard(), []string{"#1 progress_sent"})
	d.restart()
	d.set("2026-11-26 09:59")
	d.watch()
	same(t, "not again before another 10 h", d.told(), nil)
	d.set("2026-11-26 10:00")
	d.watch()
	same(t, "again", d.told(), []string{"progress #1 Ana: Lo consulto con el almacén."})
}

// Completed: the customer confirms (closed, confirmed), rejects (back to
// the same agent with the history) or says nothing (closed as assumed
// resolved after the quiet period, once).
func TestCompletion(t *testing.T) {
	d := newDesk(t, "2026-11-24 10:00", quiet)
	ctx := t.Context()
	var ids []ID
	for i := range 3 {
		tk := d.openTicket(Ticket{Type: Consulta, Priority: Normal, Customer: Customer{Address: tg(fmt.Sprint(300 + i)), Lang: "es"}})
		if _, err := d.q.Reply(ctx, tk.ID, "luis", "Hecho."); err != nil {
			t.Fatal(err)
		}
		if _, err := d.q.SetStatus(ctx, tk.ID, "luis", Completed); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	d.told()
	d.heard()
	if tk, err := d.q.Accept(ctx, ids[0]); err != nil || tk.Status != Closed || tk.ClosedAs != ClosedConfirmed {
		t.Fatalf("confirmed: %v %+v", err, tk)
	}
	d.set("2026-11-24 12:00")
	tk, err := d.q.Reopen(ctx, ids[1], Entry{Text: "sigue sin funcionar"})
	if err != nil || tk.Status != Reopened || tk.Assignee != "luis" || tk.Reopens != 1 || tk.ClosedAs != "" {
		t.Fatalf("rejected: %v %+v", err, tk)
	}
	if n := len(tk.Transcript); tk.Transcript[n-1].Text != "sigue sin funcionar" || tk.Transcript[n-2].Text != "Hecho." {
		t.Errorf("the history is not kept: %+v", tk.Transcript)
	}
	// 30 h of open time after completion: Tue 10–19, Wed, Thu, Fri 9–10... = Friday 10:00 less the 2 h the reopened one is not in.
	d.set("2026-11-27 09:59")
	d.watch()
	same(t, "before the quiet period ends", d.told(), nil)
	d.set("2026-11-27 10:00")
	d.watch()
	same(t, "unanswered", d.told(), []string{"assumed_closed #3 Luis"})
	same(t, "agents", d.heard(), []string{"#3 assumed_resolved"})
	if tk := d.ticket(ids[2]); tk.Status != Closed || tk.ClosedAs != ClosedAssumed || !tk.Closed.Equal(at("2026-11-27 10:00")) {
		t.Errorf("unanswered: %+v", tk)
	}
	d.restart()
	d.set("2026-11-30 10:00")
	d.watch()
	same(t, "closed once", d.told(), nil)
	if tk := d.ticket(ids[0]); tk.ClosedAs != ClosedConfirmed {
		t.Errorf("confirmed became %q", tk.ClosedAs)
	}
}

// Ratings are kept on the ticket; 1 or 2 tells the team once, with the
// comment when it comes.
func TestRatings(t *testing.T) {
	d := newDesk(t, "2026-11-24 10:00", nil)
	ctx := t.Context()
	closed := func(user string) ID {
		tk := d.openTicket(Ticket{Type: Consulta, Customer: Customer{Address: tg(user), Lang: "es"}})
		if _, err := d.q.SetStatus(ctx, tk.ID, "ana", Completed); err != nil {
			t.Fatal(err)
		}
		if _, err := d.q.Accept(ctx, tk.ID); err != nil {
			t.Fatal(err)
		}
		return tk.ID
	}
	good, bad := closed("1"), closed("2")
	d.heard()
	if tk, err := d.q.Rate(ctx, good, 5, ""); err != nil || tk.Rating.Score != 5 || lastNote(tk) != "" {
		t.Fatalf("5: %v %+v", err, tk)
	}
	same(t, "a 5", d.heard(), []string{"#1 rated 5"})
	if _, err := d.q.Rate(ctx, bad, 1, ""); err != nil {
		t.Fatal(err)
	}
	same(t, "a 1 tells the team", d.heard(), []string{"#2 rated 1", "#2 low_rating 1"})
	tk, err := d.q.Rate(ctx, bad, 0, "nadie me contestó en dos días")
	if err != nil || tk.Rating.Score != 1 || tk.Rating.Comment != "nadie me contestó en dos días" {
		t.Fatalf("comment: %v %+v", err, tk.Rating)
	}
	if n := lastNote(tk); n != "The customer rated this ticket 1 of 5. Comment: nadie me contestó en dos días" {
		t.Errorf("note %q", n)
	}
	same(t, "the comment", d.heard(), []string{"#2 rated comment"})
	if _, err := d.q.Rate(ctx, bad, 1, ""); err != nil {
		t.Fatal(err)
	}
	same(t, "the same rating again", d.heard(), nil)
	open := d.openTicket(Ticket{Type: Consulta, Customer: Customer{Address: tg("3"), Lang: "es"}})
	if _, err := d.q.Rate(ctx, open.ID, 4, ""); !errors.Is(err, ErrTransition) {
		t.Errorf("rating an open ticket: %v", err)
	}
	if _, err := d.q.Rate(ctx, good, 6, ""); err == nil {
		t.Error("a 6 was accepted")
	}
}

func tg(user string) bots.Address { return bots.Address{Platform: "telegram", Chat: user, User: user} }

func TestContacts(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"mi correo es Maria.Lopez@Example.COM.", []string{"mail:maria.lopez@example.com"}},
		{"llamadme al 612 34 56 78 o al +34 (91) 123-45-67", []string{"tel:+34612345678", "tel:+34911234567"}},
		{"tel 0034 612345678", []string{"tel:+34612345678"}},
		{"el pedido AUR-612345678 y el 123456789", nil},
		{"+44 20 7946 0958", []string{"tel:+442079460958"}},
		{"34612345678", []string{"tel:+34612345678"}},
		{"pedido 2026-11-24", nil},
	} {
		if got := Contacts(tc.text, "34"); !slices.Equal(got, tc.want) {
			t.Errorf("Contacts(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

// A customer who gives the same e-mail or phone on another platform is
// recognised: their earlier tickets are linked and the agent is told.
func TestCrossPlatformCustomer(t *testing.T) {
	d := newDesk(t, "2026-11-24 10:00", nil)
	ctx := t.Context()
	first := d.openTicket(Ticket{Type: Consulta, Transcript: []Entry{{Author: AuthorCustomer, Text: "soy María, maria@example.com, tel 612 345 678"}}})
	if !slices.Equal(first.Contacts, []string{"mail:maria@example.com", "tel:+34612345678"}) {
		t.Fatalf("contacts %q", first.Contacts)
	}
	discord := bots.Address{Platform: "discord", Chat: "dm9", User: "u9"}
	second := d.openTicket(Ticket{Type: Reclamo, Priority: Alta, Customer: Customer{Address: discord, Lang: "es"},
		Transcript: []Entry{{Author: AuthorCustomer, Text: "Escribo otra vez: MARIA@example.com"}}})
	if !slices.Equal(second.Earlier, []ID{first.ID}) {
		t.Errorf("earlier %v, want [%d]", second.Earlier, first.ID)
	}
	if n := lastNote(second); n != "Same customer as telegram:100 (same mail:maria@example.com): earlier tickets #1." {
		t.Errorf("note %q", n)
	}
	// A third platform: the phone, given later in the conversation.
	web := bots.Address{Platform: "slack", Chat: "D1", User: "W1"}
	third := d.openTicket(Ticket{Type: Consulta, Customer: Customer{Address: web, Lang: "es"}, Transcript: []Entry{{Author: AuthorCustomer, Text: "hola"}}})
	if len(third.Earlier) != 0 {
		t.Fatalf("earlier %v before any contact", third.Earlier)
	}
	got, err := d.q.CustomerMessage(ctx, third.ID, Entry{Text: "mi móvil: +34 612-345-678"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Earlier, []ID{first.ID}) || !slices.Contains(got.Contacts, "tel:+34612345678") {
		t.Errorf("after the phone: earlier %v contacts %q", got.Earlier, got.Contacts)
	}
	same(t, "agents", d.heard(), []string{"#3 linked_customer telegram:100"})
	// The repeated contact raised the second ticket's priority? It was
	// alta already; a normal one from the same person would be.
	fourth := d.openTicket(Ticket{Type: Consulta, Priority: Normal, Customer: Customer{Address: discord, Lang: "es"}})
	if fourth.Priority != Alta || !strings.Contains(fourth.PriorityReason, "repeated contact: 2 earlier request(s) this week") {
		t.Errorf("repeated contact: %s (%s)", fourth.Priority, fourth.PriorityReason)
	}
}

// Routing rules pick the team; a round-robin team gives tickets in turn to
// agents under their maximum load, and leaves the rest to be claimed.
func TestRoutingAndRoundRobin(t *testing.T) {
	d := newDesk(t, "2026-11-24 10:00", func(c *Config) {
		c.Teams = []Team{
			{Name: "reclamaciones", Agents: []string{"ana", "luis"}, Assign: AssignRoundRobin, MaxOpen: 1},
			{Name: "english", Agents: []string{"eva"}},
			{Name: "general", Agents: []string{"ana", "luis", "eva"}},
		}
		c.Routes = []Route{
			{Types: []Type{Reclamo, Queja}, Team: "reclamaciones"},
			{Tags: []string{"devoluciones"}, Langs: []string{"en"}, Team: "english"},
			{Channels: []string{"discord"}, Langs: []string{"en"}, Team: "english"},
			{Team: "general"},
		}
	})
	ctx := t.Context()
	user := 0
	open := func(typ Type, lang, platform string, tags ...string) *Ticket {
		user++
		return d.openTicket(Ticket{Type: typ, Tags: tags, Customer: Customer{Address: bots.Address{Platform: platform, Chat: fmt.Sprint(user), User: fmt.Sprint(user)}, Lang: lang}})
	}
	for _, tc := range []struct {
		tk   *Ticket
		team string
	}{
		{open(Consulta, "en", "telegram", "devoluciones", "postventa"), "english"},
		{open(Consulta, "es", "telegram", "devoluciones"), "general"},
		{open(Consulta, "en", "discord"), "english"},
		{open(Sugerencia, "en", "telegram"), "general"},
	} {
		if tc.tk.Team != tc.team || tc.tk.Assignee != "" || tc.tk.Status != New {
			t.Errorf("#%d: team %q assignee %q %s, want %q, to be claimed", tc.tk.ID, tc.tk.Team, tc.tk.Assignee, tc.tk.Status, tc.team)
		}
	}
	r1, r2, r3 := open(Reclamo, "es", "telegram"), open(Queja, "es", "telegram"), open(Reclamo, "es", "telegram")
	if r1.Assignee != "ana" || r1.Status != Assigned || r2.Assignee != "luis" || r3.Assignee != "" || r3.Status != New {
		t.Fatalf("round robin under max 1: %q %q %q (%s)", r1.Assignee, r2.Assignee, r3.Assignee, r3.Status)
	}
	if r1.Team != "reclamaciones" || len(d.told()) != 0 {
		t.Errorf("team %q; the customer hears of the agent in the receipt, not the outbox", r1.Team)
	}
	if ev := r1.Events[len(r1.Events)-1]; ev.What != "assigned" || ev.Actor != "system" {
		t.Errorf("event %+v", ev)
	}
	// Ana finishes hers: the next goes to her (Luis is still full), and after
	// a restart the turn is remembered.
	if _, err := d.q.SetStatus(ctx, r1.ID, "ana", Completed); err != nil {
		t.Fatal(err)
	}
	d.restart()
	if r4 := open(Reclamo, "es", "telegram"); r4.Assignee != "ana" {
		t.Errorf("r4 to %q, want ana", r4.Assignee)
	}
	if _, err := d.q.SetStatus(ctx, r2.ID, "luis", Completed); err != nil {
		t.Fatal(err)
	}
	if _, err := d.q.SetStatus(ctx, r1.ID, "ana", Reopened); err != nil { // ana is full again
		t.Fatal(err)
	}
	if r5 := open(Reclamo, "es", "telegram"); r5.Assignee != "luis" {
		t.Errorf("r5 to %q, want luis", r5.Assignee)
	}
	// Bad configurations are refused.
	for _, bad := range []func(*Config){
		func(c *Config) { c.Teams = []Team{{Name: "x", Agents: []string{"nadie"}}} },
		func(c *Config) { c.Routes = []Route{{Team: "nope"}} },
		func(c *Config) { c.Teams = []Team{{Name: "x", Assign: "lottery"}} },
	} {
		cfg := Config{Agents: []Agent{{ID: "ana"}}, Notify: protocolNotices}
		bad(&cfg)
		if q, err := Open(filepath.Join(t.TempDir(), "x.db"), cfg); err == nil {
			q.Close()
			t.Errorf("accepted %+v %+v", cfg.Teams, cfg.Routes)
		}
	}
}

// Agents reclassify: the reason says who, the due times follow the new
// targets from the opening, the route follows the type.
func TestClassify(t *testing.T) {
	d := newDesk(t, "2026-11-24 10:00", func(c *Config) {
		c.Teams = []Team{{Name: "quejas", Agents: []string{"eva"}}, {Name: "general", Agents: []string{"ana"}}}
		c.Routes = []Route{{Types: []Type{Queja}, Team: "quejas"}, {Team: "general"}}
	})
	ctx := t.Context()
	tk := d.openTicket(Ticket{Type: Consulta, Priority: Normal, TypeReason: "a question the bot could not answer"})
	d.set("2026-11-24 11:00")
	got, err := d.q.Classify(ctx, tk.ID, "ana", "complaint", "urgent")
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != Queja || got.Priority != Urgente || got.TypeReason != "set by ana" || got.PriorityReason != "set by ana" || got.Team != "quejas" {
		t.Errorf("classified %+v", got)
	}
	if !got.FirstResponseDue.Equal(at("2026-11-24 11:00")) || !got.ResolutionDue.Equal(at("2026-11-24 18:00")) {
		t.Errorf("due %v / %v, want 11:00 / 18:00", got.FirstResponseDue.In(madrid), got.ResolutionDue.In(madrid))
	}
	same(t, "agents", d.heard(), nil)
	if ev := got.Events[len(got.Events)-1]; ev.What != EventClassified || ev.Detail != "type consulta → queja, priority normal → urgente" {
		t.Errorf("event %+v", ev)
	}
	if _, err := d.q.Classify(ctx, tk.ID, "mallory", Queja, ""); !errors.Is(err, ErrNotAgent) {
		t.Errorf("a stranger: %v", err)
	}
	if _, err := d.q.Classify(ctx, tk.ID, "ana", "pregunta", ""); err == nil {
		t.Error("an unknown type was accepted")
	}
}

// Similar new tickets within the window alert the agents once; a new one
// joining the group alerts again.
func TestRecurringProblem(t *testing.T) {
	d := newDesk(t, "2026-11-24 10:00", nil)
	for i, s := range []string{"La app no carga desde esta mañana", "no puedo pagar con Bizum", "la app no carga", "La aplicación no carga, ¿qué pasa?"} {
		d.openTicket(Ticket{Summary: s, Customer: Customer{Address: tg(fmt.Sprint(i)), Lang: "es"}})
	}
	d.watch()
	same(t, "two of four are alike", d.heard(), nil)
	d.openTicket(Ticket{Summary: "la app no carga nada", Customer: Customer{Address: tg("9"), Lang: "es"}})
	d.watch()
	same(t, "a third", d.heard(), []string{"#5 recurring_problem #1 #3 #5"})
	if n := lastNote(d.ticket(5)); !strings.Contains(n, "Recurring problem: 3 similar tickets in the last 24h (#1 #3 #5), about: app, carga.") {
		t.Errorf("note %q", n)
	}
	d.watch()
	same(t, "once", d.heard(), nil)
	d.openTicket(Ticket{Summary: "no carga la app", Customer: Customer{Address: tg("10"), Lang: "es"}})
	d.watch()
	same(t, "a fourth", d.heard(), []string{"#6 recurring_problem #1 #3 #5 #6"})
	ctx := context.Background()
	if cs, err := d.q.RecentClusters(ctx, at("2026-11-24 00:00"), at("2026-11-25 00:00")); err != nil || len(cs) != 1 || len(cs[0].Tickets) != 4 {
		t.Errorf("clusters %+v %v", cs, err)
	}
}

func TestGroup(t *testing.T) {
	texts := []string{
		"¿Hacéis envíos a Canarias?",
		"envios a canarias",
		"where is the warehouse",
		"¿envío a Canarias gratis?",
		"warehouse location",
	}
	got := Group(texts, 0.4)
	if len(got) != 2 || !slices.Equal(got[0].Members, []int{0, 1, 3}) || !slices.Equal(got[1].Terms, []string{"wareh"}) || !slices.Equal(got[0].Terms, []string{"canar", "envio"}) {
		t.Errorf("groups %+v", got)
	}
	same(t, "terms", Terms("¡Mi PEDIDO no ha llegado todavía!"), []string{"llega", "pedid"})
}

// The watchdog's loop ends with its context.
func TestWatchdogStops(t *testing.T) {
	d := newDesk(t, "2026-11-24 10:00", nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := d.q.Watchdog(ctx); err != nil {
		t.Errorf("Watchdog = %v, want nil once ctx is done", err)
	}
}

// The watchdog counts the silence from the agent's last reply even when a
// long conversation has moved that reply out of the ticket's latest part.
func TestProgressAfterLongConversation(t *testing.T) {
	d := newDesk(t, "2026-11-24 10:00", func(c *Config) {
		c.TypeTargets = map[Type]map[Priority]Target{Consulta: {Normal: {FirstResponse: 8 * time.Hour, Resolution: 200 * time.Hour}}}
	})
	ctx := t.Context()
	tk := d.openTicket(Ticket{Type: Consulta, Priority: Normal})
	d.set("2026-11-24 12:00")
	if _, err := d.q.Reply(ctx, tk.ID, "ana", "Lo consulto con el almacén."); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := d.q.CustomerMessage(ctx, tk.ID, Entry{Author: AuthorCustomer, Text: fmt.Sprint("¿y ahora? ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := d.q.Recent(ctx, tk.ID); r.Archived == 0 {
		t.Fatal("the reply is still in the ticket's latest part; the test needs more messages")
	}
	d.told()
	d.set("2026-11-25 11:59") // 9 h 59 min of open time since the reply, 11 h 59 since the opening
	d.watch()
	same(t, "before 10 h of silence since the reply", d.told(), nil)
}
