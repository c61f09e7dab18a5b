package dialog

import (
	"fmt"
	"strings"
	"time"

	"ayuda/bots"
	"ayuda/escalation"
)

// catalog holds every sentence the bot says, in Spanish and English. A test
// checks that each key has both.
var catalog = map[string]map[string]string{
	"greeting": {
		"es": "¡Hola! Soy el asistente de ayuda. Pregúntame lo que necesites (pedidos, envíos, devoluciones, pagos…) y, si no lo resuelvo yo, te paso con una persona.",
		"en": "Hi! I'm the help assistant. Ask me anything (orders, shipping, returns, payments…) and if I can't solve it, I'll pass you to a person.",
	},
	"help": {
		"es": "Puedo responder preguntas frecuentes, abrir una solicitud para que te atienda una persona y decirte cómo van tus solicitudes. Escribe tu pregunta con tus palabras, o elige:",
		"en": "I can answer common questions, open a request so a person helps you, and tell you how your requests are going. Type your question in your own words, or choose:",
	},
	"thanks":   {"es": "¡De nada! Si necesitas algo más, aquí estoy.", "en": "You're welcome! If you need anything else, I'm here."},
	"goodbye":  {"es": "¡Hasta pronto! Escríbeme cuando quieras.", "en": "Bye! Write to me whenever you like."},
	"feedback": {"es": "¿Te ha servido esta respuesta?", "en": "Did this answer help?"},
	"glad": {
		"es": "¡Me alegro! Si necesitas algo más, pregúntame.",
		"en": "Glad to hear it! If you need anything else, just ask.",
	},
	"clarify": {
		"es": "No estoy seguro de haberte entendido. ¿Te refieres a alguna de estas?",
		"en": "I'm not sure I understood. Do you mean one of these?",
	},
	"decline": {
		"es": "No encontré una respuesta para eso. Puedes decirlo con otras palabras o hablar con una persona.",
		"en": "I couldn't find an answer to that. You can say it in other words or talk to a person.",
	},
	"decline-after-clarify": {
		"es": "Vaya. Puedes contármelo con otras palabras o hablar con una persona.",
		"en": "Sorry about that. You can tell me in other words or talk to a person.",
	},
	"repeated-miss": {
		"es": "Sigo sin encontrar una respuesta, así que voy a pasarte con una persona.",
		"en": "I still can't find an answer, so I'll pass you to a person.",
	},
	"negative": {
		"es": "Siento que no te haya servido. Voy a pasarte con una persona.",
		"en": "Sorry that didn't help. I'll pass you to a person.",
	},
	"requested":   {"es": "Claro, te paso con una persona.", "en": "Sure, I'll pass you to a person."},
	"sensitive":   {"es": "Esto lo tiene que ver una persona, así que abro una solicitud.", "en": "A person needs to see this, so I'm opening a request."},
	"new-request": {"es": "Vamos a abrir una solicitud.", "en": "Let's open a request."},
	"ask-type": {
		"es": "¿Qué tipo de solicitud es?",
		"en": "What kind of request is it?",
	},
	"ask-description": {
		"es": "Cuéntame en un mensaje qué ocurre (con el número de pedido si lo tienes) para que la persona que te atienda no tenga que preguntarte de nuevo.",
		"en": "Tell me in one message what's happening (with your order number if you have it) so the person who helps you doesn't have to ask again.",
	},
	"intake-cancelled": {
		"es": "De acuerdo, no abro ninguna solicitud. ¿En qué más te ayudo?",
		"en": "OK, I won't open a request. What else can I help with?",
	},
	"receipt": {
		"es": "He abierto la solicitud #%d (%s, prioridad %s). Una persona te responderá aquí %s. Todo lo que escribas en este chat se añadirá a tu solicitud; escribe /estado para ver cómo va.",
		"en": "I've opened request #%d (%s, %s priority). A person will answer you here %s. Anything you write in this chat is added to your request; type /status to see how it's going.",
	},
	"relayed": {
		"es": "Añadido a tu solicitud #%d. La persona que la atiende lo verá.",
		"en": "Added to your request #%d. The person handling it will see it.",
	},
	"moved-private": {
		"es": "Te he escrito por privado para seguir con tu solicitud; allí te atenderá una persona.",
		"en": "I've written to you privately to continue with your request; a person will help you there.",
	},
	"status-private": {
		"es": "Te he enviado el estado de tus solicitudes por privado.",
		"en": "I've sent you the status of your requests privately.",
	},
	"status-none": {"es": "No tienes solicitudes abiertas.", "en": "You have no requests."},
	"status-head": {"es": "Tus solicitudes:", "en": "Your requests:"},
	"status-line": {"es": "#%d · %s · %s · %s", "en": "#%d · %s · %s · %s"},
	"already-open": {
		"es": "Ya tienes la solicitud #%d abierta; lo que escribas se añade a ella.",
		"en": "You already have request #%d open; what you write is added to it.",
	},
	"attachment-bot": {
		"es": "He recibido tu archivo, pero no puedo ver imágenes, audios ni documentos. Descríbeme el problema con palabras o pide hablar con una persona: si abres una solicitud, el archivo se adjuntará.",
		"en": "I got your file, but I can't look at pictures, audio or documents. Describe the problem in words, or ask for a person: if you open a request, the file will be attached.",
	},
	"error": {
		"es": "Lo siento, he tenido un problema técnico y no he podido guardar tu mensaje. Vuelve a intentarlo en un momento.",
		"en": "Sorry, I had a technical problem and couldn't save your message. Please try again in a moment.",
	},
	"too-fast": {
		"es": "Estás escribiendo muy rápido; espera unos segundos y sigo contigo.",
		"en": "You're writing very fast; wait a few seconds and I'll be with you.",
	},
	"accepted": {
		"es": "¡Genial! Cierro la solicitud #%d. Gracias por tu paciencia.",
		"en": "Great! I'm closing request #%d. Thanks for your patience.",
	},
	"reopened-by-customer": {
		"es": "Entendido: la solicitud #%d sigue abierta y vuelve a la persona que la atendía, con todo el historial.",
		"en": "Understood: request #%d stays open and goes back to the person handling it, with the whole history.",
	},
	"empty": {
		"es": "No he recibido texto. Escribe tu pregunta con palabras.",
		"en": "I didn't get any text. Please type your question in words.",
	},
	// Notices for ticket changes.
	"n-claimed":   {"es": "%s está atendiendo tu solicitud #%d.", "en": "%s is handling your request #%d."},
	"n-reply":     {"es": "%s (solicitud #%d):\n%s", "en": "%s (request #%d):\n%s"},
	"n-waiting":   {"es": "%s necesita más información para seguir con tu solicitud #%d. Responde aquí.", "en": "%s needs more information to continue with your request #%d. Reply here."},
	"n-completed": {"es": "%s ha marcado tu solicitud #%d como resuelta. ¿Se resolvió?", "en": "%s has marked your request #%d as solved. Is it solved?"},
	"n-closed":    {"es": "Tu solicitud #%d está cerrada. Gracias por escribirnos.", "en": "Your request #%d is closed. Thanks for writing to us."},
	"n-reopened":  {"es": "Tu solicitud #%d se ha reabierto; %s sigue con ella.", "en": "Your request #%d has been reopened; %s is on it."},
	// Choice labels.
	"c-yes":        {"es": "Sí", "en": "Yes"},
	"c-no":         {"es": "No", "en": "No"},
	"c-none":       {"es": "Ninguna de estas", "en": "None of these"},
	"c-human":      {"es": "Hablar con una persona", "en": "Talk to a person"},
	"c-status":     {"es": "Mis solicitudes", "en": "My requests"},
	"c-new":        {"es": "Abrir una solicitud", "en": "Open a request"},
	"c-cancel":     {"es": "Cancelar", "en": "Cancel"},
	"c-solved-yes": {"es": "Sí, resuelto", "en": "Yes, solved"},
	"c-solved-no":  {"es": "No, sigue igual", "en": "No, not solved"},
	"c-complain":   {"es": "Presentar una queja ahora", "en": "File a complaint now"},
	// Due times.
	"due-today":    {"es": "antes de las %s", "en": "by %s"},
	"due-tomorrow": {"es": "antes de mañana a las %s", "en": "by tomorrow at %s"},
	"due-later":    {"es": "antes del %s a las %s", "en": "by %s at %s"},
	"anyone":       {"es": "una persona del equipo", "en": "someone from the team"},
}

