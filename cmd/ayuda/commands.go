package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"ayuda/auth"
	"ayuda/bots"
	"ayuda/bots/console"
	"ayuda/config"
	"ayuda/dialog"
	"ayuda/escalation"
	"ayuda/faq"
	"ayuda/knowledge"
)

// platformTokens are the environment variables that turn a platform on.
var platformTokens = []string{"TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", "SLACK_BOT_TOKEN"}

func anyToken(getenv func(string) string) bool {
	for _, name := range platformTokens {
		if getenv(name) != "" {
			return true
		}
	}
	return false
}

func cmdServe(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("serve", e)
	httpAddr := fs.String("http", "", "address of the HTTP API (default 127.0.0.1:8080)")
	as := fs.String("as", "", "your name as a customer in the terminal (default $USER)")
	noTerminal := fs.Bool("no-terminal", false, "do not chat in this terminal even when it is interactive")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	if *httpAddr != "" {
		cfg.HTTP = *httpAddr
	}
	if *as != "" {
		if err := auth.CheckName(*as); err != nil {
			return fmt.Errorf("serve --as %q: %w", *as, err)
		}
	}
	var term *console.Bot
	if e.interactive && !*noTerminal && !anyToken(e.getenv) {
		term = console.New(console.Config{In: e.stdin, Out: e.stdout, User: customerName(*as, e.getenv), Prompt: true, Width: e.width})
	}
	log, closeLog, err := serverLogger(cfg, e, term != nil)
	if err != nil {
		return err
	}
	defer closeLog()
	a, err := openApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	adapters, err := platformAdapters(ctx, a, e)
	if err != nil {
		return err
	}
	if term != nil {
		if err := showWaiting(ctx, a, term); err != nil {
			return err
		}
	}
	return serve(ctx, a, e.getenv, serveOptions{terminal: term, adapters: adapters, ready: func(addr string) {
		if term != nil {
			greet(e.stdout, cfg, e.prog, addr, term.Addr().User)
		}
	}})
}

