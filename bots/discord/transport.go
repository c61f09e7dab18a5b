package discord

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// discordgo builds every REST URL from https://discord.com/ when the
// package is initialised, and dials whatever gateway URL Discord hands out
// (wss://gateway.discord.gg, and a resume_gateway_url on another
// *.discord.gg host). Overwriting its Endpoint variables would change them
// for the whole process; instead each Bot's HTTP client and websocket
// dialer send those hosts to Config.APIURL.

// isHost reports whether host is domain or one of its subdomains.
func isHost(host, domain string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// rewriter sends requests for discord.com to base, keeping the path (under
// base's own path) and the query.
type rewriter struct {
	base *url.URL
	next http.RoundTripper
}

func (rw rewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	if !isHost(req.URL.Hostname(), "discord.com") {
		return rw.next.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.URL.Scheme = rw.base.Scheme
	r.URL.Host = rw.base.Host
	r.URL.Path = strings.TrimSuffix(rw.base.Path, "/") + req.URL.Path
	if req.URL.RawPath != "" {
		r.URL.RawPath = strings.TrimSuffix(rw.base.EscapedPath(), "/") + req.URL.RawPath
	}
	r.Host = ""
	return rw.next.RoundTrip(r)
}

// httpClient returns the REST client: a copy of c (or a client with a
// 20-second timeout) whose transport rewrites Discord's host to base.
func httpClient(c *http.Client, base *url.URL) *http.Client {
	out := &http.Client{Timeout: 20 * time.Second}
	if c != nil {
		cp := *c
		out = &cp
	}
	if base != nil {
		next := out.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		out.Transport = rewriter{base: base, next: next}
	}
	return out
}

var errClosed = errors.New("discord: bot stopped")

// gatewayDialer returns the websocket dialer: connections to *.discord.gg
// go to base's host (plain TCP when base is http://, TLS checked against
// base's name when https://). Once closed is set it refuses to dial, so a
// reconnect loop in discordgo cannot bring a stopped bot back.
func gatewayDialer(base *url.URL, closed *atomic.Bool) *websocket.Dialer {
	d := &websocket.Dialer{HandshakeTimeout: 45 * time.Second}
	nd := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if base == nil {
		// Discord itself: gorilla does the TLS (and any proxy from the
		// environment) over this plain dial.
		d.Proxy = http.ProxyFromEnvironment
		d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if closed.Load() {
				return nil, errClosed
			}
			return nd.DialContext(ctx, network, addr)
		}
		return d
	}
	target := base.Host
	if base.Port() == "" {
		port := "443"
		if base.Scheme == "http" {
			port = "80"
		}
		target = net.JoinHostPort(base.Hostname(), port)
	}
	redirect := func(addr string) (string, bool) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || !isHost(host, "discord.gg") {
			return addr, false
		}
		return target, true
	}
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if closed.Load() {
			return nil, errClosed
		}
		addr, _ = redirect(addr)
		return nd.DialContext(ctx, network, addr)
	}
	d.NetDialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if closed.Load() {
			return nil, errClosed
		}
		to, moved := redirect(addr)
		name, _, _ := net.SplitHostPort(addr)
		if moved {
			if base.Scheme == "http" {
				return nd.DialContext(ctx, network, to)
			}
			name = base.Hostname()
		}
		td := &tls.Dialer{NetDialer: nd, Config: &tls.Config{ServerName: name, NextProtos: []string{"http/1.1"}}}
		return td.DialContext(ctx, network, to)
	}
	return d
}
