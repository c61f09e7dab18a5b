package discord

// Catch-up: after a reconnect, the messages the gateway did not deliver
// are read from the channels ayuda talks in.

import (
	"context"
	"slices"
	"time"

	"github.com/bwmarrin/discordgo"
)

// catchUpLoop catches up after every new gateway session (the first one
// included, for what arrived while ayuda was stopped) until ctx is done.
func (r *runner) catchUpLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.catchUp:
		}
		for _, ch := range r.b.chats.recent(time.Now()) {
			if ctx.Err() != nil {
				return
			}
			n, err := r.catchUpOn(ctx, ch)
			if err != nil {
				r.b.log.WarnContext(ctx, "catch-up failed", "channel", ch, "err", err)
			}
			if n > 0 {
				r.b.log.InfoContext(ctx, "caught up", "channel", ch, "fetched", n)
			}
		}
		// What the gateway sent meanwhile follows what was read.
		r.release()
	}
}

// catchUpOn routes the messages posted in channel after the last one
// handled there (up to 1,000) and returns how many it fetched;
// re-deliveries are dropped by route. A DM remembered before any of its
// messages was handled (a replica died between its first message and the
// answer) has its latest messages read, from the hour it was remembered.
func (r *runner) catchUpOn(ctx context.Context, channel string) (int, error) {
	after, err := r.b.chats.lastSeen(ctx, channel)
	if err != nil {
		return 0, err
	}
	dm := r.b.chats.kind(channel) == kindDM
	var since time.Time
	if after == "" {
		if !dm {
			return 0, nil // never talked there: nothing to catch up on
		}
		since = r.b.chats.active(channel).Add(-time.Hour)
	}
	total := 0
	for range 10 {
		var msgs []*discordgo.Message
		err := r.b.do(ctx, "catch up", func(o ...discordgo.RequestOption) (err error) {
			msgs, err = r.b.s.ChannelMessages(channel, 100, "", after, "", o...)
			return err
		})
		if err != nil {
			if httpStatus(err) == 404 {
				if _, ok := r.b.chats.thread(channel); ok {
					return total, r.b.chats.forgetThread(ctx, channel)
				}
			}
			return total, err
		}
		slices.SortFunc(msgs, func(a, b *discordgo.Message) int {
			switch {
			case later(a.ID, b.ID):
				return 1
			case later(b.ID, a.ID):
				return -1
			}
			return 0
		})
		for _, m := range msgs {
			if m == nil || !later(m.ID, after) {
				continue
			}
			after = m.ID
			if !m.Timestamp.IsZero() && m.Timestamp.Before(since) {
				continue // before the DM was remembered: not ayuda's to answer
			}
			if m.ChannelID == "" {
				m.ChannelID = channel
			}
			r.route(m, dm)
			total++
		}
		if len(msgs) < 100 {
			break
		}
	}
	return total, nil
}
