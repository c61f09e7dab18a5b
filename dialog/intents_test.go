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
