package api

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

// Health knows, for each platform channel serve runs, whether it is up:
// running, and connected when the channel can say so. A channel whose Run
// ended with an error is down for good (until a restart); the others keep
// running. It also probes the store, and says what this replica leads.
type Health struct {
	mu       sync.Mutex
	adapters map[string]bots.Adapter
	stopped  map[string]string // channel → why it stopped
	// leads, when set, says what this replica leads among those sharing
	// the database (escalation.Queue.Leading).
	leads func() []string
	// storage, when set, is checked too (storageHealth).
	storage *storageHealth
}

// HealthConfig is what a Health watches.
type HealthConfig struct {
	// Channels are the platform channels by name.
	Channels map[string]bots.Adapter
	// Probe, when set, checks the store (escalation.Queue.Probe), at most
	// every ProbeEvery (default 5 s).
	Probe      func(ctx context.Context) error
	ProbeEvery time.Duration
	// Leads, when set, says what this replica leads among those sharing a
	// database (escalation.Queue.Leading): an exclusive channel it does not
	// lead is "standby".
	Leads func() []string
}

// NewHealth returns the health of what c names.
func NewHealth(c HealthConfig) *Health {
	h := &Health{adapters: c.Channels, stopped: map[string]string{}, leads: c.Leads}
	if c.Probe != nil {
		if c.ProbeEvery <= 0 {
			c.ProbeEvery = 5 * time.Second
		}
		h.storage = &storageHealth{probe: c.Probe, every: c.ProbeEvery}
	}
	return h
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

// Stop marks channel name down for good, because of err.
func (h *Health) Stop(name string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped[name] = err.Error()
}

// state is each channel's state: "up", "connecting" (running, no live
// connection now), "standby" (another replica runs it) or "down: why".
func (h *Health) state() map[string]string {
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
		case h.leads != nil && bots.RunsOnce(ad) && !slices.Contains(leads, "channel:"+name):
			out[name] = "standby"
		case isConnecting(ad):
			out[name] = "connecting"
		default:
			out[name] = "up"
		}
	}
	return out
}

func isConnecting(ad bots.Adapter) bool {
	c, ok := ad.(connected)
	return ok && !c.Up()
}

// ServeHTTP answers /healthz: 200 "ok" with every channel's state, or 503
// when a channel stopped for good, so a load balancer or an operator's
// check sees it. A channel that is reconnecting is not a failure.
func (h *Health) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
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

// Describe and Collect make Health a Prometheus collector of the
// channels' state.
func (h *Health) Describe(ch chan<- *prometheus.Desc) { ch <- mChannelUp }

func (h *Health) Collect(ch chan<- prometheus.Metric) {
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
