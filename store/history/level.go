package history

import "math"

// pow and fromPow convert between dBFS and power, to average levels.
func pow(dbfs float64) float64 { return math.Pow(10, dbfs/10) }

func fromPow(p float64) float64 {
	if p <= 0 {
		return -120
	}
	return max(10*math.Log10(p), -120)
}
