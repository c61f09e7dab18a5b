package knowledge

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"ayuda/faq"
)

// The decision's weights (decisionWeights) are fitted here, on labelled
// questions of knowledge bases of every size, and only these:
//
//	AYUDA_FIT=1 go test ./knowledge -run TestFitDecision -v -timeout 30m
//
// prints the weights to paste, and each set's figures with them. The
// knowledge bases of eval/ in this repository (written apart, with
// questions nobody tuned on) are not among them: they measure the result.
var fitSets = []fitSet{
	{name: "kb-gym-es", dir: "kb-gym-es/articles", questions: "kb-gym-es/questions.jsonl"},
	{name: "builtin", builtin: true},
	{name: "clinc150-10shot", articles: "clinc150-10shot/articles.jsonl", questions: "clinc150-10shot/val.jsonl", sample: 1500},
	{name: "banking77-10shot", articles: "banking77-10shot/articles.jsonl", questions: "banking77-10shot/val.jsonl", sample: 1000},
	{name: "clinc150", articles: "clinc150/articles.jsonl", questions: "clinc150/val.jsonl", oos: "clinc150/out-of-scope-examples.jsonl", sample: 1500},
	{name: "banking77", articles: "banking77/articles.jsonl", questions: "banking77/val.jsonl", sample: 1000},
}

type fitSet struct {
	name                          string
	dir, articles, questions, oos string
	builtin                       bool
	sample                        int // questions used, evenly spread; 0: all
}

// fitRow is one question's candidates.
type fitRow struct {
	set   int
	blend float64
	clf   []float64
	xs    []signals
	right []bool
	oos   bool
}

func (f fitSet) load(tb testing.TB) ([]faq.Entry, []evalQuestion) {
	tb.Helper()
	var entries []faq.Entry
	var qs []evalQuestion
	switch {
	case f.builtin:
		var err error
		if entries, err = faq.Builtin(); err != nil {
			tb.Fatal(err)
		}
		data, err := faq.BuiltinFile("eval.jsonl")
		if err != nil {
			tb.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var q evalQuestion
			if err := json.Unmarshal([]byte(line), &q); err != nil {
				tb.Fatal(err)
			}
			qs = append(qs, q)
		}
		return entries, qs
	case f.dir != "":
		p := filepath.Join(evalDir, f.dir)
		if _, err := os.Stat(p); err != nil {
			tb.Skipf("%s is absent", p)
		}
		var err error
		if entries, err = faq.Load(os.DirFS(p)); err != nil {
			tb.Fatal(err)
		}
	default:
		entries = evalArticles(tb, strings.TrimSuffix(f.articles, "/articles.jsonl"))
		if f.oos != "" {
			entries = append(entries, oosEntries(readEval[evalQuestion](tb, f.oos))...)
		}
	}
	qs = readEval[evalQuestion](tb, f.questions)
	if f.sample > 0 && len(qs) > f.sample {
		step := float64(len(qs)) / float64(f.sample)
		var out []evalQuestion
		for i := 0; i < f.sample; i++ {
			out = append(out, qs[int(float64(i)*step)])
		}
		qs = out
	}
	return entries, qs
}

// oosEntries turns {"q","lang"} lines into one out-of-scope article per
// language, as ayuda kb import does.
func oosEntries(qs []evalQuestion) []faq.Entry {
	by := map[string]*faq.Entry{}
	var langs []string
	for _, q := range qs {
		e := by[q.Lang]
		if e == nil {
			e = &faq.Entry{ID: faq.OutOfScope, Lang: q.Lang, Audience: faq.Public}
			by[q.Lang] = e
			langs = append(langs, q.Lang)
		}
		e.Questions = append(e.Questions, q.Q)
	}
	var out []faq.Entry
	for _, l := range langs {
		out = append(out, *by[l])
	}
	return out
}

