package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"ayuda/bots"
)

// channelHealth knows, for each platform channel serve runs, whether it
// is up: running, and connected when the channel can say so. A channel
// whose Run ended with an error is down for good (until a restart); the
// others keep running.
type channelHealth struct {
	mu       sync.Mutex
	adapters map[string]bots.Adapter
	stopped  map[string]string // channel → why it stopped
	// leads, when set, says what this replica leads among those sharing
	// the database (escalation.Queue.Leading).
	leads func() []string
	// storage, when set, is checked too (storageHealth).
	storage *storageHealth
}

// storageHealth probes the store: a write and its fsync, at most every
// few seconds however often /healthz is asked, and never two at once. A
// full disk, a read-only file or a disk that stopped answering makes
// /healthz say so, instead of "ok" while every write fails.
type storageHealth struct {
	probe func(ctx context.Context) error
	every time.Duration

	mu       sync.Mutex
	at       time.Time // of the last probe
	err      error
	inFlight bool
}

func (s *storageHealth) state() string {
	s.mu.Lock()
	if !s.inFlight && (s.at.IsZero() || time.Since(s.at) >= s.every) {
		s.inFlight = true
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := s.probe(ctx)
		cancel()
		s.mu.Lock()
		s.at, s.err, s.inFlight = time.Now(), err, false
	}
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return "down: " + err.Error()
	}
	return "up"
}

// connected is what channels that keep a connection tell (Discord's
// gateway session).
type connected interface{ Up() bool }

func newChannelHealth(adapters map[string]bots.Adapter) *channelHealth {
	return &channelHealth{adapters: adapters, stopped: map[string]string{}}
}

func (h *channelHealth) stop(name string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped[name] = err.Error()
}

// state is each channel's state: "up", "connecting" (running, no live
// connection now), "standby" (another replica runs it) or "down: why".
func (h *channelHealth) state() map[string]string {
	out := map[string]string{}
	if h.storage != nil {
		out["storage"] = h.storage.state() // outside h.mu: it may take a while
	}
	var leads []string
	if h.leads != nil {
		leads = h.leads()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, ad := range h.adapters {
		switch why, stopped := h.stopped[name]; {
		case stopped:
			out[name] = "down: " + why
		case h.leads != nil && exclusive(ad) && !slices.Contains(leads, "channel:"+name):
			out[name] = "standby"
		case isConnecting(ad):
			out[name] = "connecting"
		default:
			out[name] = "up"
		}
	}
	return out
}

// exclusive reports whether ad runs on one replica at a time.
func exclusive(ad bots.Adapter) bool {
	x, ok := ad.(bots.Exclusive)
	return ok && x.Exclusive()
}

func isConnecting(ad bots.Adapter) bool {
	c, ok := ad.(connected)
	return ok && !c.Up()
}

// serveHTTP answers /healthz: 200 "ok" with every channel's state, or 503
// when a channel stopped for good, so a load balancer or an operator's
// check sees it. A channel that is reconnecting is not a failure.
func (h *channelHealth) serveHTTP(w http.ResponseWriter, _ *http.Request) {
	st := h.state()
	names := make([]string, 0, len(st))
	down := false
	for n, s := range st {
		names = append(names, n)
		down = down || strings.HasPrefix(s, "down")
	}
	sort.Strings(names)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if down {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "degraded")
	} else {
		fmt.Fprintln(w, "ok")
	}
	for _, n := range names {
		fmt.Fprintf(w, "%s: %s\n", n, st[n])
	}
	if h.leads != nil {
		fmt.Fprintf(w, "leads: %s\n", strings.Join(h.leads(), " "))
	}
}

var mChannelUp = desc("channel_up", "1 when the platform channel is running and connected, 0 when it is reconnecting or stopped.", "channel")

// Describe and Collect make channelHealth a Prometheus collector.
func (h *channelHealth) Describe(ch chan<- *prometheus.Desc) { ch <- mChannelUp }

func (h *channelHealth) Collect(ch chan<- prometheus.Metric) {
	for name, s := range h.state() {
		if name == "storage" {
			continue // not a channel
		}
		v := 0.0
		if s == "up" {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(mChannelUp, prometheus.GaugeValue, v, name)
	}
}
