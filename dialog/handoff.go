package dialog

import (
	"regexp"
	"strings"

	"ayuda/escalation"
)

// Cases that go to a person at once, however they are phrased: safety
// and urgency come before any search. Each kind names the request type
// the ticket gets and whether it is urgent (urgente) or only important
// (alta). The phrases are matched on folded text (no accents, lower case,
// punctuation as spaces), as whole words.
type urgentKind struct {
	name    string
	typ     escalation.Type
	urgent  bool
	phrases []string
	// asked: a question about the process ("¿cómo denuncio un fraude?")
	// is searched first; false for kinds that need a person even then.
	asked bool
}

var urgentKinds = []urgentKind{
	{name: "emergency", typ: escalation.Reclamo, urgent: true, phrases: []string{
		"desmayado", "desmayada", "se ha desmayado", "se desmayo", "inconsciente", "no respira", "ambulancia", "llamar al 112", "llamad al 112", "al 911",
		"fuga de gas", "huele a gas", "olor a gas", "incendio", "esta ardiendo", "hay humo", "electrocutado", "descarga electrica", "infarto",
		"fainted", "unconscious", "not breathing", "ambulance", "gas leak", "smell gas", "smells of gas", "on fire", "electrocuted", "heart attack", "collapsed",
	}},
	{name: "injury", typ: escalation.Reclamo, urgent: true, phrases: []string{
		"me he hecho dano", "me hice dano", "me he lastimado", "me lastime", "me he lesionado en", "me lesione en", "me he caido", "me cai", "se me ha caido un", "se me cayo un",
		"me he dado un golpe", "me di un golpe", "lo tengo hinchado", "la tengo hinchada", "estoy sangrando", "esta sangrando", "me he cortado", "me corte con", "herido", "herida",
		"i got hurt", "i hurt myself", "i was injured", "i fell", "i slipped", "im bleeding", "i m bleeding", "cut myself",
	}},
	{name: "fraud", typ: escalation.Denuncia, urgent: true, asked: true, phrases: []string{
		"fraude", "fraudulento", "fraudulenta", "estafa", "estafaron", "me han estafado", "me estafaron", "timo", "me timaron", "suplantacion", "phishing", "clonaron", "clonada", "clonado",
		"no reconozco", "no lo reconozco", "no los reconozco", "sin mi autorizacion", "sin autorizacion", "no autorice", "yo no hice", "que no hice", "que yo no hice", "que no he hecho", "que no realice",
		"me vaciaron", "me han vaciado", "me robaron dinero", "me han robado dinero", "me robaron la plata", "me han quitado dinero",
		"fraud", "fraudulent", "scam", "scammed", "unauthorized charge", "unauthorised charge", "unauthorized transaction", "didn t make", "did not make", "don t recognize", "don t recognise", "do not recognize", "someone used my card", "stolen money", "emptied my account",
	}},
	{name: "takeover", typ: escalation.Denuncia, urgent: true, asked: true, phrases: []string{
		"hackearon", "hackeado", "hackeada", "me han hackeado", "jaquearon", "hackeo", "me robaron la cuenta", "me han robado la cuenta", "entraron en mi cuenta", "entro en mi cuenta", "han entrado en mi cuenta",
		"alguien entro", "alguien ha entrado", "alguien accedio", "accedieron a mi cuenta", "cambiaron mi contrasena", "me cambiaron la contrasena",
		"hacked", "got hacked", "logged into our account", "logged into my account", "took over my account", "taken over", "account was compromised", "account is compromised", "someone accessed", "someone changed my password", "unauthorized access", "unauthorised access",
	}},
	{name: "legal", typ: escalation.Denuncia, phrases: []string{
		"abogado", "abogada", "abogados", "mi abogado", "demanda", "demandar", "demandare", "os voy a demandar", "denunciar", "denunciaros", "denunciarlos", "os voy a denunciar", "voy a denunciar", "poner una denuncia", "juicio", "juzgado", "tribunales", "via judicial", "accion legal", "acciones legales",
		"ocu", "facua", "a consumo", "en consumo", "oficina de consumo", "del consumidor", "aepd", "agencia de proteccion de datos", "profeco", "condusef", "sernac", "superintendencia", "indecopi",
		"lawyer", "attorney", "sue you", "i will sue", "i ll sue", "suing", "lawsuit", "legal action", "small claims", "court", "trading standards", "ombudsman", "regulator", "better business bureau",
	}},
	{name: "formal-complaint", typ: escalation.Reclamo, phrases: []string{
		"hoja de reclamaciones", "hojas de reclamaciones", "libro de reclamaciones", "libro de quejas", "reclamacion oficial", "reclamacion formal", "queja formal", "queja oficial", "que conste por escrito", "quiero que conste",
		"formal complaint", "official complaint", "complaint in writing",
	}},
	{name: "abuse", typ: escalation.Queja, phrases: []string{
		"estafadores", "ladrones", "sinverguenzas", "sois unos", "son unos", "me habeis robado", "nadie me hace caso", "nadie da la cara", "nadie me responde", "nadie me contesta", "nadie me ayuda",
		"faltado al respeto", "me ha insultado", "me trataron fatal", "me ha tratado fatal", "acoso", "acosado", "acosada", "discriminacion", "me discrimino",
		"scammers", "thieves", "nobody answers", "nobody helps", "no one answers", "no one helps", "harassed", "harassment", "discrimination", "was rude to me",
	}},
}

