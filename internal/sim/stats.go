package sim

import (
	"math"
)

// Stat is a figure over seeds: its mean and the half-width of its 95%
// confidence interval, mean ± t(0.975, n−1)·sd/√n (0 for one seed).
type Stat struct {
	Mean, CI float64
	// Min and Max are the extremes over seeds, for goals that must hold in
	// every run.
	Min, Max float64
}

// NewStat summarizes xs. It is the zero Stat for no values.
func NewStat(xs []float64) Stat {
	n := len(xs)
	if n == 0 {
		return Stat{}
	}
	s := Stat{Min: math.Inf(1), Max: math.Inf(-1)}
	var sum float64
	for _, x := range xs {
		sum += x
		s.Min, s.Max = math.Min(s.Min, x), math.Max(s.Max, x)
	}
	s.Mean = sum / float64(n)
	if n < 2 {
		return s
	}
	var ss float64
	for _, x := range xs {
		ss += (x - s.Mean) * (x - s.Mean)
	}
	sd := math.Sqrt(ss / float64(n-1))
	s.CI = TQuantile975(n-1) * sd / math.Sqrt(float64(n))
	return s
}

// tTable holds Student's t 0.975 quantiles for 1 to 30 degrees of freedom.
var tTable = [...]float64{
	12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
	2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
}

// TQuantile975 returns Student's t 0.975 quantile for df degrees of freedom:
// from a table up to 30, beyond it from the Cornish–Fisher expansion around
// the normal quantile 1.96, which is within 0.001 there. df < 1 gives +Inf.
func TQuantile975(df int) float64 {
	if df < 1 {
		return math.Inf(1)
	}
	if df <= len(tTable) {
		return tTable[df-1]
	}
	const z = 1.959964
	d := float64(df)
	z3, z5 := z*z*z, z*z*z*z*z
	return z + (z3+z)/(4*d) + (5*z5+16*z3+3*z)/(96*d*d)
}

// Percentile returns the p-quantile (0 ≤ p ≤ 1) of sorted by the nearest-rank
// method: the smallest value with at least p of the values at or below it.
// It is NaN for no values.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}