// typeNames and statusNames are what customers read.
var typeNames = map[escalation.Type]map[string]string{
	escalation.Consulta:   {"es": "consulta", "en": "question"},
	escalation.Solicitud:  {"es": "solicitud de servicio", "en": "service request"},
	escalation.Queja:      {"es": "queja", "en": "complaint"},
	escalation.Reclamo:    {"es": "reclamo", "en": "claim"},
	escalation.Sugerencia: {"es": "sugerencia", "en": "suggestion"},
	escalation.Denuncia:   {"es": "denuncia", "en": "report"},
}

var priorityNames = map[escalation.Priority]map[string]string{
	escalation.Baja:    {"es": "baja", "en": "low"},
	escalation.Normal:  {"es": "normal", "en": "normal"},
	escalation.Alta:    {"es": "alta", "en": "high"},
	escalation.Urgente: {"es": "urgente", "en": "urgent"},
}

var statusNames = map[escalation.Status]map[string]string{
	escalation.New:        {"es": "pendiente de asignar", "en": "waiting for an agent"},
	escalation.Assigned:   {"es": "asignada", "en": "assigned"},
	escalation.InProgress: {"es": "en curso", "en": "in progress"},
	escalation.Waiting:    {"es": "esperando tu respuesta", "en": "waiting for your reply"},
	escalation.Completed:  {"es": "resuelta (pendiente de tu confirmación)", "en": "solved (waiting for your confirmation)"},
	escalation.Closed:     {"es": "cerrada", "en": "closed"},
	escalation.Reopened:   {"es": "reabierta", "en": "reopened"},
}

