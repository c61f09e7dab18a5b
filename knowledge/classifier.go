package knowledge

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// classifier is a one-vs-rest logistic regression: for each class (an
// article, or the out-of-scope examples) a linear score of a text's
// features and a sigmoid, "is this question about this article?". Unlike a
// softmax, whose probabilities always add up to 1 among the articles, every
// article can be unlikely at once: that is how a question about something
// else is declined even when no out-of-scope examples were given.
//
// Features are weighted by their inverse document frequency and by kind,
// and the vector is scaled to unit length, so a long question and a short
// one weigh the same. The sigmoid is calibrated (Platt scaling) on
// held-out example questions: of the questions given 0.7, about 70% are
// right, whether there are 10 articles or 500.
//
// A classifier is immutable once trained and safe for concurrent use.
type classifier struct {
	index map[string]int32 // feature → row of w
	idf   []float32        // per row
	k     int              // classes
	w     []float32        // len(idf) rows of k weights
	bias  []float32        // k
	// Calibration: P = sigmoid(a·score + c·coverage + b), where coverage
	// is the share of the question's feature weight the model knows.
	a, c, b float64
	unseen  []float32 // weight of an unknown feature, by kind byte
	// reject is the out-of-scope class, never a question's best article;
	// -1 when there is none.
	reject int
}

// trainOptions are the classifier's training settings. Training is
// deterministic: the same examples give the same weights.
type trainOptions struct {
	Epochs    int     // passes over the examples, at least
	MinSteps  int     // at least this many updates, for small sets
	AvgFrom   int     // average the weights of the epochs from this one on
	Rate      float64 // initial learning rate
	L2        float64 // weight decay per update
	Seed      uint64  // shuffling seed
	MinDF     int     // features seen in fewer examples are dropped
	Holdout   int     // every Holdout-th example of a class fits the temperature; 0: none
	MaxWeight int     // no classifier when features × classes would exceed this
	Prior     float64 // weight of the calibration's prior (see fitPlatt)
}

// defaultTraining was chosen on the validation questions of CLINC150 and
// Banking77 (docs/quality.md).
var defaultTraining = trainOptions{
	Epochs:    10,
	MinSteps:  15000,
	AvgFrom:   4,
	Rate:      4,
	L2:        1e-6,
	Seed:      7,
	MinDF:     1,
	Holdout:   5,
	MaxWeight: 48 << 20,
	Prior:     10,
}

// minGrad is the smallest per-class gradient a training step applies, for
// k classes. Once a class is learnt, most of the others score far below it
// for a given example, and with many classes skipping their updates halves
// training at the same accuracy (CLINC150 val: 13.8 s → 7.8 s to build,
// 89.4% → 89.5% in scope; Banking77 val: 87.2% → 87.1%; the 227-article
// combined base: 37–47 s → 19 s). Small knowledge bases, which train on
// every example many times over, lean on those small updates to push wrong
// articles down (skipping them on kb-gym-es answered 1.2 points more wrong)
// and cost little anyway: up to 30 classes every gradient above 1e-5 is
// applied, from 150 only those above 1e-3, log-linear between, so no size
// is a step.
func minGrad(k int) float64 {
	f := min(1, max(0, float64(k-30)/120))
	return math.Pow(10, -5+2*f)
}

// bigModel is the number of weights from which training collects the
// examples' feature strings before it starts: tens of megabytes.
const bigModel = 8 << 20

// sample is one vectorized example.
type sample struct {
	rows  []int32
	vals  []float32
	class int
}

