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
	"miss-again": {
		"es": "Sigo sin encontrar una respuesta. Si quieres, te paso con una persona (el botón de abajo), o pruébalo una vez más con otras palabras.",
		"en": "I still can't find an answer. If you like, I'll pass you to a person (the button below), or try once more in other words.",
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
		"es": "He abierto la solicitud #%d: «%s». Una persona te responderá aquí %s. Todo lo que escribas en este chat se añadirá a tu solicitud; escribe /estado para ver cómo va.",
		"en": "I've opened request #%d: «%s». A person will answer you here %s. Anything you write in this chat is added to your request; type /status to see how it's going.",
	},
	"remind":         {"es": "He añadido tu mensaje a la solicitud #%d, que sigue abierta.", "en": "I've added your message to request #%d, which is still open."},
	"remind-who":     {"es": "La está atendiendo %s.", "en": "%s is handling it."},
	"remind-nobody":  {"es": "Aún no la ha cogido nadie del equipo, pero está en la cola.", "en": "Nobody from the team has picked it up yet, but it is in the queue."},
	"remind-first":   {"es": "Te responderán %s.", "en": "You'll get an answer %s."},
	"remind-resolve": {"es": "Esperamos resolverla %s.", "en": "We expect to solve it %s."},
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
	"status-none": {"es": "No tienes solicitudes abiertas.", "en": "You have no open requests."},
	"status-head": {"es": "Tus solicitudes:", "en": "Your requests:"},
	"status-line": {"es": "#%d · %s · %s", "en": "#%d · %s · %s"},
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
	// Due times: the clock ("las 12:00" / "12:00"), then the day.
	"due-today":    {"es": "antes de %s", "en": "by %s today"},
	"due-tomorrow": {"es": "antes de %s de mañana", "en": "by %s tomorrow"},
	"due-day":      {"es": "antes de %s del %s", "en": "by %s on %s"},
	"anyone":       {"es": "una persona del equipo", "en": "someone from the team"},
	// The service protocol: ratings, missed targets, progress, closing.
	"rate-ask": {
		"es": "¿Cómo valorarías la atención, de 1 (mal) a 5 (muy bien)?",
		"en": "How would you rate our help, from 1 (poor) to 5 (very good)?",
	},
	"rated": {
		"es": "¡Gracias por tu valoración! Si quieres añadir un comentario, escríbelo aquí.",
		"en": "Thanks for your rating! If you'd like to add a comment, write it here.",
	},
	"rated-low": {
		"es": "Gracias por decírnoslo, y siento que no haya ido bien: se lo he contado al equipo. Si quieres, cuéntanos aquí qué falló.",
		"en": "Thanks for telling us, and I'm sorry it didn't go well: I've told the team. If you like, tell us here what went wrong.",
	},
	"commented":    {"es": "Gracias, he añadido tu comentario a la valoración.", "en": "Thanks, I've added your comment to the rating."},
	"c-no-comment": {"es": "No, gracias", "en": "No, thanks"},
	"no-comment":   {"es": "De acuerdo. ¡Gracias! Si necesitas algo más, aquí estoy.", "en": "All right. Thank you! If you need anything else, I'm here."},
	"n-missed-first_response": {
		"es": "Sentimos el retraso: no hemos podido responder a tu solicitud #%d en el plazo que te dimos. Una persona te responderá %s.",
		"en": "Sorry for the delay: we couldn't answer your request #%d within the time we gave you. A person will answer you %s.",
	},
	"n-missed-resolution": {
		"es": "Sentimos el retraso: tu solicitud #%d no estará resuelta en el plazo que te dimos. %s sigue con ella y esperamos resolverla %s.",
		"en": "Sorry for the delay: your request #%d won't be solved within the time we gave you. %s is still on it and we expect to solve it %s.",
	},
	"n-progress": {
		"es": "Tu solicitud #%d sigue en curso: %s está trabajando en ella.",
		"en": "Your request #%d is still in progress: %s is working on it.",
	},
	"n-progress-update": {
		"es": "Tu solicitud #%d sigue en curso con %s. Su última novedad:\n%s",
		"en": "Your request #%d is still in progress with %s. Their latest update:\n%s",
	},
	"n-assumed-closed": {
		"es": "Como no hemos sabido de ti, damos por resuelta tu solicitud #%d y la cerramos. Si no lo está, pulsa «No, sigue igual» o escríbenos aquí.",
		"en": "As we haven't heard from you, we take your request #%d as solved and close it. If it isn't, press «No, not solved» or write to us here.",
	},
}

