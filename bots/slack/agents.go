package slack

import (
	"context"
	"sync"
	"time"

	"ayuda/escalation"
)

// agents decides who in Slack is which configured agent.
type agents struct {
	b      *Bot
	byUser map[string]string // Slack user → agent id
	group  string            // user group whose members may act; "" means anyone mapped

	mu      sync.Mutex // guards the group's members
	members map[string]bool
	fetched time.Time // of members
	tried   time.Time // the last attempt to fetch them
}

const (
	// groupTTL is how long the group's members are trusted.
	groupTTL = 5 * time.Minute
	// groupRetry spaces the fetches a stranger's action can cause.
	groupRetry = 30 * time.Second
)

// agentFor returns the configured agent Slack user is, if any: the agent
// whose Slack user id (Config.Agents, from the agents' slack: setting) is
// user. Only the user id counts: handles, display names and real names
// are chosen by each member and can be changed to anyone's. With a group,
// only its members are agents; when Slack cannot be asked who the members
// are, the last known members are used, and with none known nobody is an
// agent.
func (a *agents) agentFor(ctx context.Context, user string) (escalation.Agent, bool) {
	q := a.b.cfg.Queue
	if q == nil || user == "" {
		return escalation.Agent{}, false
	}
	id, mapped := a.byUser[user]
	if !mapped {
		return escalation.Agent{}, false
	}
	if a.group != "" && !a.member(ctx, user) {
		return escalation.Agent{}, false
	}
	ag, err := q.Agent(id)
	if err != nil {
		return escalation.Agent{}, false
	}
	return ag, true
}

// member reports whether user is in the agents' group, asking Slack
// (usergroups.users.list) when what is known is stale, or when user is not
// among the members and the last fetch was a while ago.
func (a *agents) member(ctx context.Context, user string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.b.now()
	fresh := a.members != nil && now.Sub(a.fetched) < groupTTL
	if fresh && a.members[user] {
		return true
	}
	if a.members == nil || now.Sub(a.tried) >= groupRetry {
		a.tried = now
		var users []string
		err := a.b.call(ctx, "usergroups.users.list", func(ctx context.Context) error {
			var err error
			users, err = a.b.api.GetUserGroupMembersContext(ctx, a.group)
			return err
		})
		if err != nil {
			a.b.log.WarnContext(ctx, "cannot read the agents' user group", "group", a.group, "err", err)
		} else {
			a.members = make(map[string]bool, len(users))
			for _, u := range users {
				a.members[u] = true
			}
			a.fetched = now
		}
	}
	return a.members[user]
}