// trainClassifier learns k classes from examples, each a feature list and
// its class; reject is the out-of-scope class, or -1. Examples with
// trainOnly set teach but are never held out to calibrate: they are not
// questions people ask (another language's). It returns nil when the
// model would be too large (opt.MaxWeight) or there are no examples.
func trainClassifier(examples [][]string, labels []int, trainOnly []bool, k, reject int, opt trainOptions, stats *trainStats) *classifier {
	if len(examples) == 0 {
		return nil
	}
	c := newClassifier(examples, k, opt)
	if c == nil {
		stats.features = countFeatures(examples, opt)
		return nil
	}
	c.reject = reject
	// Every example is turned into rows of weights before training, so that
	// the feature strings (most of the memory after the weights) are not
	// used past this point and can go while both models train (the caller
	// keeps no reference to them either).
	all := c.samples(examples, labels)
	var h *classifier
	var hs []sample
	type heldOut struct {
		rows  []int32
		vals  []float32
		cov   float64
		class int
	}
	var held []heldOut
	if heldIdx, train := c.split(labels, trainOnly, opt.Holdout); len(heldIdx) > 0 {
		sub := make([][]string, len(train))
		subLabels := make([]int, len(train))
		for j, i := range train {
			sub[j], subLabels[j] = examples[i], labels[i]
		}
		if h = newClassifier(sub, k, opt); h != nil {
			h.reject = reject
			hs = h.samples(sub, subLabels)
			for _, i := range heldIdx {
				rows, vals, cov := h.vectorizeCoverage(examples[i])
				held = append(held, heldOut{rows, vals, cov, labels[i]})
			}
		}
	}
	if len(c.w) >= bigModel {
		// Collect the strings now, before the weights' averages are
		// allocated: otherwise the heap has grown past them and the
		// process holds both (`ayuda eval` on the 227-article base: 1.42 GB
		// resident at most, now 0.97 GB; `ayuda serve`: 960 → 926 MB).
		runtime.GC()
	}
	// Calibrate on held-out examples with a model trained on the rest,
	// while the model on everything trains beside it: the two are
	// independent, so the result is the same as one after the other.
	var wg sync.WaitGroup
	if h != nil {
		wg.Go(func() {
			h.fit(hs, opt)
			var tops, covs []float64
			var right []bool
			for _, x := range held {
				z := h.scoresOf(x.rows, x.vals)
				top := h.best(z)
				tops = append(tops, z[top])
				covs = append(covs, x.cov)
				right = append(right, top == x.class)
			}
			c.a, c.c, c.b = fitPlatt(tops, covs, right, opt.Prior)
			stats.calibrated = true
		})
	}
	c.fit(all, opt)
	wg.Wait()
	return c
}

// trainStats says what training could do, for the index's notes.
type trainStats struct {
	features   int  // when there is no model: how many it would have had
	calibrated bool // held-out examples calibrated the probabilities
}

// countFeatures counts the distinct features newClassifier would keep.
func countFeatures(examples [][]string, opt trainOptions) int {
	df := map[string]int{}
	for _, fs := range examples {
		for _, f := range fs {
			df[f]++
		}
	}
	n := 0
	for _, d := range df {
		if d >= opt.MinDF {
			n++
		}
	}
	return n
}

// split picks every holdout-th example of each class with at least three
// (and never a trainOnly one) to hold out; the rest train.
func (c *classifier) split(labels []int, trainOnly []bool, holdout int) (held, train []int) {
	if holdout < 2 {
		return nil, nil
	}
	seen := make([]int, c.k)
	count := make([]int, c.k)
	for _, l := range labels {
		count[l]++
	}
	for i, l := range labels {
		seen[l]++
		if count[l] >= 3 && seen[l]%holdout == 0 && !trainOnly[i] {
			held = append(held, i)
		} else {
			train = append(train, i)
		}
	}
	return held, train
}

// newClassifier sets up the feature index and weights for examples.
func newClassifier(examples [][]string, k int, opt trainOptions) *classifier {
	df := map[string]int{}
	for _, fs := range examples {
		for _, f := range fs {
			df[f]++
		}
	}
	c := &classifier{index: map[string]int32{}, k: k, a: 1, unseen: make([]float32, 256)}
	n := float64(len(examples))
	// Rows in order of first appearance, for determinism.
	for _, fs := range examples {
		for _, f := range fs {
			d := df[f]
			if d < opt.MinDF {
				continue
			}
			if _, ok := c.index[f]; ok {
				continue
			}
			c.index[f] = int32(len(c.idf))
			idf := float32(math.Log((n+1)/(float64(d)+1)) + 1)
			if w, ok := featureWeight[f[0]]; ok {
				idf *= w
			}
			c.idf = append(c.idf, idf)
			c.unseen[f[0]] = max(c.unseen[f[0]], idf)
		}
	}
	if len(c.idf)*k > opt.MaxWeight {
		return nil
	}
	c.w = make([]float32, len(c.idf)*k)
	c.bias = make([]float32, k)
	return c
}

func (c *classifier) samples(examples [][]string, labels []int) []sample {
	out := make([]sample, len(examples))
	for i, fs := range examples {
		rows, vals := c.vectorize(fs)
		out[i] = sample{rows: rows, vals: vals, class: labels[i]}
	}
	return out
}

// vectorize returns the known features' rows and unit-length weights.
func (c *classifier) vectorize(fs []string) ([]int32, []float32) {
	rows, vals, _ := c.vectorizeCoverage(fs)
	return rows, vals
}

// vectorizeCoverage also returns the share of the text's feature weight
// that the model knows: an unknown feature weighs as much as the rarest
// known one of its kind.
func (c *classifier) vectorizeCoverage(fs []string) ([]int32, []float32, float64) {
	rows := make([]int32, 0, len(fs))
	vals := make([]float32, 0, len(fs))
	var norm, unknown float64
	for _, f := range fs {
		i, ok := c.index[f]
		if !ok {
			if w := c.unseen[f[0]]; w > 0 {
				unknown += float64(w) * float64(w)
			}
			continue
		}
		v := c.idf[i]
		rows = append(rows, i)
		vals = append(vals, v)
		norm += float64(v) * float64(v)
	}
	cov := 0.0
	if norm > 0 {
		cov = norm / (norm + unknown)
		inv := float32(1 / math.Sqrt(norm))
		for i := range vals {
			vals[i] *= inv
		}
	}
	return rows, vals, cov
}

