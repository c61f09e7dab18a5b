package slack

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"
	"golang.org/x/text/unicode/norm"

	"ayuda/bots"
	"ayuda/escalation"
)

// Slack's limits, with room to spare.
const (
	maxSection  = 3000 // characters of a section's text
	maxField    = 2000 // characters of a section field
	maxHeader   = 150  // characters of a header
	maxButton   = 75   // characters of a button's label
	maxActionID = 255
	maxValue    = 2000
	maxBlocks   = 50
	maxElements = 25   // elements in an actions block
	maxFallback = 3900 // characters of a message's text (Slack cuts at 40k; keep it readable)
)

// Action id prefixes: a staff member's choice, and the desk's buttons.
const (
	choicePrefix = "c:"
	deskPrefix   = "desk_"
)

// escape makes text safe inside mrkdwn: Slack reads only &, < and > as
// control characters.
func escape(s string) string { return slackutilsx.EscapeMessage(s) }

// cut shortens s to at most n characters, marking the cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// fallback is a message's text: what notifications and old clients show.
func fallback(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		s = "…"
	}
	return cut(s, maxFallback)
}

// chunks escapes s and splits it into pieces of at most n characters,
// at line breaks where it can, never inside an escape.
func chunks(s string, n int) []string {
	var out []string
	var cur strings.Builder
	size := 0
	flush := func() {
		if t := strings.TrimSpace(cur.String()); t != "" {
			out = append(out, t)
		}
		cur.Reset()
		size = 0
	}
	for _, line := range strings.SplitAfter(s, "\n") {
		e := escape(line)
		if size+utf8.RuneCountInString(e) <= n {
			cur.WriteString(e)
			size += utf8.RuneCountInString(e)
			continue
		}
		flush()
		for _, r := range line {
			piece := escape(string(r))
			if size+utf8.RuneCountInString(piece) > n {
				flush()
			}
			cur.WriteString(piece)
			size += utf8.RuneCountInString(piece)
		}
	}
	flush()
	return out
}

// replyBlocks renders a reply: its text in sections, its choices as
// buttons whose value is the choice's ID.
func replyBlocks(r bots.Reply) []slack.Block {
	var blocks []slack.Block
	reserve := (len(r.Choices) + maxElements - 1) / maxElements
	for _, c := range chunks(r.Text, maxSection) {
		if len(blocks) >= maxBlocks-reserve {
			break
		}
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, c, false, false), nil, nil))
	}
	var row []slack.BlockElement
	seen := map[string]bool{}
	for i, ch := range r.Choices {
		id := cut(choicePrefix+ch.ID, maxActionID)
		if seen[id] {
			id = cut(fmt.Sprintf("%s%d:%s", choicePrefix, i, ch.ID), maxActionID)
		}
		seen[id] = true
		label := cut(strings.TrimSpace(ch.Label), maxButton)
		if label == "" {
			label = ch.ID
		}
		row = append(row, slack.NewButtonBlockElement(id, cut(ch.ID, maxValue), slack.NewTextBlockObject(slack.PlainTextType, label, true, false)))
		if len(row) == maxElements || i == len(r.Choices)-1 {
			if len(blocks) < maxBlocks {
				blocks = append(blocks, slack.NewActionBlock(fmt.Sprintf("choices-%d", i/maxElements), row...))
			}
			row = nil
		}
	}
	return blocks
}

// chosenBlocks is a message whose choice was made: its blocks without the
// buttons, and a line saying what was chosen.
func chosenBlocks(old []slack.Block, label string) []slack.Block {
	var out []slack.Block
	for _, b := range old {
		if _, ok := b.(*slack.ActionBlock); ok {
			continue
		}
		out = append(out, b)
	}
	if len(out) >= maxBlocks {
		out = out[:maxBlocks-1]
	}
	return append(out, slack.NewContextBlock("chosen", slack.NewTextBlockObject(slack.MarkdownType, "→ "+escape(cut(label, 200)), false, false)))
}

var (
	// slackRef is one of Slack's <…> references: a link, a user, a
	// channel, a special mention or a date.
	slackRef = regexp.MustCompile(`<([^<>]*)>`)
	unescape = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")
)

