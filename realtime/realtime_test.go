package realtime_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/realtime"
)

func ev(site, typ, user string, at time.Time) analytics.Event {
	return analytics.Event{SiteID: site, EventType: typ, UserID: user, Path: "/", Timestamp: at}
}

func TestWindowCountsDistinctVisitorsAndViews(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	s := realtime.New(rdb, prefix)
	now := time.Now().UTC()
	s.SetClock(func() time.Time { return now })
	ctx := context.Background()
	err := s.Record(ctx, []analytics.Event{
		ev("a", analytics.PageView, "u1", now),
		ev("a", analytics.PageView, "u1", now.Add(-10*time.Minute)), // same visitor, another minute
		ev("a", "signup", "u2", now.Add(-29*time.Minute)),           // the window's first minute
		ev("a", analytics.PageView, "u3", now.Add(-30*time.Minute)), // just outside: skipped
		ev("a", analytics.PageView, "u4", now.Add(2*time.Minute)),   // ahead of the clock: skipped
		ev("a", analytics.PageView, "u5", now.Add(30*time.Second)),  // within a minute ahead: this minute
		ev("b", analytics.PageView, "u1", now),                      // another site
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Read(ctx, "a", realtime.Window)
	if err != nil {
		t.Fatal(err)
	}
	if got.Visitors != 3 || got.Pageviews != 3 || got.Events != 4 || len(got.Series) != realtime.Window {
		t.Fatalf("window: %d visitors, %d page views, %d events, %d minutes; want 3, 3, 4, 30", got.Visitors, got.Pageviews, got.Events, len(got.Series))
	}
	last, first := got.Series[len(got.Series)-1], got.Series[0]
	if !last.Minute.Equal(now.Truncate(time.Minute)) || last.Pageviews != 2 || first.Events != 1 || first.Pageviews != 0 {
		t.Errorf("series: first %+v, last %+v", first, last)
	}
	five, err := s.Read(ctx, "a", 5)
	if err != nil {
		t.Fatal(err)
	}
	if five.Visitors != 2 || five.Pageviews != 2 {
		t.Errorf("last 5 minutes: %+v; want 2 visitors (u1, u5), 2 page views", five)
	}
	// Keys expire after the window.
	ttl := rdb.TTL(ctx, fmt.Sprintf("%srt:{a}:%d", prefix, now.Unix()/60)).Val()
	if ttl <= 30*time.Minute || ttl > 36*time.Minute {
		t.Errorf("a minute's key lives %v; want a little more than the window", ttl)
	}
	// Half an hour later it is all gone from the window.
	now = now.Add(31 * time.Minute)
	if got, _ := s.Read(ctx, "a", realtime.Window); got.Visitors != 0 || got.Events != 0 {
		t.Errorf("31 minutes later: %+v", got)
	}
	if _, err := s.Read(ctx, "a", 31); err == nil {
		t.Error("31 minutes: no error")
	}
}

// Processors record concurrently; counts add up exactly.
func TestConcurrentRecords(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	s := realtime.New(rdb, prefix)
	ctx := context.Background()
	now := time.Now()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := s.Record(ctx, []analytics.Event{ev("c", analytics.PageView, fmt.Sprintf("u%d", (w*50+i)%120), now)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	got, err := s.Read(ctx, "c", realtime.Window)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pageviews != 400 || got.Visitors != 120 {
		t.Errorf("%d page views from %d visitors; want 400 from 120", got.Pageviews, got.Visitors)
	}
}
