package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"strings"

	"ayuda/bots/web"
)

// minIdentitySecret is the shortest AYUDA_WEB_IDENTITY_SECRET accepted.
const minIdentitySecret = 16

// newWebChat is the website chat. Visitor tokens are signed with a key
// derived from the operator's token (so no other secret needs keeping, and
// rotating that token starts every visitor afresh); the site's signatures
// of its logged-in customers use AYUDA_WEB_IDENTITY_SECRET.
func newWebChat(a *app, token string, getenv func(string) string) (*web.Chat, error) {
	var identity []byte
	if s := strings.TrimSpace(getenv("AYUDA_WEB_IDENTITY_SECRET")); s != "" {
		if len(s) < minIdentitySecret {
			return nil, fmt.Errorf("AYUDA_WEB_IDENTITY_SECRET is too short (%d characters; at least %d): use a long random one, e.g. `openssl rand -hex 24`, and the same on the website", len(s), minIdentitySecret)
		}
		identity = []byte(s)
	}
	return web.New(web.Config{
		Key:         derive(token, "ayuda-web-visitor-key"),
		IdentityKey: identity,
		Origins:     a.cfg.Web.Origins,
		Handle:      a.engine.Handle,
		Outbox:      a.queue,
		Logger:      a.log.With("part", "web"),
	})
}

// derive is a key for one purpose from the operator's token.
func derive(token, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
