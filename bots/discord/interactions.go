package discord

// Slash commands and buttons: registering the commands, and answering
// an interaction within Discord's 3 s (a response, then follow-ups).

import (
	"context"
	"slices"
	"time"

	"github.com/bwmarrin/discordgo"

	"ayuda/bots"
)

// registerCommands installs /ayuda, /estado, /humano and /nueva. Discord
// offers guild commands only in that server, and takes contexts only on
// global commands. So with a server configured the commands are
// registered in it (available at once) and globally for DMs only (global
// commands may take up to an hour to appear); without one, globally for
// both.
func (b *Bot) registerCommands(ctx context.Context) error {
	botID, appID := b.ids()
	if appID == "" {
		appID = botID
	}
	global := []discordgo.InteractionContextType{discordgo.InteractionContextGuild, discordgo.InteractionContextBotDM}
	if b.cfg.GuildID != "" {
		global = []discordgo.InteractionContextType{discordgo.InteractionContextBotDM}
		err := b.do(ctx, "register server commands", func(o ...discordgo.RequestOption) error {
			_, err := b.s.ApplicationCommandBulkOverwrite(appID, b.cfg.GuildID, commands(nil), o...)
			return err
		})
		if err != nil {
			return err
		}
	}
	return b.do(ctx, "register commands", func(o ...discordgo.RequestOption) error {
		_, err := b.s.ApplicationCommandBulkOverwrite(appID, "", commands(global), o...)
		return err
	})
}

// commands are the slash commands, described in Spanish (the default) and
// English, offered in contexts (nil: none sent, for server commands). The
// dialog engine understands their names as typed commands.
func commands(contexts []discordgo.InteractionContextType) []*discordgo.ApplicationCommand {
	var out []*discordgo.ApplicationCommand
	for _, c := range []struct{ name, es, en string }{
		{"ayuda", "Qué puedo hacer por ti y cómo pedir ayuda", "What I can do for you and how to get help"},
		{"estado", "Cómo van tus solicitudes", "How your requests are going"},
		{"humano", "Hablar con una persona del equipo", "Talk to a person from the team"},
		{"nueva", "Abrir una solicitud nueva", "Open a new request"},
	} {
		cmd := &discordgo.ApplicationCommand{
			Name:        c.name,
			Type:        discordgo.ChatApplicationCommand,
			Description: c.es,
			DescriptionLocalizations: &map[discordgo.Locale]string{
				discordgo.SpanishES: c.es, discordgo.SpanishLATAM: c.es,
				discordgo.EnglishUS: c.en, discordgo.EnglishGB: c.en,
			},
		}
		if contexts != nil {
			ctxs := slices.Clone(contexts)
			installs := []discordgo.ApplicationIntegrationType{discordgo.ApplicationIntegrationGuildInstall}
			cmd.Contexts, cmd.IntegrationTypes = &ctxs, &installs
		}
		out = append(out, cmd)
	}
	return out
}

// Gateway handlers. The gateway calls them one at a time on its reading
// goroutine, so they only decide and queue.

// handleInteraction runs a button press or slash command through the
// handler, then (once Discord was answered) disables the pressed buttons
// and posts the reply, or writes the command's answer.
func (r *runner) handleInteraction(ctx context.Context, it *item) {
	b, in := r.b, it.in
	ctx = bots.WithSendKey(ctx, "i:"+in.ID) // as for messages: the same answer, the same nonces
	user := interactionUser(in)
	to, ok := r.interactionAddress(ctx, in, user)
	var text string
	if in.Type == discordgo.InteractionMessageComponent {
		text = in.MessageComponentData().CustomID
	} else {
		text = "/" + in.ApplicationCommandData().Name
	}
	var reply bots.Reply
	if ok {
		when, _ := discordgo.SnowflakeTimestamp(in.ID)
		reply = r.h(ctx, bots.Message{ID: "discord:" + in.ID, From: to, Name: displayName(user, in.Member), Text: text, Time: when, Locale: string(in.Locale)})
	}
	select {
	case <-it.acked:
	case <-ctx.Done():
		return
	}
	if !ok {
		return // a press on someone else's buttons: acknowledged, nothing else
	}
	if in.Type == discordgo.InteractionMessageComponent {
		r.pressed(ctx, it, to, text, reply)
	} else {
		r.commanded(ctx, it, to, reply)
	}
	if in.GuildID == "" {
		if err := b.chats.touch(ctx, in.ChannelID, kindDM, user.ID, time.Now()); err != nil {
			b.log.WarnContext(ctx, "remembering DM channel", "err", err)
		}
	}
}

