package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"ayuda/api/client"
	"ayuda/auth"
	"ayuda/bots"
	"ayuda/bots/console"
	"ayuda/config"
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
	fmt.Fprintf(w, "       Agents, in another terminal: %s tickets list%s   (API on http://%s, logs in %s)\n",
		prog, data, addr, filepath.Join(cfg.Data, "ayuda.log"))
	fmt.Fprintf(w, "       In a browser: http://%s/inbox for agents, http://%s/chat/demo for the website chat\n\n", addr, addr)
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
func remoteChat(ctx context.Context, cl *client.Client, term *console.Bot, name string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// What arrived while this customer was away, acknowledged once shown.
	var shown uint64
	if in, err := cl.Inbox(ctx, name, 0, 0); err == nil {
		for _, m := range in.Messages {
			term.Show(m)
		}
		shown = in.Last
		if shown > 0 {
			cl.Inbox(ctx, name, 0, shown)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			in, err := cl.Inbox(ctx, name, 20*time.Second, shown)
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
		r, err := cl.Chat(ctx, name, m.Text)
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
		cl.Inbox(actx, name, 0, shown)
		stop()
	}
	return err
}
