// Command ayuda is a self-service help desk that lives where people chat:
// it answers from a knowledge base, hands what it cannot solve to a person
// as a ticket with the whole conversation, and relays the agent's answer
// back to the chat where the customer started.
//
// Usage:
//
//	ayuda serve                 run the channels, the outbox and the HTTP API
//	ayuda chat [--as NAME]      talk to ayuda as a customer in the terminal
//	ayuda tickets list|show|claim|reply|note|status   the agent's side
//	ayuda ask [--json] QUESTION show the decision and the scores for a question
//	ayuda kb lint [DIR]         check a folder of articles
//	ayuda report [--since 7d]   how the service did: volume, targets, satisfaction, content gaps
//	ayuda kb import FILE...     turn articles in the eval format (.jsonl, .csv) into article files
//	ayuda kb report [--json]    articles with the worst feedback, questions that ended in a ticket
//	ayuda eval [QUESTIONS]      measure answers on labelled questions
//
// Every command takes --data DIR, --articles DIR and --config FILE.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // due times in the configured time zone on any machine

	"golang.org/x/term"

	"ayuda/auth"
	"ayuda/config"
)

// stopGrace is how long a signalled process may take to stop.
const stopGrace = 30 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// A store on a disk that stopped answering would hold the exit
		// forever; what was acknowledged is on disk already.
		<-ctx.Done()
		time.Sleep(stopGrace)
		fmt.Fprintf(os.Stderr, "ayuda: still stopping after %s (a write to the store or a platform call has not finished); exiting now: everything acknowledged is already on disk\n", stopGrace)
		os.Exit(1)
	}()
	e := &env{
		args:        os.Args[1:],
		getenv:      os.Getenv,
		stdin:       os.Stdin,
		stdout:      os.Stdout,
		stderr:      os.Stderr,
		interactive: term.IsTerminal(int(os.Stdin.Fd())),
		prog:        os.Args[0],
	}
	if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil {
		e.width = w
	}
	if err := run(ctx, e); err != nil {
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "ayuda:", err)
		}
		os.Exit(1)
	}
}

// env is what a command may touch of the outside world; tests supply their own.
type env struct {
	args        []string
	getenv      func(string) string
	stdin       io.Reader
	stdout      io.Writer
	stderr      io.Writer
	interactive bool
	// width is the terminal's width when stdout is one, else 0.
	width int
	// prog is how the program was started ("./bin/ayuda"), for commands
	// it suggests; empty means "ayuda".
	prog string
}

// errSilent fails a command whose output already said what is wrong.
var errSilent = errors.New("failed")

const usage = `ayuda: a help desk that lives where people chat.

Commands:
  serve                      run the channels (terminal, Telegram, Discord, Slack), the outbox and the HTTP API
  chat [--as NAME]           talk to ayuda as a customer in the terminal
  tickets list [--status S] [--assignee A]
  tickets show ID
  tickets claim ID [--as AGENT]
  tickets reply ID TEXT [--as AGENT]
  tickets note ID TEXT [--as AGENT]      an internal note: never shown to the customer
  tickets status ID STATUS [--as AGENT]  new, assigned, in_progress, waiting, completed, closed, reopened
  tickets classify ID [--type T] [--priority P] [--as AGENT]   correct the type or priority; due times follow
  tickets takeover ID [WHY] [--as AGENT]  take a ticket another agent holds (recorded, with why)
  agents token NAME [--revoke] [--save]    issue (or revoke) an agent's own API token; agents list
  customers token NAME [--revoke] [--save] the same for a terminal customer
  customers show|export KEY, customers erase KEY --yes   what is kept about a customer; erase it (tickets stay, anonymised)
  report [--since 7d|DATE] [--until DATE] [--json]   volume, self-service, escalation, response times, targets, satisfaction, load, content gaps
  ask [--lang es|en] [--json] [--internal] QUESTION
  kb lint [DIR]              check articles: format, duplicates, conflicting questions
  kb import FILE.jsonl|FILE.csv... [--out DIR] [--force]
                             write articles in the eval format (and out-of-scope questions) as article files
  kb report [--json]         articles with the worst feedback, and the questions that most often ended in a ticket
  eval [--articles DIR|FILE.jsonl] [QUESTIONS.jsonl] [--json] [--min-accuracy F] [--min-oos-recall F] [--min-oos-precision F]
                             measure answer quality on labelled questions (default: eval.jsonl beside the articles)
  loadtest [--customers N] [--rate R] [--duration D] [--database URL [--replicas N]] [--json]
                             simulated customers through the real engine and store
  migrate                    apply the PostgreSQL database's schema migrations (serve does too when it starts)

Flags every command takes:
  --data DIR       data directory (default ./data, or AYUDA_DATA)
                   the store is its bbolt file, unless AYUDA_DATABASE_URL (or database:) names PostgreSQL
  --articles DIR   articles folder (default: the built-in articles, or AYUDA_ARTICLES)
  --config FILE    YAML configuration (default ./ayuda.yaml when present, or AYUDA_CONFIG)
  --json           machine-readable output, where a command has it
`

func run(ctx context.Context, e *env) error {
	if len(e.args) == 0 {
		fmt.Fprint(e.stdout, usage)
		return nil
	}
	cmd, args := e.args[0], e.args[1:]
	switch cmd {
	case "tickets", "ticket", "report", "kb", "customers", "agents":
		// What these print comes partly from customers and platforms.
		safe := *e
		safe.stdout = termSafe{e.stdout}
		e = &safe
	}
	switch cmd {
	case "serve":
		return cmdServe(ctx, e, args)
	case "chat":
		return cmdChat(ctx, e, args)
	case "tickets", "ticket":
		return cmdTickets(ctx, e, args)
	case "ask":
		return cmdAsk(ctx, e, args)
	case "kb":
		if len(args) > 0 && (args[0] == "import" || args[0] == "report" || args[0] == "suggest") {
			return cmdKBTools(ctx, e, args)
		}
		return cmdKB(ctx, e, args)
	case "eval":
		return cmdEval(ctx, e, args)
	case "loadtest":
		return cmdLoadtest(ctx, e, args)
	case "report":
		return cmdReport(ctx, e, args)
	case "agents":
		return cmdCredentials(ctx, e, auth.Agent, args)
	case "customers":
		return cmdCustomers(ctx, e, args)
	case "migrate":
		return cmdMigrate(ctx, e, args)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(e.stdout, usage)
		return nil
	}
	fmt.Fprint(e.stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// common are the flags every command takes.
type common struct {
	data, articles, config string
	json                   bool
}

func newFlags(name string, e *env) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	c := &common{}
	fs.StringVar(&c.data, "data", "", "data directory")
	fs.StringVar(&c.articles, "articles", "", "articles folder")
	fs.StringVar(&c.config, "config", "", "configuration file")
	fs.BoolVar(&c.json, "json", false, "JSON output")
	return fs, c
}

// parse parses flags anywhere among the arguments and returns the others.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		if args[0] == "--" {
			return append(rest, args[1:]...), nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

// config loads the configuration and applies the common flags.
func (c *common) load(e *env) (*config.Config, error) {
	cfg, err := config.Load(c.config, e.getenv)
	if err != nil {
		return nil, err
	}
	if c.data != "" {
		cfg.Data = c.data
	}
	if c.articles != "" {
		cfg.Articles = c.articles
	}
	return cfg, nil
}

func joinArgs(args []string) string { return strings.TrimSpace(strings.Join(args, " ")) }
