package processor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/processor"
	"github.com/siteanalytics/analytics/realtime"
)

// The realtime line counts what was stored: a resent batch, all of whose
// events are duplicates, adds nothing.
func TestRealtimeCountsStoredEventsOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2)
	ctx := context.Background()
	rt := realtime.New(r.rdb, r.keys.Prefix)
	cfg := processor.DefaultConfig()
	cfg.Realtime = rt
	p, _ := run(t, r.consumer(t, 2*time.Second), r.store, cfg)

	now := time.Now().UTC()
	evs := make([]analytics.Event, 40)
	for i := range evs {
		typ := analytics.PageView
		if i%4 == 0 {
			typ = "signup"
		}
		evs[i] = analytics.Event{ID: fmt.Sprintf("rt-%d", i), SiteID: "rt.example", EventType: typ, Path: "/", UserID: fmt.Sprintf("u%d", i%7), Timestamp: now.Add(-time.Duration(i) * time.Second)}
	}
	read := func() realtime.Summary {
		s, err := rt.Read(ctx, "rt.example", realtime.Window)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if err := r.pub.Publish(ctx, evs); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		if s := read(); s.Events != 40 {
			return fmt.Errorf("realtime: %d events", s.Events)
		}
		return nil
	})
	if err := r.pub.Publish(ctx, evs); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		if d := p.Counters.Duplicates.Load(); d != 40 {
			return fmt.Errorf("%d duplicates", d)
		}
		return nil
	})
	if s := read(); s.Events != 40 || s.Pageviews != 30 || s.Visitors != 7 {
		t.Errorf("after the resend: %d events, %d page views, %d visitors; want 40, 30, 7", s.Events, s.Pageviews, s.Visitors)
	}
}