// platformAdapters builds the adapter of every platform whose token is
// set in the environment. Each platform's constructor lives in its own file
// (telegram.go, discord.go, slack.go) and returns nil when its token is unset.
func platformAdapters(ctx context.Context, a *app, e *env) (map[string]bots.Adapter, error) {
	out := map[string]bots.Adapter{}
	for _, p := range []struct {
		name string
		make func(context.Context, *app, *env) (bots.Adapter, error)
	}{
		// Each platform adds its line here.
		{bots.Discord, newDiscord},
		{bots.Telegram, newTelegram},
		{bots.Slack, newSlack},
	} {
		ad, err := p.make(ctx, a, e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		if ad != nil {
			out[p.name] = ad
		}
	}
	return out, nil
}

func customerName(as string, getenv func(string) string) string {
	if as != "" {
		return as
	}
	if u := getenv("USER"); u != "" && auth.CheckName(u) == nil {
		return u
	}
	return "cliente"
}

// serverLogger logs to stderr, or to data/ayuda.log when the terminal is
// used for chatting, so log lines do not interleave with the conversation.
func serverLogger(cfg *config.Config, e *env, chatting bool) (*slog.Logger, func(), error) {
	if !chatting {
		return slog.New(cfg.Secrets().Handler(newLogger(e.stderr, slog.LevelInfo).Handler())), func() {}, nil
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, nil, fmt.Errorf("data directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(cfg.Data, "ayuda.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("log: %w", err)
	}
	return slog.New(cfg.Secrets().Handler(newLogger(f, slog.LevelInfo).Handler())), func() { f.Close() }, nil
}

// greet tells the person at the terminal who they are chatting as, and
// how an agent answers them: a command that works when copied (the
// program as it was started, the data directory only when not the
// default).
func greet(w io.Writer, cfg *config.Config, prog, addr, user string) {
	fmt.Fprintf(w, "ayuda: chatting as %q. Write a question (es/en); Ctrl-D to quit.\n", user)
	if prog == "" {
		prog = "ayuda"
	}
	data := ""
	if cfg.Data != config.DefaultData {
		data = " --data " + cfg.Data
	}
	fmt.Fprintf(w, "       Agents, in another terminal: %s tickets list%s   (API on http://%s, logs in %s)\n\n",
		prog, data, addr, filepath.Join(cfg.Data, "ayuda.log"))
}

func cmdChat(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("chat", e)
	as := fs.String("as", "", "who you are as a customer (default $USER); the same name continues the same conversation")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	name := customerName(*as, e.getenv)
	if err := auth.CheckName(name); err != nil {
		return fmt.Errorf("chat --as %q: %w", name, err)
	}
	term := console.New(console.Config{In: e.stdin, Out: e.stdout, User: name, Prompt: e.interactive, Width: e.width})
	if cl := findServer(ctx, cfg, e.getenv); cl != nil {
		return remoteChat(ctx, cl, term, name)
	}
	// No server: run one here, with this terminal as its channel, so agents
	// can still answer from another terminal.
	log, closeLog, err := serverLogger(cfg, e, true)
	if err != nil {
		return err
	}
	defer closeLog()
	a, err := openApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := showWaiting(ctx, a, term); err != nil {
		return err
	}
	if l, err := net.Listen("tcp", cfg.HTTP); err == nil {
		l.Close()
	} else {
		cfg.HTTP = "127.0.0.1:0"
	}
	return serve(ctx, a, e.getenv, serveOptions{terminal: term, ready: func(addr string) {
		if e.interactive {
			greet(e.stdout, cfg, e.prog, addr, name)
		}
	}})
}

// showWaiting prints what arrived for the terminal's person while they
// were away, before they type anything.
func showWaiting(ctx context.Context, a *app, term *console.Bot) error {
	msgs, err := a.queue.Take(ctx, term.Addr())
	if err != nil {
		return err
	}
	for _, m := range msgs {
		term.Show(m.Reply)
	}
	return nil
}

// remoteChat chats through a running server: lines go to its API, and what
// agents send arrives through the server's inbox for this customer.
func remoteChat(ctx context.Context, cl *client, term *console.Bot, name string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// What arrived while this customer was away, acknowledged once shown.
	var shown uint64
	if in, err := cl.inbox(ctx, name, 0, 0); err == nil {
		for _, m := range in.Messages {
			term.Show(m)
		}
		shown = in.Last
		if shown > 0 {
			cl.inbox(ctx, name, 0, shown)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			in, err := cl.inbox(ctx, name, 20*time.Second, shown)
			if err != nil {
				select {
				case <-ctx.Done():
				case <-time.After(2 * time.Second):
				}
				continue
			}
			for _, m := range in.Messages {
				term.Show(m)
			}
			if in.Last > 0 {
				shown = in.Last
			}
		}
	}()
	err := term.Run(ctx, func(ctx context.Context, m bots.Message) bots.Reply {
		r, err := cl.chat(ctx, name, m.Text)
		if err != nil {
			return bots.Reply{Text: "(could not reach the ayuda server: " + err.Error() + ")"}
		}
		return r
	})
	cancel()
	<-done
	if shown > 0 {
		// Acknowledge what the last poll showed, so it is not shown again.
		actx, stop := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		cl.inbox(actx, name, 0, shown)
		stop()
	}
	return err
}

// desk is the agent's side of the queue: *escalation.Queue directly, or a
// running server's API.
type desk interface {
	List(ctx context.Context, f escalation.Filter) ([]escalation.Ticket, error)
	Get(ctx context.Context, id escalation.ID) (*escalation.Ticket, error)
	Claim(ctx context.Context, id escalation.ID, agent string) (*escalation.Ticket, error)
	Reply(ctx context.Context, id escalation.ID, agent, text string) (*escalation.Ticket, error)
	Note(ctx context.Context, id escalation.ID, agent, text string) (*escalation.Ticket, error)
	SetStatus(ctx context.Context, id escalation.ID, agent string, to escalation.Status) (*escalation.Ticket, error)
	Classify(ctx context.Context, id escalation.ID, agent string, typ escalation.Type, p escalation.Priority) (*escalation.Ticket, error)
	Takeover(ctx context.Context, id escalation.ID, agent, why string) (*escalation.Ticket, error)
	CustomerData(ctx context.Context, key, agent string) (*escalation.CustomerData, error)
	EraseCustomer(ctx context.Context, key, agent string) (*escalation.Erased, error)
}

// openDesk uses the running server when there is one, else the store.
func openDesk(ctx context.Context, cfg *config.Config, e *env) (desk, func() error, error) {
	if cl := findServer(ctx, cfg, e.getenv); cl != nil {
		return cl, func() error { return nil }, nil
	}
	path := filepath.Join(cfg.Data, "ayuda.db")
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("no server answers and there is no store at %s yet: start one with `ayuda serve` (or `make run`)", path)
	}
	qc := cfg.Queue()
	qc.Notify = dialog.Notifier()
	q, err := escalation.Open(path, qc)
	if err != nil {
		return nil, nil, err
	}
	return q, q.Close, nil
}

func cmdTickets(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("tickets", e)
	as := fs.String("as", "", "agent id (default AYUDA_AGENT, or the only configured agent)")
	status := fs.String("status", "", "list: statuses, comma-separated, or open")
	assignee := fs.String("assignee", "", "list: tickets of this agent")
	limit := fs.Int("limit", 50, "list: at most this many")
	typ := fs.String("type", "", "classify: the request type")
	priority := fs.String("priority", "", "classify: the priority")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return errors.New("tickets: say what: list, show, claim, takeover, reply, note, status or classify")
	}
	if *as != "" {
		if err := auth.CheckName(*as); err != nil {
			return fmt.Errorf("tickets --as %q: %w", *as, err)
		}
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	ctx = escalation.WithVia(ctx, "cli")
	d, closeDesk, err := openDesk(ctx, cfg, e)
	if err != nil {
		return err
	}
	defer closeDesk()
	verb, rest := rest[0], rest[1:]
	if verb == "list" || verb == "ls" {
		f, err := parseFilter(*status, *assignee, "", fmt.Sprint(*limit))
		if err != nil {
			return err
		}
		ts, err := d.List(ctx, f)
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(e.stdout, ticketList{Tickets: nonNil(ts)})
		}
		printList(e.stdout, ts)
		return nil
	}
	if len(rest) == 0 {
		return fmt.Errorf("tickets %s: which ticket? (a number)", verb)
	}
	id, err := escalation.ParseID(rest[0])
	if err != nil {
		return err
	}
	text := joinArgs(rest[1:])
	agent := func() (string, error) { return pickAgent(*as, cfg, e.getenv) }
	var t *escalation.Ticket
	switch verb {
	case "show":
		t, err = d.Get(ctx, id)
	case "claim":
		var a string
		if a, err = agent(); err == nil {
			t, err = d.Claim(ctx, id, a)
		}
	case "reply", "note":
		if text == "" {
			return fmt.Errorf("tickets %s %d: what do you want to say? (text after the number)", verb, id)
		}
		var a string
		if a, err = agent(); err == nil {
			if verb == "reply" {
				t, err = d.Reply(ctx, id, a, text)
			} else {
				t, err = d.Note(ctx, id, a, text)
			}
		}
	case "status":
		var st escalation.Status
		if st, err = escalation.ParseStatus(text); err != nil {
			return err
		}
		var a string
		if a, err = agent(); err == nil {
			t, err = d.SetStatus(ctx, id, a, st)
		}
	case "takeover":
		var a string
		if a, err = agent(); err == nil {
			t, err = d.Takeover(ctx, id, a, text)
		}
	case "classify":
		var ty escalation.Type
		var p escalation.Priority
		if ty, p, err = parseClass(*typ, *priority); err != nil {
			return fmt.Errorf("tickets classify %d: %w (--type, --priority)", id, err)
		}
		var a string
		if a, err = agent(); err == nil {
			t, err = d.Classify(ctx, id, a, ty, p)
		}
	default:
		return fmt.Errorf("tickets: unknown action %q (list, show, claim, takeover, reply, note, status, classify)", verb)
	}
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, t)
	}
	if verb == "show" {
		printTicket(e.stdout, t, cfg.Location())
		return nil
	}
	fmt.Fprintf(e.stdout, "#%d %s · %s · %s\n", t.ID, t.Status, orDash(t.Assignee), t.Summary)
	return nil
}

