package bots

import (
	"encoding/json"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/netutil"
)

// Limits bound what one client can hold of an HTTP listener: how many
// connections the listener accepts at once (more wait in the kernel's
// backlog and cost the process no file handle), and how long a client may
// take to send its headers and body, to read the answer, and to stay idle
// between requests. Without them, slowly sent requests and idle
// keep-alives from one client would hold connections for minutes, and
// enough of them exhaust the process's file handles, taking every channel
// down with them.
type Limits struct {
	MaxConns   int
	ReadHeader time.Duration
	Read       time.Duration
	Write      time.Duration
	Idle       time.Duration
	// Quiet is how long, once three quarters of MaxConns are taken, a
	// connection may go without a request: new ones that have sent
	// nothing and idle keep-alives are closed after it, so that silent
	// connections cannot keep the slots from real requests for
	// ReadHeader or Idle each. Zero: no such limit.
	Quiet time.Duration
}

// DefaultLimits are every listener's: the API's long polls wait up to 30 s,
// so answers may take up to a minute to write.
var DefaultLimits = Limits{MaxConns: 512, ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 65 * time.Second, Idle: 60 * time.Second, Quiet: time.Second}

// Listen listens on addr and accepts at most l.MaxConns connections at a
// time.
func Listen(addr string, l Limits) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return LimitListener(ln, l), nil
}

// LimitListener caps ln at l.MaxConns connections at a time.
func LimitListener(ln net.Listener, l Limits) net.Listener {
	if l.MaxConns <= 0 {
		return ln
	}
	return netutil.LimitListener(ln, l.MaxConns)
}

// NewServer returns an http.Server for h with l's timeouts, logging its
// errors to log.
func NewServer(h http.Handler, log *slog.Logger, l Limits) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeader,
		ReadTimeout:       l.Read,
		WriteTimeout:      l.Write,
		IdleTimeout:       l.Idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if l.Quiet > 0 && l.MaxConns > 0 {
		q := &quietConns{grace: l.Quiet, pressure: max(1, l.MaxConns*3/4), conns: map[net.Conn]time.Time{}}
		srv.ConnState = q.track
	}
	return srv
}

// quietConns closes, when a listener is nearly full, the connections that
// are not in a request (new and silent, or idle between requests) for
// longer than grace.
type quietConns struct {
	grace    time.Duration
	pressure int // open connections from which quiet ones are closed

	mu        sync.Mutex
	conns     map[net.Conn]time.Time // open ones; when they went quiet, zero while in a request
	scheduled bool
}

func (q *quietConns) track(c net.Conn, st http.ConnState) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch st {
	case http.StateNew, http.StateIdle:
		q.conns[c] = time.Now()
	case http.StateActive:
		q.conns[c] = time.Time{}
	case http.StateClosed, http.StateHijacked:
		delete(q.conns, c)
	}
	if len(q.conns) >= q.pressure && !q.scheduled {
		q.scheduled = true
		time.AfterFunc(q.grace/2, q.sweep)
	}
}

// sweep closes the connections quiet for longer than grace, and looks
// again while the listener stays nearly full.
func (q *quietConns) sweep() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.scheduled = false
	if len(q.conns) < q.pressure {
		return
	}
	now := time.Now()
	for c, since := range q.conns {
		if !since.IsZero() && now.Sub(since) > q.grace {
			c.Close() // the server reports it closed, and forgets it
			q.conns[c] = time.Time{}
		}
	}
	q.scheduled = true
	time.AfterFunc(q.grace/2, q.sweep)
}

// WriteJSON answers v as JSON with status, never cached, and never taken
// by a browser for anything but JSON: the pages' APIs (the website chat,
// the agents' inbox) answer with it.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// ServeFile answers the file name of files (a page's script, style or
// HTML, embedded in the binary) as typ, checked again on every load.
func ServeFile(files fs.FS, name, typ string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := fs.ReadFile(files, name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", typ)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		w.Write(data)
	}
}
