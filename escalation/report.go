package escalation

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Report is how the service did over a period: the figures of `ayuda
// report` and of the metrics. Durations are open time on the calendar, in
// seconds. Every ratio is zero when its denominator is.
type Report struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`

	// Tickets opened in the period, and how they split.
	Tickets   int              `json:"tickets"`
	ByType    map[Type]int     `json:"by_type"`
	ByChannel map[string]int   `json:"by_channel"`
	ByStatus  map[Status]int   `json:"by_status"`
	Reasons   map[Reason]int   `json:"escalation_reasons"`
	Closures  map[Closure]int  `json:"closures"`
	Priority  map[Priority]int `json:"by_priority"`

	SelfService SelfService `json:"self_service"`
	// EscalationRate is the share of requests that needed a person:
	// tickets / (tickets + questions resolved by self-service).
	EscalationRate float64 `json:"escalation_rate"`
	// FirstContact: of the tickets closed, those closed with at most one
	// message from the agent and never reopened.
	FirstContact Ratio `json:"first_contact_resolution"`

	FirstResponse Times `json:"first_response"`
	Resolution    Times `json:"resolution"`
	// Compliance with the targets: met, and missed (late, or overdue and
	// still not done). Tickets still within their target are not counted.
	FirstResponseTarget Ratio `json:"first_response_target"`
	ResolutionTarget    Ratio `json:"resolution_target"`

	Satisfaction Satisfaction `json:"satisfaction"`
	Agents       []AgentLoad  `json:"agents"`

	// ContentGaps are the questions the bot could not answer (no article,
	// or the customer said the answer did not help), grouped by
	// similarity, most frequent first.
	ContentGaps []Gap `json:"content_gaps"`
	// Recurring are groups of similar tickets opened in the recurring
	// window before Until.
	Recurring []TicketCluster `json:"recurring"`
}

// SelfService counts the questions the bot answered itself.
type SelfService struct {
	Answered int `json:"answered"` // answered with an article
	// Confirmed: the customer said the answer helped.
	Confirmed int `json:"confirmed"`
	// NotEscalated: answered, not rejected, and no ticket from the
	// customer within 24 hours.
	NotEscalated int `json:"not_escalated"`
	// Pending: answered less than 24 hours before Until, with no word yet.
	Pending int `json:"pending"`
	// Resolved is Confirmed + NotEscalated; Rate is Resolved over the
	// answered questions that are not pending.
	Resolved int     `json:"resolved"`
	Rate     float64 `json:"rate"`
	// Unanswered are the questions the bot had no article for.
	Unanswered int `json:"unanswered"`
}

// Ratio is a count of successes out of a total.
type Ratio struct {
	Yes   int     `json:"yes"`
	Total int     `json:"total"`
	Rate  float64 `json:"rate"`
}

func ratio(yes, total int) Ratio {
	r := Ratio{Yes: yes, Total: total}
	if total > 0 {
		r.Rate = round(float64(yes) / float64(total))
	}
	return r
}

// Times summarises durations: how many, the median and the 90th
// percentile (nearest rank), in seconds.
type Times struct {
	Count  int     `json:"count"`
	Median float64 `json:"median_seconds"`
	P90    float64 `json:"p90_seconds"`
}

func times(ds []time.Duration) Times {
	if len(ds) == 0 {
		return Times{}
	}
	slices.Sort(ds)
	rank := func(p float64) time.Duration { return ds[int(math.Ceil(p*float64(len(ds))))-1] }
	return Times{Count: len(ds), Median: rank(0.5).Seconds(), P90: rank(0.9).Seconds()}
}

// Satisfaction summarises the ratings of the tickets closed in the period.
type Satisfaction struct {
	Closed       int     `json:"closed"`
	Rated        int     `json:"rated"`
	Average      float64 `json:"average"`
	ResponseRate float64 `json:"response_rate"`
	Low          int     `json:"low"` // ratings of 1 or 2
}

// AgentLoad is one agent's work: open tickets now, and tickets of the
// period assigned to them and closed.
type AgentLoad struct {
	Agent  string `json:"agent"`
	Open   int    `json:"open"`
	Period int    `json:"period"`
	Closed int    `json:"closed"`
}

// Gap is a group of similar questions the bot could not answer.
type Gap struct {
	Count   int      `json:"count"`
	Example string   `json:"example"`
	Terms   []string `json:"terms"`
}

// maxGaps is how many content gaps a report lists.
const maxGaps = 10

func round(f float64) float64 { return math.Round(f*1e4) / 1e4 }

// Report computes the figures for tickets opened and questions asked from
// since (inclusive) to until (exclusive). Agents' open load is counted as
// of now.
func (q *Queue) Report(ctx context.Context, since, until time.Time) (*Report, error) {
	all, err := q.List(ctx, Filter{})
	if err != nil {
		return nil, fmt.Errorf("escalation: report: %w", err)
	}
	answers, err := q.Answers(ctx, since, until)
	if err != nil {
		return nil, fmt.Errorf("escalation: report: %w", err)
	}
	cal := q.cfg.Calendar
	r := &Report{
		Since: since, Until: until,
		ByType: map[Type]int{}, ByChannel: map[string]int{}, ByStatus: map[Status]int{},
		Reasons: map[Reason]int{}, Closures: map[Closure]int{}, Priority: map[Priority]int{},
		Agents: []AgentLoad{}, ContentGaps: []Gap{}, Recurring: []TicketCluster{},
	}
	load := map[string]*AgentLoad{}
	for _, a := range q.Agents() {
		load[strings.ToLower(a.ID)] = &AgentLoad{Agent: a.ID}
	}
	agentLoad := func(id string) *AgentLoad {
		k := strings.ToLower(id)
		if load[k] == nil {
			load[k] = &AgentLoad{Agent: id}
		}
		return load[k]
	}
	opened := map[string][]time.Time{} // customer → when their tickets were opened
	var fr, res []time.Duration
	var frMet, frTotal, resMet, resTotal, fcr, ratedSum int
	for _, t := range all {
		opened[t.Customer.Address.Customer()] = append(opened[t.Customer.Address.Customer()], t.Created)
		if t.Assignee != "" && t.Status.Open() {
			agentLoad(t.Assignee).Open++
		}
		if t.Created.Before(since) || !t.Created.Before(until) {
			continue
		}
		r.Tickets++
		r.ByType[t.Type]++
		r.ByChannel[t.Channel]++
		r.ByStatus[t.Status]++
		r.Reasons[t.Reason]++
		r.Priority[t.Priority]++
		if t.Assignee != "" {
			agentLoad(t.Assignee).Period++
		}
		if !t.FirstResponse.IsZero() {
			fr = append(fr, cal.Between(t.Created, t.FirstResponse))
			frTotal++
			if !t.FirstResponse.After(t.FirstResponseDue) {
				frMet++
			}
		} else if !until.Before(t.FirstResponseDue) && t.Status.Open() && t.Status != Waiting {
			frTotal++ // overdue
		}
		if !t.Completed.IsZero() {
			res = append(res, max(cal.Between(t.Created, t.Completed)-t.Paused, 0))
			resTotal++
			if !t.Completed.After(t.ResolutionDue) {
				resMet++
			}
		} else if !until.Before(t.ResolutionDue) && t.Status.Open() && t.Status != Waiting {
			resTotal++
		}
		if t.Status != Closed {
			continue
		}
		r.Closures[t.ClosedAs]++
		r.Satisfaction.Closed++
		if t.Assignee != "" {
			agentLoad(t.Assignee).Closed++
		}
		replies := 0
		entries := t.Transcript
		if t.Archived > 0 {
			whole, err := q.Get(ctx, t.ID)
			if err != nil {
				return nil, err
			}
			entries = whole.Transcript
		}
		for _, e := range entries {
			if e.Author == AuthorAgent && !e.Note {
				replies++
			}
		}
		if t.Reopens == 0 && replies <= 1 {
			fcr++
		}
		if t.Rating != nil && t.Rating.Score > 0 {
			r.Satisfaction.Rated++
			ratedSum += t.Rating.Score
			if t.Rating.Score <= 2 {
				r.Satisfaction.Low++
			}
		}
	}
	r.FirstContact = ratio(fcr, r.Satisfaction.Closed)
	r.FirstResponse, r.Resolution = times(fr), times(res)
	r.FirstResponseTarget, r.ResolutionTarget = ratio(frMet, frTotal), ratio(resMet, resTotal)
	if s := &r.Satisfaction; s.Rated > 0 {
		s.Average = round(float64(ratedSum) / float64(s.Rated))
		s.ResponseRate = round(float64(s.Rated) / float64(s.Closed))
	}
	for _, a := range q.Agents() {
		r.Agents = append(r.Agents, *load[strings.ToLower(a.ID)])
		delete(load, strings.ToLower(a.ID))
	}
	for _, l := range load { // agents no longer configured
		r.Agents = append(r.Agents, *l)
	}
	slices.SortStableFunc(r.Agents[len(q.Agents()):], func(a, b AgentLoad) int { return strings.Compare(a.Agent, b.Agent) })

	// Self-service and content gaps.
	ss := &r.SelfService
	var gaps []string
	for _, a := range answers {
		if a.Article == "" {
			ss.Unanswered++
			gaps = append(gaps, a.Question)
			continue
		}
		ss.Answered++
		switch {
		case a.Feedback == "yes":
			ss.Confirmed++
		case a.Feedback == "no":
			gaps = append(gaps, a.Question)
		case slices.ContainsFunc(opened[a.Customer], func(at time.Time) bool {
			return !at.Before(a.At) && at.Sub(a.At) < 24*time.Hour
		}):
		case until.Sub(a.At) < 24*time.Hour:
			ss.Pending++
		default:
			ss.NotEscalated++
		}
	}
	ss.Resolved = ss.Confirmed + ss.NotEscalated
	if n := ss.Answered - ss.Pending; n > 0 {
		ss.Rate = round(float64(ss.Resolved) / float64(n))
	}
	if n := r.Tickets + ss.Resolved; n > 0 {
		r.EscalationRate = round(float64(r.Tickets) / float64(n))
	}
	for _, c := range Group(gaps, q.cfg.Protocol.withDefaults().Similarity) {
		if len(r.ContentGaps) == maxGaps {
			break
		}
		r.ContentGaps = append(r.ContentGaps, Gap{Count: len(c.Members), Example: gaps[c.Members[0]], Terms: nonNilStrings(c.Terms)})
	}
	rec, err := q.RecentClusters(ctx, until.Add(-q.cfg.Protocol.withDefaults().RecurringWindow), until)
	if err != nil {
		return nil, fmt.Errorf("escalation: report: %w", err)
	}
	for _, c := range rec {
		if len(c.Tickets) >= q.cfg.Protocol.withDefaults().RecurringMin {
			r.Recurring = append(r.Recurring, c)
		}
	}
	return r, nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
