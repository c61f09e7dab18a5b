package dialog

import (
	"regexp"
	"slices"
	"testing"
)

var verb = regexp.MustCompile(`%[#+\- 0]*[0-9]*(\.[0-9]+)?[a-zA-Z%]`)

// Every message says the same thing in Spanish and English: both are
// there, non-empty, with the same placeholders in the same order.
func TestCatalogParity(t *testing.T) {
	for key, m := range catalog {
		es, en := m["es"], m["en"]
		if es == "" || en == "" {
			t.Errorf("%s: es %q, en %q: both languages are needed", key, es, en)
			continue
		}
		if a, b := verb.FindAllString(es, -1), verb.FindAllString(en, -1); !slices.Equal(a, b) {
			t.Errorf("%s: placeholders es %v, en %v", key, a, b)
		}
	}
}
