package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"ayuda/escalation"
)

// reportCollector exposes the report's figures as Prometheus gauges. Each
// scrape computes the report over the last window from the store, so the
// metrics and `ayuda report --since WINDOW` always agree.
type reportCollector struct {
	queue  *escalation.Queue
	window time.Duration
	now    func() time.Time
	log    *slog.Logger
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("ayuda_"+name, help, labels, nil)
}

var (
	mTickets        = desc("tickets", "Tickets opened in the report window, by type, channel, status and priority (one label set at a time).", "by", "value")
	mReasons        = desc("escalation_reasons", "Tickets opened in the window, by why the bot handed over.", "reason")
	mClosures       = desc("closures", "Tickets of the window closed, by how: confirmed, assumed, agent.", "closed_as")
	mSelfService    = desc("self_service_questions", "Questions the bot handled in the window: answered, confirmed, not_escalated, pending, resolved, unanswered.", "kind")
	mSelfRate       = desc("self_service_rate", "Answered questions resolved by self-service (confirmed, or no ticket within 24 h).")
	mEscalationRate = desc("escalation_rate", "Tickets over tickets plus self-service resolutions.")
	mFCR            = desc("first_contact_resolution_rate", "Closed tickets solved with at most one agent message and no reopening.")
	mFirstResponse  = desc("first_response_seconds", "First response time in business seconds, by quantile.", "quantile")
	mResolution     = desc("resolution_seconds", "Resolution time in business seconds (waiting on the customer excluded), by quantile.", "quantile")
	mCompliance     = desc("target_compliance_rate", "Share of targets met among those met or missed.", "target")
	mSatisfaction   = desc("satisfaction_average", "Average rating, 1 to 5, of the tickets closed in the window.")
	mSatResponse    = desc("satisfaction_response_rate", "Rated tickets over closed tickets in the window.")
	mLowRatings     = desc("satisfaction_low_ratings", "Ratings of 1 or 2 in the window.")
	mAgentOpen      = desc("agent_open_tickets", "Open tickets each agent holds now.", "agent")
	mContentGaps    = desc("content_gap_questions", "Unanswered or rejected questions in the window, in the largest similarity groups, by rank.", "rank")
	mRecurring      = desc("recurring_problems", "Groups of similar tickets in the recurring window.")
	mUp             = desc("report_up", "1 when the report could be computed at this scrape.")
)

func (c *reportCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mTickets, mReasons, mClosures, mSelfService, mSelfRate, mEscalationRate, mFCR,
		mFirstResponse, mResolution, mCompliance, mSatisfaction, mSatResponse, mLowRatings, mAgentOpen, mContentGaps, mRecurring, mUp} {
		ch <- d
	}
}

func (c *reportCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := c.now()
	r, err := c.queue.Report(ctx, now.Add(-c.window), now)
	if err != nil {
		c.log.ErrorContext(ctx, "metrics: report", "err", err)
		ch <- upMetric(0)
		return
	}
	ch <- upMetric(1)
	for _, m := range reportMetrics(r) {
		ch <- m
	}
}

func upMetric(v float64) prometheus.Metric {
	m, err := prometheus.NewConstMetric(mUp, prometheus.GaugeValue, v)
	if err != nil {
		return prometheus.NewInvalidMetric(mUp, err)
	}
	return m
}

// reportMetrics turns a report into constant gauges.
func reportMetrics(r *escalation.Report) []prometheus.Metric {
	var out []prometheus.Metric
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
		if err != nil {
			m = prometheus.NewInvalidMetric(d, err)
		}
		out = append(out, m)
	}
	for k, v := range r.ByType {
		g(mTickets, float64(v), "type", string(k))
	}
	for k, v := range r.ByChannel {
		g(mTickets, float64(v), "channel", k)
	}
	for k, v := range r.ByStatus {
		g(mTickets, float64(v), "status", string(k))
	}
	for k, v := range r.Priority {
		g(mTickets, float64(v), "priority", string(k))
	}
	for k, v := range r.Reasons {
		g(mReasons, float64(v), string(k))
	}
	for k, v := range r.Closures {
		g(mClosures, float64(v), string(k))
	}
	ss := r.SelfService
	for k, v := range map[string]int{"answered": ss.Answered, "confirmed": ss.Confirmed, "not_escalated": ss.NotEscalated,
		"pending": ss.Pending, "resolved": ss.Resolved, "unanswered": ss.Unanswered} {
		g(mSelfService, float64(v), k)
	}
	g(mSelfRate, ss.Rate)
	g(mEscalationRate, r.EscalationRate)
	g(mFCR, r.FirstContact.Rate)
	g(mFirstResponse, r.FirstResponse.Median, "0.5")
	g(mFirstResponse, r.FirstResponse.P90, "0.9")
	g(mResolution, r.Resolution.Median, "0.5")
	g(mResolution, r.Resolution.P90, "0.9")
	g(mCompliance, r.FirstResponseTarget.Rate, escalation.TargetFirstResponse)
	g(mCompliance, r.ResolutionTarget.Rate, escalation.TargetResolution)
	g(mSatisfaction, r.Satisfaction.Average)
	g(mSatResponse, r.Satisfaction.ResponseRate)
	g(mLowRatings, float64(r.Satisfaction.Low))
	for _, a := range r.Agents {
		g(mAgentOpen, float64(a.Open), a.Agent)
	}
	for i, gap := range r.ContentGaps {
		g(mContentGaps, float64(gap.Count), strconv.Itoa(i+1))
	}
	g(mRecurring, float64(len(r.Recurring)))
	return out
}

// Metrics serves the report's figures as Prometheus gauges, and any more
// collectors (a Health), on its own registry: the figures of the window
// before now() at each scrape.
func Metrics(q *escalation.Queue, window time.Duration, now func() time.Time, log *slog.Logger, more ...prometheus.Collector) (http.Handler, error) {
	if window <= 0 {
		window = 7 * 24 * time.Hour
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(&reportCollector{queue: q, window: window, now: now, log: log}); err != nil {
		return nil, err
	}
	for _, c := range more {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}), nil
}
