package main

import (
	"context"

	"ayuda/bots"
	"ayuda/bots/telegram"
)

// newTelegram builds the Telegram channel when TELEGRAM_BOT_TOKEN is set,
// and returns nil, nil when it is not. TELEGRAM_API_URL (already in
// a.cfg.Telegram.APIURL) points it at another Bot API server. Setting
// TELEGRAM_WEBHOOK_URL switches from long polling to a webhook, which needs
// TELEGRAM_WEBHOOK_SECRET and listens on TELEGRAM_WEBHOOK_ADDR (default
// :8443) for the URL's path.
func newTelegram(ctx context.Context, a *app, e *env) (bots.Adapter, error) {
	token := e.getenv("TELEGRAM_BOT_TOKEN")
	if token == "" {
		return nil, nil
	}
	hook := telegram.Webhook{
		URL:    e.getenv("TELEGRAM_WEBHOOK_URL"),
		Secret: telegram.Secret(e.getenv("TELEGRAM_WEBHOOK_SECRET")),
		Addr:   e.getenv("TELEGRAM_WEBHOOK_ADDR"),
	}
	if hook.URL != "" && hook.Addr == "" {
		hook.Addr = ":8443"
	}
	b, err := telegram.New(telegram.Config{
		Token:   telegram.Secret(token),
		APIURL:  a.cfg.Telegram.APIURL,
		State:   a.queue,
		Outbox:  a.queue,
		Logger:  a.log.With("platform", bots.Telegram),
		Webhook: hook,
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}
