package main

import (
	"math"
	"sort"
)

// Summary is the median, minimum and maximum of a series of samples. N
// counts the samples; with none, the other fields are NaN (null in JSON
// output, "-" in the table).
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// summarize computes a Summary, ignoring NaN samples (not applicable to a
// repetition, e.g. the time to a new leader when the leader stays).
func summarize(samples []float64) Summary {
	var xs []float64
	for _, x := range samples {
		if !math.IsNaN(x) {
			xs = append(xs, x)
		}
	}
	if len(xs) == 0 {
		return Summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	sort.Float64s(xs)
	mid := len(xs) / 2
	med := xs[mid]
	if len(xs)%2 == 0 {
		med = (xs[mid-1] + xs[mid]) / 2
	}
	return Summary{N: len(xs), Median: med, Min: xs[0], Max: xs[len(xs)-1]}
}
