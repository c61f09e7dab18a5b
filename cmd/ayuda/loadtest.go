package main

// `ayuda loadtest` (package loadtest).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"ayuda/escalation"
	"ayuda/loadtest"
)

func cmdLoadtest(ctx context.Context, e *env, args []string) error {
	fs, c := newFlags("loadtest", e)
	customers := fs.Int("customers", 1000, "simulated customers talking at once")
	duration := fs.Duration("duration", 10*time.Second, "how long the mixed load runs")
	agents := fs.Int("agents", 8, "simulated agents answering tickets")
	burst := fs.Int("burst", 1000, "tickets opened at once after the mixed load")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	rate := fs.Float64("rate", 2000, "messages per second the customers send in all (0: as fast as they get replies)")
	database := fs.String("database", "", "a PostgreSQL URL: run on a new schema of that database (dropped after) instead of a bbolt file")
	nReplicas := fs.Int("replicas", 1, "with --database: replicas sharing it (in this process, each with its own engine, store connections and leader elections); customers and agents are spread over them")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	if *nReplicas < 1 || (*nReplicas > 1 && *database == "") {
		return errors.New("loadtest: --replicas needs --database, and at least 1")
	}
	if *database != "" {
		url, drop, err := loadtest.Schema(ctx, *database)
		if err != nil {
			return fmt.Errorf("loadtest: %w", err)
		}
		defer drop()
		cfg.Database = url
	}
	if c.data == "" && e.getenv("AYUDA_DATA") == "" {
		dir, err := os.MkdirTemp("", "ayuda-loadtest-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.Data = dir
	}
	cfg.Agents = nil
	for i := range *agents {
		cfg.Agents = append(cfg.Agents, escalation.Agent{ID: fmt.Sprint("a", i), Name: fmt.Sprint("Agent ", i)})
	}
	var apps []loadtest.Replica
	for range *nReplicas {
		// What goes wrong under load is said (errors only: the rest would
		// be a line per turn).
		a, err := openApp(ctx, cfg, newLogger(e.stderr, slog.LevelError))
		if err != nil {
			return err
		}
		defer a.Close()
		apps = append(apps, loadtest.Replica{Queue: a.queue, Engine: a.engine})
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := loadtest.Run(ctx, apps, loadtest.Options{Customers: *customers, Duration: *duration, Burst: *burst, Rate: *rate, Progress: e.stderr})
	if err != nil {
		return err
	}
	if info, err := os.Stat(filepath.Join(cfg.Data, "ayuda.db")); err == nil {
		rep.StoreMB = float64(info.Size()) / (1 << 20)
	}
	rep.PeakRSSMB = loadtest.PeakRSS()
	if c.json {
		return printJSON(e.stdout, rep)
	}
	store := "bbolt"
	if *database != "" {
		store = fmt.Sprintf("PostgreSQL, %d replica(s)", *nReplicas)
	}
	fmt.Fprintf(e.stdout, "store: %s\n", store)
	fmt.Fprintf(e.stdout, "%d customers offering %.0f msg/s for %.1fs: %d messages, %.0f/s; turn latency p50 %.2f ms, p99 %.2f ms, max %.1f ms\n",
		rep.Customers, rep.OfferedRate, rep.Seconds, rep.Messages, rep.MessagesPerSecond, rep.P50ms, rep.P99ms, rep.MaxMs)
	fmt.Fprintf(e.stdout, "burst: %d tickets opened at %.0f/s (p99 %.2f ms)\n", *burst, rep.TicketsPerSecond, rep.BurstP99ms)
	fmt.Fprintf(e.stdout, "outbox: %d agent replies, %d deliveries, %d lost, %d duplicated, %d out of order\n",
		rep.AgentReplies, rep.Delivered, rep.LostMessages, rep.Duplicates, rep.OutOfOrder)
	if rep.RoundTripsPerMessage > 0 {
		fmt.Fprintf(e.stdout, "database: %.1f round trips per customer message (everything counted)\n", rep.RoundTripsPerMessage)
	}
	fmt.Fprintf(e.stdout, "peak RSS %.0f MB, store %.1f MB\n", rep.PeakRSSMB, rep.StoreMB)
	if rep.LostMessages > 0 || rep.Duplicates > 0 || rep.OutOfOrder > 0 {
		return fmt.Errorf("loadtest: %d lost, %d duplicated, %d out of order", rep.LostMessages, rep.Duplicates, rep.OutOfOrder)
	}
	return nil
}
