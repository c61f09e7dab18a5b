// Package loadtest drives simulated customers through the real engine,
// store and outbox, with simulated agents answering their tickets, then
// opens a burst of tickets at once, and checks that every follow-up is on
// its ticket and every agent reply was delivered once and in order.
// `ayuda loadtest` runs it on one replica (bbolt or PostgreSQL) or on
// several sharing a database.
package loadtest

import (
	"context"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"ayuda/bots"
	"ayuda/dialog"
	"ayuda/escalation"
)

// Report is what a run measures.
type Report struct {
	Replicas          int     `json:"replicas"`
	Customers         int     `json:"customers"`
	OfferedRate       float64 `json:"offered_rate"`
	Seconds           float64 `json:"seconds"`
	Messages          int64   `json:"messages"`
	MessagesPerSecond float64 `json:"messages_per_second"`
	P50ms             float64 `json:"p50_ms"`
	P99ms             float64 `json:"p99_ms"`
	MaxMs             float64 `json:"max_ms"`
	TicketsOpened     int     `json:"tickets_opened"`
	TicketsPerSecond  float64 `json:"tickets_per_second"`
	BurstP99ms        float64 `json:"burst_p99_ms"`
	AgentReplies      int64   `json:"agent_replies"`
	Delivered         int64   `json:"delivered"`
	LostMessages      int64   `json:"lost_messages"`
	Duplicates        int64   `json:"duplicates"`
	OutOfOrder        int64   `json:"out_of_order"`
	// RoundTripsPerMessage is how many times the replicas waited for the
	// database during the mixed load, over the customers' messages: every
	// part's work (agents, outbox, watchdog) counted. 0 for bbolt.
	RoundTripsPerMessage float64 `json:"round_trips_per_message,omitempty"`
	PeakRSSMB            float64 `json:"peak_rss_mb"`
	StoreMB              float64 `json:"store_mb"`
}

// loadPlatform is the platform name of simulated customers.
const loadPlatform = "load"

// sink is the simulated platform: it records every delivery and checks that
// each agent reply arrives once and in order.
type sink struct {
	mu         sync.Mutex
	seen       map[string]int // reply marker → deliveries
	last       map[bots.Address]int
	delivered  atomic.Int64
	duplicates atomic.Int64
	outOfOrder atomic.Int64
}

func (s *sink) Send(ctx context.Context, to bots.Address, r bots.Reply) error {
	s.delivered.Add(1)
	i := strings.Index(r.Text, "[r")
	if i < 0 {
		return nil // a notice, not an agent's reply
	}
	marker := r.Text[i : i+strings.IndexByte(r.Text[i:], ']')+1]
	n, _ := strconv.Atoi(strings.TrimSuffix(marker[strings.LastIndexByte(marker, '-')+1:], "]"))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[marker]++
	if s.seen[marker] > 1 {
		s.duplicates.Add(1)
	}
	if n <= s.last[to] {
		s.outOfOrder.Add(1)
	}
	s.last[to] = n
	return nil
}

// scripts are what simulated customers say: answered questions with
// feedback, a clarification, a ticket with a follow-up, a status check.
var scripts = [][]string{
	{"¿cuánto tarda el envío?", "sí"},
	{"how do I reset my password?", "yes", "thanks"},
	{"quiero cambiar mi pedido", "1", "sí"},
	{"¿dónde está mi pedido?", "no", "el pedido {n} no ha llegado", "/estado"},
	{"cuéntame un chiste", "¿qué métodos de pago aceptáis?", "sí"},
	{"/estado"},
}

// agentLooksEvery is how often a simulated agent with nothing to do looks
// at the queue of new tickets: far more often than a person does (the
// desks are pushed to), and rarely enough that the looking is not what
// the test measures (every 5 ms, eight agents made 1,600 reads a second,
// 1.6 round trips per customer message on PostgreSQL).
const agentLooksEvery = 50 * time.Millisecond

// Replica is one ayuda: its store and its engine.
type Replica struct {
	Queue  *escalation.Queue
	Engine *dialog.Engine
}

// Options are the load.
type Options struct {
	// Customers talk at once, offering Rate messages per second in all (0:
	// each as fast as they get replies), for Duration.
	Customers int
	Rate      float64
	Duration  time.Duration
	// Burst tickets are opened at once after the mixed load.
	Burst int
	// Progress, when set, hears what the run is doing.
	Progress io.Writer
}

