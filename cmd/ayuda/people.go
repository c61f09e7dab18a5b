package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"ayuda/auth"
	"ayuda/escalation"
)

// cmdCustomers is `ayuda customers`: the terminal customers' tokens
// (token, list), and people's data requests: show, export and erase what
// is kept about one customer (by their key, "telegram:100", as `tickets
// show` prints it), as an agent with the privacy right.
func cmdCustomers(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "show" && args[0] != "export" && args[0] != "erase") {
		return cmdCredentials(ctx, e, auth.Customer, args)
	}
	fs, c := newFlags("customers", e)
	as := fs.String("as", "", "agent id (default AYUDA_AGENT, or the only configured agent); needs privacy: true")
	yes := fs.Bool("yes", false, "erase: yes, erase it (it cannot be undone)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	verb := rest[0]
	if len(rest) != 2 {
		return fmt.Errorf("customers %s: whose? (a customer key such as telegram:100, as tickets show prints it)", verb)
	}
	key := rest[1]
	if err := auth.CheckName(key); err != nil {
		return fmt.Errorf("customers %s %q: %w", verb, key, err)
	}
	if verb == "erase" && !*yes {
		return fmt.Errorf("customers erase %s removes their messages, names, contacts and conversations for good (the tickets stay, anonymised): add --yes to do it", key)
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	agent, err := pickAgent(*as, cfg, e.getenv)
	if err != nil {
		return err
	}
	ctx = escalation.WithVia(ctx, "cli")
	d, closeDesk, err := openDesk(ctx, cfg, e)
	if err != nil {
		return err
	}
	defer closeDesk()
	if verb == "erase" {
		gone, err := d.EraseCustomer(ctx, key, agent)
		if err != nil {
			return privacyError(err)
		}
		if c.json {
			return printJSON(e.stdout, gone)
		}
		fmt.Fprintf(e.stdout, "Erased %s: %d tickets anonymised (kept for the reports), %d answers, %d conversations, %d queued messages and %d contact entries removed.\n",
			strings.Join(gone.Customers, ", "), gone.Tickets, gone.Answers, gone.Conversations, gone.Messages, gone.Contacts)
		return nil
	}
	data, err := d.CustomerData(ctx, key, agent)
	if err != nil {
		return privacyError(err)
	}
	if verb == "export" || c.json {
		return printJSON(e.stdout, data)
	}
	fmt.Fprintf(e.stdout, "Customer:      %s\n", strings.Join(data.Customers, ", "))
	fmt.Fprintf(e.stdout, "Contacts:      %s\n", orDash(strings.Join(data.Contacts, ", ")))
	fmt.Fprintf(e.stdout, "Tickets:       %d\n", len(data.Tickets))
	for _, t := range data.Tickets {
		fmt.Fprintf(e.stdout, "  #%d %s · %s · %s\n", t.ID, t.Status, t.Created.In(cfg.Location()).Format("2006-01-02"), t.Summary)
	}
	fmt.Fprintf(e.stdout, "Answers:       %d questions the bot answered or declined\n", len(data.Answers))
	fmt.Fprintf(e.stdout, "Conversations: %d\n", len(data.Conversations))
	fmt.Fprintf(e.stdout, "Outbox:        %d waiting, %d undeliverable\n", len(data.Outbox), len(data.Undeliverable))
	fmt.Fprintf(e.stdout, "(ayuda customers export %s prints all of it as JSON.)\n", key)
	return nil
}

func privacyError(err error) error {
	if errors.Is(err, escalation.ErrNoPrivacy) {
		return fmt.Errorf("%w: an agent with privacy: true in the configuration handles customers' data; use --as", err)
	}
	return err
}
