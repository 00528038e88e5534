// Package sketch keeps the distinct-visitor sketches of rollups: a
// HyperLogLog per day and month (github.com/axiomhq/hyperloglog, precision
// 14, about 0.8% standard error), so visitors over a range that is not a
// day, a calendar month or all time can be estimated by merging them. The
// estimate is never passed off as exact: answers built from it say
// "approximate".
package sketch

import (
	"fmt"

	"github.com/axiomhq/hyperloglog"
)

// Add returns the sketch b (nil for empty) with the visitor keys added.
func Add(b []byte, visitors []string) ([]byte, error) {
	s, err := decode(b)
	if err != nil {
		return nil, err
	}
	for _, v := range visitors {
		s.Insert([]byte(v))
	}
	return s.MarshalBinary()
}

// Union estimates the number of distinct visitors over several sketches;
// nil sketches are empty.
func Union(sketches ...[]byte) (int64, error) {
	u := hyperloglog.New14()
	for _, b := range sketches {
		if len(b) == 0 {
			continue
		}
		s, err := decode(b)
		if err != nil {
			return 0, err
		}
		if err := u.Merge(s); err != nil {
			return 0, fmt.Errorf("sketch: merge: %w", err)
		}
	}
	return int64(u.Estimate()), nil
}

func decode(b []byte) (*hyperloglog.Sketch, error) {
	s := hyperloglog.New14()
	if len(b) == 0 {
		return s, nil
	}
	if err := s.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("sketch: unreadable: %w", err)
	}
	return s, nil
}