func nonNil(ts []escalation.Ticket) []escalation.Ticket {
	if ts == nil {
		return []escalation.Ticket{}
	}
	return ts
}

// pickAgent chooses who acts: --as, AYUDA_AGENT, or the only agent.
func pickAgent(as string, cfg *config.Config, getenv func(string) string) (string, error) {
	if as == "" {
		as = getenv("AYUDA_AGENT")
	}
	if as != "" {
		if err := auth.CheckName(as); err != nil {
			return "", fmt.Errorf("agent %q: %w", as, err)
		}
		return as, nil
	}
	if len(cfg.Agents) == 1 {
		return cfg.Agents[0].ID, nil
	}
	return "", errors.New("which agent are you? use --as ID or set AYUDA_AGENT")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printList(w io.Writer, ts []escalation.Ticket) {
	if len(ts) == 0 {
		fmt.Fprintln(w, "no tickets")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSTATUS\tTYPE\tPRIORITY\tASSIGNEE\tCHANNEL\tCUSTOMER\tSUMMARY")
	for _, t := range ts {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Status, t.Type, t.Priority, orDash(t.Assignee), t.Channel, customerLabel(t), t.Summary)
	}
	tw.Flush()
}

func customerLabel(t escalation.Ticket) string {
	if t.Customer.Name != "" {
		return t.Customer.Name
	}
	return t.Customer.Address.String()
}

func printTicket(w io.Writer, t *escalation.Ticket, loc *time.Location) {
	tf := func(x time.Time) string {
		if x.IsZero() {
			return "-"
		}
		return x.In(loc).Format("2006-01-02 15:04")
	}
	fmt.Fprintf(w, "Ticket #%d · %s · %s · priority %s\n", t.ID, t.Status, t.Type, t.Priority)
	fmt.Fprintf(w, "Summary:   %s\n", t.Summary)
	fmt.Fprintf(w, "Customer:  %s (%s, %s)\n", customerLabel(*t), t.Customer.Address, t.Customer.Lang)
	if len(t.Contacts) > 0 {
		fmt.Fprintf(w, "Contacts:  %s\n", strings.Join(t.Contacts, " "))
	}
	fmt.Fprintf(w, "Assignee:  %s · team %s\n", orDash(t.Assignee), orDash(t.Team))
	fmt.Fprintf(w, "Reason:    %s\n", t.Reason)
	if t.TypeReason != "" || t.PriorityReason != "" {
		fmt.Fprintf(w, "Why:       type: %s · priority: %s\n", orDash(t.TypeReason), orDash(t.PriorityReason))
	}
	fmt.Fprintf(w, "Opened:    %s · first response due %s · resolution due %s\n", tf(t.Created), tf(t.FirstResponseDue), tf(t.ResolutionDue))
	if t.Paused > 0 || !t.WaitingSince.IsZero() {
		fmt.Fprintf(w, "Paused:    %s waiting on the customer", t.Paused.Round(time.Minute))
		if !t.WaitingSince.IsZero() {
			fmt.Fprintf(w, " · waiting since %s", tf(t.WaitingSince))
		}
		fmt.Fprintln(w)
	}
	if a := t.Alerts; !a.FirstResponseExpected.IsZero() || !a.ResolutionExpected.IsZero() {
		fmt.Fprintf(w, "Missed:    the customer now expects first response %s · resolution %s\n", tf(a.FirstResponseExpected), tf(a.ResolutionExpected))
	}
	if t.Status == escalation.Closed {
		fmt.Fprintf(w, "Closed:    %s (%s)\n", tf(t.Closed), orDash(string(t.ClosedAs)))
	}
	if r := t.Rating; r != nil {
		fmt.Fprintf(w, "Rating:    %d of 5 %s\n", r.Score, r.Comment)
	}
	if len(t.Earlier) > 0 {
		var ids []string
		for _, id := range t.Earlier {
			ids = append(ids, "#"+id.String())
		}
		fmt.Fprintf(w, "Earlier:   %s\n", strings.Join(ids, " "))
	}
	if len(t.Offered) > 0 {
		fmt.Fprintln(w, "Articles the bot offered:")
		for _, o := range t.Offered {
			fb := o.Feedback
			if fb == "" {
				fb = "no feedback"
			}
			fmt.Fprintf(w, "  - %s (%s) confidence %.2f · %s\n", o.Article, o.Title, o.Confidence, fb)
		}
	}
	if len(t.Events) > 0 {
		fmt.Fprintln(w, "Activity:")
		for _, ev := range t.Events {
			line := ev.Actor + " " + ev.What
			if ev.Detail != "" {
				line += ": " + ev.Detail
			}
			if ev.Via != "" {
				line += " (via " + ev.Via + ")"
			}
			fmt.Fprintf(w, "  %s %s\n", tf(ev.Time), line)
		}
	}
	fmt.Fprintln(w, "Conversation:")
	for _, en := range t.Transcript {
		who := string(en.Author)
		if en.Name != "" {
			who += " " + en.Name
		}
		if en.Note {
			who += " [internal note]"
		}
		text := strings.ReplaceAll(en.Text, "\n", "\n      ")
		fmt.Fprintf(w, "  %s %s: %s\n", en.Time.In(loc).Format("15:04"), who, text)
		for _, at := range en.Attachments {
			fmt.Fprintf(w, "      [%s] %s %s %s\n", at.Kind, at.Ref, at.Name, at.Caption)
		}
	}
}

func cmdAsk(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("ask", e)
	lang := fs.String("lang", "", "es or en (default: detected)")
	internal := fs.Bool("internal", false, "include internal articles (as staff)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	q := joinArgs(rest)
	if q == "" {
		return errors.New(`ask: what is the question? e.g. ayuda ask "¿dónde está mi pedido?"`)
	}
	if *lang != "" && *lang != "es" && *lang != "en" {
		return fmt.Errorf("ask: --lang must be es or en")
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	idx, closeIndex, err := openIndex(cfg, slog.New(slog.NewTextHandler(e.stderr, nil)))
	if err != nil {
		return err
	}
	defer closeIndex()
	eng, err := dialog.New(dialog.Config{Search: idx, AnswerThreshold: cfg.Thresholds.Answer, ClarifyThreshold: cfg.Thresholds.Clarify, Margin: cfg.Thresholds.Margin, DefaultLang: cfg.Lang})
	if err != nil {
		return err
	}
	d, err := eng.Ask(ctx, q, *lang, *internal)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, d)
	}
	fmt.Fprintf(e.stdout, "decision: %s", d.Decision)
	if d.Article != "" {
		fmt.Fprintf(e.stdout, " → %s", d.Article)
	}
	fmt.Fprintf(e.stdout, " (lang %s)\n", d.Lang)
	for _, h := range d.Hits {
		fmt.Fprintf(e.stdout, "  %-24s confidence %.3f  score %.3f  %s\n", h.ID, h.Confidence, h.Score, h.Title)
	}
	return nil
}

func cmdKB(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("kb", e)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 || rest[0] != "lint" {
		return errors.New("kb: usage: ayuda kb lint [DIR]")
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		cfg.Articles = rest[1]
	}
	problems, notes, n, err := lint(ctx, cfg)
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(e.stdout, p)
	}
	for _, n := range notes {
		fmt.Fprintln(e.stdout, "note: "+n)
	}
	where := cfg.Articles
	if where == "" {
		where = "built-in articles"
	}
	fmt.Fprintf(e.stdout, "%s: %s, %s\n", where, plural(n, "article", "articles"), plural(len(problems), "problem", "problems"))
	if len(problems) > 0 {
		return errSilent
	}
	return nil
}

