package retry

import (
	"testing"
	"time"
)

// Waits stay within [d/2, d] and are spread over it: many retries that
// failed together do not all wait the same.
func TestJitterStaysInRangeAndSpreads(t *testing.T) {
	for _, d := range []time.Duration{1, 3, 100 * time.Millisecond, 10 * time.Second} {
		seen := map[time.Duration]bool{}
		lo, hi := d, time.Duration(0)
		for range 2000 {
			w := Jitter(d)
			if w < d/2 || w > d {
				t.Fatalf("Jitter(%v) = %v, outside [%v, %v]", d, w, d/2, d)
			}
			seen[w] = true
			lo, hi = min(lo, w), max(hi, w)
		}
		if d >= 100*time.Millisecond && (len(seen) < 1000 || hi-lo < d/2*9/10) {
			t.Errorf("Jitter(%v): %d distinct waits from %v to %v; want them spread over [%v, %v]", d, len(seen), lo, hi, d/2, d)
		}
	}
	if Jitter(0) != 0 || Jitter(-time.Second) != -time.Second {
		t.Error("Jitter of a wait <= 0 must return it unchanged")
	}
}

func TestNextDoublesUpToTheLimit(t *testing.T) {
	if got := Next(100*time.Millisecond, time.Second); got != 200*time.Millisecond {
		t.Errorf("Next(100ms, 1s) = %v", got)
	}
	if got := Next(800*time.Millisecond, time.Second); got != time.Second {
		t.Errorf("Next(800ms, 1s) = %v", got)
	}
}
