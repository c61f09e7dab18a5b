package telegram

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"ayuda/bots"
)

// secretHeader carries Webhook.Secret on every request from Telegram.
const secretHeader = "X-Telegram-Bot-Api-Secret-Token"

// hookState is what the webhook handler needs while Run serves it.
type hookState struct {
	ctx context.Context // Run's
	h   bots.Handler
	sem chan struct{} // bounds the chats handled at once
}

// runWebhook serves the webhook (on Webhook.Addr, if set), registers it
// with Telegram, and serves until ctx is done; then it waits for the
// requests being handled.
func (b *Bot) runWebhook(ctx context.Context, h bots.Handler) error {
	// Ready to handle updates before Telegram is told where to send them.
	b.hookMu.Lock()
	b.hook = &hookState{ctx: ctx, h: h, sem: make(chan struct{}, b.cfg.Workers)}
	b.hookMu.Unlock()
	defer func() {
		b.hookMu.Lock()
		b.hook = nil
		b.hookMu.Unlock()
		b.hookWG.Wait()
	}()
	if b.cfg.Webhook.Addr == "" {
		if err := b.setWebhook(ctx); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}
	ln, err := bots.Listen(b.cfg.Webhook.Addr, bots.DefaultLimits)
	if err != nil {
		return fmt.Errorf("telegram: webhook: %w", err)
	}
	u, _ := url.Parse(b.cfg.Webhook.URL) // checked by New
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	hook := b.WebhookHandler()
	srv := bots.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.EscapedPath() != path {
			http.NotFound(w, r)
			return
		}
		hook.ServeHTTP(w, r)
	}), b.log, bots.DefaultLimits)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	b.log.InfoContext(ctx, "telegram webhook listening", "addr", ln.Addr().String(), "path", path)
	err = b.setWebhook(ctx)
	if err == nil {
		select {
		case err = <-errc:
			return fmt.Errorf("telegram: webhook: %w", err)
		case <-ctx.Done():
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		srv.Close()
	}
	<-errc
	return err
}

// setWebhook tells Telegram where to post updates, with the secret it must
// send back. (v5.5.1's WebhookConfig has no secret_token, so the request
// is built by hand.) A refusal is an error; a failure to reach Telegram is
// retried until ctx is done.
func (b *Bot) setWebhook(ctx context.Context) error {
	p := tgbotapi.Params{"url": b.cfg.Webhook.URL, "secret_token": b.cfg.Webhook.Secret.Reveal()}
	if err := p.AddInterface("allowed_updates", allowedUpdates); err != nil {
		return fmt.Errorf("telegram: setWebhook: %w", err)
	}
	p.AddNonZero("max_connections", min(b.cfg.Workers, 100))
	bo := b.backoff()
	for {
		_, err := b.raw(ctx, "setWebhook", p)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Code >= 400 && ae.Code < 500 {
			return err
		}
		b.log.WarnContext(ctx, "could not set the webhook; retrying", "err", err)
		if b.sleep(ctx, bo.next()) != nil {
			return nil
		}
	}
}

// WebhookHandler returns the handler for Telegram's webhook requests, to
// mount on a server of your own when Webhook.Addr is empty. It answers 401
// unless the request carries Webhook.Secret, 503 while Run is not serving
// the webhook (Telegram retries), and otherwise handles the update before
// answering: 200 once its reply was sent or queued, 500 if it must be
// delivered again. An update already handled in this run is answered 200
// at once; one from before a restart is recognised by the dialog engine.
func (b *Bot) WebhookHandler() http.Handler {
	return http.HandlerFunc(b.serveWebhook)
}

func (b *Bot) serveWebhook(w http.ResponseWriter, r *http.Request) {
	want := b.cfg.Webhook.Secret.Reveal()
	got := r.Header.Get(secretHeader)
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	b.hookMu.Lock()
	hs := b.hook
	if hs != nil {
		b.hookWG.Add(1)
	}
	b.hookMu.Unlock()
	if hs == nil {
		http.Error(w, "not serving", http.StatusServiceUnavailable)
		return
	}
	defer b.hookWG.Done()

	var u tgbotapi.Update
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&u); err != nil {
		http.Error(w, "bad update", http.StatusBadRequest)
		return
	}
	seen := strconv.Itoa(u.UpdateID)
	if b.hookSeen.has(seen) {
		w.WriteHeader(http.StatusOK)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(hs.ctx, cancel)
	defer stop()

	unlock := b.locks.Lock(chatKey(u)) // one chat's updates in order
	defer unlock()
	select {
	case hs.sem <- struct{}{}:
	case <-ctx.Done():
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer func() { <-hs.sem }()
	if b.hookSeen.has(seen) {
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := b.process(ctx, hs.h, u); err != nil {
		b.log.ErrorContext(ctx, "update not handled; Telegram will retry", "update", u.UpdateID, "err", err)
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	b.hookSeen.add(seen)
	w.WriteHeader(http.StatusOK)
}