// plain turns Slack's message text into the plain text the rest of ayuda
// speaks: links become "label (url)", mentions "@name", and the escapes
// of &, < and > their characters.
func plain(s string) string {
	s = slackRef.ReplaceAllStringFunc(s, func(m string) string {
		in := m[1 : len(m)-1]
		target, label, hasLabel := strings.Cut(in, "|")
		switch {
		case strings.HasPrefix(target, "@"):
			if hasLabel {
				return "@" + strings.TrimPrefix(label, "@")
			}
			return target
		case strings.HasPrefix(target, "#"):
			if hasLabel {
				return "#" + label
			}
			return target
		case strings.HasPrefix(target, "!"):
			if hasLabel {
				return label
			}
			return "@" + strings.TrimPrefix(target, "!")
		case strings.HasPrefix(target, "mailto:"):
			return strings.TrimPrefix(target, "mailto:")
		case hasLabel && label != target:
			return label + " (" + target + ")"
		default:
			return target
		}
	})
	return strings.TrimSpace(unescape.Replace(s))
}

// stripMention removes mentions of the bot user from Slack text.
func stripMention(s, botUser string) string {
	if botUser == "" {
		return s
	}
	s = strings.ReplaceAll(s, "<@"+botUser+">", "")
	return regexp.MustCompile(`<@`+regexp.QuoteMeta(botUser)+`\|[^>]*>`).ReplaceAllString(s, "")
}

// noteWords start an agent's thread message that must stay internal when
// followed by a colon or closed by a bracket: «nota: …», «[interno] …».
var noteWords = []string{"nota", "notas", "nota interna", "note", "notes", "internal note", "interno", "interna", "internal", "privado", "privada", "private"}

// noteDecor is what Slack formatting and quoting put around a marker:
// bold, italics, strike, code, a quote, brackets, spaces.
const noteDecor = "*_~`>[]() \t"

// noteMarker reports whether text starts with a note marker, and returns
// the text without it. It errs towards internal: the marker may be bold,
// italic, quoted or in code (*nota:*, _nota:_, > nota:, `//`), in brackets
// ([nota]), spaced (nota :), in capitals, or typed with full-width or
// other look-alike characters (／／, nota：), which NFKC folds.
func noteMarker(text string) (bool, string) {
	t := strings.TrimSpace(text)
	f := norm.NFKC.String(t)
	// Slack sends a quote's > escaped; plain has already unescaped it.
	rest := strings.TrimLeft(f, noteDecor)
	bracketed := strings.ContainsAny(f[:len(f)-len(rest)], "[(")
	body := ""
	switch {
	case strings.HasPrefix(rest, "//"):
		body = rest[2:]
	default:
		found := false
		for _, w := range noteWords {
			if len(rest) < len(w) || !strings.EqualFold(rest[:len(w)], w) {
				continue
			}
			after := strings.TrimLeft(rest[len(w):], "*_~` \t")
			switch {
			case strings.HasPrefix(after, ":"):
				body, found = after[1:], true
			case bracketed && (strings.HasPrefix(after, "]") || strings.HasPrefix(after, ")")):
				body, found = after[1:], true
			}
			if found {
				break
			}
		}
		if !found {
			return false, t
		}
	}
	return true, strings.TrimSpace(strings.TrimLeft(body, "*_~`:]) \t"))
}

// tsTime reads a Slack message ts ("1700000000.000100").
func tsTime(ts string) time.Time {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}
	}
	us, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	return time.Unix(s, us*1000)
}

