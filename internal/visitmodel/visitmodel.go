// Package visitmodel computes visits the slow, obvious way, for tests: it
// takes a site's events in the order the collector received them, groups
// each visitor's into visits by the README's definitions, and counts them
// per period and per value of the visit dimensions. It shares no code with
// package visits or package rollup, so a test comparing the two can fail.
package visitmodel

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/siteanalytics/analytics"
)

// Counts are the visit counters of a period, an hour or a value.
type Counts struct {
	Visits, Bounces, Duration, Views int64
}

func (c Counts) String() string {
	return fmt.Sprintf("visits %d bounces %d duration %ds views %d", c.Visits, c.Bounces, c.Duration, c.Views)
}

// Period is what one (site, period) must count.
type Period struct {
	Total Counts
	Hours [24]Counts // days only: by the hour each visit began
	// Values: by "<dim>=<value>", dim one of source, referrer, utm_source,
	// utm_medium, utm_campaign, browser, os, device, country, entry_page,
	// exit_page.
	Values map[string]Counts
}

// Model is the visits of events added to it. Not safe for concurrent use.
type Model struct {
	timeout  time.Duration
	seen     map[string]bool     // site/id
	visitors map[string]*visitor // site|visitor
	parts    []*part             // every visit (part of a day) so far
}

type visitor struct {
	last  time.Time
	attrs analytics.VisitAttrs
	cur   *part
}

// part is a visit, or its part of one UTC day.
type part struct {
	site  string
	began time.Time
	attrs analytics.VisitAttrs
	times []time.Time
	pages []string // paths of its page views ("" for a page view without one)
}

// New returns an empty model of visits with the given timeout.
func New(timeout time.Duration) *Model {
	return &Model{timeout: timeout, seen: map[string]bool{}, visitors: map[string]*visitor{}}
}

// AddRequest takes the events of the next request the collector received:
// a request's events count in time order (those at the same instant in the
// order sent).
func (m *Model) AddRequest(evs []analytics.Event) {
	sorted := append([]analytics.Event(nil), evs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Timestamp.Before(sorted[j].Timestamp) })
	for _, e := range sorted {
		m.Add(e)
	}
}

// Add takes the next event the collector received, alone in its request.
// An id already added for the site is a resend, counted once; an event
// older than its visitor's last is late and counts in no visit; events
// without a visitor are in no visit.
func (m *Model) Add(e analytics.Event) {
	if m.seen[e.SiteID+"/"+e.ID] {
		return
	}
	m.seen[e.SiteID+"/"+e.ID] = true
	if e.UserID == "" {
		return
	}
	v := m.visitors[e.SiteID+"|"+e.UserID]
	ts := e.Timestamp.UTC()
	switch {
	case v != nil && ts.Before(v.last):
		return // late
	case v == nil || ts.Sub(v.last) > m.timeout:
		v = &visitor{attrs: e.VisitAttrs()}
		m.visitors[e.SiteID+"|"+e.UserID] = v
		v.cur = m.open(e.SiteID, ts, v.attrs)
	case day(ts) != day(v.last):
		v.cur = m.open(e.SiteID, ts, v.attrs)
	}
	v.last = ts
	v.cur.times = append(v.cur.times, ts)
	if e.EventType == analytics.PageView {
		v.cur.pages = append(v.cur.pages, e.Path)
	}
}

func (m *Model) open(site string, ts time.Time, attrs analytics.VisitAttrs) *part {
	p := &part{site: site, began: ts, attrs: attrs}
	m.parts = append(m.parts, p)
	return p
}

func day(t time.Time) string { return t.UTC().Format(analytics.DateLayout) }

// Periods returns what each (site, period) must count, by "site|period",
// period being a day (YYYY-MM-DD), a month (YYYY-MM) or "all".
func (m *Model) Periods() map[string]*Period {
	out := map[string]*Period{}
	for _, p := range m.parts {
		var c Counts
		c.Visits = 1
		c.Views = int64(len(p.pages))
		if len(p.pages) == 1 {
			c.Bounces = 1
		}
		for i := 1; i < len(p.times); i++ {
			c.Duration += (p.times[i].Sub(p.times[i-1]).Milliseconds() + 500) / 1000
		}
		var entry, exit string
		for _, pg := range p.pages {
			if pg != "" {
				if entry == "" {
					entry = pg
				}
				exit = pg
			}
		}
		source := p.attrs.Source
		if source == "" {
			source = "Direct / None"
		}
		values := map[string]string{
			"source": source, "referrer": p.attrs.Referrer(), "utm_source": p.attrs.UTMSource, "utm_medium": p.attrs.UTMMedium,
			"utm_campaign": p.attrs.UTMCampaign, "browser": p.attrs.Browser, "os": p.attrs.OS, "device": p.attrs.Device,
			"country": p.attrs.Country, "entry_page": entry, "exit_page": exit,
		}
		for i, period := range []string{day(p.began), p.began.UTC().Format("2006-01"), "all"} {
			k := p.site + "|" + period
			pr := out[k]
			if pr == nil {
				pr = &Period{Values: map[string]Counts{}}
				out[k] = pr
			}
			pr.Total = add(pr.Total, c)
			if i == 0 {
				pr.Hours[p.began.UTC().Hour()] = add(pr.Hours[p.began.UTC().Hour()], c)
			}
			for dim, val := range values {
				if val != "" {
					pr.Values[dim+"="+val] = add(pr.Values[dim+"="+val], c)
				}
			}
		}
	}
	return out
}

