package dialog

import (
	"regexp"
	"strings"
	"unicode"

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
		"sale humo", "saliendo humo", "salia humo", "fuego", "llamas", "exploto", "exploto y", "se quemo el", "se incendio", "incendiado", "no se levanta", "no reacciona", "estamos en urgencias", "en urgencias", "se trago un", "se trago una", "se ha tragado un", "se ha tragado una", "fallaron los frenos", "tuve un accidente", "choque con",
		"caught fire", "exploded", "smoke coming", "in a e", "in the er", "swallowed", "brakes failed", "crashed", "gas smell", "strong smell of gas",
		"me amenazo", "nos amenazo", "tengo miedo", "chispas", "echando chispas", "cable pelado", "me dio corriente", "cable de luz caido", "se esta inundando", "inundando", "inundacion", "amenazando", "con un arma", "cuchillo", "pistola", "se me perdio mi hijo", "se me perdio mi hija", "perdio mi hijo", "perdio mi hija", "no lo encuentran", "no la encuentran", "reaccion alergica", "intoxicacion", "intoxicado", "vomitando", "camara oculta", "pipe burst", "burst pipe", "water is pouring", "flooding", "there s a fire", "theres a fire", "a fire in", "fire in the", "alarm didn t go off", "allergic reaction", "swelling", "food poisoning", "in hospital", "threatening", "with a bat", "knife", "gun", "is lost in", "son is lost", "daughter is lost", "hidden camera", "electric shock",
		"medicamento que no era", "dolor en el pecho", "chest pain", "chest pains", "power lines are down", "lines are down", "cables caidos", "cable caido", "changing the locks", "cambiar la cerradura",
	}},
	{name: "injury", typ: escalation.Reclamo, urgent: true, phrases: []string{
		"me he hecho dano", "me hice dano", "me he lastimado", "me lastime", "me he lesionado en", "me lesione en", "me he caido", "me cai", "se me ha caido un", "se me cayo un",
		"me he dado un golpe", "me di un golpe", "lo tengo hinchado", "la tengo hinchada", "estoy sangrando", "esta sangrando", "me he cortado", "me corte con", "herido", "herida",
		"i got hurt", "i hurt myself", "i was injured", "i fell", "i slipped", "im bleeding", "i m bleeding", "cut myself",
		"se cayo en", "se ha caido en", "se corto con", "se ha cortado con", "se lastimo con", "se quemo con", "mi hijo se", "mi hija se",
		"got injured", "was hurt", "my son cut", "my daughter cut", "hurt by",
		"se propaso", "se propaso conmigo", "asked my", "pidio fotos", "pictures of my",
		"se me vino encima", "me cayo encima", "fell on me", "broke her", "broke his", "broke my", "se rompio el brazo", "se rompio la pierna", "slipped on", "se resbalo", "reversed into my car", "choco mi auto", "choco mi carro", "drove off", "tiene reaccion",
	}},
	{name: "fraud", typ: escalation.Denuncia, urgent: true, asked: true, phrases: []string{
		"fraude", "fraudulento", "fraudulenta", "estafa", "estafaron", "me han estafado", "me estafaron", "timo", "me timaron", "suplantacion", "phishing", "clonaron", "clonada", "clonado",
		"no reconozco", "no lo reconozco", "no los reconozco", "sin mi autorizacion", "sin autorizacion", "no autorice", "yo no hice", "que no hice", "que yo no hice", "que no he hecho", "que no realice",
		"me vaciaron", "me han vaciado", "me robaron dinero", "me han robado dinero", "me robaron la plata", "me han quitado dinero",
		"fraud", "fraudulent", "scam", "scammed", "unauthorized charge", "unauthorised charge", "unauthorized transaction", "didn t make", "did not make", "don t recognize", "don t recognise", "do not recognize", "someone used my card", "stolen money", "emptied my account",
		"no fui yo", "no he sido yo", "nunca pedi", "nunca solicite", "sin mi permiso", "sin mi consentimiento", "alguien compro", "alguien saco", "alguien uso mi", "alguien ha usado mi", "usaron mi tarjeta", "desaparecio plata", "desaparecio dinero", "desaparecio la plata", "desaparecio el dinero", "desaparecieron", "duplicaron el chip", "duplicaron mi chip", "duplicado de mi chip", "prestamo a mi nombre", "credito a mi nombre", "linea a mi nombre", "tarjeta a mi nombre",
		"wasn t me", "wasnt me", "it wasn t me", "not me", "without my permission", "without my consent", "never authorized", "never authorised", "money disappeared", "money is missing", "missing from my account", "never had an account with you", "sim swap", "ported my number", "in my name",
		"never made", "i never made", "nunca hice", "nunca realice", "me sacaron", "me descontaron", "di mis datos", "le di mis datos", "entered my details", "gave my details", "clicked a link", "hice click en un link", "di click", "unauthorised debit", "unauthorized debit", "money is gone", "money gone", "quid is gone", "pounds is gone", "dollars is gone", "is gone from my account",
		"skimmer", "skimmed", "skimming", "retiros en otra ciudad", "retiros que no", "de otro pais y yo", "never applied", "used my card", "pretending to be from", "haciendose pasar", "se hizo pasar", "were emptied", "was emptied", "cambio la direccion de entrega", "redirected to another address", "without me doing anything", "sin que yo hiciera nada", "yo no toque nada", "que yo no pedi", "que no pedi",
	}},
	{name: "takeover", typ: escalation.Denuncia, urgent: true, asked: true, phrases: []string{
		"hackearon", "hackeado", "hackeada", "me han hackeado", "jaquearon", "hackeo", "me robaron la cuenta", "me han robado la cuenta", "entraron en mi cuenta", "entro en mi cuenta", "han entrado en mi cuenta",
		"alguien entro", "alguien ha entrado", "alguien accedio", "accedieron a mi cuenta", "cambiaron mi contrasena", "me cambiaron la contrasena",
		"hacked", "got hacked", "logged into our account", "logged into my account", "took over my account", "taken over", "account was compromised", "account is compromised", "someone accessed", "someone changed my password", "unauthorized access", "unauthorised access",
		"inicio de sesion desde", "me entraron", "entraron a mi", "alguien esta usando mi cuenta", "alguien esta usando la cuenta", "cambiaron el correo", "me cambiaron el correo", "me cambiaron el numero", "nadie de nosotros",
		"someone is using my account", "someone is using our account", "email was changed", "changed my email", "none of us added", "none of us", "login from", "sign in from",
		"se metieron a mi cuenta", "se metieron en mi cuenta", "celular que no es mio", "numero que no es mio", "number that isn t mine", "phone that isn t mine",
	}},
	{name: "legal", typ: escalation.Denuncia, asked: true, phrases: []string{
		"abogado", "abogada", "abogados", "mi abogado", "demanda", "demandar", "demandare", "os voy a demandar", "denunciar", "denunciaros", "denunciarlos", "os voy a denunciar", "voy a denunciar", "poner una denuncia", "juicio", "juzgado", "tribunales", "via judicial", "accion legal", "acciones legales",
		"ocu", "facua", "a consumo", "en consumo", "oficina de consumo", "del consumidor", "aepd", "agencia de proteccion de datos", "profeco", "condusef", "sernac", "superintendencia", "indecopi", "ante la sic", "a la sic",
		"lawyer", "attorney", "sue you", "i will sue", "i ll sue", "suing", "lawsuit", "legal action", "small claims", "court", "trading standards", "ombudsman", "regulator", "better business bureau",
		"proceder legalmente", "legalmente", "carta documento", "un licenciado", "solicitor", "the tio", "fca", "ftc", "cfpb", "ofcom", "ofgem", "nodal officer", "reporting you", "report you to", "chargeback", "contracargo",
		"pro consumidor", "proconsumidor", "see you in court", "in court",
	}},
	{name: "formal-complaint", typ: escalation.Reclamo, asked: true, phrases: []string{
		"hoja de reclamaciones", "hojas de reclamaciones", "libro de reclamaciones", "libro de quejas", "reclamacion oficial", "reclamacion formal", "queja formal", "queja oficial", "que conste por escrito", "quiero que conste",
		"formal complaint", "official complaint", "complaint in writing", "radicar queja", "radicar una queja", "radicar un reclamo", "radicar una reclamacion",
		"pqr", "un pqr", "grievance", "raise a grievance",
		"presento formalmente", "formalmente una", "de forma formal", "lodge a formal", "lodge a complaint",
	}},
	{name: "abuse", typ: escalation.Queja, phrases: []string{
		"estafadores", "ladrones", "sinverguenzas", "sois unos", "son unos", "me habeis robado", "nadie me hace caso", "nadie da la cara", "nadie me responde", "nadie me contesta", "nadie me ayuda",
		"faltado al respeto", "me ha insultado", "me trataron fatal", "me ha tratado fatal", "acoso", "acosado", "acosada", "discriminacion", "me discrimino",
		"scammers", "thieves", "nobody answers", "nobody helps", "no one answers", "no one helps", "harassed", "harassment", "discrimination", "was rude to me",
		"mierda", "inutiles", "inutil", "boludos", "pelotudos", "weon", "weones", "pinches", "rateros", "idiotas", "incompetentes", "ya me canse", "estoy harto", "estoy harta", "en twitter", "en redes", "en las redes",
		"useless", "crooks", "idiots", "incompetent", "fucking", "f ing", "i m done", "im done", "nobody reads", "all over twitter", "on twitter", "on social media", "this is a joke",
		"racista", "racismo", "machista", "me acosa", "me toca sin permiso", "me toco sin permiso", "me manosea", "sin permiso y", "se burlo", "se burlaron", "me da miedo", "me incomoda", "mensajes raros",
		"racist", "sexist", "hitting on me", "mocked", "i m scared", "im scared", "makes me uncomfortable", "creepy",
		"twitter", "tiktok", "reddit", "google reviews", "a los medios", "al noticiero", "noticiero", "the press", "the media", "screaming at", "me grito", "nos grito", "gritando", "drunk", "borracho", "because i wear", "por ser mujer", "por mi color", "refused to serve",
		"so done with", "done with you people", "you people", "llevo desde", "inapropiada", "inapropiado", "inappropriately", "humillaron", "me humillo", "slur", "comments about my body", "really uncomfortable", "outside my house", "knows where i live", "sabe donde vivo", "took photos inside", "fotos dentro de mi casa", "entro sin avisar", "entro al depto", "entro a mi casa", "le dicen maricon", "maricon",
	}},
	{name: "data-breach", typ: escalation.Denuncia, urgent: true, asked: true, phrases: []string{
		"datos de otra persona", "pedidos de otra persona", "de otro cliente", "de otros clientes", "filtraron", "filtracion", "filtrado mis datos", "a la vista", "con copia a todos",
		"someone else s account", "someone elses account", "someone else s details", "another customer s", "every customer s", "cc field", "leaked", "leak my data", "data breach", "data leak",
		"de otro paciente", "con todos sus datos", "another customers", "another customer", "medical records were", "a total stranger", "foto de mi pasaporte", "account details to", "gave my account", "subio a sus redes", "a mi ex", "to my ex",
		"resultados de laboratorio de otra", "de otra senora", "de otro senor", "someone else s policy", "someone elses policy", "se entero toda la oficina", "carta a mi trabajo",
	}},
}

