package dialog

import (
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"ayuda/escalation"
	"ayuda/knowledge"
)

// fold lowercases s, strips accents (keeping ñ), turns punctuation into
// spaces and collapses runs of spaces: the form intents are matched on.
func fold(s string) string {
	s = strings.ToLower(s)
	if !ascii(s) { // only accents need the Unicode transform
		s = strings.ReplaceAll(s, "ñ", "\x00")
		t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
		if out, _, err := transform.String(t, s); err == nil {
			s = out
		}
		s = strings.ReplaceAll(s, "\x00", "ñ")
	}
	var b strings.Builder
	space := true
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '/' {
			b.WriteRune(r)
			space = false
		} else if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	return strings.TrimSpace(b.String())
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// folded memoizes fold for the fixed keyword lists, which are folded on
// every message otherwise.
var folded sync.Map

func foldWord(w string) string {
	if f, ok := folded.Load(w); ok {
		return f.(string)
	}
	f := fold(w)
	folded.Store(w, f)
	return f
}

// Intent is what a message is for, before any search.
type Intent string

// Intents recognised before searching the knowledge base.
const (
	None      Intent = ""
	Greeting  Intent = "greeting"
	Thanks    Intent = "thanks"
	Goodbye   Intent = "goodbye"
	Help      Intent = "help"
	Human     Intent = "human"
	StatusReq Intent = "status"
	NewReq    Intent = "new"
	Yes       Intent = "yes"
	No        Intent = "no"
	Cancel    Intent = "cancel"
)

// commands are slash commands, in both languages.
var commands = map[string]Intent{
	"/start": Greeting, "/ayuda": Help, "/help": Help, "/menu": Help,
	"/estado": StatusReq, "/status": StatusReq,
	"/humano": Human, "/human": Human, "/agente": Human, "/agent": Human, "/persona": Human,
	"/nueva": NewReq, "/new": NewReq, "/cancelar": Cancel, "/cancel": Cancel,
}

// whole lists messages that are an intent only when they are the whole
// message (after folding): short social phrases that would be noise in a
// longer question.
var whole = map[Intent][]string{
	Greeting: {"hola", "hola buenas", "buenas", "buenos dias", "buenas tardes", "buenas noches", "hey", "hi", "hello", "hello there", "good morning", "good afternoon", "good evening", "hola que tal", "saludos", "hi there", "ola", "start", "empezar"},
	Thanks:   {"gracias", "muchas gracias", "mil gracias", "ok gracias", "vale gracias", "genial gracias", "perfecto gracias", "thanks", "thank you", "thanks a lot", "thank you very much", "thx", "ty", "ok thanks", "great thanks", "perfect thanks", "cheers"},
	Goodbye:  {"adios", "hasta luego", "chao", "chau", "nos vemos", "bye", "goodbye", "see you", "bye bye", "hasta pronto"},
	Help:     {"ayuda", "help", "menu", "menú", "opciones", "options", "que puedes hacer", "what can you do", "que sabes hacer"},
	Yes:      {"si", "sí", "s", "yes", "y", "yep", "yeah", "claro", "vale", "ok", "okay", "de acuerdo", "correcto", "exacto", "si me sirvio", "si gracias", "sure", "si resuelto", "yes solved", "it did", "si por favor", "yes please", "perfecto", "genial"},
	No:       {"no", "n", "nope", "no gracias", "no me sirvio", "no sirvio", "no me ha servido", "no funciona", "no ayuda", "didn t help", "it didn t help", "not really", "no thanks", "para nada", "ninguna", "none", "none of these", "ninguna de estas", "no es eso", "that s not it"},
	Cancel:   {"cancelar", "cancel", "olvidalo", "dejalo", "never mind", "nevermind", "forget it"},
	StatusReq: {"estado", "status", "mis solicitudes", "mis tickets", "mis casos", "my requests", "my tickets",
		"estado de mi solicitud", "estado de mis solicitudes", "como va mi solicitud", "como va mi caso", "como va mi ticket",
		"status of my request", "status of my ticket", "my ticket status", "how is my request going", "how is my ticket going"},
	NewReq: {"nueva solicitud", "abrir solicitud", "abrir una solicitud", "abrir ticket", "abrir un ticket", "new request", "open a request", "open a ticket", "new ticket", "crear ticket", "crear un ticket"},
}

// phrases are intents recognised anywhere in a message.
var phrases = map[Intent][]string{
	Human: {
		"hablar con una persona", "hablar con alguien", "hablar con un humano", "hablar con un agente", "hablar con un asesor",
		"con un humano", "con una persona", "quiero un humano", "quiero un agente",
		"pasame con", "pasadme con", "paseme con", "comunicarme con un", "atencion humana", "atencion al cliente humana",
		"operador", "operadora", "agente humano", "agente por favor", "un asesor", "asesor por favor",
		"talk to a human", "talk to a person", "talk to someone", "speak with someone", "talk with someone", "speak with somebody", "speak to a human", "speak to a person", "speak to someone",
		"human agent", "live agent", "customer service agent",
		"a human please", "human please", "get me a person", "let me talk",
		"alguien de verdad", "alguien real", "persona real", "persona de verdad", "ser humano", "hay algun humano", "hay alguien ahi", "alguien del equipo", "alguien de atencion",
		"con el encargado", "con la encargada", "con el responsable", "con la responsable", "con el gerente", "con un supervisor", "con un ejecutivo", "con una ejecutiva", "con un asesor", "con una asesora",
		"que me llame alguien", "que me llamen", "llamenme", "llamadme", "que me atienda", "que me atiendan", "no quiero hablar con un bot", "no con un robot", "no con una maquina", "respuestas automaticas", "mensajes automaticos",
		"me pueden llamar", "me podeis llamar", "me puedes llamar", "me podrian llamar", "pueden llamarme", "podeis llamarme", "llamarme", "pasas con", "me pasan con", "comunicame con", "me comunicas con", "con un agent", "con un agente", "con una agente",
		"quiero un humano", "quiero una persona", "quiero un asesor", "quiero una asesora", "necesito una persona", "necesito un agente", "necesito un asesor", "necesito una asesora", "necesito hablar con", "no un bot", "no con un bot",
		"get me a human", "get me an agent", "get me someone", "not a bot", "ayuda de una persona", "ayuda de un humano", "ayuda de alguien", "ayuda de un asesor", "help from a person", "help from a human", "help from someone",
		"i want a human", "i need a human", "i want a person", "i need a person", "i want an agent", "i need an agent", "want a real person", "need a real person", "ring me", "call me", "give me a call", "phone me", "escalate this", "escalate my", "live chat with a human", "chat with a human",
		"me comunica con", "comuniqueme con", "comunicarme con alguien", "de carne y hueso", "hay alguien q", "hay alguien que me", "que alguien me", "quisiera que alguien", "una llamada de alguien", "atencion personalizada", "atencion personal", "me atiende una persona", "me atienda una persona", "puedo hablar con", "ya no quiero hablar con", "me devuelva la llamada", "me devuelvan la llamada",
		"speak to somebody", "talk to somebody", "speak with somebody", "i need someone", "need someone to", "someone get in touch", "get in touch with me", "contact me", "reach out to me", "arrange a call", "a call from", "callback", "call back", "put me on to", "on the line", "support staff", "actual human", "human being", "talk con alguien", "hablar con alguien",
		"lo tiene que ver alguien", "tiene que verlo alguien", "derivar con", "derivarme", "derivenme", "quien corresponda", "instancia superior", "elevar esto", "elevarlo", "escalar esto", "escalarlo", "quien me puede ayudar de verdad", "respuesta automatica", "respuestas automaticas",
		"take over", "a real one", "human touch", "manager s email", "anyone actually there", "all automated", "who do i talk to", "pass me on to", "whoever deals with", "i want to escalate",
		"a real person", "real human", "live person", "someone from your team", "someone on your team", "anyone there", "anybody there", "is there a human", "is there anyone", "your manager", "speak to a manager", "talk to a manager", "speak to a supervisor", "talk to a supervisor", "a rep", "support rep", "transfer me", "put me through", "connect me to", "call me back", "not a bot", "not a robot",
	},
}

// A message that names a person and asks for something is a request for
// a person: "necesito ayuda de una persona", "can I get a human?".
var (
	personWords  = set("persona humano humana agente asesor asesora operador operadora empleado ejecutivo ejecutiva encargado encargada responsable gerente supervisor supervisora representante human person agent representative operator rep manager")
	requestWords = set("hablar habla hablame pasame pasadme paseme ponme ponedme ponganme pongame pasar comunicar comunicarme contactar llamar llame llamen atienda atiendan atender responda talk speak connect transfer contact reach call")
	notPerson    = set("transporte transportista mensajero courier delivery shipping")
)

// alone are single words that ask for a person when they are (almost) the
// whole message.
var alone = map[string]Intent{"humano": Human, "persona": Human, "agente": Human, "asesor": Human, "asesora": Human, "ejecutivo": Human, "ejecutiva": Human, "operador": Human, "operadora": Human, "encargado": Human, "representante": Human,
	"supervisor": Human, "supervisora": Human, "gerente": Human, "responsable": Human,
	"human": Human, "agent": Human, "person": Human, "operator": Human, "rep": Human, "representative": Human, "manager": Human, "escalate": Human}

// detectIntent finds the intent of a message, or None.
func detectIntent(text string) Intent {
	t := strings.TrimSpace(text)
	if strings.HasPrefix(t, "/") {
		cmd := strings.ToLower(strings.Fields(t)[0])
		if i := strings.IndexByte(cmd, '@'); i > 0 { // /estado@ayuda_bot
			cmd = cmd[:i]
		}
		if in, ok := commands[cmd]; ok {
			return in
		}
	}
	f := fold(t)
	if f == "" {
		return None
	}
	for _, in := range []Intent{StatusReq, NewReq, Cancel, Greeting, Thanks, Goodbye, Help, Yes, No} {
		for _, p := range whole[in] {
			if f == p {
				return in
			}
		}
	}
	words := strings.Fields(f)
	if len(words) <= 3 {
		for _, w := range words {
			if in, ok := alone[w]; ok {
				return in
			}
		}
		// "aseosr", "representitive": one typo in a word of five letters
		// or more.
		for _, w := range words {
			for a, in := range alone {
				if len(w) >= 5 && len(a) >= 5 && w[0] == a[0] && knowledge.OneEdit(w, a) {
					return in
				}
			}
		}
	}
	padded := " " + f + " "
	for _, p := range phrases[Human] {
		if strings.Contains(padded, " "+p+" ") {
			return Human
		}
	}
	var person, request, other bool
	for _, w := range words {
		person = person || personWords[w]
		request = request || requestWords[w]
		other = other || notPerson[w]
	}
	if person && request && !other {
		return Human
	}
	// "un encargado por favor": a person and nothing else but filler.
	if person && !other && !strings.Contains(t, "?") {
		rest := 0
		for _, w := range words {
			if !personWords[w] && !filler[w] {
				rest++
			}
		}
		if rest == 0 {
			return Human
		}
	}
	return None
}

// sensitive words reveal a request type that always goes to a person.
var sensitive = []struct {
	typ   escalation.Type
	words []string
}{
	{escalation.Denuncia, []string{"denuncia", "denunciar", "denunciarlo", "fraude", "estafa", "acoso", "soborno", "corrupcion", "discriminacion", "amenaza", "robo de datos", "fraud", "scam", "harassment", "bribe", "bribery", "corruption", "discrimination", "threat", "report wrongdoing", "whistleblow"}},
	{escalation.Reclamo, []string{"reclamo", "reclamacion", "reclamar", "exijo", "indemnizacion", "compensacion", "me deben", "libro de reclamaciones", "hoja de reclamaciones", "claim", "compensation", "you owe me", "i demand", "chargeback"}},
	{escalation.Queja, []string{"queja", "quejarme", "me quejo", "quejar", "inaceptable", "vergonzoso", "vergüenza", "pesimo servicio", "pesima atencion", "fatal servicio", "complaint", "complain", "unacceptable", "disgraceful", "terrible service", "awful service", "worst service"}},
}

// questionWords start a question about a process ("how do I file a
// complaint?"), which the knowledge base answers, as opposed to the
// complaint itself, which goes to a person.
var questionWords = []string{"como", "donde", "cuando", "cual", "cuales", "que", "puedo", "se puede", "hay", "how", "where", "when", "what", "which", "can i", "is there", "do you", "do i"}

// sensitiveType returns the sensitive request type a message is, if any,
// and whether it is only a question about that process.
func sensitiveType(text string) (escalation.Type, bool) {
	f := " " + fold(text) + " "
	for _, s := range sensitive {
		for _, w := range s.words {
			if strings.Contains(f, " "+foldWord(w)+" ") {
				return s.typ, isProcessQuestion(text)
			}
		}
	}
	return "", false
}

func isProcessQuestion(text string) bool {
	f := fold(text)
	for _, q := range questionWords {
		if f == q || strings.HasPrefix(f, q+" ") {
			return true
		}
	}
	return false
}

// urgent words raise a ticket's priority.
var urgentWords = []string{"urgente", "urgencia", "cuanto antes", "ya mismo", "inmediatamente", "es grave", "emergencia", "urgent", "asap", "immediately", "emergency", "right now", "as soon as possible"}

// filler words say nothing about the problem in a request for a person.
var filler = set("quiero queria necesito por favor con una un uno de del la el al a me mi para que y o ya ahora please i to a an the with me my some someone can could would like need want now hola hello hi buenas gracias thanks")

// describesProblem reports whether a request for a person also says what
// the problem is ("mi pedido llegó roto, necesito ayuda de una persona"),
// so the bot need not ask for a description.
func describesProblem(text string) bool {
	n := 0
	for _, w := range strings.Fields(fold(text)) {
		if !personWords[w] && !requestWords[w] && !filler[w] && !strings.HasPrefix(w, "/") {
			n++
		}
	}
	return n >= 3
}
