package dialog

import (
	"testing"
	"time"

	"ayuda/escalation"
)

func TestClassifyPriority(t *testing.T) {
	for _, tc := range []struct {
		said []string
		typ  escalation.Type
		want escalation.Priority
		why  string
	}{
		{[]string{"¿dónde está mi pedido?"}, escalation.Consulta, escalation.Normal, "no urgency or anger in the conversation"},
		{[]string{"hola", "Es URGENTE, lo necesito para mañana"}, escalation.Consulta, escalation.Urgente, "urgency: «urgente»"},
		{[]string{"estoy harta, es la tercera vez que escribo!!"}, escalation.Consulta, escalation.Alta, "anger: «harta», «!!»"},
		{[]string{"I NEED THIS FIXED NOW PLEASE"}, escalation.Solicitud, escalation.Alta, "anger: capitals"}, // "now" alone is no urgency
		{[]string{"WHERE IS THE ORDER I PAID"}, escalation.Consulta, escalation.Alta, "anger: capitals"},
		{[]string{"fed up with this, it's urgent"}, escalation.Consulta, escalation.Urgente, "urgency: «urgent»; anger: «fed up»"},
		{[]string{"el repartidor fue grosero"}, escalation.Queja, escalation.Alta, "type queja"},
		{[]string{"podríais abrir los domingos"}, escalation.Sugerencia, escalation.Baja, "type sugerencia"},
		{[]string{"AUR-123 DHL"}, escalation.Consulta, escalation.Normal, "no urgency or anger in the conversation"},
	} {
		got, why := classifyPriority(tc.said, tc.typ)
		if got != tc.want || why != tc.why {
			t.Errorf("classifyPriority(%q, %s) = %s, %q; want %s, %q", tc.said, tc.typ, got, why, tc.want, tc.why)
		}
	}
}

func TestDueText(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, loc) // Tuesday
	for _, tc := range []struct {
		due    time.Time
		es, en string
	}{
		{time.Date(2026, 11, 24, 18, 0, 0, 0, loc), "antes de las 18:00", "by 18:00 today"},
		{time.Date(2026, 11, 25, 12, 0, 0, 0, loc), "antes de las 12:00 de mañana", "by 12:00 tomorrow"},
		{time.Date(2026, 11, 26, 12, 0, 0, 0, loc), "antes de las 12:00 del jueves", "by 12:00 on Thursday"},
		{time.Date(2026, 11, 30, 9, 30, 0, 0, loc), "antes de las 09:30 del lunes", "by 09:30 on Monday"},
		{time.Date(2026, 12, 1, 13, 0, 0, 0, loc), "antes de las 13:00 del martes 1 de diciembre", "by 13:00 on Tuesday 1 December"},
		{time.Date(2026, 11, 26, 1, 0, 0, 0, loc), "antes de la 01:00 del jueves", "by 01:00 on Thursday"},
		// The same instant told in UTC, an hour earlier.
		{time.Date(2026, 11, 24, 17, 0, 0, 0, time.UTC), "antes de las 18:00", "by 18:00 today"},
	} {
		if got := dueText("es", tc.due, now, loc); got != tc.es {
			t.Errorf("es %v: %q, want %q", tc.due, got, tc.es)
		}
		if got := dueText("en", tc.due, now, loc); got != tc.en {
			t.Errorf("en %v: %q, want %q", tc.due, got, tc.en)
		}
	}
}

func TestRateChoice(t *testing.T) {
	for _, tc := range []struct {
		s     string
		id    escalation.ID
		score int
		ok    bool
	}{
		{"rate:12:5", 12, 5, true}, {"rate:#3:1", 3, 1, true},
		{"rate:12:6", 0, 0, false}, {"rate:12:0", 0, 0, false}, {"rate:x:3", 0, 0, false}, {"rate:1:22", 0, 0, false}, {"solved:1:yes", 0, 0, false},
	} {
		id, score, ok := rateChoice(tc.s)
		if id != tc.id || score != tc.score || ok != tc.ok {
			t.Errorf("rateChoice(%q) = %d, %d, %v", tc.s, id, score, ok)
		}
	}
}
