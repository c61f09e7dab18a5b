package escalation

import (
	"fmt"
	"slices"
	"strings"

	"ayuda/escalation/store"
)

// AssignMode is how a team's new tickets get an agent.
type AssignMode string

// Assignment modes.
const (
	// AssignClaim leaves new tickets in the queue for an agent to claim.
	AssignClaim AssignMode = "claim"
	// AssignRoundRobin gives each new ticket to the next of the team's
	// agents, in turn, skipping those at their maximum load; when all are,
	// the ticket waits in the queue to be claimed.
	AssignRoundRobin AssignMode = "round_robin"
)

// Team is a group of agents that tickets are routed to.
type Team struct {
	Name   string     `json:"name" yaml:"name"`
	Agents []string   `json:"agents" yaml:"agents"` // agent ids
	Assign AssignMode `json:"assign,omitempty" yaml:"assign"`
	// MaxOpen is how many open tickets an agent may hold before round robin
	// skips them; zero means 10.
	MaxOpen int `json:"max_open,omitempty" yaml:"max_open"`
}

// Route sends tickets to a team. Every non-empty condition must match: the
// ticket's type is one of Types, one of its tags (those of the articles
// the bot offered) is in Tags, its channel (platform) is in Channels and
// the customer's language is in Langs. A route with no conditions matches
// every ticket, so it can close the list as the default.
type Route struct {
	Types    []Type   `json:"types,omitempty" yaml:"types"`
	Tags     []string `json:"tags,omitempty" yaml:"tags"`
	Channels []string `json:"channels,omitempty" yaml:"channels"`
	Langs    []string `json:"langs,omitempty" yaml:"langs"`
	Team     string   `json:"team" yaml:"team"`
}

func (r Route) match(t *Ticket) bool {
	if len(r.Types) > 0 && !slices.Contains(r.Types, t.Type) {
		return false
	}
	if len(r.Tags) > 0 && !slices.ContainsFunc(t.Tags, func(tag string) bool {
		return slices.ContainsFunc(r.Tags, func(s string) bool { return strings.EqualFold(s, tag) })
	}) {
		return false
	}
	if len(r.Channels) > 0 && !slices.ContainsFunc(r.Channels, func(s string) bool { return strings.EqualFold(s, t.Channel) }) {
		return false
	}
	if len(r.Langs) > 0 && !slices.ContainsFunc(r.Langs, func(s string) bool { return strings.EqualFold(s, t.Customer.Lang) }) {
		return false
	}
	return true
}

// checkRouting validates teams and routes against the configured agents.
func checkRouting(teams []Team, routes []Route, agents map[string]Agent) error {
	names := map[string]bool{}
	for i, tm := range teams {
		if tm.Name == "" {
			return fmt.Errorf("escalation: team %d has no name", i+1)
		}
		if names[tm.Name] {
			return fmt.Errorf("escalation: team %q is defined twice", tm.Name)
		}
		names[tm.Name] = true
		switch tm.Assign {
		case "", AssignClaim, AssignRoundRobin:
		default:
			return fmt.Errorf("escalation: team %q: assign must be claim or round_robin, not %q", tm.Name, tm.Assign)
		}
		if tm.MaxOpen < 0 {
			return fmt.Errorf("escalation: team %q: max_open must not be negative", tm.Name)
		}
		for _, a := range tm.Agents {
			if _, ok := agents[strings.ToLower(a)]; !ok {
				known := make([]string, 0, len(agents))
				for id := range agents {
					known = append(known, id)
				}
				slices.Sort(known)
				return fmt.Errorf("team %q lists %q, who is not among the agents (%s): add them under agents, or fix the name: %w", tm.Name, a, strings.Join(known, ", "), ErrNotAgent)
			}
		}
	}
	for i, r := range routes {
		if !names[r.Team] {
			return fmt.Errorf("escalation: route %d: no team %q", i+1, r.Team)
		}
		for _, typ := range r.Types {
			if _, err := ParseType(string(typ)); err != nil {
				return fmt.Errorf("escalation: route %d: %w", i+1, err)
			}
		}
	}
	return nil
}

// route returns the team of the first route that matches t, or "".
func (q *Queue) route(t *Ticket) string {
	for _, r := range q.cfg.Routes {
		if r.match(t) {
			return r.Team
		}
	}
	return ""
}

func (q *Queue) team(name string) (Team, bool) {
	for _, tm := range q.cfg.Teams {
		if tm.Name == name {
			return tm, true
		}
	}
	return Team{}, false
}

// openLoad counts the open tickets each agent holds.
func openLoad(tx store.Tx) (map[string]int, error) {
	load := map[string]int{}
	for _, s := range Statuses {
		if !s.Open() {
			continue
		}
		ts, errs := getTickets(tx, scanIndex(tx, bStatus, string(s)))
		for i, t := range ts {
			if err := errs[i]; err != nil {
				return nil, err
			}
			if t.Assignee != "" {
				load[strings.ToLower(t.Assignee)]++
			}
		}
	}
	return load, nil
}

// assignRoundRobin picks the agent of team who comes after the last one
// given a ticket and holds fewer than MaxOpen open tickets, and remembers
// them within tx. It returns false when every agent is at the limit.
func (q *Queue) assignRoundRobin(tx store.Tx, tm Team) (Agent, bool, error) {
	if len(tm.Agents) == 0 {
		return Agent{}, false, nil
	}
	limit := tm.MaxOpen
	if limit == 0 {
		limit = 10
	}
	load, err := openLoad(tx)
	if err != nil {
		return Agent{}, false, err
	}
	key := []byte("round_robin\x00" + tm.Name)
	last := string(tx.Bucket(bMeta).Get(key))
	start := 0
	for i, a := range tm.Agents {
		if strings.EqualFold(a, last) {
			start = i + 1
		}
	}
	for i := range tm.Agents {
		id := tm.Agents[(start+i)%len(tm.Agents)]
		if load[strings.ToLower(id)] >= limit {
			continue
		}
		a, err := q.Agent(id)
		if err != nil {
			return Agent{}, false, err
		}
		return a, true, tx.Bucket(bMeta).Put(key, []byte(a.ID))
	}
	return Agent{}, false, nil
}

// routeAndAssign sets t's team and, for a round-robin team, its agent.
// The customer hears who is on it in the receipt.
func (q *Queue) routeAndAssign(tx store.Tx, t *Ticket) error {
	t.Team = q.route(t)
	tm, ok := q.team(t.Team)
	if !ok || tm.Assign != AssignRoundRobin {
		return nil
	}
	a, ok, err := q.assignRoundRobin(tx, tm)
	if err != nil || !ok {
		return err
	}
	t.Assignee, t.Status = a.ID, Assigned
	q.event(t, "system", "assigned", fmt.Sprintf("%s: round robin in team %s", a.ID, tm.Name))
	return nil
}