// date renders t so each reader sees it in their own time zone.
func date(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// Spanish names for the desk: the agents read Spanish first.
var (
	statusNames = map[escalation.Status]string{
		escalation.New: "Nueva", escalation.Assigned: "Asignada", escalation.InProgress: "En curso",
		escalation.Waiting: "Esperando al cliente", escalation.Completed: "Completada (pendiente de confirmar)",
		escalation.Closed: "Cerrada", escalation.Reopened: "Reabierta",
	}
	statusEmoji = map[escalation.Status]string{
		escalation.New: ":new:", escalation.Assigned: ":bust_in_silhouette:", escalation.InProgress: ":hammer_and_wrench:",
		escalation.Waiting: ":hourglass_flowing_sand:", escalation.Completed: ":white_check_mark:",
		escalation.Closed: ":lock:", escalation.Reopened: ":leftwards_arrow_with_hook:",
	}
	reasonNames = map[escalation.Reason]string{
		escalation.ReasonRequested: "pidió hablar con una persona", escalation.ReasonLowConfidence: "ningún artículo encajaba",
		escalation.ReasonNegative: "la respuesta no le sirvió", escalation.ReasonRepeatedMiss: "dos preguntas sin respuesta",
		escalation.ReasonSensitive: "queja, reclamo o denuncia", escalation.ReasonNewRequest: "abrió una solicitud",
		escalation.ReasonStaff: "solicitud interna de personal",
	}
	priorityNames = map[escalation.Priority]string{
		escalation.Baja: "Baja", escalation.Normal: "Normal", escalation.Alta: "Alta", escalation.Urgente: "Urgente",
	}
	feedbackNames = map[string]string{"yes": "le sirvió", "no": "no le sirvió"}
)

func nameOr[K ~string](m map[K]string, k K, def string) string {
	if v, ok := m[k]; ok {
		return v
	}
	return def
}

// customer renders who raised the ticket: the name and address, for
// staff too. A mention would notify the staff member every time their
// card is posted in the agents' channel.
func customer(t *escalation.Ticket) string {
	a := t.Customer.Address
	name := t.Customer.Name
	if name == "" {
		name = a.User
	}
	return escape(cut(name, 80)) + " (" + escape(a.String()) + ")"
}

// cardLast is how many of the latest transcript entries a card shows.
const cardLast = 6

// cardBlocks renders a ticket's card on the agents' desk.
// internalReplies: the desk keeps plain thread replies internal.
func cardBlocks(t *escalation.Ticket, agentName func(id string) string, internalReplies bool) []slack.Block {
	title := fmt.Sprintf("#%d · %s", t.ID, t.Summary)
	if strings.TrimSpace(t.Summary) == "" {
		title = fmt.Sprintf("#%d", t.ID)
	}
	blocks := []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, cut(title, maxHeader), true, false))}

	assignee := "—"
	if t.Assignee != "" {
		assignee = escape(agentName(t.Assignee))
	}
	team := t.Team
	if team == "" {
		team = "—"
	}
	first := date(t.FirstResponseDue)
	if !t.FirstResponse.IsZero() {
		first = "respondida " + date(t.FirstResponse)
	}
	field := func(label, value string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, cut("*"+label+"*\n"+value, maxField), false, false)
	}
	fields := []*slack.TextBlockObject{
		field("Estado", statusEmoji[t.Status]+" "+nameOr(statusNames, t.Status, string(t.Status))),
		field("Prioridad", nameOr(priorityNames, t.Priority, string(t.Priority))),
		field("Tipo", escape(string(t.Type))),
		field("Equipo", escape(team)),
		field("Cliente", customer(t)),
		field("Asignada a", assignee),
		field("Primera respuesta", first),
		field("Resolución antes de", date(t.ResolutionDue)),
		field("Motivo", escape(nameOr(reasonNames, t.Reason, string(t.Reason)))),
		field("Canal", escape(t.Channel)),
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	if t.Internal {
		blocks = append(blocks, slack.NewContextBlock("internal", slack.NewTextBlockObject(slack.MarkdownType, ":lock: Solicitud interna de personal", false, false)))
	}

	if n := len(t.Transcript); n > 0 {
		var b strings.Builder
		b.WriteString("*Últimos mensajes*")
		from := max(0, n-cardLast)
		if before := t.Archived + from; before > 0 {
			fmt.Fprintf(&b, " (y %d antes: `ayuda tickets show %d`)", before, t.ID)
		}
		for _, e := range t.Transcript[from:] {
			b.WriteString("\n> ")
			b.WriteString(strings.ReplaceAll(entryLine(e, 280), "\n", "\n> "))
		}
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, cut(b.String(), maxSection), false, false), nil, nil))
	}

	if len(t.Offered) > 0 {
		var b strings.Builder
		b.WriteString("*Artículos que ofreció el bot*")
		for _, o := range t.Offered {
			fmt.Fprintf(&b, "\n• %s (`%s`) · confianza %.2f", escape(cut(o.Title, 120)), escape(o.Article), o.Confidence)
			if f := nameOr(feedbackNames, o.Feedback, ""); f != "" {
				b.WriteString(" · " + f)
			}
		}
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, cut(b.String(), maxSection), false, false), nil, nil))
	}

	if t.Status.Open() {
		id := t.ID.String()
		btn := func(action, label string) *slack.ButtonBlockElement {
			return slack.NewButtonBlockElement(deskPrefix+action, id, slack.NewTextBlockObject(slack.PlainTextType, label, true, false))
		}
		claim := btn("claim", "Asignármela")
		if t.Assignee == "" {
			claim = claim.WithStyle(slack.StylePrimary)
		}
		opts := make([]*slack.OptionBlockObject, 0, len(escalation.Priorities))
		var current *slack.OptionBlockObject
		for _, p := range escalation.Priorities {
			o := slack.NewOptionBlockObject(id+":"+string(p), slack.NewTextBlockObject(slack.PlainTextType, priorityNames[p], true, false), nil)
			opts = append(opts, o)
			if p == t.Priority {
				current = o
			}
		}
		sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, slack.NewTextBlockObject(slack.PlainTextType, "Prioridad", true, false), deskPrefix+"priority", opts...)
		if current != nil {
			sel = sel.WithInitialOption(current)
		}
		blocks = append(blocks, slack.NewActionBlock("desk-"+id,
			claim, btn("progress", "En curso"), btn("waiting", "Esperando al cliente"),
			btn("completed", "Completada").WithStyle(slack.StylePrimary), sel))
		blocks = append(blocks, slack.NewActionBlock("desk-write-"+id,
			btn("reply", "Responder al cliente…"), btn("note", "Nota interna…")))
		help := "Lo que escribas en el hilo llega al cliente; empieza con `//` o `nota:` para una nota interna. "
		if internalReplies {
			help = "Lo que escribas en el hilo es una nota interna: para escribir al cliente, usa «Responder al cliente…». "
		}
		help += ":outbox_tray: va al cliente, :white_check_mark: le ha llegado, :memo: nota interna. Actualizada " + date(t.Updated)
		blocks = append(blocks, slack.NewContextBlock("help", slack.NewTextBlockObject(slack.MarkdownType, help, false, false)))
	} else {
		blocks = append(blocks, slack.NewContextBlock("help", slack.NewTextBlockObject(slack.MarkdownType, "Actualizada "+date(t.Updated), false, false)))
	}
	return blocks
}

