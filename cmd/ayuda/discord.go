package main

import (
	"context"

	"ayuda/bots"
	"ayuda/bots/discord"
)

// newDiscord builds the Discord channel when DISCORD_BOT_TOKEN is set, and
// returns nil, nil when it is not. DISCORD_API_URL points it at a proxy or
// a test double, DISCORD_SUPPORT_CHANNEL names the channel where customers
// post, and DISCORD_GUILD_ID the server its slash commands go to (empty:
// global). See docs/discord.md.
func newDiscord(ctx context.Context, a *app, e *env) (bots.Adapter, error) {
	token := e.getenv("DISCORD_BOT_TOKEN")
	if token == "" {
		return nil, nil
	}
	return discord.New(discord.Config{
		Token:          discord.Token(token),
		APIURL:         e.getenv("DISCORD_API_URL"),
		SupportChannel: e.getenv("DISCORD_SUPPORT_CHANNEL"),
		GuildID:        e.getenv("DISCORD_GUILD_ID"),
		State:          a.queue,
		Outbox:         a.queue,
		Logger:         a.log.With("platform", "discord"),
	})
}
