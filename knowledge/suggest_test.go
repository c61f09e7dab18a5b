package knowledge

import (
	"context"
	"slices"
	"testing"

	"ayuda/faq"
)

func TestSuggest(t *testing.T) {
	x := builtin(t)
	asked := []Asked{
		{Question: "a que hora contestais los sabados por la tarde", Lang: "es"},
		{Question: "¿organizáis catas de vino?", Lang: "es"},
		{Question: "quiero ir a una cata de vino", Lang: "es", Reply: "Sí: una cata de vino al mes en nuestra tienda de Madrid, 20 €."},
		{Question: "¿quién ganó el partido?", Lang: "es"},
	}
	sugg, err := x.Suggest(context.Background(), asked)
	if err != nil {
		t.Fatal(err)
	}
	var added, created bool
	for _, s := range sugg {
		switch {
		case !s.New && s.Entry.ID == "horario-atencion":
			added = slices.Contains(s.Added, "a que hora contestais los sabados por la tarde") && len(s.Entry.Questions) > len(s.Added)
		case s.New && slices.Contains(s.Entry.Questions, "¿organizáis catas de vino?"):
			created = s.Entry.Body == "Sí: una cata de vino al mes en nuestra tienda de Madrid, 20 €." && len(s.Entry.Questions) == 2
			if err := faq.Validate([]faq.Entry{s.Entry}); len(err) > 0 {
				t.Errorf("the suggested article is not valid: %v", err)
			}
		case s.New:
			t.Errorf("a question asked once with no answer made an article: %+v", s.Entry)
		}
	}
	if !added {
		t.Errorf("the near miss did not become an example question of horario-atencion: %+v", sugg)
	}
	if !created {
		t.Errorf("the wine tasting questions did not become one new article with the agent's answer: %+v", sugg)
	}
}
