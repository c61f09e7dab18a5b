package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"ayuda/api"
	"ayuda/auth"
	"ayuda/bots"
	"ayuda/bots/console"
	"ayuda/escalation"
	"ayuda/inbox"
)

// router sends each message through the adapter of its platform.
type router map[string]bots.Adapter

func (rt router) Send(ctx context.Context, to bots.Address, r bots.Reply) error {
	a, ok := rt[to.Platform]
	if !ok {
		return bots.ErrUnreachable
	}
	return a.Send(ctx, to, r)
}

// serverInfo is written to the data directory while a server runs, so the
// command-line tools find it.
type serverInfo struct {
	Addr string `json:"addr"`
	PID  int    `json:"pid"`
}

func serverFile(data string) string { return filepath.Join(data, "server.json") }

// serveOptions are what the serve and chat commands differ in.
type serveOptions struct {
	terminal *console.Bot // the terminal channel, or nil
	adapters map[string]bots.Adapter
	ready    func(addr string) // called once the API listens
}

// serve runs ayuda until ctx is done or the terminal channel ends: the
// channels, the outbox dispatcher, the HTTP API and the articles watcher.
func serve(ctx context.Context, a *app, getenv func(string) string, opt serveOptions) error {
	token, err := apiToken(a.cfg, getenv, true)
	if err != nil {
		return err
	}
	if bad := secretFilesReadable(a.cfg.Data); len(bad) > 0 {
		a.log.WarnContext(ctx, "secret files other users can read: chmod 600 them", "files", strings.Join(bad, ", "))
	}
	creds, closeCreds, err := openCreds(ctx, a.cfg, a.queue)
	if err != nil {
		return err
	}
	defer closeCreds()
	if len(a.cfg.Agents) == 1 {
		// The local default agent gets a token the tools on this machine
		// use, so a second terminal can answer as before.
		if err := ensureLocal(a.cfg, creds, auth.Agent, a.cfg.Agents[0].ID); err != nil {
			return err
		}
	}
	ln, err := bots.Listen(a.cfg.HTTP, bots.DefaultLimits)
	if err != nil {
		return fmt.Errorf("http: %w (is another ayuda serve running? pick another address: ayuda serve --http 127.0.0.1:8081, AYUDA_HTTP=…, or make run HTTP=127.0.0.1:8081)", err)
	}
	addr := ln.Addr().String()
	info, _ := json.Marshal(serverInfo{Addr: addr, PID: os.Getpid()})
	if err := os.WriteFile(serverFile(a.cfg.Data), info, 0o600); err != nil {
		ln.Close()
		return err
	}
	defer os.Remove(serverFile(a.cfg.Data))

	hc := api.HealthConfig{Channels: opt.adapters, Probe: a.queue.Probe}
	if a.queue.Shared() {
		hc.Leads = a.queue.Leading
	}
	health := api.NewHealth(hc)
	metrics, err := api.Metrics(a.queue, a.cfg.MetricsWindow, time.Now, a.log.With("part", "metrics"), health)
	if err != nil {
		ln.Close()
		return fmt.Errorf("metrics: %w", err)
	}
	chat, err := newWebChat(a, token, getenv)
	if err != nil {
		ln.Close()
		return err
	}
	desk, err := inbox.New(inbox.Config{Queue: a.queue, Creds: creds, Lang: a.cfg.Lang, Key: derive(token, "ayuda-inbox-csrf-key"), Logger: a.log.With("part", "inbox")})
	if err != nil {
		ln.Close()
		return err
	}
	srv := bots.NewServer(api.Handler(api.Config{
		Queue: a.queue, Engine: a.engine, Token: token, Creds: creds, Location: a.cfg.Location(),
		Logger: a.log.With("part", "api"), Metrics: metrics, Health: health, Web: chat.Handler(), Desk: desk.Handler(),
	}), a.log, bots.DefaultLimits)
	rt := router{bots.Web: chat}
	for name, ad := range opt.adapters {
		rt[name] = ad
	}
	if opt.terminal != nil {
		rt[bots.Console] = opt.terminal
	}
	a.log.InfoContext(ctx, "ayuda serving", "http", addr, "articles", a.index.Len(), "channels", len(rt))
	if opt.ready != nil {
		opt.ready(addr)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer stop()
		if err := srv.Shutdown(sctx); err != nil {
			// Five seconds of grace are over: what is still open (a long
			// poll, or a connection a client dialled and never used, which
			// net/http waits five seconds for) is closed. Clients retry.
			a.log.WarnContext(sctx, "closing the connections still open after 5 s", "err", err)
			srv.Close()
		}
		return nil
	})
	// With replicas sharing a database, what must run once runs on the
	// replica that leads it (one each, elected in the database), and moves
	// to another within seconds when that one dies.
	g.Go(func() error {
		return a.queue.Lead(ctx, "outbox", func(ctx context.Context) error { return a.queue.Dispatch(ctx, rt, 0) })
	})
	g.Go(func() error { return a.queue.Lead(ctx, "watchdog", a.queue.Watchdog) })
	g.Go(func() error { return a.watchArticles(ctx, 2*time.Second) })
	// A website visitor waiting on this replica hears of an agent's answer
	// that another replica's dispatcher holds for them.
	a.queue.Watch(func(c escalation.Change) {
		if to := c.Ticket.Customer.Address; to.Platform == bots.Web {
			chat.Send(ctx, to, bots.Reply{})
		}
	})
	for name, ad := range opt.adapters {
		run := ad.Run
		if bots.RunsOnce(ad) {
			run = func(ctx context.Context, h bots.Handler) error {
				return a.queue.Lead(ctx, "channel:"+name, func(ctx context.Context) error { return ad.Run(ctx, h) })
			}
		}
		g.Go(func() error {
			// A channel that stops for good (a rejected token, a setting
			// only the operator can fix) is down on /healthz and in
			// ayuda_channel_up; the other channels keep running.
			if err := run(ctx, a.engine.Handle); err != nil && ctx.Err() == nil {
				a.log.ErrorContext(ctx, "channel stopped; the others keep running", "channel", name, "err", err)
				health.Stop(name, err)
			}
			return nil
		})
	}
	if opt.terminal != nil {
		g.Go(func() error {
			defer cancel() // the person left: stop serving
			return opt.terminal.Run(ctx, a.engine.Handle)
		})
	}
	return g.Wait()
}

// newLogger builds the logger: to w, or to the data directory's ayuda.log
// when the terminal is used for chatting.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
