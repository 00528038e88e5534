package mongostore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
)

// storeAt stores one page view of site at ts.
func storeAt(t *testing.T, s *Store, id, site string, ts time.Time) {
	t.Helper()
	if _, err := s.Apply(context.Background(), batch(pv(id, site, "/", "u", ts.UTC().Format(time.RFC3339)))); err != nil {
		t.Fatal(err)
	}
}

// A processor whose clock runs years ahead cannot raise a horizon past
// what the database server's clock gives: a horizon never goes back down,
// so one raised from a wrong clock would delete raw events and drop new
// ones for good.
func TestHorizonBoundedByTheServerClock(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	storeAt(t, s, "e1", "clock.example", now.Add(-time.Hour))
	ahead := now.AddDate(3, 0, 0)
	if _, err := s.RaiseHorizons(ctx, 30, ahead); err != nil {
		t.Fatal(err)
	}
	h, err := s.Horizon(ctx, "clock.example")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := s.ServerTime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := HorizonFor(30, srv); !h.Equal(want) {
		t.Fatalf("horizon %v from a processor clock at %v; want %v, from the server's clock %v", h, ahead, want, srv)
	}
	if d := time.Until(srv); d > time.Minute || d < -time.Minute {
		t.Fatalf("server time %v is %v from this machine's", srv, d)
	}
}

// A horizon later than the newest stored event plus a day means a clock is
// wrong (events arrive in real time): it is refused with an error naming
// the site and the dates, and nothing is raised; once events reach it, it
// is raised.
func TestHorizonLaterThanTheNewestEventIsRefused(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	storeAt(t, s, "old-1", "old.example", now.AddDate(-3, 0, 0))
	_, err := s.RaiseHorizons(ctx, 30, now)
	if err == nil || analytics.KindOf(err) != analytics.Invalid || !strings.Contains(err.Error(), "old.example") ||
		!strings.Contains(err.Error(), HorizonFor(30, now).Format(analytics.DateLayout)) {
		t.Fatalf("RaiseHorizons over 3-year-old events only: %v; want a refusal naming the site and the horizon", err)
	}
	if h, err := s.Horizon(ctx, "old.example"); err != nil || !h.IsZero() {
		t.Fatalf("refused horizon recorded: %v, %v", h, err)
	}
	storeAt(t, s, "new-1", "old.example", now.Add(-time.Hour))
	if _, err := s.RaiseHorizons(ctx, 30, now); err != nil {
		t.Fatal(fmt.Errorf("with a fresh event: %w", err))
	}
	if h, err := s.Horizon(ctx, "old.example"); err != nil || !h.Equal(HorizonFor(30, now)) {
		t.Fatalf("horizon %v, %v; want %v", h, err, HorizonFor(30, now))
	}
}
