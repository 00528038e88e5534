// Package retry spreads retries: every wait between attempts of the
// daemons is jittered, so processors (or restarts) that failed together do
// not retry together. The SDK, a module of its own, does the same in its
// client (sdk/client.go).
package retry

import (
	"math/rand/v2"
	"time"
)

// Jitter returns a wait drawn uniformly from [d/2, d] ("equal jitter"): at
// least half the planned wait, so the backoff still grows, and spread over
// the other half. d <= 0 is returned as is.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d/2 + rand.N(d-d/2+1)
}

// Next is the planned wait after d: doubled, at most limit.
func Next(d, limit time.Duration) time.Duration { return min(d*2, limit) }