// typeNames and statusNames are what customers read: the kinds of request
// they choose from, and how theirs is going. Priorities are for agents.
var typeNames = map[escalation.Type]map[string]string{
	escalation.Consulta:   {"es": "consulta", "en": "question"},
	escalation.Solicitud:  {"es": "solicitud de servicio", "en": "service request"},
	escalation.Queja:      {"es": "queja", "en": "complaint"},
	escalation.Reclamo:    {"es": "reclamación", "en": "claim"},
	escalation.Sugerencia: {"es": "sugerencia", "en": "suggestion"},
	escalation.Denuncia:   {"es": "denuncia", "en": "report"},
}

// summaryFor is a ticket's summary as the customer reads it back in the
// receipt: their own words, on one line, at most 80 characters.
func summaryFor(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 80 {
		s = strings.TrimSpace(string(r[:79])) + "…"
	}
	return s
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

var months = map[string][]string{
	"es": {"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"},
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
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
// ("antes de las 12:00 del martes", "by 12:00 on Tuesday"): the day is
// named by its weekday within the coming week, with its date after that.
func dueText(lang string, due, now time.Time, loc *time.Location) string {
	due, now = due.In(loc), now.In(loc)
	if lang != "en" {
		lang = "es"
	}
	clock := due.Format("15:04")
	if lang == "es" {
		if due.Hour() == 1 {
			clock = "la " + due.Format("15:04")
		} else {
			clock = "las " + due.Format("15:04")
		}
	}
	// Calendar days from today to the due day, counted in UTC dates so a
	// change of summer time does not shift them.
	y1, m1, d1 := now.Date()
	y2, m2, d2 := due.Date()
	days := int(time.Date(y2, m2, d2, 0, 0, 0, 0, time.UTC).Sub(time.Date(y1, m1, d1, 0, 0, 0, 0, time.UTC)) / (24 * time.Hour))
	switch {
	case days <= 0:
		return say(lang, "due-today", clock)
	case days == 1:
		return say(lang, "due-tomorrow", clock)
	}
	day := weekdays[lang][due.Weekday()]
	if days > 6 {
		if lang == "es" {
			day = fmt.Sprintf("%s %d de %s", day, due.Day(), months[lang][due.Month()-1])
		} else {
			day = fmt.Sprintf("%s %d %s", day, due.Day(), months[lang][due.Month()-1])
		}
	}
	return say(lang, "due-day", clock, day)
}

// rateChoices are the 1–5 buttons for ticket id, as stars; in the terminal
// their numbers are the rating.
func rateChoices(id escalation.ID) []bots.Choice {
	var out []bots.Choice
	for n := 1; n <= 5; n++ {
		out = append(out, bots.Choice{ID: fmt.Sprintf("rate:%d:%d", id, n), Label: strings.Repeat("★", n)})
	}
	return out
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
			return bots.Reply{Text: say(lang, "n-claimed", capitalize(agent), t.ID)}
		case escalation.NoticeReply:
			return bots.Reply{Text: say(lang, "n-reply", capitalize(agent), t.ID, n.Text)}
		case escalation.NoticeWaiting:
			return bots.Reply{Text: say(lang, "n-waiting", capitalize(agent), t.ID)}
		case escalation.NoticeCompleted:
			return bots.Reply{Text: say(lang, "n-completed", capitalize(agent), t.ID), Choices: []bots.Choice{
				choice(lang, fmt.Sprintf("solved:%d:yes", t.ID), "c-solved-yes"),
				choice(lang, fmt.Sprintf("solved:%d:no", t.ID), "c-solved-no"),
			}}
		case escalation.NoticeClosed:
			return bots.Reply{Text: say(lang, "n-closed", t.ID) + " " + say(lang, "rate-ask"), Choices: rateChoices(t.ID)}
		case escalation.NoticeAssumedClosed:
			return bots.Reply{Text: say(lang, "n-assumed-closed", t.ID) + " " + say(lang, "rate-ask"),
				Choices: append(rateChoices(t.ID), choice(lang, fmt.Sprintf("solved:%d:no", t.ID), "c-solved-no"))}
		case escalation.NoticeMissed:
			due := dueText(lang, n.Due, n.Now, n.Due.Location())
			if n.Target == escalation.TargetFirstResponse {
				return bots.Reply{Text: say(lang, "n-missed-first_response", t.ID, due)}
			}
			return bots.Reply{Text: say(lang, "n-missed-resolution", t.ID, capitalize(agent), due)}
		case escalation.NoticeProgress:
			if n.Text != "" {
				return bots.Reply{Text: say(lang, "n-progress-update", t.ID, agent, n.Text)}
			}
			return bots.Reply{Text: say(lang, "n-progress", t.ID, agent)}
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
		b.WriteString(say(lang, "status-line", t.ID, name(statusNames[t.Status], lang), t.Summary))
	}
	return bots.Reply{Text: b.String()}
}
