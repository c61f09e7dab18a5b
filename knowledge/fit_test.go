package knowledge

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ayuda/faq"
)

// The decision's weights (decisionWeights) are fitted here, on labelled
// questions of knowledge bases of every size, and only these:
//
//	AYUDA_FIT=1 go test ./knowledge -run TestFitDecision -v -timeout 30m
//
// prints each set's figures and the fitted weights, and fails when they
// are not the ones decisionWeights and calibration ship. The
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
	rel   float64
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
		r := fitRow{set: set, xs: xs, oos: q.Want == faq.OutOfScope, blend: s.blend(q.Lang), rel: s.rel(q.Lang)}
		for _, c := range cs {
			r.right = append(r.right, c.key == q.Want+"/"+q.Lang)
			r.clf = append(r.clf, c.clf)
		}
		rows = append(rows, r)
	}
	return rows
}

// fitChoice fits the weights of the choice among candidates and "none"
// (decide) by Newton's method on the log likelihood of the right choice:
// the wanted article when it is a candidate, "none" otherwise (an
// out-of-scope question, or one whose article was not found). Each set
// weighs the same in total; an L2 penalty keeps the weights small.
func fitChoice(rows []fitRow, sets int, l2 float64, start signals) signals {
	perSet := make([]float64, sets)
	for _, r := range rows {
		perSet[r.set]++
	}
	w := start
	for iter := 0; iter < 40; iter++ {
		var g [nSignals]float64
		var h [nSignals][nSignals]float64
		for _, r := range rows {
			sw := 1000 / perSet[r.set]
			ps := choiceProbs(w, r.xs)
			var mean [nSignals]float64
			for i, x := range r.xs {
				for j := range x {
					mean[j] += ps[i] * x[j]
				}
			}
			for i, x := range r.xs {
				if r.right[i] {
					for j := range x {
						g[j] += sw * x[j]
					}
				}
				for j := range x {
					for k := range x {
						h[j][k] += sw * ps[i] * x[j] * x[k]
					}
				}
			}
			for j := range mean {
				g[j] -= sw * mean[j]
				for k := range mean {
					h[j][k] -= sw * mean[j] * mean[k]
				}
			}
		}
		for j := 0; j < nSignals; j++ {
			g[j] -= l2 * w[j]
			h[j][j] += l2
		}
		step := solveN(h, g)
		// Backtrack until the likelihood improves: Newton's full step can
		// overshoot where the data are nearly separable.
		base := choiceLL(rows, perSet, l2, w)
		var next signals
		f := 1.0
		for try := 0; try < 20; try++ {
			for j := range w {
				next[j] = w[j] + f*step[j]
			}
			if choiceLL(rows, perSet, l2, next) >= base {
				break
			}
			f /= 2
		}
		var moved float64
		for j := range w {
			moved = max(moved, math.Abs(next[j]-w[j]))
		}
		w = next
		if moved < 1e-6 {
			break
		}
	}
	return w
}

// choiceLL is the penalised log likelihood that fitChoice maximises.
func choiceLL(rows []fitRow, perSet []float64, l2 float64, w signals) float64 {
	var ll float64
	for _, r := range rows {
		ps := choiceProbs(w, r.xs)
		pRight := 1.0
		for _, p := range ps {
			pRight -= p
		}
		for i, right := range r.right {
			if right {
				pRight = ps[i]
			}
		}
		ll += 1000 / perSet[r.set] * math.Log(max(pRight, 1e-300))
	}
	for _, v := range w {
		ll -= l2 / 2 * v * v
	}
	return ll
}

func solveN(h [nSignals][nSignals]float64, g [nSignals]float64) [nSignals]float64 {
	hs := make([][]float64, nSignals)
	for i := range hs {
		hs[i] = h[i][:]
	}
	x, _ := solveSlices(hs, g[:])
	var out [nSignals]float64
	copy(out[:], x)
	return out
}

// solveSlices solves h·x = g by Gaussian elimination with partial
// pivoting, on copies; a column with no pivot leaves its unknown at 0.
func solveSlices(h [][]float64, g []float64) ([]float64, bool) {
	n := len(g)
	a := make([][]float64, n)
	for i := range a {
		a[i] = append([]float64(nil), h[i]...)
	}
	b := append([]float64(nil), g...)
	ok := true
	for col := 0; col < n; col++ {
		piv := col
		for r := col + 1; r < n; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[piv][col]) {
				piv = r
			}
		}
		a[col], a[piv] = a[piv], a[col]
		b[col], b[piv] = b[piv], b[col]
		if math.Abs(a[col][col]) < 1e-12 {
			ok = false
			continue
		}
		for r := col + 1; r < n; r++ {
			f := a[r][col] / a[col][col]
			for k := col; k < n; k++ {
				a[r][k] -= f * a[col][k]
			}
			b[r] -= f * b[col]
		}
	}
	x := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		if math.Abs(a[r][r]) < 1e-12 {
			continue
		}
		sum := b[r]
		for k := r + 1; k < n; k++ {
			sum -= a[r][k] * x[k]
		}
		x[r] = sum / a[r][r]
	}
	return x, ok
}