// repeated contact: "es la cuarta vez que escribo", "llevo tres meses
// reclamando", "third time I write".
var repeatedContact = regexp.MustCompile(`\b(es la (segunda|tercera|cuarta|quinta|enesima|\d+a?) vez|llevo (\w+ ){0,2}(dias|semanas|meses|anos) (reclamando|esperando|escribiendo|llamando|sin)|(ya te|ya les|ya os|te|les|os) (he )?(dije|dicho|explique|explicado) (\w+ ){0,3}(\d+|dos|tres|cuatro|cinco|mil) veces|(\d+|dos|tres|cuatro|cinco|mil) veces (que|lo)|(second|third|fourth|fifth|\d+(st|nd|rd|th)) time (i|that i|im|i m|contacting|writing|calling|asking)|(second|third|fourth|\d+(st|nd|rd|th)) reminder|(explained|told you|asked) (it |this )?(\d+|two|three|four|five) times|for (weeks|months) now|(\d+|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez) veces (he|que|lo|ya)|(second|third|fourth|fifth|\d+(st|nd|rd|th)) (email|call|message|mail|correo|llamada|mensaje)|(\d+|two|three|four|five|six|seven|eight|nine|ten) times|van (\d+|dos|tres|cuatro|cinco) (correos|mails|llamadas|mensajes))\b`)

