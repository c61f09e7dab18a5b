package escalation

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"ayuda/bots"
	"ayuda/escalation/store/pgstore"
	"ayuda/internal/pgtest"
)

// BenchmarkPostgresBigStore is what a turn's store work costs (a ticket
// opened for a new customer, then a message on it, then the conversation
// read and written) on PostgreSQL holding no tickets and holding N closed
// ones (AYUDA_BENCH_TICKETS, default 100,000; the closing note of issue 15
// used 1,000,000): it must not grow with N.
func BenchmarkPostgresBigStore(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("AYUDA_BENCH_TICKETS")); err == nil && v > 0 {
		n = v
	}
	for _, size := range []int{0, n} {
		b.Run(fmt.Sprintf("tickets=%d", size), func(b *testing.B) {
			schema := pgtest.Schema(b)
			q, err := OpenDatabase(b.Context(), pgtest.URL(), schema, Config{Agents: []Agent{{ID: "ana"}}, Notify: notices})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			fill(b, schema, size)
			ctx := context.Background()
			st := q.st.(*pgstore.Store)
			trips := st.RoundTrips()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				to := bots.Address{Platform: "telegram", Chat: fmt.Sprint("new", i), User: fmt.Sprint("new", i)}
				tk, err := q.Open(ctx, Ticket{Customer: Customer{Address: to}, Summary: "no llega", Transcript: []Entry{{Author: AuthorCustomer, Text: "hola"}}})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := q.CustomerMessage(ctx, tk.ID, Entry{Author: AuthorCustomer, Text: "sigo esperando", MessageID: fmt.Sprint("m", i)}); err != nil {
					b.Fatal(err)
				}
				if _, err := q.LoadConversation(ctx, to.Key()); err != nil {
					b.Fatal(err)
				}
				if err := q.SaveConversation(ctx, to.Key(), []byte(`{"lang":"es"}`)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(st.RoundTrips()-trips)/float64(b.N), "round-trips/op")
		})
	}
}

// fill puts n closed tickets (ids 1…n, one customer each) with their
// index keys straight into the schema's tables, as SQL: the queue would
// take minutes.
func fill(b *testing.B, schema string, n int) {
	b.Helper()
	if n == 0 {
		return
	}
	const mark = "999999999"
	tpl, _ := json.Marshal(Ticket{ID: 999999999, Status: Closed, Type: Consulta, Priority: Normal, Summary: "pedido " + mark,
		Customer: Customer{Address: bots.Address{Platform: "telegram", Chat: mark, User: mark}, Name: "Cliente " + mark, Lang: "es"},
		Created:  time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC), Updated: time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)})
	ctx := b.Context()
	c, err := pgx.Connect(ctx, pgtest.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	for _, sql := range []string{
		`INSERT INTO %[1]s.tickets SELECT int8send(i::bigint), convert_to(replace($1, '999999999', i::text), 'UTF8') FROM generate_series(1, $2) i`,
		`INSERT INTO %[1]s.idx_status SELECT convert_to('closed', 'UTF8') || '\x00'::bytea || int8send(i::bigint), '' FROM generate_series(1, $2) i WHERE $1 <> ''`,
		`INSERT INTO %[1]s.idx_customer SELECT convert_to('telegram:' || i, 'UTF8') || '\x00'::bytea || int8send(i::bigint), '' FROM generate_series(1, $2) i WHERE $1 <> ''`,
		`SELECT setval('%[1]s.tickets_seq', $2) WHERE $1 <> ''`,
		`ANALYZE %[1]s.tickets, %[1]s.idx_status, %[1]s.idx_customer`,
	} {
		args := []any{string(tpl), n}
		if sql[:7] == "ANALYZE" {
			args = nil
		}
		if _, err := c.Exec(ctx, fmt.Sprintf(sql, schema), args...); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
}