// fit runs stochastic gradient descent on the log loss with L2 decay,
// and averages the weights of the last epochs (which steadies them). The
// weights are kept as scale·w so that decay costs nothing per step.
//
// fit, linear and addScaled are the training's inner loops. They are not
// instrumented by the race detector (go:norace): each runs in one
// goroutine on weights no other goroutine sees until training returns
// (trainClassifier trains the held-out model on a classifier of its own),
// and checking each of their weight updates made every test that builds
// an index twice as slow under -race (cmd/ayuda 58 s → 27 s, dialog 25 s
// → 11 s). What calls them is still checked.
//
//go:norace
func (c *classifier) fit(samples []sample, opt trainOptions) {
	k := c.k
	epochs := opt.Epochs
	if len(samples) > 0 && epochs*len(samples) < opt.MinSteps {
		epochs = (opt.MinSteps + len(samples) - 1) / len(samples)
	}
	avgFrom := opt.AvgFrom * epochs / opt.Epochs
	r := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))
	order := make([]int, len(samples))
	for i := range order {
		order[i] = i
	}
	p := make([]float64, k)
	acc := make([]float32, k)
	active := make([]int32, 0, k)
	grad := make([]float32, 0, k)
	var sumW, sumB []float32
	summed := 0
	scale, t := 1.0, 0.0
	skip := minGrad(k)
	for epoch := 0; epoch < epochs; epoch++ {
		if epoch >= avgFrom && epoch > 0 {
			if sumW == nil {
				sumW = make([]float32, len(c.w))
				sumB = make([]float32, k)
			}
			addScaled(sumW, c.w, float32(scale))
			addScaled(sumB, c.bias, 1)
			summed++
		}
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, si := range order {
			s := &samples[si]
			eta := opt.Rate / (1 + opt.Rate*opt.L2*t)
			t++
			c.linear(s.rows, s.vals, acc)
			for j := range p {
				p[j] = scale*float64(acc[j]) + float64(c.bias[j])
			}
			for j, v := range p {
				p[j] = sigmoid(v)
			}
			p[s.class]--
			scale *= 1 - eta*opt.L2
			step := eta / scale
			active = active[:0]
			grad = grad[:0]
			for j, g := range p {
				if g > -skip && g < skip {
					continue // a negligible gradient: skipping it saves most of the work
				}
				c.bias[j] -= float32(eta * g)
				active = append(active, int32(j))
				grad = append(grad, float32(g*step))
			}
			for x, row := range s.rows {
				w := c.w[int(row)*k : int(row)*k+k]
				v := s.vals[x]
				for a, j := range active {
					w[j] -= grad[a] * v
				}
			}
			if scale < 1e-3 {
				scaleAll(c.w, float32(scale))
				scale = 1
			}
		}
	}
	scaleAll(c.w, float32(scale))
	if summed > 0 {
		addScaled(sumW, c.w, 1)
		addScaled(sumB, c.bias, 1)
		inv := 1 / float32(summed+1)
		for i := range sumW {
			c.w[i] = sumW[i] * inv
		}
		for i := range sumB {
			c.bias[i] = sumB[i] * inv
		}
	}
}

//go:norace
func addScaled(dst, src []float32, f float32) {
	for i, v := range src {
		dst[i] += v * f
	}
}

func scaleAll(v []float32, f float32) {
	for i := range v {
		v[i] *= f
	}
}

// linear adds up the weights of a vectorized text per class into acc.
//
//go:norace
func (c *classifier) linear(rows []int32, vals []float32, acc []float32) {
	k := c.k
	clear(acc)
	n := len(acc)
	for x, row := range rows {
		v := vals[x]
		w := c.w[int(row)*k : int(row)*k+k]
		w = w[:n]
		j := 0
		for ; j+8 <= n; j += 8 {
			a, b := acc[j:j+8:j+8], w[j:j+8:j+8]
			a[0] += v * b[0]
			a[1] += v * b[1]
			a[2] += v * b[2]
			a[3] += v * b[3]
			a[4] += v * b[4]
			a[5] += v * b[5]
			a[6] += v * b[6]
			a[7] += v * b[7]
		}
		for ; j < n; j++ {
			acc[j] += v * w[j]
		}
	}
}