func abuse() *urgentKind {
	for i := range urgentKinds {
		if urgentKinds[i].name == "abuse" {
			return &urgentKinds[i]
		}
	}
	panic("dialog: no abuse kind")
}

// capitalWords counts the words of three letters or more written in capitals.
func capitalWords(text string) int {
	n := 0
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) }) {
		if len([]rune(w)) >= 3 && strings.ToUpper(w) == w {
			n++
		}
	}
	return n
}

// longAgo: a time weeks or more in the past ("hace dos meses", "el verano
// pasado", "last year", "3 weeks ago"); not "hace 5 minutos" or "ayer".
var longAgo = regexp.MustCompile(`\b(hace (un|una|unos|unas|dos|tres|cuatro|cinco|varios|varias|\d+) (semanas?|mes|meses|anos?|años?|veranos?)|(el|la) (ano|año|mes|semana|verano|invierno|otono|otoño|primavera|curso|temporada) pasad[oa]|el pasado (ano|año|mes|verano|invierno)|last (year|month|summer|winter|spring|autumn|fall|term|season)|(a|one|two|three|four|five|six|several|a few|\d+) (weeks?|months?|years?|summers?|winters?) ago)\b`)

// wantsToKnow: a question put as a statement ("quería saber si…", "I
// wanted to know whether…").
var wantsToKnow = regexp.MustCompile(`\b((quiero|queria|quisiera|quisieramos|queremos|necesito|me gustaria) saber|want(ed)? to know|wondering|would like to know|i d like to know)\b`)