// Run runs the mixed load, then the burst, then checks the outbox. With
// several replicas (on one database), customer c talks to replica c mod n,
// agent i works on replica i mod n, and the replica that leads the outbox
// delivers. The agents are the first replica's.
func Run(ctx context.Context, apps []Replica, o Options) (Report, error) {
	customers, duration, burst, rate, progress := o.Customers, o.Duration, o.Burst, o.Rate, o.Progress
	if progress == nil {
		progress = io.Discard
	}
	rep := Report{Customers: customers, OfferedRate: rate, Replicas: len(apps)}
	sk := &sink{seen: map[string]int{}, last: map[bots.Address]int{}}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := apps[0]
	var wg sync.WaitGroup
	dispatchErr := make(chan error, len(apps))
	for _, r := range apps {
		wg.Go(func() {
			dispatchErr <- r.Queue.Lead(ctx, "outbox", func(ctx context.Context) error { return r.Queue.Dispatch(ctx, sk, 32) })
		})
	}

	// Agents answer new tickets while the customers talk.
	var replies atomic.Int64
	stopAgents := make(chan struct{})
	var agentsWG sync.WaitGroup
	for i, ag := range a.Queue.Agents() {
		a := apps[i%len(apps)]
		agentsWG.Go(func() {
			for {
				select {
				case <-stopAgents:
					return
				default:
				}
				ts, err := a.Queue.List(ctx, escalation.Filter{Status: []escalation.Status{escalation.New}, Limit: 20})
				if err != nil || len(ts) == 0 {
					select {
					case <-stopAgents:
						return
					case <-time.After(agentLooksEvery):
					}
					continue
				}
				for _, t := range ts {
					if _, err := a.Queue.Claim(ctx, t.ID, ag.ID); err != nil {
						continue // another agent was faster
					}
					for n := 1; n <= 2; n++ {
						if _, err := a.Queue.Reply(ctx, t.ID, ag.ID, fmt.Sprintf("Lo reviso [r%d-%d]", t.ID, n)); err == nil {
							replies.Add(1)
						}
					}
				}
			}
		})
	}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		messages  atomic.Int64
		followUps = map[string]bool{} // follow-ups sent, by customer chat
	)
	roundTrips := func() (n uint64) {
		for _, r := range apps {
			n += r.Queue.RoundTrips()
		}
		return n
	}
	trips := roundTrips()
	start := time.Now()
	deadline := start.Add(duration)
	var customersWG sync.WaitGroup
	// Open loop: each customer sends a message every `every`, staggered, so
	// the customers together offer `rate` messages a second whatever the
	// latency; a late reply delays only that customer's next message.
	var every time.Duration
	if rate > 0 {
		every = time.Duration(float64(customers) / rate * float64(time.Second))
	}
	for c := range customers {
		a := apps[c%len(apps)]
		customersWG.Go(func() {
			var mine []time.Duration
			defer func() {
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			}()
			next := start.Add(time.Duration(c) * every / time.Duration(max(customers, 1)))
			for round := 0; time.Now().Before(deadline) && ctx.Err() == nil; round++ {
				from := bots.Address{Platform: loadPlatform, Chat: fmt.Sprintf("%d.%d", c, round), User: fmt.Sprint(c)}
				for i, line := range scripts[(c+round)%len(scripts)] {
					if every > 0 {
						if !next.Before(deadline) {
							return // this customer's next turn would be after the end
						}
						time.Sleep(time.Until(next))
						next = next.Add(every)
					}
					followUp := strings.Contains(line, "{n}")
					line = strings.ReplaceAll(line, "{n}", fmt.Sprintf("AUR-%d-%d", c, round))
					t0 := time.Now()
					a.Engine.Handle(ctx, bots.Message{ID: fmt.Sprintf("%s:%d", from.Chat, i), From: from, Text: line})
					mine = append(mine, time.Since(t0))
					messages.Add(1)
					if followUp {
						mu.Lock()
						followUps[from.Chat] = true
						mu.Unlock()
					}
				}
			}
		})
	}
	tick := time.NewTicker(time.Second)
	loadDone := make(chan struct{})
	go func() {
		for {
			select {
			case <-loadDone:
				return
			case <-tick.C:
				fmt.Fprintf(progress, "mixed load: %.0fs of %.0fs, %d messages\n", time.Since(start).Seconds(), duration.Seconds(), messages.Load())
			}
		}
	}()
	customersWG.Wait()
	tick.Stop()
	close(loadDone)
	rep.Seconds = time.Since(start).Seconds()
	rep.Messages = messages.Load()
	rep.MessagesPerSecond = float64(rep.Messages) / rep.Seconds
	rep.P50ms, rep.P99ms, rep.MaxMs = percentiles(latencies)
	if rep.Messages > 0 {
		rep.RoundTripsPerMessage = float64(roundTrips()-trips) / float64(rep.Messages)
	}
	fmt.Fprintf(progress, "mixed load done: %d messages in %.1fs\n", rep.Messages, rep.Seconds)

	// The burst: many customers ask for a person at the same moment.
	fmt.Fprintf(progress, "burst: %d customers ask for a person at once…\n", burst)
	before, err := a.Queue.List(ctx, escalation.Filter{})
	if err != nil {
		return rep, err
	}
	var burstLat []time.Duration
	start = time.Now()
	var burstWG sync.WaitGroup
	for c := range burst {
		a := apps[c%len(apps)]
		burstWG.Go(func() {
			from := bots.Address{Platform: loadPlatform, Chat: fmt.Sprint("burst-", c), User: fmt.Sprint("burst-", c)}
			t0 := time.Now()
			a.Engine.Handle(ctx, bots.Message{ID: "b", From: from, Text: fmt.Sprintf("quiero hablar con una persona: el pedido AUR-B%d llegó roto", c)})
			d := time.Since(t0)
			mu.Lock()
			burstLat = append(burstLat, d)
			mu.Unlock()
		})
	}
	burstWG.Wait()
	burstSecs := time.Since(start).Seconds()
	after, err := a.Queue.List(ctx, escalation.Filter{})
	if err != nil {
		return rep, err
	}
	rep.TicketsOpened = len(after) - len(before)
	rep.TicketsPerSecond = float64(rep.TicketsOpened) / burstSecs
	_, rep.BurstP99ms, _ = percentiles(burstLat)
	if rep.TicketsOpened != burst {
		rep.LostMessages += int64(burst - rep.TicketsOpened)
	}

	// Let the agents answer what is left, then wait for the outbox to drain.
	fmt.Fprintln(progress, "waiting for the agents to answer and the outbox to deliver…")
	for drained := time.Now().Add(time.Minute); ; {
		ts, err := a.Queue.List(ctx, escalation.Filter{Status: []escalation.Status{escalation.New}, Limit: 1})
		if err != nil {
			return rep, err
		}
		if len(ts) == 0 || time.Now().After(drained) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stopAgents)
	agentsWG.Wait()
	for drained := time.Now().Add(time.Minute); ; {
		p, err := a.Queue.Pending(ctx)
		if err != nil {
			return rep, err
		}
		if len(p) == 0 || time.Now().After(drained) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	close(dispatchErr)
	for err := range dispatchErr {
		if err != nil {
			return rep, err
		}
	}
	rep.AgentReplies = replies.Load()
	rep.Delivered = sk.delivered.Load()
	rep.Duplicates = sk.duplicates.Load()
	rep.OutOfOrder = sk.outOfOrder.Load()
	sk.mu.Lock()
	rep.LostMessages += rep.AgentReplies - int64(len(sk.seen))
	sk.mu.Unlock()

	// Every follow-up a customer sent on a ticket is in its transcript.
	fmt.Fprintln(progress, "checking every transcript…")
	missing, err := missingFollowUps(parent, a.Queue, followUps)
	if err != nil {
		return rep, err
	}
	rep.LostMessages += int64(missing)
	return rep, nil
}

