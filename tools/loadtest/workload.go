package main

import (
	"fmt"
	"time"

	"github.com/siteanalytics/analytics"
)

// session returns event i of a workload shaped like real traffic: visits of
// 5 events a minute apart (4 page views over a few of a site's 50 pages,
// then one custom event for a third of the visits), 20 sites, 3 days in
// order, 20,000 visitors who come back on other days. It sets only the fields every
// version of the pipeline has, so the same workload runs against an older
// build for comparison.
func session(i int) analytics.Event {
	s, k := i/5, i%5
	site := s % 20
	visitor := (s * 7919) % 20000
	// Time-ordered by day, as traffic arrives: 1,334 visits (6,670 events) a
	// day, so a batch holds one day's events, as it would in production.
	day := time.Date(2025, 11, 10+(s/1334)%3, 0, 0, 0, 0, time.UTC)
	start := time.Duration((s*104729)%86000) * time.Second
	ev := analytics.Event{
		ID: fmt.Sprintf("ls-%d-%d", time.Now().UnixNano()%1e9, i), SiteID: fmt.Sprintf("site-%d", site), EventType: analytics.PageView,
		Path: fmt.Sprintf("/page/%d", (s*31+k*k*7)%50), UserID: fmt.Sprintf("v%d", visitor), Timestamp: day.Add(start + time.Duration(k)*time.Minute),
	}
	if k == 4 {
		if s%3 != 0 {
			ev.Path = fmt.Sprintf("/page/%d", (s*31+3)%50)
		} else {
			ev.EventType = "signup"
		}
	}
	return ev
}