// gasSmell: "huele muchísimo a gas", "a strong smell of gas".
var gasSmell = regexp.MustCompile(`\b(huele|olor|fuga|smell|smells|leak|leaking)( \w+){0,3} (a |de |of )?gas\b|\bgas( \w+){0,2} (smell|leak)\b`)

// urgentCase returns the kind of case a message reports that needs a
// person at once, with the words that say so, or nil.
func urgentCase(text string) (*urgentKind, string) {
	f := " " + fold(text) + " "
	// A question about what an article covers, or one that tells an
	// accident of weeks or years ago as background ("el año pasado tuve un
	// choque con una bici vuestra, ¿cómo pido…?"), is no emergency.
	cover := coverQuestion(text) || longAgo.MatchString(f) && (asks(text) || wantsToKnow.MatchString(f))
	for i := range urgentKinds {
		k := &urgentKinds[i]
		if cover && (k.name == "emergency" || k.name == "injury") {
			continue
		}
		for _, p := range k.phrases {
			if strings.Contains(f, " "+foldWord(p)+" ") {
				return k, p
			}
		}
	}
	if m := gasSmell.FindString(f); m != "" && !cover {
		return &urgentKinds[0], strings.TrimSpace(m)
	}
	// "me cobran dos veces lo mismo" is a double charge, not a repeated contact.
	if m := repeatedContact.FindString(f); m != "" && !strings.Contains(f, m+" mismo ") {
		return abuse(), strings.TrimSpace(m)
	}
	if shouting(text) && (found(text, angerWords) != "" || strings.Contains(text, "!") || capitalWords(text) >= 5) {
		return abuse(), "capitals"
	}
	return nil, ""
}

