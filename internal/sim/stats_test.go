package sim

import (
	"math"
	"testing"
)

func TestNewStat(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want Stat
	}{
		{"empty", nil, Stat{}},
		{"one value has no interval", []float64{3}, Stat{Mean: 3, Min: 3, Max: 3}},
		// sd = 1, n = 3: 4.303 / √3.
		{"three", []float64{1, 2, 3}, Stat{Mean: 2, CI: 4.303 / math.Sqrt(3), Min: 1, Max: 3}},
		{"constant", []float64{5, 5, 5, 5}, Stat{Mean: 5, Min: 5, Max: 5}},
		// sd = √(40/19) over 20 values 0..19 alternating ±: use 0 and 2.
		{"twenty", twenty(), Stat{Mean: 1, CI: 2.093 * math.Sqrt(20.0/19) / math.Sqrt(20), Min: 0, Max: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewStat(tt.xs)
			if !close(got.Mean, tt.want.Mean) || !close(got.CI, tt.want.CI) || got.Min != tt.want.Min || got.Max != tt.want.Max {
				t.Errorf("NewStat(%v) = %+v, want %+v", tt.xs, got, tt.want)
			}
		})
	}
}

func twenty() []float64 {
	xs := make([]float64, 20)
	for i := range xs {
		xs[i] = float64(2 * (i % 2))
	}
	return xs
}

func close(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestTQuantile975(t *testing.T) {
	tests := []struct {
		df   int
		want float64
		tol  float64
	}{
		{1, 12.706, 0}, {19, 2.093, 0}, {30, 2.042, 0},
		{40, 2.021, 0.001}, {60, 2.000, 0.001}, {120, 1.980, 0.001}, {100000, 1.960, 0.001},
	}
	for _, tt := range tests {
		if got := TQuantile975(tt.df); math.Abs(got-tt.want) > tt.tol+1e-12 {
			t.Errorf("TQuantile975(%d) = %.4f, want %.3f", tt.df, got, tt.want)
		}
	}
	if got := TQuantile975(0); !math.IsInf(got, 1) {
		t.Errorf("TQuantile975(0) = %v, want +Inf", got)
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	tests := []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{7}, 0.5, 7},
		{[]float64{1, 2, 3, 4}, 0.5, 2},
		{[]float64{1, 2, 3, 4, 5}, 0.5, 3},
		{hundred, 0.99, 99},
		{hundred, 0.5, 50},
		{hundred, 1, 100},
		{hundred, 0, 1},
	}
	for _, tt := range tests {
		if got := Percentile(tt.xs, tt.p); got != tt.want {
			t.Errorf("Percentile(%d values, %v) = %v, want %v", len(tt.xs), tt.p, got, tt.want)
		}
	}
	if got := Percentile(nil, 0.5); !math.IsNaN(got) {
		t.Errorf("Percentile(nil) = %v, want NaN", got)
	}
}

// FuzzNewStat checks the invariants of a summary of finite values: the mean
// lies between the extremes and the interval is not negative.
func FuzzNewStat(f *testing.F) {
	f.Add(1.0, 2.0, 3.0, 0.5)
	f.Add(0.0, 0.0, 0.0, 0.0)
	f.Add(-1e300, 1e300, 5.0, 1.0)
	f.Fuzz(func(t *testing.T, a, b, c, p float64) {
		xs := []float64{a, b, c}
		for _, x := range xs {
			if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1e150 {
				t.Skip()
			}
		}
		s := NewStat(xs)
		if s.Mean < s.Min-1e-9*math.Abs(s.Min) || s.Mean > s.Max+1e-9*math.Abs(s.Max) || !(s.CI >= 0) {
			t.Fatalf("NewStat(%v) = %+v", xs, s)
		}
		if math.IsNaN(p) || p < 0 || p > 1 {
			return
		}
		sorted := []float64{s.Min, s.Mean, s.Max}
		if q := Percentile(sorted, p); q < s.Min || q > s.Max {
			t.Fatalf("Percentile(%v, %v) = %v", sorted, p, q)
		}
	})
}