func add(a, b Counts) Counts {
	return Counts{a.Visits + b.Visits, a.Bounces + b.Bounces, a.Duration + b.Duration, a.Views + b.Views}
}

// Diff lists the differences between what a period must count (want) and
// what was counted (got), "" when none: totals, hours (days only) and every
// value with any visit on either side.
func Diff(want *Period, got *Period, hours bool) string {
	if want == nil {
		want = &Period{}
	}
	var out []string
	if want.Total != got.Total {
		out = append(out, fmt.Sprintf("total: %v, want %v", got.Total, want.Total))
	}
	if hours {
		for h := range want.Hours {
			if want.Hours[h] != got.Hours[h] {
				out = append(out, fmt.Sprintf("hour %02d: %v, want %v", h, got.Hours[h], want.Hours[h]))
			}
		}
	}
	keys := map[string]bool{}
	for k := range want.Values {
		keys[k] = true
	}
	for k, c := range got.Values {
		if c != (Counts{}) {
			keys[k] = true
		}
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if want.Values[k] != got.Values[k] {
			out = append(out, fmt.Sprintf("%s: %v, want %v", k, got.Values[k], want.Values[k]))
		}
	}
	return strings.Join(out, "; ")
}

// Referrer is a referrer the generator sends and what the collector makes
// of it.
type Referrer struct{ URL, Source, Host string }

// Referrers are the referrers of generated visits; the first is none.
var Referrers = []Referrer{
	{"", "", ""},
	{"https://www.google.com/search?q=analytics", "Google", "google.com"},
	{"https://news.ycombinator.com/item?id=1", "Hacker News", "news.ycombinator.com"},
}

// Pages are the paths of generated page views ("" is a page view without
// a path).
var Pages = []string{"/", "/pricing", "/docs", "/blog/post-1", "/signup", ""}

// Generate returns n events of the visitors on sites, in the order a
// collector is to receive them: each visitor's events in their own order,
// visitors interleaved. They hold every case the rules have: visits of one
// page view (bounces) and of many, custom events, gaps around the timeout
// (exactly it, a millisecond more), visits across UTC midnight (and a
// month's end when from is one's last days), events out of order, resent
// ids, millisecond timestamps, events without a visitor. The first event
// of each visit has a referrer from Referrers (Client.Referrer, and Source
// and ReferrerHost as the collector derives them).
func Generate(rng interface{ IntN(int) int }, sites []string, visitors, n int, from time.Time, days int, timeout time.Duration) []analytics.Event {
	type person struct {
		site, id string
		t        time.Time
		sent     []analytics.Event
	}
	people := make([]*person, visitors)
	for i := range people {
		start := from.Add(time.Duration(rng.IntN(days*86400)) * time.Second)
		if i%5 == 0 { // a few minutes before midnight
			start = from.AddDate(0, 0, rng.IntN(days)).Add(24*time.Hour - time.Duration(1+rng.IntN(300))*time.Second)
		}
		people[i] = &person{site: sites[i%len(sites)], id: fmt.Sprintf("visitor-%d", i), t: start.Add(-time.Hour)}
	}
	// No gap of 0: the order of one visitor's events at the same millisecond is
	// not defined (the engine orders by time alone).
	gaps := []time.Duration{time.Millisecond, time.Second, 7 * time.Second, 1499 * time.Millisecond, 1500 * time.Millisecond, 45 * time.Second,
		3 * time.Minute, 10 * time.Minute, timeout, timeout + time.Millisecond, timeout - time.Millisecond, 2 * timeout, 5 * time.Hour}
	out := make([]analytics.Event, 0, n)
	for k := 0; len(out) < n; k++ {
		p := people[rng.IntN(len(people))]
		id := fmt.Sprintf("%s-e%d", p.id, k)
		typ := analytics.PageView
		if rng.IntN(4) == 0 {
			typ = []string{"click", "signup"}[rng.IntN(2)]
		}
		e := analytics.Event{ID: id, SiteID: p.site, EventType: typ, Path: Pages[rng.IntN(len(Pages))], UserID: p.id}
		switch r := rng.IntN(100); {
		case len(p.sent) > 0 && r < 5: // a client resending an event
			out = append(out, p.sent[rng.IntN(len(p.sent))])
			continue
		case len(p.sent) > 0 && r < 10: // out of order
			e.Timestamp = p.t.Add(-time.Duration(1+rng.IntN(120000)) * time.Millisecond)
		case len(p.sent) == 0 || r < 22: // a new visit
			p.t = p.t.Add(timeout + time.Duration(1+rng.IntN(4*3600))*time.Second)
			ref := Referrers[rng.IntN(len(Referrers))]
			e.Client.Referrer, e.Source, e.ReferrerHost = ref.URL, ref.Source, ref.Host
			if ref.Host != "" {
				// The collector keeps the URL without its query.
				e.ReferrerURL, _, _ = strings.Cut(ref.URL, "?")
			}
			e.Timestamp = p.t
		default:
			p.t = p.t.Add(gaps[rng.IntN(len(gaps))])
			if rng.IntN(3) == 0 {
				p.t = p.t.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
			}
			e.Timestamp = p.t
		}
		if len(p.sent) > 0 && rng.IntN(50) == 0 {
			e.UserID = "" // no visitor: in no visit
		}
		p.sent = append(p.sent, e)
		out = append(out, e)
	}
	return out
}
