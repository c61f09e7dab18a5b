package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"ayuda/api"
	"ayuda/auth"
	"ayuda/bots"
	"ayuda/config"
	"ayuda/dialog"
	"ayuda/escalation"
	"ayuda/internal/apitest"
)

// clock is a clock the test sets.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

const protocolYAML = `agents:
  - {id: ana, name: Ana}
  - {id: luis, name: Luis}
`

// seeded is a store with a week of history (Monday 23 to Sunday 29
// November 2026, Madrid, the default shop calendar) whose report figures
// are known, worked out by hand below.
func seeded(t *testing.T) (dataDir, configPath string) {
	t.Helper()
	dir := t.TempDir()
	configPath = filepath.Join(dir, "ayuda.yaml")
	if err := os.WriteFile(configPath, []byte(protocolYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(configPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	dataDir = filepath.Join(dir, "data")
	os.MkdirAll(dataDir, 0o700)
	clk := &clock{}
	qc := cfg.Queue()
	qc.Notify, qc.Now = dialog.Notifier(), clk.now
	q, err := escalation.Open(filepath.Join(dataDir, "ayuda.db"), qc)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := t.Context()
	at := func(s string) {
		tm, err := time.ParseInLocation("Mon 2006-01-02 15:04", s, cfg.Location())
		if err != nil {
			t.Fatal(err)
		}
		clk.mu.Lock()
		clk.t = tm
		clk.mu.Unlock()
	}
	must := func(_ *escalation.Ticket, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	open := func(user, platform string, typ escalation.Type, p escalation.Priority, reason escalation.Reason, summary string) escalation.ID {
		t.Helper()
		tk, err := q.Open(ctx, escalation.Ticket{Type: typ, Priority: p, Reason: reason, Summary: summary,
			Customer: escalation.Customer{Address: bots.Address{Platform: platform, Chat: user, User: user}, Lang: "es"}})
		if err != nil {
			t.Fatal(err)
		}
		return tk.ID
	}
	answer := func(when, customer, article, question, feedback string) {
		t.Helper()
		at(when)
		if err := q.RecordAnswer(ctx, escalation.Answer{Customer: customer, Question: question, Article: article, Lang: "es", At: clk.now(), Feedback: feedback}); err != nil {
			t.Fatal(err)
		}
	}

	// Before the period: ana still holds it open.
	at("Fri 2026-11-20 10:00")
	t0 := open("0", "telegram", escalation.Consulta, escalation.Normal, escalation.ReasonRequested, "factura antigua")
	must(q.Claim(ctx, t0, "ana"))
	answer("Fri 2026-11-20 11:00", "telegram:49", "envios", "¿cuánto tarda un envío?", "yes")

	// Self-service in the period.
	answer("Mon 2026-11-23 09:00", "telegram:50", "envios", "¿cuánto tarda un envío?", "yes")     // confirmed
	answer("Mon 2026-11-23 09:00", "telegram:51", "devoluciones", "¿cómo devuelvo algo?", "")     // not escalated
	answer("Mon 2026-11-23 09:30", "telegram:1", "estado-pedido", "¿dónde está mi pedido?", "no") // rejected: a gap
	answer("Tue 2026-11-24 08:00", "telegram:3", "metodos-pago", "¿puedo pagar a plazos?", "")    // a ticket follows
	answer("Sun 2026-11-29 20:00", "telegram:52", "horario-atencion", "¿a qué hora abrís?", "")   // pending
	answer("Mon 2026-11-23 15:00", "telegram:60", "", "¿Hacéis envíos a Canarias?", "")           // unanswered
	answer("Tue 2026-11-24 15:00", "telegram:61", "", "envios a canarias", "")                    // unanswered, alike
	answer("Wed 2026-11-25 15:00", "telegram:62", "", "¿tenéis tarjetas regalo?", "")             // unanswered

	// T1: answered in 1 h, solved in 2 h, confirmed, rated 5.
	at("Mon 2026-11-23 10:00")
	t1 := open("1", "telegram", escalation.Consulta, escalation.Normal, escalation.ReasonNegative, "mi pedido no llega")
	// T2: a complaint answered late (6 h for 4 h), waits on the customer 4 business hours, closed as assumed resolved.
	t2 := open("2", "discord", escalation.Queja, escalation.Alta, escalation.ReasonSensitive, "el repartidor fue grosero")
	at("Mon 2026-11-23 11:00")
	must(q.Reply(ctx, t1, "ana", "Sale hoy."))
	at("Mon 2026-11-23 12:00")
	must(q.SetStatus(ctx, t1, "ana", escalation.Completed))
	at("Mon 2026-11-23 12:30")
	must(q.Accept(ctx, t1))
	must(q.Rate(ctx, t1, 5, ""))
	at("Mon 2026-11-23 16:00")
	must(q.Reply(ctx, t2, "luis", "Lo siento mucho; ¿a qué hora fue?"))
	must(q.SetStatus(ctx, t2, "luis", escalation.Waiting))
	at("Tue 2026-11-24 10:00")
	must(q.CustomerMessage(ctx, t2, escalation.Entry{Text: "sobre las 9"}))
	at("Tue 2026-11-24 12:00")
	must(q.SetStatus(ctx, t2, "luis", escalation.Completed))
	// T3: nobody answers; its first-response target is missed.
	at("Tue 2026-11-24 09:00")
	open("3", "telegram", escalation.Consulta, escalation.Normal, escalation.ReasonRepeatedMiss, "no puedo pagar")
	// T4: answered in 30 min, reopened once, confirmed, rated 2.
	at("Wed 2026-11-25 10:00")
	t4 := open("4", "telegram", escalation.Solicitud, escalation.Normal, escalation.ReasonRequested, "cambiar la dirección")
	at("Wed 2026-11-25 10:30")
	must(q.Reply(ctx, t4, "ana", "Hecho."))
	at("Wed 2026-11-25 11:00")
	must(q.SetStatus(ctx, t4, "ana", escalation.Completed))
	at("Wed 2026-11-25 12:00")
	must(q.Reopen(ctx, t4, escalation.Entry{Text: "sigue la antigua"}))
	at("Wed 2026-11-25 13:00")
	must(q.Reply(ctx, t4, "ana", "Ahora sí."))
	at("Wed 2026-11-25 14:00")
	must(q.SetStatus(ctx, t4, "ana", escalation.Completed))
	at("Wed 2026-11-25 14:10")
	must(q.Accept(ctx, t4))
	must(q.Rate(ctx, t4, 2, "tardó"))
	// T5: a suggestion Luis took, still open.
	at("Thu 2026-11-26 10:00")
	t5 := open("5", "console", escalation.Sugerencia, escalation.Baja, escalation.ReasonNewRequest, "abrid los domingos")
	must(q.Claim(ctx, t5, "luis"))
	// Friday: the watchdog closes T2, 30 business hours after completion.
	at("Fri 2026-11-27 12:30")
	if err := q.WatchdogOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if tk, _ := q.Get(ctx, t2); tk.ClosedAs != escalation.ClosedAssumed {
		t.Fatalf("T2 is %s (%s), want closed as assumed resolved", tk.Status, tk.ClosedAs)
	}
	return dataDir, configPath
}

// `ayuda report --json` over a seeded week, figure by figure.
func TestReportJSON(t *testing.T) {
	data, cfgPath := seeded(t)
	out, err := cli(t, data, "", "report", "--config", cfgPath, "--since", "2026-11-23", "--until", "2026-11-30", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r escalation.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	h := 3600.0
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"tickets", r.Tickets, 5},
		{"by type", r.ByType, map[escalation.Type]int{"consulta": 2, "queja": 1, "solicitud": 1, "sugerencia": 1}},
		{"by channel", r.ByChannel, map[string]int{"telegram": 3, "discord": 1, "console": 1}},
		{"by status", r.ByStatus, map[escalation.Status]int{"closed": 3, "new": 1, "assigned": 1}},
		{"by priority", r.Priority, map[escalation.Priority]int{"normal": 3, "alta": 1, "baja": 1}},
		{"reasons", r.Reasons, map[escalation.Reason]int{"negative": 1, "sensitive": 1, "repeated_miss": 1, "requested": 1, "new_request": 1}},
		{"closures", r.Closures, map[escalation.Closure]int{"confirmed": 2, "assumed": 1}},
		// 5 answered: 1 confirmed, 1 with no ticket in 24 h, 1 rejected, 1 followed by a ticket, 1 too recent.
		{"self-service", r.SelfService, escalation.SelfService{Answered: 5, Confirmed: 1, NotEscalated: 1, Pending: 1, Resolved: 2, Rate: 0.5, Unanswered: 3}},
		// 5 tickets / (5 + 2 self-service resolutions).
		{"escalation rate", r.EscalationRate, 0.7143},
		// T1 and T2 closed with one reply; T4 was reopened.
		{"first contact", r.FirstContact, escalation.Ratio{Yes: 2, Total: 3, Rate: 0.6667}},
		// 30 min (T4), 1 h (T1), 6 h (T2).
		{"first response", r.FirstResponse, escalation.Times{Count: 3, Median: 1 * h, P90: 6 * h}},
		// T1 2 h; T4 4 h less the hour it waited reopened; T2 12 business hours less 4 waiting.
		{"resolution", r.Resolution, escalation.Times{Count: 3, Median: 3 * h, P90: 8 * h}},
		// T1, T4 met; T2 late; T3 overdue; T5 not due yet.
		{"first response target", r.FirstResponseTarget, escalation.Ratio{Yes: 2, Total: 4, Rate: 0.5}},
		{"resolution target", r.ResolutionTarget, escalation.Ratio{Yes: 3, Total: 3, Rate: 1}},
		{"satisfaction", r.Satisfaction, escalation.Satisfaction{Closed: 3, Rated: 2, Average: 3.5, ResponseRate: 0.6667, Low: 1}},
		{"agents", r.Agents, []escalation.AgentLoad{{Agent: "ana", Open: 1, Period: 2, Closed: 2}, {Agent: "luis", Open: 1, Period: 2, Closed: 1}}},
		{"content gaps", r.ContentGaps, []escalation.Gap{
			{Count: 2, Example: "¿Hacéis envíos a Canarias?", Terms: []string{"canar", "envio"}}, // shared by both
			{Count: 1, Example: "¿dónde está mi pedido?", Terms: []string{"pedid"}},
			{Count: 1, Example: "¿tenéis tarjetas regalo?", Terms: []string{"regal", "tarje", "tenei"}},
		}},
		{"recurring", r.Recurring, []escalation.TicketCluster{}},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s: got %+v, want %+v", f.name, f.got, f.want)
		}
	}
	// The same period in words.
	out, err = cli(t, data, "", "report", "--config", cfgPath, "--since", "2026-11-23", "--until", "2026-11-30")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tickets                   5", "self-service              50%", "first response            median 1h0m", "satisfaction              3.5 / 5", "¿Hacéis envíos a Canarias?"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if _, err := cli(t, data, "", "report", "--config", cfgPath, "--since", "yesterday"); err == nil {
		t.Error("--since yesterday was accepted")
	}
}

// Agents reclassify from the command line and over HTTP; /api/report and
// /metrics give the same figures as the command.
func TestClassifyReportAndMetricsOverHTTP(t *testing.T) {
	data, cfgPath := seeded(t)
	out, err := cli(t, data, "", "tickets", "classify", "4", "--config", cfgPath, "--as", "luis", "--type", "reclamo", "--priority", "urgente", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var tk escalation.Ticket
	if err := json.Unmarshal([]byte(out), &tk); err != nil || tk.Type != escalation.Reclamo || tk.Priority != escalation.Urgente || tk.PriorityReason != "set by luis" {
		t.Fatalf("classify: %v %+v", err, tk)
	}
	if _, err := cli(t, data, "", "tickets", "classify", "4", "--config", cfgPath, "--as", "luis"); err == nil {
		t.Error("classify with neither --type nor --priority was accepted")
	}
	out, err = cli(t, data, "", "tickets", "show", "4", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "Why:       type: set by luis · priority: set by luis") {
		t.Errorf("show: %v\n%s", err, out)
	}

	cfg, err := config.Load(cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data = data
	a, err := openApp(t.Context(), cfg, newLogger(io.Discard, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// The metrics at the end of the seeded week: the same figures as the report.
	end := time.Date(2026, 11, 30, 0, 0, 0, 0, cfg.Location())
	metrics, err := api.Metrics(a.queue, 7*24*time.Hour, func() time.Time { return end }, a.log)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := auth.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{"operator": "s3cret"}
	for _, name := range []string{"luis", "mallory"} {
		tokens[name], _ = creds.Issue(auth.Agent, name)
	}
	srv := httptest.NewServer(api.Handler(api.Config{Queue: a.queue, Engine: a.engine, Token: "s3cret", Creds: creds, Logger: a.log, Metrics: metrics}))
	defer srv.Close()
	call := apitest.Caller(t, srv.URL)
	for _, tc := range []struct {
		who, method, path, body string
		want                    int
	}{
		{"luis", "POST", "/api/tickets/6/classify", `{"agent":"luis","priority":"alta"}`, 200},
		{"luis", "POST", "/api/tickets/6/classify", `{}`, 400},
		{"luis", "POST", "/api/tickets/6/classify", `{"type":"pregunta"}`, 400},
		{"mallory", "POST", "/api/tickets/6/classify", `{"type":"queja"}`, 403}, // a token, but not a configured agent
		{"luis", "POST", "/api/tickets/2/classify", `{"type":"queja"}`, 409},    // closed
		{"operator", "POST", "/api/tickets/6/classify", `{"agent":"luis","type":"queja"}`, 403},
		{"operator", "GET", "/api/report?since=2026-11-23&until=2026-11-30", ``, 200},
		{"luis", "GET", "/api/report?since=banana", ``, 400},
	} {
		if code, body := call(tc.method, tc.path, tokens[tc.who], tc.body); code != tc.want {
			t.Errorf("%s: %s %s %s: %d %s, want %d", tc.who, tc.method, tc.path, tc.body, code, body, tc.want)
		}
	}
	_, body := call("GET", "/api/report?since=2026-11-23&until=2026-11-30", "s3cret", "")
	var r escalation.Report
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Tickets != 5 || r.ByType[escalation.Reclamo] != 1 {
		t.Errorf("api report: %v %+v", err, r)
	}
	if code, _ := call("GET", "/metrics", "", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d", code)
	}
	code, body := call("GET", "/metrics", "s3cret", "")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	for _, want := range []string{
		`ayuda_report_up 1`,
		`ayuda_tickets{by="type",value="consulta"} 1`, // #4 is a reclamo now
		`ayuda_tickets{by="type",value="reclamo"} 1`,
		`ayuda_tickets{by="channel",value="telegram"} 3`,
		`ayuda_self_service_questions{kind="answered"} 5`,
		`ayuda_self_service_rate 0.5`,
		`ayuda_escalation_rate 0.7143`,
		`ayuda_first_response_seconds{quantile="0.9"} 21600`,
		`ayuda_resolution_seconds{quantile="0.5"} 10800`,
		`ayuda_target_compliance_rate{target="first_response"} 0.4`, // #6, alta now, is overdue too
		`ayuda_target_compliance_rate{target="resolution"} 0.75`,    // #4, urgent now, is overdue
		`ayuda_satisfaction_average 3.5`,
		`ayuda_closures{closed_as="assumed"} 1`,
		`ayuda_agent_open_tickets{agent="luis"} 1`,
		`ayuda_content_gap_questions{rank="1"} 2`,
		`ayuda_recurring_problems 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// The calendar, the watchdog, teams and routes come from the YAML file.
func TestProtocolConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ayuda.yaml")
	write := func(s string) { os.WriteFile(path, []byte(s), 0o644) }
	write(`timezone: Europe/Madrid
agents: [{id: ana}, {id: luis}]
calendar:
  hours: {lunes: "9:00-14:00, 15:00-18:00", friday: "9:00-15:00"}
  holidays: ["2026-12-25"]
protocol: {warn: 0.75, progress: 4h, assume_resolved: 48h, recurring: {window: 12h, min: 4}}
teams:
  - {name: reclamaciones, agents: [ana, luis], assign: round_robin, max_open: 5}
routes:
  - {types: [reclamo, queja], team: reclamaciones}
phone_prefix: "52"
metrics_window: 720h
`)
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	mon := time.Date(2026, 11, 23, 13, 0, 0, 0, cfg.Location())
	if got := cfg.BusinessCalendar().Add(mon, 2*time.Hour); !got.Equal(time.Date(2026, 11, 23, 16, 0, 0, 0, cfg.Location())) {
		t.Errorf("Monday 13:00 + 2 h = %v, want 16:00 after the lunch break", got)
	}
	if got := cfg.BusinessCalendar().Add(mon.Add(4*time.Hour), 2*time.Hour); !got.Equal(time.Date(2026, 11, 27, 10, 0, 0, 0, cfg.Location())) {
		t.Errorf("Monday 17:00 + 2 h = %v, want Friday 10:00 (Tuesday to Thursday closed)", got)
	}
	qc := cfg.Queue()
	if qc.Protocol.Warn != 0.75 || qc.Protocol.Progress != 4*time.Hour || qc.Protocol.RecurringMin != 4 || qc.PhonePrefix != "52" ||
		len(qc.Teams) != 1 || qc.Teams[0].Assign != escalation.AssignRoundRobin || qc.Routes[0].Types[1] != escalation.Queja || cfg.MetricsWindow != 720*time.Hour {
		t.Errorf("queue config %+v", qc)
	}
	// The defaults: the shop's hours in Madrid.
	def, err := config.Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	sat := time.Date(2026, 11, 28, 13, 0, 0, 0, def.Location())
	if got := def.BusinessCalendar().Add(sat, 2*time.Hour); !got.Equal(time.Date(2026, 11, 30, 10, 0, 0, 0, def.Location())) {
		t.Errorf("Saturday 13:00 + 2 h = %v, want Monday 10:00", got)
	}
	for _, bad := range []string{
		"calendar: {hours: {funday: 9:00-10:00}}\n",
		"calendar: {hours: {monday: 9-8}}\n",
		"calendar: {holidays: [navidad]}\n",
		"calendar: {hours: {monday: closed}}\n",
		"metrics_window: -1h\n",
	} {
		write(bad)
		if _, err := config.Load(path, func(string) string { return "" }); err == nil {
			t.Errorf("config %q accepted", bad)
		}
	}
	// Teams naming unknown agents fail when the store opens.
	write("agents: [{id: ana}]\nteams: [{name: x, agents: [nadie]}]\n")
	cfg, err = config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data = t.TempDir()
	if a, err := openApp(t.Context(), cfg, newLogger(io.Discard, 0)); err == nil {
		a.Close()
		t.Error("a team with an unknown agent was accepted")
	}
}