var weekdays = map[string][]string{
	"es": {"domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"},
	"en": {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
}

func say(lang, key string, args ...any) string {
	m, ok := catalog[key]
	if !ok {
		return key
	}
	s, ok := m[lang]
	if !ok {
		s = m["es"]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

func choice(lang, id, key string) bots.Choice { return bots.Choice{ID: id, Label: say(lang, key)} }

func name(m map[string]string, lang string) string {
	if s, ok := m[lang]; ok {
		return s
	}
	return m["es"]
}

// dueText words a due time relative to now, in loc.
func dueText(lang string, due, now time.Time, loc *time.Location) string {
	due, now = due.In(loc), now.In(loc)
	hm := due.Format("15:04")
	y1, m1, d1 := now.Date()
	y2, m2, d2 := due.Date()
	switch {
	case y1 == y2 && m1 == m2 && d1 == d2:
		return say(lang, "due-today", hm)
	case due.Sub(time.Date(y1, m1, d1, 0, 0, 0, 0, loc)) < 48*time.Hour:
		return say(lang, "due-tomorrow", hm)
	default:
		day := weekdays[lang][due.Weekday()] + " " + fmt.Sprint(due.Day())
		return say(lang, "due-later", day, hm)
	}
}

// Notifier returns the escalation.Notifier that words ticket notices for
// customers in their language.
func Notifier() escalation.Notifier {
	return func(n escalation.Notice) bots.Reply {
		t := n.Ticket
		lang := t.Customer.Lang
		if lang == "" {
			lang = "es"
		}
		agent := n.Agent.Name
		if agent == "" {
			agent = say(lang, "anyone")
		}
		switch n.Kind {
		case escalation.NoticeClaimed:
			return bots.Reply{Text: say(lang, "n-claimed", agent, t.ID)}
		case escalation.NoticeReply:
			return bots.Reply{Text: say(lang, "n-reply", agent, t.ID, n.Text)}
		case escalation.NoticeWaiting:
			return bots.Reply{Text: say(lang, "n-waiting", agent, t.ID)}
		case escalation.NoticeCompleted:
			return bots.Reply{Text: say(lang, "n-completed", agent, t.ID), Choices: []bots.Choice{
				choice(lang, fmt.Sprintf("solved:%d:yes", t.ID), "c-solved-yes"),
				choice(lang, fmt.Sprintf("solved:%d:no", t.ID), "c-solved-no"),
			}}
		case escalation.NoticeClosed:
			return bots.Reply{Text: say(lang, "n-closed", t.ID)}
		case escalation.NoticeReopened:
			return bots.Reply{Text: say(lang, "n-reopened", t.ID, agent)}
		}
		return bots.Reply{}
	}
}

// statusReply lists a customer's tickets, newest first.
func statusReply(lang string, ts []escalation.Ticket) bots.Reply {
	if len(ts) == 0 {
		return bots.Reply{Text: say(lang, "status-none"), Choices: []bots.Choice{choice(lang, "new", "c-new")}}
	}
	var b strings.Builder
	b.WriteString(say(lang, "status-head"))
	for i, t := range ts {
		if i == 10 {
			break
		}
		b.WriteByte('\n')
		b.WriteString(say(lang, "status-line", t.ID, name(typeNames[t.Type], lang), name(statusNames[t.Status], lang), t.Summary))
	}
	return bots.Reply{Text: b.String()}
}
