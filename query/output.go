package query

import (
	"bytes"
	"encoding/json"
	"math"

	"github.com/siteanalytics/analytics/engine"
)

// Object is a JSON object that keeps its keys in order, so answers list
// dimensions first and metrics in the order asked, like Plausible's.
type Object []Field

// Field is one key of an Object.
type Field struct {
	Key   string
	Value any
}

// MarshalJSON implements json.Marshaler.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Get returns the value of key, nil when absent.
func (o Object) Get(key string) any {
	for _, f := range o {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func round(f float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(f*p) / p
}

// present writes an engine's metric value as Plausible's APIs do: counts,
// bounce rate and visit duration as whole numbers, views per visit and
// conversion rates with two decimals (66.67), percentages with one; nil stays nil
// (null: no value, as the visit duration of a bucket without visits).
// Counts are exact; only ratios are rounded, and only for display.
func present(metric string, v any) any {
	f, ok := toFloat(v)
	if !ok {
		return nil
	}
	switch metric {
	case engine.Visitors, engine.Visits, engine.Pageviews, engine.Events, engine.BounceRate, engine.VisitDuration:
		return int64(math.Round(f))
	case engine.ViewsPerVisit, engine.ConversionRate, engine.GroupConversionRate:
		return round(f, 2)
	case engine.Percentage:
		return round(f, 1)
	}
	return f
}

// change is Plausible's Compare.calculate_change: the bounce rate's
// difference in points (nil when the old rate is 0), a conversion rate's
// difference in points (one decimal), else the change in
// percent, rounded (100 from nothing, 0 from nothing to nothing; nil
// without an old value).
func change(metric string, old, cur any) any {
	o, ok1 := toFloat(old)
	c, ok2 := toFloat(cur)
	if !ok1 || !ok2 {
		return nil
	}
	if metric == engine.BounceRate {
		if o > 0 {
			return int64(math.Round(c - o))
		}
		return nil
	}
	if metric == engine.ConversionRate || metric == engine.GroupConversionRate {
		// A rate's change is its difference in points, with one
		// decimal, as Plausible's Compare.calculate_change.
		return round(c-o, 1)
	}
	switch {
	case o == 0 && c > 0:
		return int64(100)
	case o == 0:
		return int64(0)
	}
	return int64(math.Round((c - o) / o * 100))
}

// zero is a metric's value where nothing was counted.
func zero(metric string) any {
	switch metric {
	case engine.VisitDuration:
		return nil
	case engine.ViewsPerVisit, engine.Percentage, engine.ConversionRate, engine.GroupConversionRate:
		return 0.0
	}
	return int64(0)
}
