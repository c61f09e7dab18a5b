package telegram

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"ayuda/bots"
)

const (
	// maxText is Telegram's limit for one message, in UTF-16 code units
	// of the text after entity parsing (so before HTML escaping).
	maxText = 4096
	// maxCallbackData is Telegram's limit for a button's callback_data.
	maxCallbackData = 64
	// longChoice marks callback data that stands for a longer choice ID,
	// kept in State under choiceKey.
	longChoice = "~"
	choiceKey  = "telegram:choice:"
)

// split cuts s into parts of at most limit UTF-16 code units, preferring
// to cut between paragraphs, then after a sentence, then between words.
func split(s string, limit int) []string {
	var parts []string
	s = strings.TrimSpace(s)
	for s != "" {
		if utf16Len(s) <= limit {
			parts = append(parts, s)
			break
		}
		cut := cutAt(s, limit)
		if p := strings.TrimSpace(s[:cut]); p != "" {
			parts = append(parts, p)
		}
		s = strings.TrimSpace(s[cut:])
	}
	return parts
}

// cutAt returns where to cut s so that s[:cut] fits in limit.
func cutAt(s string, limit int) int {
	end := fits(s, limit)
	if end == 0 { // limit below one character: take one anyway
		_, n := utf8.DecodeRuneInString(s)
		return n
	}
	win := s[:end]
	if end < len(s) && (s[end] == ' ' || s[end] == '\n') {
		win = s[:end+1] // a boundary right at the limit counts
	}
	if i := strings.LastIndex(win, "\n\n"); i > 0 {
		return i
	}
	best := 0
	for _, sep := range []string{". ", "! ", "? ", "… ", ".\n", "!\n", "?\n", ":\n"} {
		if i := strings.LastIndex(win, sep); i > 0 {
			best = max(best, i+len(sep)-1) // after the mark
		}
	}
	if i := strings.LastIndex(win, "\n"); i > best {
		best = i
	}
	if best > 0 {
		return best
	}
	if i := strings.LastIndexFunc(win, unicode.IsSpace); i > 0 {
		return i
	}
	return end
}

// fits returns the length in bytes of the longest prefix of s that takes
// at most limit UTF-16 code units.
func fits(s string, limit int) int {
	n := 0
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if n+w > limit {
			return i
		}
		n += w
	}
	return len(s)
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// keyboard renders choices as inline buttons whose callback_data is the
// choice's ID, or a short key for an ID Telegram would not carry.
func (b *Bot) keyboard(ctx context.Context, choices []bots.Choice) (*tgbotapi.InlineKeyboardMarkup, error) {
	if len(choices) == 0 {
		return nil, nil
	}
	buttons := make([]tgbotapi.InlineKeyboardButton, 0, len(choices))
	short := len(choices) <= 3
	for _, c := range choices {
		data := c.ID
		if data == "" || len(data) > maxCallbackData || !utf8.ValidString(data) || strings.HasPrefix(data, longChoice) {
			var err error
			if data, err = b.shortChoice(ctx, c.ID); err != nil {
				return nil, err
			}
		}
		label := strings.TrimSpace(c.Label)
		if label == "" {
			label = c.ID
		}
		short = short && utf8.RuneCountInString(label) <= 12
		buttons = append(buttons, tgbotapi.NewInlineKeyboardButtonData(label, data))
	}
	if short { // "Sí | No" side by side
		kb := tgbotapi.NewInlineKeyboardMarkup(buttons)
		return &kb, nil
	}
	rows := make([][]tgbotapi.InlineKeyboardButton, len(buttons))
	for i, btn := range buttons {
		rows[i] = []tgbotapi.InlineKeyboardButton{btn}
	}
	return &tgbotapi.InlineKeyboardMarkup{InlineKeyboard: rows}, nil
}

// shortChoice stores a long choice ID under a short durable key.
func (b *Bot) shortChoice(ctx context.Context, id string) (string, error) {
	sum := sha256.Sum256([]byte(id))
	key := base64.RawURLEncoding.EncodeToString(sum[:16])
	if err := b.cfg.State.PutMeta(ctx, choiceKey+key, []byte(id)); err != nil {
		return "", fmt.Errorf("telegram: store a choice: %w", err)
	}
	return longChoice + key, nil
}

// choiceID returns the choice ID a button's callback data stands for.
func (b *Bot) choiceID(ctx context.Context, data string) (string, error) {
	key, ok := strings.CutPrefix(data, longChoice)
	if !ok {
		return data, nil
	}
	v, err := b.cfg.State.GetMeta(ctx, choiceKey+key)
	if err != nil {
		return "", fmt.Errorf("telegram: read a choice: %w", err)
	}
	if v == nil {
		return data, nil
	}
	return string(v), nil
}

// privateOnly reports what a group message asks for that must be done in
// a private chat, as a /start payload ("estado", "humano", "nueva"), or "".
// It knows the commands, the button IDs and the whole-message status
// phrases of the dialog engine (dialog/intents.go): a person's requests are
// never listed, nor a request opened, in a group.
func privateOnly(text string) string {
	t := strings.TrimSpace(text)
	if strings.HasPrefix(t, "/") {
		cmd, _, _ := strings.Cut(strings.ToLower(strings.Fields(t)[0]), "@")
		switch cmd {
		case "/estado", "/status":
			return "estado"
		case "/humano", "/human", "/agente", "/agent", "/persona":
			return "humano"
		case "/nueva", "/new":
			return "nueva"
		}
		return ""
	}
	switch t { // button IDs
	case "status":
		return "estado"
	case "human", "complain":
		return "humano"
	case "new":
		return "nueva"
	}
	if statusPhrases[fold(t)] {
		return "estado"
	}
	return ""
}

var statusPhrases = phraseSet("estado", "status", "mis solicitudes", "mis tickets", "mis casos", "my requests", "my tickets",
	"estado de mi solicitud", "estado de mis solicitudes", "como va mi solicitud", "como va mi caso", "como va mi ticket",
	"status of my request", "status of my ticket", "my ticket status", "how is my request going", "how is my ticket going",
	"mi solicitud", "mis peticiones", "my request")

func phraseSet(ps ...string) map[string]bool {
	m := make(map[string]bool, len(ps))
	for _, p := range ps {
		m[p] = true
	}
	return m
}

// fold lowercases s, drops accents and punctuation, and joins words with
// single spaces.
func fold(s string) string {
	s = strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ü", "u").Replace(strings.ToLower(s))
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }), " ")
}

// catalog holds what the adapter itself says.
var catalog = map[string]map[string]string{
	"private": {
		"es": "Eso mejor por privado: tus solicitudes solo las ves tú. Pulsa el botón y seguimos en un chat conmigo.",
		"en": "Let's take that to a private chat: only you should see your requests. Tap the button and we'll continue there.",
	},
	"open-private": {"es": "Abrir chat privado", "en": "Open a private chat"},
	"not-yours": {
		"es": "Este botón es de otra persona. Mencióname para preguntar lo tuyo.",
		"en": "This button is someone else's. Mention me to ask your own question.",
	},
	"nudge": {
		"": "tengo una respuesta para ti sobre tu solicitud: ábreme un chat privado para leerla. / I have an answer about your request: open a private chat with me to read it.",
	},
}

func say(lang, key string) string {
	m := catalog[key]
	if s, ok := m[lang]; ok {
		return s
	}
	if s, ok := m["es"]; ok {
		return s
	}
	return m[""]
}