// cardText is a card's fallback text.
func cardText(t *escalation.Ticket) string {
	return fmt.Sprintf("#%d [%s] %s", t.ID, nameOr(statusNames, t.Status, string(t.Status)), t.Summary)
}

// entryLine renders a transcript entry as one escaped mrkdwn line of at
// most n characters of text.
func entryLine(e escalation.Entry, n int) string {
	text := cut(strings.TrimSpace(e.Text), n)
	var atts []string
	for _, a := range e.Attachments {
		s := ":paperclip: " + a.Kind
		if a.Name != "" {
			s += " " + a.Name
		}
		atts = append(atts, s)
	}
	if len(atts) > 0 {
		if text != "" {
			text += " "
		}
		text += "[" + strings.Join(atts, ", ") + "]"
	}
	name := e.Name
	switch e.Author {
	case escalation.AuthorCustomer:
		if name == "" {
			name = "Cliente"
		}
		return "*" + escape(name) + "*: " + escape(text)
	case escalation.AuthorAgent:
		if name == "" {
			name = "Agente"
		}
		if e.Note {
			return ":memo: *" + escape(name) + "* (nota interna): " + escape(text)
		}
		return "*" + escape(name) + "* → cliente: " + escape(text)
	case escalation.AuthorBot:
		return "_ayuda_: " + escape(text)
	default:
		return ":warning: " + escape(text)
	}
}
