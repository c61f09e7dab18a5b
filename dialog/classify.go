package dialog

import (
	"fmt"
	"strings"
	"unicode"

	"ayuda/escalation"
)

// angerWords are signs that the customer is angry, in both languages.
var angerWords = []string{
	"harto", "harta", "hartos", "hartas", "indignado", "indignada", "indignante", "cabreado", "cabreada",
	"enfadado", "enfadada", "furioso", "furiosa", "ridiculo", "lamentable", "vergonzoso", "una verguenza",
	"inaceptable", "tomadura de pelo", "nunca mas", "es la ultima vez", "estoy muy molesto", "estoy muy molesta",
	"fed up", "sick of", "angry", "furious", "ridiculous", "outrageous", "unacceptable", "disgusting",
	"never again", "pathetic", "this is a joke", "livid",
}

// found returns the first of words that text contains as whole words.
func found(text string, words []string) string {
	f := " " + fold(text) + " "
	for _, w := range words {
		if strings.Contains(f, " "+foldWord(w)+" ") {
			return w
		}
	}
	return ""
}

// shouting reports whether a message is mostly written in capitals (at
// least three words of three letters or more, and most of them).
func shouting(text string) bool {
	caps, words := 0, 0
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) }) {
		if len([]rune(w)) < 3 {
			continue
		}
		words++
		if strings.ToUpper(w) == w {
			caps++
		}
	}
	return caps >= 3 && 2*caps > words
}

// classifyPriority infers a ticket's priority from what the customer said
// and the request type, and says why: urgency words make it urgente; anger
// (angry words, capitals, "!!!") and the sensitive types make it alta; a
// suggestion is baja. Repeated contacts are the store's to see: it raises
// the priority of a customer's second request in a week.
func classifyPriority(texts []string, typ escalation.Type) (escalation.Priority, string) {
	var urgent, angry []string
	for _, t := range texts {
		switch k, w := urgentCase(t); {
		case k != nil && k.urgent:
			urgent = append(urgent, k.name+" «"+w+"»")
		case k == nil:
			if lc := learnCase(t); lc != nil && lc.sure && lc.kind != nil && lc.kind.urgent {
				urgent = append(urgent, lc.why)
			}
		}
		if w := found(t, urgentWords); w != "" {
			urgent = append(urgent, "«"+w+"»")
		}
		if w := found(t, angerWords); w != "" {
			angry = append(angry, "«"+w+"»")
		}
		if shouting(t) {
			angry = append(angry, "capitals")
		}
		if strings.Contains(t, "!!") {
			angry = append(angry, "«!!»")
		}
	}
	var why []string
	if len(urgent) > 0 {
		why = append(why, "urgency: "+strings.Join(dedupe(urgent), ", "))
	}
	if len(angry) > 0 {
		why = append(why, "anger: "+strings.Join(dedupe(angry), ", "))
	}
	switch {
	case len(urgent) > 0:
		return escalation.Urgente, strings.Join(why, "; ")
	case len(angry) > 0:
		return escalation.Alta, strings.Join(why, "; ")
	case typ.Sensitive():
		return escalation.Alta, fmt.Sprintf("type %s", typ)
	case typ == escalation.Sugerencia:
		return escalation.Baja, "type sugerencia"
	}
	return escalation.Normal, "no urgency or anger in the conversation"
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// sensitiveWord returns the sensitive request type a message names and the
// word that names it.
func sensitiveWord(text string) (escalation.Type, string) {
	if k, w := urgentCase(text); k != nil {
		return k.typ, w
	}
	for _, s := range sensitive {
		if w := found(text, s.words); w != "" {
			return s.typ, w
		}
	}
	return "", ""
}