// collect gathers the candidates and signals of every question of a set.
func collect(tb testing.TB, set int, f fitSet) []fitRow {
	entries, qs := f.load(tb)
	s, err := build(entries, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.idx.Close()
	var rows []fitRow
	for _, q := range qs {
		text := searchable(q.Q)
		if text == "" {
			continue
		}
		cs, xs, err := s.candidates(context.Background(), Query{Text: text, Lang: q.Lang}, q.Lang)
		if err != nil {
			tb.Fatal(err)
		}
		r := fitRow{set: set, xs: xs, oos: q.Want == faq.OutOfScope, blend: s.blend(q.Lang)}
		for _, c := range cs {
			r.right = append(r.right, c.key == q.Want+"/"+q.Lang)
			r.clf = append(r.clf, c.clf)
		}
		rows = append(rows, r)
	}
	return rows
}

// fitLogistic fits weights by Newton's method on the log loss of every
// candidate, each set weighing the same in total, with an L2 penalty.
func fitLogistic(rows []fitRow, sets int, l2 float64) signals {
	perSet := make([]float64, sets)
	for _, r := range rows {
		perSet[r.set] += float64(len(r.xs))
	}
	var w signals
	for iter := 0; iter < 30; iter++ {
		var g [nSignals]float64
		var h [nSignals][nSignals]float64
		for _, r := range rows {
			sw := 1000 / perSet[r.set]
			for i, x := range r.xs {
				var z float64
				for j := range x {
					z += w[j] * x[j]
				}
				p := sigmoid(z)
				y := 0.0
				if r.right[i] {
					y = 1
				}
				for j := range x {
					g[j] += sw * (p - y) * x[j]
					for k := range x {
						h[j][k] += sw * p * (1 - p) * x[j] * x[k]
					}
				}
			}
		}
		for j := 0; j < nSignals; j++ {
			if j != sBias {
				g[j] += l2 * w[j]
				h[j][j] += l2
			} else {
				h[j][j] += 1e-6
			}
		}
		step := solveN(h, g)
		var moved float64
		for j := range w {
			w[j] -= step[j]
			moved = max(moved, math.Abs(step[j]))
		}
		if moved < 1e-6 {
			break
		}
	}
	return w
}

func solveN(h [nSignals][nSignals]float64, g [nSignals]float64) [nSignals]float64 {
	n := nSignals
	for col := 0; col < n; col++ {
		piv := col
		for r := col + 1; r < n; r++ {
			if math.Abs(h[r][col]) > math.Abs(h[piv][col]) {
				piv = r
			}
		}
		h[col], h[piv] = h[piv], h[col]
		g[col], g[piv] = g[piv], g[col]
		if math.Abs(h[col][col]) < 1e-12 {
			continue
		}
		for r := col + 1; r < n; r++ {
			f := h[r][col] / h[col][col]
			for k := col; k < n; k++ {
				h[r][k] -= f * h[col][k]
			}
			g[r] -= f * g[col]
		}
	}
	var x [nSignals]float64
	for r := n - 1; r >= 0; r-- {
		if math.Abs(h[r][r]) < 1e-12 {
			continue
		}
		sum := g[r]
		for k := r + 1; k < n; k++ {
			sum -= h[r][k] * x[k]
		}
		x[r] = sum / h[r][r]
	}
	return x
}

// report prints, for weights w and an answer threshold, each set's share
// of in-scope questions whose best candidate is right (rank), answered
// right, answered wrong, and out-of-scope questions answered.
func report(tb testing.TB, rows []fitRow, sets []fitSet, w signals, threshold float64) {
	type stat struct{ in, rank, right, wrong, oos, oosAns int }
	st := make([]stat, len(sets))
	for _, r := range rows {
		best, bp := -1, 0.0
		for i, x := range r.xs {
			if p := combine(w, x, r.clf[i], r.blend); best < 0 || p > bp {
				best, bp = i, p
			}
		}
		s := &st[r.set]
		if r.oos {
			s.oos++
			if best >= 0 && bp >= threshold {
				s.oosAns++
			}
			continue
		}
		s.in++
		if best >= 0 && r.right[best] {
			s.rank++
		}
		if best >= 0 && bp >= threshold {
			if r.right[best] {
				s.right++
			} else {
				s.wrong++
			}
		}
	}
	for i, s := range st {
		tb.Logf("%-18s t=%.2f rank@1 %5.1f%%  answered right %5.1f%%  wrong %3d  oos answered %d/%d", sets[i].name, threshold, pc(s.rank, s.in), pc(s.right, s.in), s.wrong, s.oosAns, s.oos)
	}
}

func pc(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func TestFitDecision(t *testing.T) {
	if os.Getenv("AYUDA_FIT") == "" {
		t.Skip("set AYUDA_FIT=1 to fit the decision's weights (minutes)")
	}
	var rows []fitRow
	sets := fitSets
	if only := os.Getenv("AYUDA_FIT_SETS"); only != "" {
		sets = nil
		for _, f := range fitSets {
			if strings.Contains(","+only+",", ","+f.name+",") {
				sets = append(sets, f)
			}
		}
	}
	for i, f := range sets {
		rows = append(rows, collect(t, i, f)...)
	}
	t.Log("current weights:")
	for _, th := range []float64{0.5} {
		report(t, rows, sets, decisionWeights, th)
	}
	w := fitLogistic(rows, len(sets), 1)
	for _, th := range []float64{0.2, 0.25, 0.3, 0.35, 0.4, 0.5} {
		report(t, rows, sets, w, th)
	}
	var b strings.Builder
	names := make([]int, nSignals)
	for i := range names {
		names[i] = i
	}
	sort.Ints(names)
	for _, i := range names {
		fmt.Fprintf(&b, "\t%s: %.3f,\n", signalNames[i], w[i])
	}
	t.Logf("fitted weights:\n%s", b.String())
}

func TestDumpMisses(t *testing.T) {
	name := os.Getenv("AYUDA_DUMP")
	if name == "" {
		t.Skip("set AYUDA_DUMP=SET to list the questions whose best candidate is wrong")
	}
	for _, f := range fitSets {
		if f.name != name {
			continue
		}
		entries, qs := f.load(t)
		s, err := build(entries, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			cs, xs, _ := s.candidates(context.Background(), Query{Text: searchable(q.Q), Lang: q.Lang}, q.Lang)
			decide(cs, xs, s.blend(q.Lang))
			sort.Slice(cs, func(i, j int) bool { return cs[i].p > cs[j].p })
			got := "-"
			if len(cs) > 0 {
				got = strings.TrimSuffix(cs[0].key, "/"+q.Lang)
			}
			if got == q.Want {
				continue
			}
			wantRank := -1
			for i, c := range cs {
				if c.key == q.Want+"/"+q.Lang {
					wantRank = i
				}
			}
			var us []string
			for _, u := range s.lex[q.Lang].units(q.Q) {
				var as []string
				for _, a := range u.alts {
					as = append(as, a.term)
				}
				us = append(us, strings.Join(as, "|"))
			}
			top := ""
			if len(cs) > 0 {
				top = fmt.Sprintf("%.2f c%.2f e%.2f", cs[0].p, cs[0].lex.cover, cs[0].lex.example)
			}
			t.Logf("%-22s got %-22s %s wantrank %d | %s | %v", q.Want, got, top, wantRank, q.Q, us)
		}
	}
}
