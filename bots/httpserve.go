package bots

import (
	"log/slog"
	"net"
	"net/http"
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
}

// DefaultLimits are every listener's: the API's long polls wait up to 30 s,
// so answers may take up to a minute to write.
var DefaultLimits = Limits{MaxConns: 512, ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 65 * time.Second, Idle: 60 * time.Second}

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
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeader,
		ReadTimeout:       l.Read,
		WriteTimeout:      l.Write,
		IdleTimeout:       l.Idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
