package discord

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/bwmarrin/discordgo"

	"ayuda/bots"
)

// part is one Discord message of a reply: escaped content, and the buttons
// on the last part. raw is the unescaped text it came from, separators
// included, so that the parts not posted can be queued as they were.
type part struct {
	raw     string
	content string
	buttons []discordgo.MessageComponent
}

// render turns a reply into messages of at most maxContent characters,
// with the choices as buttons on the last one.
func render(r bots.Reply) []part {
	var parts []part
	for _, raw := range split(r.Text, maxContent) {
		if c := strings.TrimSpace(escape(raw)); c != "" {
			parts = append(parts, part{raw: raw, content: c})
		}
	}
	rows := buttons(r.Choices)
	if len(rows) > 0 {
		if len(parts) == 0 {
			parts = append(parts, part{})
		}
		parts[len(parts)-1].buttons = rows
	}
	return parts
}

// rest is what remains of r after the first n parts were posted.
func rest(r bots.Reply, parts []part, n int) bots.Reply {
	var b strings.Builder
	for _, p := range parts[n:] {
		b.WriteString(p.raw)
	}
	return bots.Reply{Text: b.String(), Choices: r.Choices}
}

// noMentions is set on every message ayuda sends or edits: nothing in it
// may ping anyone, whatever the text says. Parse is an empty list (not
// null), which Discord reads as "no mention types".
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// urlRE finds links, which are left as they are: Discord does not apply
// markdown inside them, and a backslash would break them.
var urlRE = regexp.MustCompile(`https?://[^\s<>]+`)

// escape makes plain text show as written in Discord: markdown characters
// get a backslash, a # that would start a heading too, and every @ is
// followed by a zero-width space so "@everyone" or "<@123>" is never a
// mention (allowed_mentions already keeps them from pinging).
func escape(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	last := 0
	for _, loc := range urlRE.FindAllStringIndex(s, -1) {
		escapeText(&b, s[last:loc[0]], last == 0 || s[last-1] == '\n')
		b.WriteString(s[loc[0]:loc[1]])
		last = loc[1]
	}
	escapeText(&b, s[last:], last == 0 || s[last-1] == '\n')
	return b.String()
}

func escapeText(b *strings.Builder, s string, lineStart bool) {
	// lineStart stays true over the spaces and "-" that may come before a
	// heading ("# x", "  ## x", "-# x").
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteRune(r)
			lineStart = true
			continue
		case lineStart && (r == ' ' || r == '\t' || r == '-'):
			b.WriteRune(r)
			continue
		case lineStart && r == '#':
			b.WriteString(`\#`)
		case strings.ContainsRune("\\*_~`|>[]", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '@':
			b.WriteString("@\u200b")
		default:
			b.WriteRune(r)
		}
		lineStart = false
	}
}

// length counts characters the way Discord's limit does (UTF-16 units, so
// a character outside the BMP counts as two; never an underestimate).
func length(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// split cuts text into pieces whose escaped form fits in limit characters,
// at the last paragraph break that fits, else line break, sentence end,
// space, else anywhere. The pieces concatenated are the text.
func split(text string, limit int) []string {
	var out []string
	for text != "" {
		if length(escape(text)) <= limit {
			return append(out, text)
		}
		// The longest prefix that fits, by binary search over rune starts:
		// text[:offs[lo]] fits, text[:offs[hi]] does not.
		offs := make([]int, 0, len(text)+1)
		for i := range text {
			offs = append(offs, i)
		}
		offs = append(offs, len(text))
		lo, hi := 0, len(offs)-1
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			if length(escape(text[:offs[mid]])) <= limit {
				lo = mid
			} else {
				hi = mid
			}
		}
		fit := offs[lo]
		if fit == 0 { // one character escapes to more than limit
			fit = offs[1]
		}
		cut := boundary(text[:fit])
		out = append(out, text[:cut])
		text = text[cut:]
	}
	return out
}

