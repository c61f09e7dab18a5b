package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ayuda/bots"
	"ayuda/config"
	"ayuda/internal/apitest"
)

// stubChannel is a platform channel for serve: it runs until its context
// ends, or fails at once with fail; up is what it says of its connection.
type stubChannel struct {
	fail error
	up   atomic.Bool
}

func (s *stubChannel) Run(ctx context.Context, _ bots.Handler) error {
	if s.fail != nil {
		return s.fail
	}
	<-ctx.Done()
	return nil
}

func (s *stubChannel) Send(context.Context, bots.Address, bots.Reply) error {
	return bots.ErrUnreachable
}
func (s *stubChannel) Up() bool { return s.up.Load() }

// A channel that stops for good (Discord's 4014, say) does not stop serve:
// /healthz answers 503 and names it, ayuda_channel_up says 0 for it and 1
// for the channel still connected, and the API keeps serving.
func TestChannelDownKeepsServing(t *testing.T) {
	cfg, err := config.Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data, cfg.HTTP = t.TempDir(), "127.0.0.1:0"
	a := openTestApp(t, cfg)
	good := &stubChannel{}
	good.up.Store(true)
	bad := &stubChannel{fail: errors.New("discord: gateway closed with 4014: disallowed intents: switch on Message Content Intent")}
	ctx, cancel := context.WithCancel(t.Context())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	getenv := func(k string) string {
		if k == "AYUDA_API_TOKEN" {
			return "s3cret-operator-token"
		}
		return ""
	}
	go func() {
		done <- serve(ctx, a, getenv, serveOptions{adapters: map[string]bots.Adapter{"telegram": good, "discord": bad}, ready: func(s string) { addr <- s }})
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("serve did not start: %v", err)
	}
	call := apitest.Caller(t, base)
	get := func(path string) (int, string) {
		t.Helper()
		return call("GET", path, "s3cret-operator-token", "")
	}
	var code int
	var body string
	for range 200 {
		if code, body = get("/healthz"); code == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "discord: down: ") || !strings.Contains(body, "Message Content Intent") || !strings.Contains(body, "telegram: up") {
		t.Errorf("healthz %d:\n%s", code, body)
	}
	if _, m := get("/metrics"); !strings.Contains(m, `ayuda_channel_up{channel="discord"} 0`) || !strings.Contains(m, `ayuda_channel_up{channel="telegram"} 1`) {
		t.Errorf("metrics lack the channels' state:\n%s", m)
	}
	good.up.Store(false)
	if code, body := get("/healthz"); !strings.Contains(body, "telegram: connecting") || code != http.StatusServiceUnavailable {
		t.Errorf("healthz while telegram reconnects %d:\n%s", code, body)
	}
	if code, _ := get("/api/tickets"); code != http.StatusOK {
		t.Errorf("the API stopped with the channel: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}