// interactionAddress is where an interaction's conversation happens: the
// DM; the user's own thread when used in the support channel or in another
// customer's thread; else the channel. ok is false for a press on the
// buttons of another customer's messages.
func (r *runner) interactionAddress(ctx context.Context, in *discordgo.Interaction, u *discordgo.User) (bots.Address, bool) {
	to := bots.Address{Platform: bots.Discord, Chat: in.ChannelID, User: u.ID}
	if in.GuildID == "" {
		return to, true
	}
	kind := r.b.chats.kind(in.ChannelID)
	if th, ok := r.b.chats.thread(in.ChannelID); ok {
		if th.User == u.ID {
			return to, true
		}
		private := in.Message != nil && in.Message.Flags&discordgo.MessageFlagsEphemeral != 0
		if in.Type == discordgo.InteractionMessageComponent && !private {
			return to, false
		}
		kind = "support" // a command there: their own thread
	}
	if kind != "support" {
		return to, true
	}
	id, _, err := r.b.supportThread(ctx, u, in.Member, "")
	if err != nil {
		r.b.log.ErrorContext(ctx, "cannot open a thread; answering in the channel", "err", err)
		return to, true
	}
	to.Chat = id
	return to, true
}

// pressed disables the buttons of the pressed message and posts the reply.
func (r *runner) pressed(ctx context.Context, it *item, to bots.Address, id string, reply bots.Reply) {
	b, in := r.b, it.in
	ephemeral := in.Message != nil && in.Message.Flags&discordgo.MessageFlagsEphemeral != 0
	if m := in.Message; m != nil && len(m.Components) > 0 {
		comps := disabled(m.Components, id)
		var err error
		if ephemeral {
			if it.ackErr == nil {
				err = b.do(ctx, "disable buttons", func(o ...discordgo.RequestOption) error {
					_, err := b.s.InteractionResponseEdit(in, &discordgo.WebhookEdit{Components: &comps, AllowedMentions: noMentions()}, o...)
					return err
				})
			}
		} else {
			err = b.do(ctx, "disable buttons", func(o ...discordgo.RequestOption) error {
				_, err := b.s.ChannelMessageEditComplex(&discordgo.MessageEdit{
					ID: m.ID, Channel: in.ChannelID, Components: &comps, AllowedMentions: noMentions(),
				}, o...)
				return err
			})
		}
		if err != nil {
			b.log.WarnContext(ctx, "buttons not disabled", "message", m.ID, "err", err)
		}
	}
	if ephemeral && it.ackErr == nil {
		parts := render(reply)
		n, err := b.followup(ctx, in, parts, true)
		if err == nil {
			return
		}
		b.log.WarnContext(ctx, "follow-up failed; posting in the chat", "err", err)
		reply = rest(reply, parts, n)
	}
	b.deliver(ctx, to, reply)
}

// commanded writes a slash command's answer in place of the deferred one
// (follow-ups for the rest of a long reply); if Discord was not answered
// in time the reply is posted in the chat instead.
func (r *runner) commanded(ctx context.Context, it *item, to bots.Address, reply bots.Reply) {
	b, in := r.b, it.in
	parts := render(reply)
	if it.ackErr == nil {
		n, err := b.respond(ctx, in, parts, it.ephemeral)
		if err == nil {
			return
		}
		b.log.WarnContext(ctx, "command answer failed; posting in the chat", "err", err)
		reply = rest(reply, parts, n)
	}
	b.deliver(ctx, to, reply)
}

// respond edits the deferred answer of a command into the first part and
// sends the others as follow-ups; with nothing to say it deletes it.
func (b *Bot) respond(ctx context.Context, in *discordgo.Interaction, parts []part, ephemeral bool) (int, error) {
	if len(parts) == 0 {
		err := b.do(ctx, "delete answer", func(o ...discordgo.RequestOption) error {
			return b.s.InteractionResponseDelete(in, o...)
		})
		return 0, err
	}
	content, comps := parts[0].content, parts[0].buttons
	if comps == nil {
		comps = []discordgo.MessageComponent{}
	}
	err := b.do(ctx, "answer command", func(o ...discordgo.RequestOption) error {
		_, err := b.s.InteractionResponseEdit(in, &discordgo.WebhookEdit{Content: &content, Components: &comps, AllowedMentions: noMentions()}, o...)
		return err
	})
	if err != nil {
		return 0, err
	}
	n, err := b.followup(ctx, in, parts[1:], ephemeral)
	return 1 + n, err
}

// followup sends parts as follow-up messages of an interaction.
func (b *Bot) followup(ctx context.Context, in *discordgo.Interaction, parts []part, ephemeral bool) (int, error) {
	for i, p := range parts {
		params := &discordgo.WebhookParams{Content: p.content, Components: p.buttons, AllowedMentions: noMentions()}
		if ephemeral {
			params.Flags = discordgo.MessageFlagsEphemeral
		}
		err := b.do(ctx, "follow up", func(o ...discordgo.RequestOption) error {
			_, err := b.s.FollowupMessageCreate(in, true, params, o...)
			return err
		})
		if err != nil {
			return i, err
		}
	}
	return len(parts), nil
}

func interactionUser(in *discordgo.Interaction) *discordgo.User {
	if in.Member != nil && in.Member.User != nil {
		return in.Member.User
	}
	return in.User
}
