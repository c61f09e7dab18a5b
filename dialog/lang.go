package dialog

import (
	"strings"
	"unicode"
)

// Marker words of each language. Words both share ("no", "a", "ok") are
// left out; the words customers use alone to ask for something ("human",
// "humano", "cancel", "cancelar") are in, so a one-word message is
// answered in its own language.
var markers = map[string]map[string]bool{
	"es": set("el la los las de del que y en un una mi mis es esta estoy por para con como donde cuando cual quiero puedo tengo hola gracias pedido pedidos envio devolver devolucion factura cuenta contraseña pago tarjeta necesito ayuda sí si pero ya me se lo le su sus hay muy mas qué cómo dónde cuándo buenas buenos dias tardes adios persona hablar solicitud estado queja reclamo cuanto cuánto tarda llega llegado todavia aun ha han he hace al son nada porque humano agente alguien asesor ejecutivo encargado operador menú inicio horario horarios precio precios cancelar ayúdame ayudame solicitudes"),
	"en": set("the my is are was were how what where when which i you it to do does did can could want need have has hello hi thanks thank order orders shipping return refund invoice account password payment card help please with for of and this that not your get got be am an why who there talk person request status complaint long take arrive arrived yet still human agent someone representative rep operator manager start hours price prices cancel requests anyone hey"),
}

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// detectLang guesses the language of text: "es" or "en", or prev when the
// text gives no clear sign (short replies like "ok" or a number).
func detectLang(text, prev string) string {
	es, en := 0, 0
	for _, r := range text {
		switch r {
		case 'ñ', 'Ñ', '¿', '¡', 'á', 'é', 'í', 'ó', 'ú':
			es += 2
		}
	}
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' }) {
		w = strings.Trim(w, "'")
		if markers["es"][w] {
			es++
		}
		if markers["en"][w] {
			en++
		}
		if strings.Contains(w, "'") { // don't, it's, I'm
			en++
		}
	}
	switch {
	case es > en:
		return "es"
	case en > es:
		return "en"
	case prev != "":
		return prev
	}
	return ""
}

// localeLang is the language of a platform locale ("es-419" → "es",
// "en-GB" → "en"), or "" for one ayuda does not speak.
func localeLang(locale string) string {
	l, _, _ := strings.Cut(strings.ToLower(locale), "-")
	l, _, _ = strings.Cut(l, "_")
	if l == "es" || l == "en" {
		return l
	}
	return ""
}
