package main

import (
	"context"

	"ayuda/bots"
	"ayuda/bots/slack"
)

// newSlack builds the Slack channel, and returns nil, nil when it is not
// configured. SLACK_BOT_TOKEN with SLACK_APP_TOKEN runs it over Socket
// Mode; SLACK_BOT_TOKEN with SLACK_SIGNING_SECRET (and no app token) over
// the Events API, listening on SLACK_EVENTS_ADDR (default :3000) for the
// requests Slack signs. SLACK_API_URL points it at another Web API (a
// government cloud, a test double), SLACK_AGENTS_CHANNEL names the agents'
// desk channel and SLACK_AGENT_GROUP a user group whose members are the
// agents; the configured agents' `slack:` user ids say who is who.
// SLACK_THREAD_REPLIES=internal keeps agents' thread replies internal,
// so only the card's reply form writes to the customer. See
// docs/slack.md.
func newSlack(ctx context.Context, a *app, e *env) (bots.Adapter, error) {
	token := e.getenv("SLACK_BOT_TOKEN")
	appToken := e.getenv("SLACK_APP_TOKEN")
	secret := e.getenv("SLACK_SIGNING_SECRET")
	if token == "" || (appToken == "" && secret == "") {
		if token != "" {
			a.log.WarnContext(ctx, "SLACK_BOT_TOKEN is set without SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (Events API): Slack stays off")
		}
		return nil, nil
	}
	cfg := slack.Config{
		BotToken:      slack.Secret(token),
		AppToken:      slack.Secret(appToken),
		SigningSecret: slack.Secret(secret),
		APIURL:        e.getenv("SLACK_API_URL"),
		AgentsChannel: e.getenv("SLACK_AGENTS_CHANNEL"),
		AgentGroup:    e.getenv("SLACK_AGENT_GROUP"),
		ThreadReplies: e.getenv("SLACK_THREAD_REPLIES"),
		Agents:        map[string]string{},
		Queue:         a.queue,
		State:         a.queue,
		Outbox:        a.queue,
		Logger:        a.log.With("platform", bots.Slack),
	}
	if appToken == "" {
		cfg.Mode = slack.HTTP
		cfg.Listen = e.getenv("SLACK_EVENTS_ADDR")
		if cfg.Listen == "" {
			cfg.Listen = ":3000"
		}
	}
	for _, ag := range a.cfg.Agents {
		if ag.Slack != "" {
			cfg.Agents[ag.Slack] = ag.ID
		}
	}
	b, err := slack.New(cfg)
	if err != nil {
		return nil, err
	}
	return b, nil
}
