package dialog

import "testing"

func TestDetectIntent(t *testing.T) {
	for _, tc := range []struct {
		text string
		want Intent
	}{
		{"hola", Greeting}, {"Buenas tardes!", Greeting}, {"hello", Greeting}, {"/start", Greeting},
		{"gracias!!", Thanks}, {"thank you", Thanks},
		{"quiero hablar con una persona", Human}, {"¿Me pasas con un agente?", Human},
		{"necesito ayuda de una persona real", Human}, {"talk to a human", Human}, {"can I speak with someone", Human},
		{"humano", Human}, {"/humano", Human}, {"/human@ayuda_bot", Human},
		{"/estado", StatusReq}, {"mis solicitudes", StatusReq}, {"status of my ticket", StatusReq},
		{"sí", Yes}, {"no", No}, {"No me sirvió", No}, {"cancelar", Cancel},
		{"¿dónde está mi pedido?", None}, {"estado de mi pedido", None}, {"datos personales", None},
		{"el agente de transporte no vino", None}, {"", None},
		// A person word and only filler asks for one; the same word inside a
		// question does not.
		{"un encargado por favor", Human}, {"manager please", Human}, {"¿el encargado está hoy?", None},
		// A request that mentions an email is no question about contacts.
		{"someone got into my account, changed my plan and email. i need a rep now", Human},
	} {
		if got := detectIntent(tc.text); got != tc.want {
			t.Errorf("detectIntent(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestSensitiveType(t *testing.T) {
	for _, tc := range []struct {
		text     string
		want     string
		question bool
	}{
		{"Quiero poner una queja por el trato recibido", "queja", false},
		{"exijo una compensación por el retraso", "reclamo", false},
		{"quiero denunciar un fraude", "denuncia", false},
		{"I want to file a complaint", "queja", false},
		{"¿cómo pongo una reclamación?", "reclamo", true},
		{"how do I file a complaint?", "queja", true},
		{"¿dónde está mi pedido?", "", false},
	} {
		typ, q := sensitiveType(tc.text)
		if string(typ) != tc.want || q != tc.question {
			t.Errorf("sensitiveType(%q) = %q, %v; want %q, %v", tc.text, typ, q, tc.want, tc.question)
		}
	}
}

func TestDetectLang(t *testing.T) {
	for _, tc := range []struct{ text, prev, want string }{
		{"¿dónde está mi pedido?", "en", "es"},
		{"where is my order?", "es", "en"},
		{"ok", "en", "en"},
		{"123", "es", "es"},
		{"I don't know", "es", "en"},
		{"mi contraseña", "en", "es"},
	} {
		if got := detectLang(tc.text, tc.prev); got != tc.want {
			t.Errorf("detectLang(%q, %q) = %q, want %q", tc.text, tc.prev, got, tc.want)
		}
	}
}

// Every sentence the bot says exists in both languages.
func TestCatalogComplete(t *testing.T) {
	for key, m := range catalog {
		for _, lang := range []string{"es", "en"} {
			if m[lang] == "" {
				t.Errorf("%q has no %s text", key, lang)
			}
		}
	}
}

// TestQuestionsAboutTheProcess: a question about filing a complaint or a
// leak is searched; a message that tells the case goes to a person.
func TestQuestionsAboutTheProcess(t *testing.T) {
	for _, tc := range []struct {
		text   string
		isCase bool // a case for a person, not a question about one
	}{
		{"como se radica un PQR? es para saber nada mas", false},
		{"what should i do if i think my password got leaked somewhere?", false},
		{"donde relleno una reclamacion oficial contra el club? quiero que conste por escrito", true},
		{"quiero poner una queja formal", true},
		{"my data was leaked to another customer", true},
		{"que pasa si me cobran dos veces lo mismo, como pido la devolucion?", false},
		{"es la tercera vez que escribo y nadie contesta", true},
		{"como no me devolvais el dinero os denuncio en consumo", true},
		// An accident of weeks or years ago told as background is a question;
		// one of now is a case.
		{"el año pasado tuve un choque con una bici vuestra, ya se resolvio, quiero saber si me sube la tarifa", false},
		{"my son broke his wrist at camp two summers ago, do you have medical staff on site this year?", false},
		{"hace 5 minutos se cayo mi hijo en la tienda y esta sangrando", true},
		{"my son just broke his wrist at camp, what do i do?", true},
		// Asking whether a message is genuine is a question; money taken is a case.
		{"me llego un sms de que gane un premio, es real o es estafa?", false},
		{"is this a scam? someone called saying they are from the bank", false},
		{"es una estafa, me sacaron 200 euros de la cuenta", true},
		{"someone used my card and it wasnt me, is this a scam?", true},
	} {
		k, _ := urgentCase(tc.text)
		if got := k != nil && !asksAbout(k, tc.text); got != tc.isCase {
			t.Errorf("%q: a case %v, want %v", tc.text, got, tc.isCase)
		}
	}
}
