package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"ayuda/config"
	"ayuda/escalation"
)

// reporter computes reports: *escalation.Queue, or a running server's API.
type reporter interface {
	Report(ctx context.Context, since, until time.Time) (*escalation.Report, error)
}

// period is the --since and --until flags of a command that reports on
// a stretch of time.
type period struct {
	cmd          string
	since, until *string
}

// periodFlags adds --since (default since) and --until to fs.
func periodFlags(fs *flag.FlagSet, cmd, since string) period {
	return period{
		cmd:   cmd,
		since: fs.String("since", since, "start of the period: a duration back ("+since+", 24h) or a date (2026-11-01)"),
		until: fs.String("until", "", "end of the period: a date or an RFC 3339 time (default now)"),
	}
}

// load reads the configuration and the period, in its time zone.
func (p period) load(c *common, e *env) (*config.Config, time.Time, time.Time, error) {
	cfg, err := c.load(e)
	if err != nil {
		return nil, time.Time{}, time.Time{}, err
	}
	start, end, err := escalation.ParsePeriod(*p.since, *p.until, time.Now(), cfg.Location())
	if err != nil {
		return nil, time.Time{}, time.Time{}, fmt.Errorf("%s: %w", p.cmd, err)
	}
	return cfg, start, end, nil
}

func cmdReport(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("report", e)
	per := periodFlags(fs, "report", "7d")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, start, end, err := per.load(c, e)
	if err != nil {
		return err
	}
	var rep reporter
	if cl := findServer(ctx, cfg, e.getenv); cl != nil {
		rep = cl
	} else {
		q, err := openExistingStore(ctx, cfg, "report", "no server answers")
		if err != nil {
			return err
		}
		defer q.Close()
		rep = q
	}
	r, err := rep.Report(ctx, start, end)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, r)
	}
	printReport(e.stdout, r, cfg.Location())
	return nil
}

func pct(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

// hoursOf renders a duration in seconds as "1h30m"; "0m" is zero, and
// only a figure with nothing measured (count 0) is "-".
func hoursOf(seconds float64, count int) string {
	if count == 0 {
		return "-"
	}
	d := time.Duration(seconds * float64(time.Second)).Round(time.Minute)
	if d == 0 {
		return "0m"
	}
	return strings.TrimSuffix(d.String(), "0s")
}

// plural is "1 ticket", "2 tickets".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// counts writes a map as "a 3 · b 1", largest first.
func counts[K ~string](m map[K]int) string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range m {
		name := string(k)
		if name == "" {
			name = "-"
		}
		all = append(all, kv{name, v})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].v != all[j].v {
			return all[i].v > all[j].v
		}
		return all[i].k < all[j].k
	})
	var parts []string
	for _, x := range all {
		parts = append(parts, fmt.Sprintf("%s %d", x.k, x.v))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " · ")
}

func printReport(w io.Writer, r *escalation.Report, loc *time.Location) {
	fmt.Fprintf(w, "ayuda report: %s to %s\n\n", r.Since.In(loc).Format("2006-01-02 15:04"), r.Until.In(loc).Format("2006-01-02 15:04"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "tickets\t%d\t\n", r.Tickets)
	fmt.Fprintf(tw, "  by type\t%s\t\n", counts(r.ByType))
	fmt.Fprintf(tw, "  by channel\t%s\t\n", counts(r.ByChannel))
	fmt.Fprintf(tw, "  by status\t%s\t\n", counts(r.ByStatus))
	fmt.Fprintf(tw, "  by priority\t%s\t\n", counts(r.Priority))
	ss := r.SelfService
	fmt.Fprintf(tw, "self-service\t%s\t%d of %d answered (%d confirmed, %d not escalated in 24 h), counting the %d old enough to tell; %d answered in all, %d not answered\n",
		pct(ss.Rate), ss.Resolved, ss.Answered-ss.Pending, ss.Confirmed, ss.NotEscalated, ss.Answered-ss.Pending, ss.Answered, ss.Unanswered)
	fmt.Fprintf(tw, "escalation\t%s\t%s\n", pct(r.EscalationRate), counts(r.Reasons))
	fmt.Fprintf(tw, "first-contact resolution\t%s\t%d of %d closed\n", pct(r.FirstContact.Rate), r.FirstContact.Yes, r.FirstContact.Total)
	fmt.Fprintf(tw, "first response\tmedian %s\tp90 %s (business time, %s)\n", hoursOf(r.FirstResponse.Median, r.FirstResponse.Count), hoursOf(r.FirstResponse.P90, r.FirstResponse.Count), plural(r.FirstResponse.Count, "ticket", "tickets"))
	fmt.Fprintf(tw, "resolution\tmedian %s\tp90 %s (business time, %s)\n", hoursOf(r.Resolution.Median, r.Resolution.Count), hoursOf(r.Resolution.P90, r.Resolution.Count), plural(r.Resolution.Count, "ticket", "tickets"))
	fmt.Fprintf(tw, "targets met\tfirst response %s\t%d of %d; resolution %s, %d of %d\n", pct(r.FirstResponseTarget.Rate), r.FirstResponseTarget.Yes, r.FirstResponseTarget.Total,
		pct(r.ResolutionTarget.Rate), r.ResolutionTarget.Yes, r.ResolutionTarget.Total)
	fmt.Fprintf(tw, "closed\t%s\t\n", counts(r.Closures))
	s := r.Satisfaction
	fmt.Fprintf(tw, "satisfaction\t%.1f / 5\t%s of %d closed (%s); %d of 1 or 2\n", s.Average, plural(s.Rated, "rating", "ratings"), s.Closed, pct(s.ResponseRate), s.Low)
	tw.Flush()
	fmt.Fprintln(w, "\nagents (open now · opened in the period · closed):")
	for _, a := range r.Agents {
		fmt.Fprintf(w, "  %-12s %3d %3d %3d\n", a.Agent, a.Open, a.Period, a.Closed)
	}
	if len(r.ContentGaps) > 0 {
		fmt.Fprintln(w, "\nquestions the bot could not answer, grouped:")
		for _, g := range r.ContentGaps {
			fmt.Fprintf(w, "  %3d  %s  [%s]\n", g.Count, g.Example, strings.Join(g.Terms, ", "))
		}
	}
	if len(r.Recurring) > 0 {
		fmt.Fprintln(w, "\nrecurring problems (similar new tickets):")
		for _, c := range r.Recurring {
			var ids []string
			for _, id := range c.Tickets {
				ids = append(ids, "#"+id.String())
			}
			fmt.Fprintf(w, "  %s  %s  [%s]\n", strings.Join(ids, " "), c.Example, strings.Join(c.Terms, ", "))
		}
	}
}
