package slack

// How each relayed message's delivery shows on the agents' thread: the
// outbox read once per pass, and its state (queued, delivered, failed)
// said in words; and the reactions and private messages the desk
// answers agents with.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"ayuda/bots"
	"ayuda/escalation"
)

// showRelays decides what became of the agents' thread messages that are
// still on their way (from the outbox: still there, moved aside, or gone
// because delivered) and shows every new state with a reaction, and a
// reply saying why when a message failed or waits.
func (d *desk) showRelays(ctx context.Context, id escalation.ID, c *card) error {
	var view *outboxView
	for _, r := range c.Relays {
		state, reason := r.State, r.Reason
		if state == relayPending || state == relayRetrying {
			if view == nil {
				// Read after the snapshot: a relay is recorded only once
				// its message is in the outbox, so absence means delivered.
				v, err := d.readOutbox(ctx)
				if err != nil {
					return err
				}
				view = v
			}
			state, reason = view.resolve(r.Ref, state, reason)
		}
		if state == r.State && state == r.Shown {
			continue
		}
		if state != r.Shown {
			if err := d.show(ctx, c, r, state, reason); err != nil {
				return err
			}
		}
		err := d.modify(ctx, id, func(c *card) {
			for i := range c.Relays {
				if c.Relays[i].TS == r.TS {
					c.Relays[i].State, c.Relays[i].Reason, c.Relays[i].Shown = state, reason, state
				}
			}
			c.Relays = pruneRelays(c.Relays)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// show puts state on the agent's message r.
func (d *desk) show(ctx context.Context, c *card, r relay, state, reason string) error {
	if name := relayReactions[state]; name != "" {
		if err := d.b.react(ctx, c.Channel, r.TS, name); err != nil {
			return err
		}
	}
	var line string
	switch {
	case state == relayFailed && r.Note:
		line = ":x: No se ha guardado la nota: " + escape(deliveryWords(reason))
	case state == relayFailed:
		line = ":x: No ha llegado al cliente: " + escape(deliveryWords(reason))
	case state == relayRetrying:
		line = ":hourglass_flowing_sand: Aún no ha llegado al cliente: " + escape(deliveryWords(reason)) + ". Se sigue intentando; no hace falta repetirlo."
	}
	if line == "" {
		return nil
	}
	_, err := d.postLine(ctx, c, line)
	return err
}

// react puts reaction name on message ts of channel ch; one already
// there is no error.
func (b *Bot) react(ctx context.Context, ch, ts, name string) error {
	return b.call(ctx, "reactions.add", func(ctx context.Context) error {
		err := b.api.AddReactionContext(ctx, name, slack.NewRefToMessage(ch, ts))
		var se slack.SlackErrorResponse
		if errors.As(err, &se) && se.Err == "already_reacted" {
			return nil
		}
		return err
	})
}

// pruneRelays keeps the relays still on their way and the latest
// finished ones.
func pruneRelays(rs []relay) []relay {
	finished := 0
	for _, r := range rs {
		if r.final() && r.Shown == r.State {
			finished++
		}
	}
	out := rs[:0:0]
	for _, r := range rs {
		if r.final() && r.Shown == r.State && finished > keepRelays {
			finished--
			continue
		}
		out = append(out, r)
	}
	return out
}

// outboxView is the outbox at one moment, by ref.
type outboxView struct {
	pending, dead map[string]escalation.Outgoing
}

func (d *desk) readOutbox(ctx context.Context) (*outboxView, error) {
	v := &outboxView{pending: map[string]escalation.Outgoing{}, dead: map[string]escalation.Outgoing{}}
	p, err := d.q.Pending(ctx)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	for _, o := range p {
		if o.Ref != "" {
			v.pending[o.Ref] = o
		}
	}
	dead, err := d.q.Undeliverable(ctx)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	for _, o := range dead {
		if o.Ref != "" {
			v.dead[o.Ref] = o
		}
	}
	return v, nil
}

func (v *outboxView) resolve(ref, state, reason string) (string, string) {
	if o, ok := v.dead[ref]; ok {
		return relayFailed, o.LastErr
	}
	if o, ok := v.pending[ref]; ok {
		if o.LastErr != "" {
			return relayRetrying, o.LastErr
		}
		return relayPending, ""
	}
	return relayDelivered, ""
}

// deliveryWords says in words an agent understands why a message has not
// reached the customer, from the outbox's record of the last attempt.
// The queue's own refusals are already in words (reason).
func deliveryWords(lastErr string) string {
	l := strings.ToLower(lastErr)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(l, s) {
				return true
			}
		}
		return false
	}
	switch {
	case lastErr == "":
		return "motivo desconocido"
	case has(strings.ToLower(bots.ErrUnreachable.Error())):
		return "el cliente no está conectado ahora; le llegará en cuanto vuelva"
	case has("blocked", "bot was blocked", "forbidden", "403", "cannot send messages to this user", "50007"):
		return "el cliente ha bloqueado el bot o ya no acepta sus mensajes"
	case has("chat not found", "channel_not_found", "unknown channel", "10003", "user is deactivated", "account_inactive"):
		return "la conversación del cliente ya no existe en su plataforma"
	case has("429", "too many requests", "ratelimited", "rate limit"):
		return "la plataforma pide esperar (límite de mensajes)"
	case has("500", "502", "503", "504", "bad gateway", "service unavailable", "timeout", "connection refused", "no such host", "eof"):
		return "la plataforma del cliente no responde ahora"
	}
	if !strings.Contains(lastErr, ":") && !strings.Contains(lastErr, "escalation") {
		return lastErr // already in words: the queue's refusal
	}
	return "la plataforma del cliente lo ha rechazado (" + lastErr + ")"
}

// ephemeral tells user something only they see, in channel ch (and
// thread, if set).
func (b *Bot) ephemeral(ctx context.Context, ch, user, thread, text string, blocks ...slack.Block) {
	opts := []slack.MsgOption{slack.MsgOptionText(text, true)}
	if len(blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(blocks...))
	}
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
	}
	err := b.call(ctx, "chat.postEphemeral", func(ctx context.Context) error {
		_, err := b.api.PostEphemeralContext(ctx, ch, user, opts...)
		return err
	})
	if err != nil {
		b.log.WarnContext(ctx, "could not answer privately", "user", user, "err", err)
	}
}