// missingFollowUps counts ticket follow-ups ("el pedido AUR-c-r …") that a
// customer sent (sent holds their chats) but that are not in their ticket.
func missingFollowUps(ctx context.Context, q *escalation.Queue, sent map[string]bool) (int, error) {
	ts, err := q.List(ctx, escalation.Filter{})
	if err != nil {
		return 0, err
	}
	missing := 0
	for _, t := range ts {
		if t.Reason != escalation.ReasonNegative || !sent[t.Customer.Address.Chat] {
			continue
		}
		marker := "AUR-" + strings.ReplaceAll(t.Customer.Address.Chat, ".", "-")
		if t.Archived > 0 {
			whole, err := q.Get(ctx, t.ID)
			if err != nil {
				return 0, err
			}
			t = *whole
		}
		found := false
		for _, en := range t.Transcript {
			found = found || strings.Contains(en.Text, marker)
		}
		if !found {
			missing++
		}
	}
	return missing, nil
}

func percentiles(ds []time.Duration) (p50, p99, maxMs float64) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return ms(ds[len(ds)/2]), ms(ds[len(ds)*99/100]), ms(ds[len(ds)-1])
}

// PeakRSS returns the process's peak resident memory in MB, or the Go
// heap's peak when /proc is not there.
func PeakRSS() float64 {
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				if err == nil {
					return kb / 1024
				}
			}
		}
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.Sys) / (1 << 20)
}

// Schema makes a schema of its own in the database at url for a
// load test, and returns url set to use it and a function that drops it.
func Schema(ctx context.Context, url string) (string, func(), error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", nil, fmt.Errorf("the database: %w", err)
	}
	defer c.Close(ctx)
	schema := fmt.Sprintf("ayuda_loadtest_%d", os.Getpid())
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("the database: %w", err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if c, err := pgx.Connect(ctx, url); err == nil {
			c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	}
	return WithSearchPath(url, schema), drop, nil
}

// WithSearchPath is a PostgreSQL URL or key=value string with its
// search_path set to schema.
func WithSearchPath(db, schema string) string {
	if u, err := neturl.Parse(db); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return db + " search_path=" + schema
}