// boundary picks where to cut s (which fits): after the last paragraph
// break, line break, sentence end or space in its second half, or at its
// end.
func boundary(s string) int {
	half := len(s) / 2
	after := func(i, n int) int { return i + n }
	if i := strings.LastIndex(s, "\n\n"); i >= half {
		return after(i, 2)
	}
	if i := strings.LastIndexByte(s, '\n'); i >= half {
		return after(i, 1)
	}
	best := -1
	for _, end := range []string{". ", "? ", "! ", "… ", ".\n", "?\n", "!\n"} {
		if i := strings.LastIndex(s, end); i >= half && after(i, len(end)) > best {
			best = after(i, len(end))
		}
	}
	if best > 0 {
		return best
	}
	if i := strings.LastIndexAny(s, " \t"); i >= half {
		return after(i, 1)
	}
	return len(s)
}

// buttons lays out choices as rows of buttons whose custom_id is the
// choice's ID. Choices Discord cannot carry (an ID over 100 bytes, a
// repeated ID, more than 25) are left out.
func buttons(choices []bots.Choice) []discordgo.MessageComponent {
	var rows []discordgo.MessageComponent
	var row []discordgo.MessageComponent
	used := map[string]bool{}
	for _, c := range choices {
		if c.ID == "" || len(c.ID) > maxCustomID || used[c.ID] {
			continue
		}
		if len(rows) == maxRows {
			break
		}
		used[c.ID] = true
		row = append(row, discordgo.Button{Label: label(c), Style: discordgo.PrimaryButton, CustomID: c.ID})
		if len(row) == maxButtons {
			rows = append(rows, discordgo.ActionsRow{Components: row})
			row = nil
		}
	}
	if len(row) > 0 && len(rows) < maxRows {
		rows = append(rows, discordgo.ActionsRow{Components: row})
	}
	return rows
}

func label(c bots.Choice) string {
	l := strings.TrimSpace(c.Label)
	if l == "" {
		l = c.ID
	}
	if r := []rune(l); len(r) > maxLabel {
		l = string(r[:maxLabel-1]) + "…"
	}
	return l
}

// disabled returns a message's components with every button disabled and
// the pressed one (custom_id pressed) shown in green. The components are
// the message as Discord sent it back; what could not be sent again as it
// came is left out or mended (echoable).
func disabled(comps []discordgo.MessageComponent, pressed string) []discordgo.MessageComponent {
	out := make([]discordgo.MessageComponent, 0, len(comps))
	used := map[string]bool{}
	for _, c := range comps {
		if len(out) == maxRows {
			break
		}
		var row discordgo.ActionsRow
		switch r := c.(type) {
		case *discordgo.ActionsRow:
			row = *r
		case discordgo.ActionsRow:
			row = r
		default:
			continue // we send only rows of buttons
		}
		inner := make([]discordgo.MessageComponent, 0, len(row.Components))
		for _, ic := range row.Components {
			if len(inner) == maxButtons {
				break
			}
			var btn discordgo.Button
			switch x := ic.(type) {
			case *discordgo.Button:
				btn = *x
			case discordgo.Button:
				btn = x
			default:
				continue // we send only buttons in rows; anything else cannot be sent back as it came
			}
			btn.Disabled = true
			if !echoable(&btn, used) {
				continue
			}
			if btn.CustomID == pressed && btn.Style != discordgo.LinkButton {
				btn.Style = discordgo.SuccessButton
			}
			inner = append(inner, btn)
		}
		if len(inner) == 0 {
			continue
		}
		row.Components = inner
		out = append(out, row)
	}
	return out
}

// echoable makes a button from a message as Discord sent it back into one
// Discord accepts when it is sent again, or reports that it cannot be: the
// data is the platform's, not ours, and a message whose edit Discord refuses
// keeps live buttons. A link button needs its URL; any other needs a
// custom_id of 1–100 bytes, unique in the message, and every button a label
// (or an emoji) of at most 80 characters.
func echoable(btn *discordgo.Button, used map[string]bool) bool {
	if btn.Style == discordgo.LinkButton {
		if btn.URL == "" {
			return false
		}
	} else {
		if btn.CustomID == "" || len(btn.CustomID) > maxCustomID || used[btn.CustomID] {
			btn.CustomID = fmt.Sprintf("off-%d", len(used))
		}
		used[btn.CustomID] = true
	}
	if strings.TrimSpace(btn.Label) == "" {
		btn.Label = label(bots.Choice{ID: btn.CustomID})
	} else {
		btn.Label = label(bots.Choice{Label: btn.Label})
	}
	return true
}