// repeated contact: "es la cuarta vez que escribo", "llevo tres meses
// reclamando", "third time I write".
var repeatedContact = regexp.MustCompile(`\b(es la (segunda|tercera|cuarta|quinta|enesima|\d+a?) vez|llevo (\w+ ){0,2}(dias|semanas|meses|anos) (reclamando|esperando|escribiendo|llamando|sin)|(second|third|fourth|fifth|\d+(st|nd|rd|th)) time (i|that i|im|i m)|for (weeks|months) now)\b`)

// urgentCase returns the kind of case a message reports that needs a
// person at once, with the words that say so, or nil.
func urgentCase(text string) (*urgentKind, string) {
	f := " " + fold(text) + " "
	for i := range urgentKinds {
		k := &urgentKinds[i]
		for _, p := range k.phrases {
			if strings.Contains(f, " "+foldWord(p)+" ") {
				return k, p
			}
		}
	}
	if m := repeatedContact.FindString(f); m != "" {
		return &urgentKinds[len(urgentKinds)-1], strings.TrimSpace(m)
	}
	if shouting(text) && found(text, angerWords) != "" {
		return &urgentKinds[len(urgentKinds)-1], "capitals"
	}
	return nil, ""
}

// howTo reports whether a message asks how a process goes ("¿cómo pongo
// una reclamación?", "how do I report fraud?") rather than reporting a case
// ("hay un fraude con mi tarjeta", "que sepáis que voy a denunciaros").
func howTo(text string) bool {
	f := fold(text)
	starts := false
	for _, q := range []string{"como", "donde", "cual es el proceso", "cual es el procedimiento", "que tengo que hacer para", "que hago para", "se puede", "puedo", "hay forma de", "hay manera de", "how do", "how can", "how to", "where do", "where can", "can i", "what is the process", "is there a way"} {
		if f == q || strings.HasPrefix(f, q+" ") {
			starts = true
			break
		}
	}
	if !starts {
		return false
	}
	// A question that tells a case is not about the process: "cómo puede
	// ser que me hayan vaciado la cuenta".
	for _, w := range []string{"me han", "me ha", "me hicieron", "me robaron", "me vaciaron", "me cobraron", "alguien", "ser que", "someone", "somebody", "they", "you charged"} {
		if strings.Contains(" "+f+" ", " "+w+" ") {
			return false
		}
	}
	return true
}

// contactQuestion reports whether a request that names a person is in
// fact a question about how or when to reach one ("¿en qué horario puedo
// hablar con una persona?", "what number do I call to talk to an agent?"),
// which the knowledge base may answer.
func contactQuestion(text string) bool {
	f := " " + fold(text) + " "
	for _, w := range []string{" horario", " a que hora", " en que hora", " que horas", " cuando puedo", " cuando se puede", " que dias", " telefono", " numero", " email", " correo", " whatsapp", " por donde", " que canal",
		" what time", " what hours", " which hours", " opening hours", " when can", " what number", " phone number", " which number", " email address", " what days"} {
		if strings.Contains(f, w+" ") {
			return true
		}
	}
	return false
}

// isRequest reports whether a message asks for something to be done (as
// opposed to chatter): "quiero que me devolváis el dinero".
func isRequest(text string) bool {
	f := " " + fold(text) + " "
	if len(strings.Fields(f)) < 4 {
		return false
	}
	for _, w := range []string{" quiero ", " queria ", " necesito ", " exijo ", " solicito ", " me urge ", " por favor ", " i want ", " i need ", " i d like ", " please ", " i demand "} {
		if strings.Contains(f, w) {
			return true
		}
	}
	return false
}