// report prints, for weights w and an answer threshold, each set's share
// of in-scope questions whose best candidate is right (rank), answered
// right, answered wrong, and out-of-scope questions answered.
func report(tb testing.TB, rows []fitRow, sets []fitSet, w signals, k [4]float64, threshold float64) {
	type stat struct{ in, rank, right, wrong, oos, oosAns int }
	st := make([]stat, len(sets))
	for _, r := range rows {
		best, bp := -1, 0.0
		ps := choiceProbs(w, r.xs)
		for i := range r.xs {
			if p := calibrate(k, r.blend*r.clf[i]+(1-r.blend)*ps[i], r.rel); best < 0 || p > bp {
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
		report(t, rows, sets, decisionWeights, calibration, th)
	}
	w := fitChoice(rows, len(sets), 1, signals{})
	k := fitCalibration(rows, len(sets), w)
	for _, th := range []float64{0.3, 0.4, 0.5, 0.6, 0.7} {
		report(t, rows, sets, w, k, th)
	}
	t.Logf("calibration: %.3f, %.3f, %.3f, %.3f", k[0], k[1], k[2], k[3])
	t.Logf("Go: %s", goWeights(w))
	// On every set, the fit is what ships: the defaults are reproducible.
	if len(sets) == len(fitSets) {
		for j := range w {
			if math.Abs(w[j]-decisionWeights[j]) > 0.002 {
				t.Errorf("%s: fitted %.3f, decisionWeights has %.3f", signalNames[j], w[j], decisionWeights[j])
			}
		}
		for j := range k {
			if math.Abs(k[j]-calibration[j]) > 0.002 {
				t.Errorf("calibration[%d]: fitted %.3f, shipped %.3f", j, k[j], calibration[j])
			}
		}
	}
}

func goWeights(w signals) string {
	var parts []string
	for i, v := range w {
		parts = append(parts, fmt.Sprintf("%s: %.3f", signalNames[i], v))
	}
	return strings.Join(parts, ", ")
}

// fitCalibration fits the map from the best candidate's probability to
// the chance that it is right (calibrate), on every question's best
// candidate, each set weighing the same.
func fitCalibration(rows []fitRow, sets int, w signals) [4]float64 {
	perSet := make([]float64, sets)
	for _, r := range rows {
		perSet[r.set]++
	}
	type obs struct {
		x     [4]float64
		right bool
		sw    float64
	}
	var os []obs
	for _, r := range rows {
		ps := choiceProbs(w, r.xs)
		best, bp := -1, 0.0
		for i := range r.xs {
			if p := r.blend*r.clf[i] + (1-r.blend)*ps[i]; best < 0 || p > bp {
				best, bp = i, p
			}
		}
		if best < 0 {
			continue
		}
		z := logit(bp)
		os = append(os, obs{x: [4]float64{z, z * r.rel, 1, r.rel}, right: r.right[best], sw: 1000 / perSet[r.set]})
	}
	k := [4]float64{1, 0, 0, 0}
	for iter := 0; iter < 50; iter++ {
		var g [4]float64
		var h [4][4]float64
		for _, o := range os {
			var z float64
			for j := range k {
				z += k[j] * o.x[j]
			}
			p := sigmoid(z)
			y := 0.0
			if o.right {
				y = 1
			}
			for j := range k {
				g[j] += o.sw * (y - p) * o.x[j]
				for l := range k {
					h[j][l] += o.sw * p * (1 - p) * o.x[j] * o.x[l]
				}
			}
		}
		for j := range k {
			g[j] -= 0.1 * (k[j] - [4]float64{1, 0, 0, 0}[j])
			h[j][j] += 0.1
		}
		step, ok := solve4(h, g)
		if !ok {
			break
		}
		var moved float64
		for j := range k {
			k[j] += step[j]
			moved = max(moved, math.Abs(step[j]))
		}
		if moved < 1e-7 {
			break
		}
	}
	return k
}

func solve4(h [4][4]float64, g [4]float64) ([4]float64, bool) {
	hs := make([][]float64, 4)
	for i := range hs {
		hs[i] = h[i][:]
	}
	x, ok := solveSlices(hs, g[:])
	var out [4]float64
	copy(out[:], x)
	return out, ok
}