// scores returns the linear score of every class for a text's features,
// and the share of the text the model knows.
func (c *classifier) scores(fs []string) ([]float64, float64) {
	rows, vals, cov := c.vectorizeCoverage(fs)
	return c.scoresOf(rows, vals), cov
}

// scoresOf returns the linear score of every class for a vectorized text.
func (c *classifier) scoresOf(rows []int32, vals []float32) []float64 {
	acc := make([]float32, c.k)
	c.linear(rows, vals, acc)
	out := make([]float64, c.k)
	for j := range out {
		out[j] = float64(acc[j]) + float64(c.bias[j])
	}
	return out
}

// probabilities returns the calibrated probability of every class.
func (c *classifier) probabilities(fs []string) []float64 {
	s, cov := c.scores(fs)
	for j, v := range s {
		s[j] = sigmoid(c.a*v + c.c*cov + c.b)
	}
	return s
}

// best returns the class with the highest score, other than reject.
func (c *classifier) best(z []float64) int {
	top := -1
	for j, v := range z {
		if j != c.reject && (top < 0 || v > z[top]) {
			top = j
		}
	}
	return top
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// fitPlatt fits P(right | s, cov) = sigmoid(a·s + c·cov + b) by Newton's
// method on the log likelihood, with Platt's smoothed targets and a
// Gaussian prior of weight prior towards the model's own sigmoid (a=1,
// b=c=0): a few held-out examples, nearly all right, would otherwise make a
// cliff of it.
func fitPlatt(s, cov []float64, right []bool, prior float64) (a, c, b float64) {
	a, c, b = newtonPlatt(s, cov, right, prior, false, 0)
	// A slope far above 1 comes from a small held-out set that is nearly
	// all right: it would turn the probabilities into a cliff, with
	// nothing left between "sure" and "no idea" to offer as a choice. Fit
	// the rest again with the slope at its bound.
	if a > maxSlope {
		a, c, b = newtonPlatt(s, cov, right, prior, true, maxSlope)
	}
	return a, c, b
}

// maxSlope bounds the calibration's slope.
const maxSlope = 2

// newtonPlatt runs Newton's method for fitPlatt, with the slope fixed at
// a when fixed is set.
func newtonPlatt(s, cov []float64, right []bool, prior float64, fixed bool, a float64) (float64, float64, float64) {
	var pos, neg float64
	for _, r := range right {
		if r {
			pos++
		} else {
			neg++
		}
	}
	hi, lo := (pos+1)/(pos+2), 1/(neg+2)
	theta := [3]float64{1, 0, 0} // a, c, b
	if fixed {
		theta[0] = a
	}
	center := [3]float64{1, 0, 0}
	for iter := 0; iter < 50; iter++ {
		var g [3]float64
		var h [3][3]float64
		for i := range s {
			x := [3]float64{s[i], cov[i], 1}
			t := lo
			if right[i] {
				t = hi
			}
			p := sigmoid(theta[0]*x[0] + theta[1]*x[1] + theta[2])
			d := p - t
			w := max(p*(1-p), 1e-12)
			for j := range 3 {
				g[j] += d * x[j]
				for k := range 3 {
					h[j][k] += w * x[j] * x[k]
				}
			}
		}
		for j := range 3 {
			g[j] += prior * (theta[j] - center[j])
			h[j][j] += prior
		}
		if fixed { // no step in a
			g[0] = 0
			h[0] = [3]float64{1, 0, 0}
			h[1][0], h[2][0] = 0, 0
		}
		step, ok := solve3(h, g)
		if !ok {
			break
		}
		done := true
		for j := range 3 {
			theta[j] -= step[j]
			if math.Abs(step[j]) > 1e-9 {
				done = false
			}
		}
		if done {
			break
		}
	}
	return theta[0], theta[1], theta[2]
}

// solve3 solves h·x = g by Gaussian elimination with partial pivoting.
func solve3(h [3][3]float64, g [3]float64) ([3]float64, bool) {
	for col := range 3 {
		piv := col
		for r := col + 1; r < 3; r++ {
			if math.Abs(h[r][col]) > math.Abs(h[piv][col]) {
				piv = r
			}
		}
		if math.Abs(h[piv][col]) < 1e-12 {
			return g, false
		}
		h[col], h[piv] = h[piv], h[col]
		g[col], g[piv] = g[piv], g[col]
		for r := col + 1; r < 3; r++ {
			f := h[r][col] / h[col][col]
			for k := col; k < 3; k++ {
				h[r][k] -= f * h[col][k]
			}
			g[r] -= f * g[col]
		}
	}
	var x [3]float64
	for r := 2; r >= 0; r-- {
		sum := g[r]
		for k := r + 1; k < 3; k++ {
			sum -= h[r][k] * x[k]
		}
		x[r] = sum / h[r][r]
	}
	return x, true
}