// asksAbout reports whether a message that names an urgent kind is a
// question about it rather than a case: a question about the process, or
// for the law one that ends in a question mark ("¿el seguro incluye
// abogado?"); "i never applied for any loan??" still tells a case.
func asksAbout(k *urgentKind, text string) bool {
	if !k.asked {
		return false
	}
	return howTo(text) || k.name == "legal" && strings.Contains(text, "?") && !tellsCase(text) ||
		k.name == "fraud" && strings.Contains(text, "?") && legitimacy.MatchString(" "+fold(text)+" ") && !fraudBeyondTheWord(k, text)
}

// scamWords name a fraud without telling one happened.
var scamWords = set("estafa estafas fraude fraudes timo scam scams fraud phishing")

// fraudBeyondTheWord reports whether a message says more of a fraud than
// its name: money taken, a card used, "no fui yo".
func fraudBeyondTheWord(k *urgentKind, text string) bool {
	f := " " + fold(text) + " "
	for _, p := range k.phrases {
		if !scamWords[p] && strings.Contains(f, " "+foldWord(p)+" ") {
			return true
		}
	}
	return false
}

// legitimacy: asking whether a message or a call is genuine ("¿es real o
// es estafa?", "is this a scam?", "is that you guys?") before anything was
// taken: a question for the articles, which say how to tell and what to do.
var legitimacy = regexp.MustCompile(`\b(es (real|verdad|legitimo|oficial|de ustedes|de vosotros)|es (una )?(estafa|fraude|timo)|son ustedes|sois vosotros|is (it|this|that) (a )?(scam|real|legit|legitimate|genuine|you)|are (you|you guys) (sending|texting|calling)|is that you|is this you|was that you)\b`)

// howTo reports whether a message asks how a process goes ("¿cómo pongo
// una reclamación?", "how do I report fraud?") rather than reporting a case
// ("hay un fraude con mi tarjeta", "que sepáis que voy a denunciaros").
func howTo(text string) bool {
	f := fold(text)
	starts := startsAsQuestion(f)
	prevention := false
	for _, w := range []string{"para que no", "evitar", "proteger", "proteccion", "prevenir", "so it doesn t", "so it doesnt", "so i don t", "so i dont", "prevent", "protect", "protection", "avoid"} {
		if strings.Contains(" "+f+" ", " "+w+" ") {
			prevention = true
		}
	}
	if !starts && !prevention || strings.HasPrefix(f, "como no ") {
		// "como no me devolváis el dinero…" is a condition, not a how.
		return false
	}
	// A question that tells a case is not about the process: "cómo puede
	// ser que me hayan vaciado la cuenta".
	return !tellsCase(text)
}

// startsAsQuestion reports whether folded text starts with a question
// word ("cómo", "a q hora", "can").
func startsAsQuestion(f string) bool {
	for _, q := range []string{"como", "donde", "cual", "cuales", "cuando", "cuanto", "que", "incluye", "cubre", "tiene", "teneis", "tienen", "ofrecen", "ofreceis", "existe", "se puede", "puedo", "para", "hay forma de", "hay manera de",
		"cuantos", "cuantas", "cuanta", "a que", "en que", "a quien", "con quien", "a donde", "q", "a q", "en q", "k", "how", "where", "what", "whats", "which", "when", "does", "do", "is", "are", "can", "could", "should"} {
		if f == q || strings.HasPrefix(f, q+" ") {
			return true
		}
	}
	return false
}