// lint lists every problem with a set of articles: format errors, a
// synonyms.yaml that cannot be read, then example questions whose best
// match is another article. Notes say which parts of the method the
// articles leave unused, and why; they are not problems.
func lint(ctx context.Context, cfg *config.Config) ([]string, []string, int, error) {
	var entries []faq.Entry
	var problems []string
	if cfg.Articles == "" {
		var err error
		if entries, err = faq.Builtin(); err != nil {
			return nil, nil, 0, err
		}
	} else {
		var err error
		entries, err = faq.Load(os.DirFS(cfg.Articles))
		var errs faq.Errors
		switch {
		case errors.As(err, &errs):
			for _, e := range errs {
				problems = append(problems, e.Error())
			}
		case err != nil:
			return nil, nil, 0, err
		}
	}
	// A duplicate was reported above; index the first of each id only.
	seen := map[string]bool{}
	unique := entries[:0:0]
	for _, e := range entries {
		if !seen[e.Key()] {
			seen[e.Key()] = true
			unique = append(unique, e)
		}
	}
	entries = unique
	for _, e := range entries {
		if len(e.Questions) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no example questions: add some ways people ask this", e.Source))
		}
	}
	syn, err := loadSynonyms(cfg)
	if err != nil {
		problems = append(problems, err.Error())
	}
	idx, err := knowledge.Open(entries, knowledge.Options{Synonyms: syn})
	if err != nil {
		return nil, nil, 0, err
	}
	defer idx.Close()
	for _, e := range entries {
		if e.IsOutOfScope() {
			continue // questions no article answers, on purpose
		}
		for _, q := range e.Questions {
			hits, err := idx.Search(ctx, knowledge.Query{Text: q, Lang: e.Lang, Internal: true, Limit: 2})
			if err != nil && !errors.Is(err, knowledge.ErrEmpty) {
				return nil, nil, 0, err
			}
			if len(hits) == 0 {
				problems = append(problems, fmt.Sprintf("%s: question %q finds no article at all", e.Source, q))
				continue
			}
			if hits[0].ID != e.ID {
				problems = append(problems, fmt.Sprintf("%s: question %q best matches %s (confidence %.2f) instead of its own article: the two articles conflict", e.Source, q, hits[0].ID, hits[0].Confidence))
			}
		}
	}
	articles := 0 // the out-of-scope examples are no article
	for _, e := range entries {
		if !e.IsOutOfScope() {
			articles++
		}
	}
	return problems, idx.Notes(), articles, nil
}
