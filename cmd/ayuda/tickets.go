package main

// `ayuda tickets`: the queue from the terminal, through the running server
// or the store.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"ayuda/api"
	"ayuda/auth"
	"ayuda/config"
	"ayuda/escalation"
)

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
	q, err := openExistingStore(ctx, cfg, "", "no server answers; start one with `ayuda serve` (or `make run`)")
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
		f, err := escalation.ParseFilter(*status, *assignee, "", fmt.Sprint(*limit))
		if err != nil {
			return err
		}
		ts, err := d.List(ctx, f)
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(e.stdout, api.TicketList{Tickets: nonNil(ts)})
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
		if ty, p, err = escalation.ParseClass(*typ, *priority); err != nil {
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