// tellsCase reports whether a message tells what happened to the
// customer or what they will do, rather than asking in general.
func tellsCase(text string) bool {
	f := " " + fold(text) + " "
	for _, w := range []string{"me han", "me ha", "me hicieron", "me robaron", "me vaciaron", "me cobraron", "me entraron", "alguien", "ser que", "voy", "vamos", "os voy", "les voy", "lo tiene mi", "someone", "somebody", "they", "you charged", "i will", "i ll", "i m going", "im going", "going to", "will be", "we will", "i never", "nunca", "que conste", "on record"} {
		if strings.Contains(f, " "+w+" ") {
			return true
		}
	}
	return false
}

// coverQuestion reports whether a question is about what a product covers
// or teaches ("¿el seguro cubre la ambulancia?", "¿el curso tiene un
// módulo de incendios?"), not about an emergency happening.
func coverQuestion(text string) bool {
	if !howTo(text) && !strings.Contains(text, "?") {
		return false
	}
	f := " " + fold(text) + " "
	for _, w := range []string{" cubre ", " cobertura ", " incluye ", " include ", " includes ", " cover ", " covers ", " prevencion ", " prevention ", " curso ", " course ", " seguro ", " poliza ", " policy ", " aviso ", " warning ", " puedo cambiar ", " can i change ", " in case ", " en caso de ", " number ", " numero "} {
		if strings.Contains(f, w) {
			return true
		}
	}
	return false
}

// contactQuestion reports whether a request that names a person is in
// fact a question about how or when to reach one ("¿en qué horario puedo
// hablar con una persona?", "what number do I call to talk to an agent?"),
// which the knowledge base may answer.
func contactQuestion(text string) bool {
	if !asks(text) && !startsAsQuestion(fold(text)) {
		return false // "changed my plan and email, i need a rep now"
	}
	f := " " + fold(text) + " "
	for _, w := range []string{" me pueden llamar", " me podeis llamar", " llamenme", " llamarme", " llamadme", " me llamen", " call me", " ring me", " callback", " call back", " call from"} {
		if strings.Contains(f, w+" ") {
			return false // a callback asked for, not a question
		}
	}
	for _, w := range []string{" horario", " a que hora", " en que hora", " que horas", " cuando puedo", " cuando se puede", " que dias", " telefono", " numero", " email", " correo", " whatsapp", " por donde", " que canal",
		" fines de semana", " domingos", " sabados", " festivos", " de noche", " 24 horas", " disponible",
		" what time", " what hours", " which hours", " opening hours", " when can", " what number", " phone number", " which number", " email address", " what days", " available", " sundays", " saturdays", " weekends", " overnight", " 24 7", " fee"} {
		if strings.Contains(f, w+" ") {
			return true
		}
	}
	return false
}

// asks reports whether a message is a question: a question mark, a
// question word at the start, or one inside ("el reclamo del seguro cuánto
// se demora").
func asks(text string) bool {
	if strings.Contains(text, "?") || howTo(text) {
		return true
	}
	f := " " + fold(text) + " "
	for _, w := range []string{" cuanto ", " cuantos ", " cuantas ", " cuando ", " donde ", " como ", " how ", " when ", " where ", " what "} {
		if strings.Contains(f, w) {
			return true
		}
	}
	return false
}

// isRequest reports whether a message asks for something to be done (as
// opposed to chatter): "quiero que me devolváis el dinero".
func isRequest(text string) bool {
	f := " " + fold(text) + " "
	if len(strings.Fields(f)) < 4 || strings.Contains(text, "?") || howTo(text) {
		return false
	}
	for _, w := range []string{" quiero ", " queria ", " necesito ", " exijo ", " solicito ", " me urge ", " por favor ", " i want ", " i need ", " i d like ", " please ", " i demand "} {
		if strings.Contains(f, w) {
			return true
		}
	}
	return false
}
