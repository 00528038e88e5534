package statsmodel

import (
	"fmt"
	"math/rand"
	"sort"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
)

// Site is one site of Workload's: its id, IANA time zone, goals and
// funnels.
type Site struct {
	ID      string
	Zone    string
	Goals   []engine.Goal
	Funnels []engine.Funnel
}

// Location is the site's time zone.
func (s Site) Location() *time.Location {
	loc, err := time.LoadLocation(s.Zone)
	if err != nil {
		panic("statsmodel: " + err.Error())
	}
	return loc
}

var (
	goalSignup  = engine.Goal{Name: "signup", Event: "signup"}
	goalPricing = engine.Goal{Name: "Visit /pricing", Page: "/pricing"}
	goalBlog    = engine.Goal{Name: "Visit /blog/**", Page: "/blog/**"}
	goalDocs    = engine.Goal{Name: "Visit /docs/*", Page: "/docs/*"}
	goalDone    = engine.Goal{Name: "Visit /checkout/done", Page: "/checkout/done"}
	goalPaid    = engine.Goal{Name: "purchase", Event: "purchase"}
)

// Sites are the sites Workload writes for, the first the busiest. Their
// zones see DST change inside Workload's windows (America/Los_Angeles
// 2026-03-08 and 2026-11-01, Europe/Berlin 2026-03-29 and 2026-10-25);
// Asia/Kolkata has a half-hour offset.
var Sites = []Site{
	{ID: "la.example", Zone: "America/Los_Angeles",
		Goals: []engine.Goal{goalSignup, goalPricing, goalBlog, goalDocs, goalDone, goalPaid},
		Funnels: []engine.Funnel{
			{Name: "checkout", Steps: []engine.Goal{goalPricing, goalSignup, goalDone}},
			{Name: "blog", Steps: []engine.Goal{goalBlog, goalPricing}},
		}},
	{ID: "berlin.example", Zone: "Europe/Berlin",
		Goals:   []engine.Goal{goalSignup, goalBlog, goalPaid},
		Funnels: []engine.Funnel{{Name: "buy", Steps: []engine.Goal{goalDocs, goalSignup, goalPaid}}}},
	{ID: "utc.example", Zone: "UTC", Goals: []engine.Goal{goalPricing}},
	{ID: "kolkata.example", Zone: "Asia/Kolkata"},
}

var siteWeights = []int{4, 3, 2, 1}

// Windows are the UTC days Workload's events fall in: each a start and a
// length. Together they hold both DST changes of America/Los_Angeles and of
// Europe/Berlin in 2026 and a year's end.
var Windows = []struct {
	From time.Time
	Days int
}{
	{time.Date(2025, 12, 30, 0, 0, 0, 0, time.UTC), 4},
	{time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC), 3},
	{time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC), 3},
	{time.Date(2026, 6, 14, 0, 0, 0, 0, time.UTC), 3},
	{time.Date(2026, 10, 24, 0, 0, 0, 0, time.UTC), 3},
	{time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC), 3},
}

var (
	paths     = []string{"/", "/", "/pricing", "/pricing", "/blog/a", "/blog/2026/b", "/blog/", "/docs/start", "/docs/api/x", "/checkout", "/checkout/done", "/about", "/Pricing"}
	sources   = []struct{ source, host string }{{"", ""}, {"", ""}, {"Google", "google.com"}, {"Bing", "bing.com"}, {"news.example.com", "news.example.com"}, {"Twitter", "t.co"}, {"newsletter", ""}}
	browsers  = []struct{ browser, os, device string }{{"Chrome", "Windows", "Desktop"}, {"Firefox", "Linux", "Desktop"}, {"Safari", "iOS", "Mobile"}, {"Safari", "Mac", "Desktop"}, {"Chrome", "Android", "Tablet"}, {"", "", ""}}
	countries = []string{"US", "US", "DE", "IN", "FR", "GB", ""}
	customs   = []string{"signup", "click", "purchase", "download", "Signup"}
	plans     = []string{"free", "pro", "team"}
	amounts   = []float64{9.99, 10, 100, 0.5, 1e6, -3}
)

// Workload returns about n events (plus about 3% resends) of Sites, in the
// order a collector would receive them: a visit's events in time order
// except late ones (about 4%, received 10 minutes to 6 hours after their
// time), interleaved across visitors and sites. It is a pure function of
// seed and n.
//
// It holds visits across local midnight and across DST changes, events at
// exactly local midnight, gaps of exactly 30 minutes, 30 minutes and a
// second, and 29:59, visitors on several sites under one id, events without
// a visitor, visits with and without the collector's Visit note (whose
// Attrs, the first event's, differ from later events' own fields), UTM
// parameters, props of every kind (strings, numbers, booleans), custom
// events including "pageview" as a name. A resend repeats an id of its
// site later in the order: most are identical copies, one in four carries
// another path and time (a client reusing an id); the store keeps the
// first. No visitor has two events at the same instant on one site, and
// times are whole seconds.
func Workload(seed int64, n int) []analytics.Event {
	r := rand.New(rand.NewSource(seed))
	type arrival struct {
		at time.Time
		e  analytics.Event
	}
	var out []arrival
	used := map[string]bool{} // site|visitor|unix second
	nextID := 0
	newID := func() string {
		nextID++
		return fmt.Sprintf("w%d-%07d", seed, nextID)
	}
	pick := func(weights []int) int {
		sum := 0
		for _, w := range weights {
			sum += w
		}
		x := r.Intn(sum)
		for i, w := range weights {
			if x < w {
				return i
			}
			x -= w
		}
		return len(weights) - 1
	}
	visitors := n/12 + 5

	for count := 0; count < n; {
		s := Sites[pick(siteWeights)]
		loc := s.Location()
		w := Windows[r.Intn(len(Windows))]
		var start time.Time
		switch k := r.Intn(20); {
		case k < 6: // shortly before local midnight
			day := w.From.In(loc).AddDate(0, 0, r.Intn(w.Days))
			start = time.Date(day.Year(), day.Month(), day.Day(), 23, 30+r.Intn(30), r.Intn(60), 0, loc)
		case k < 7: // exactly at local midnight
			day := w.From.In(loc).AddDate(0, 0, 1+r.Intn(w.Days-1))
			start = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
		case k < 11: // around 1-3 am local, where clocks change
			day := w.From.In(loc).AddDate(0, 0, r.Intn(w.Days))
			start = time.Date(day.Year(), day.Month(), day.Day(), 0, 30+r.Intn(150), r.Intn(60), 0, loc)
		default:
			start = w.From.Add(time.Duration(r.Int63n(int64(w.Days) * int64(24*time.Hour))))
		}
		start = start.Truncate(time.Second)

		user := fmt.Sprintf("v%d", r.Intn(visitors))
		length := 1
		for length < 9 && r.Intn(10) < 6 {
			length++
		}
		if r.Intn(25) == 0 {
			user, length = "", 1 // no visitor (a server-side event)
		}
		src := sources[r.Intn(len(sources))]
		br := browsers[r.Intn(len(browsers))]
		attrs := analytics.VisitAttrs{Source: src.source, ReferrerHost: src.host, Browser: br.browser, OS: br.os, Device: br.device,
			Country: countries[r.Intn(len(countries))]}
		// Most referrers come with their URL (two pages of one host are
		// two referrers); some only with a host, as events stored before
		// URLs were kept.
		if src.host != "" && r.Intn(5) != 0 {
			attrs.ReferrerURL = "https://" + src.host + []string{"/", "/a", "/b"}[r.Intn(3)]
		}
		var utmContent, utmTerm string
		if r.Intn(4) == 0 {
			attrs.UTMSource = []string{"newsletter", "google", "x"}[r.Intn(3)]
			attrs.UTMMedium = []string{"email", "cpc"}[r.Intn(2)]
			attrs.UTMCampaign = []string{"spring", "launch", "black friday"}[r.Intn(3)]
			if attrs.UTMSource == "newsletter" {
				attrs.Source = "newsletter"
			}
			if r.Intn(2) == 0 {
				utmContent, utmTerm = []string{"banner", "link"}[r.Intn(2)], []string{"analytics", "privacy"}[r.Intn(2)]
			}
		}
		noted := user != "" && r.Intn(5) < 3

		t := start
		for i := 0; i < length && count < n; i++ {
			if i > 0 {
				switch k := r.Intn(40); {
				case k == 0:
					t = t.Add(30 * time.Minute)
				case k == 1:
					t = t.Add(30*time.Minute + time.Second)
				case k == 2:
					t = t.Add(30*time.Minute - time.Second)
				case k < 5:
					t = t.Add(time.Duration(10+r.Intn(50)) * time.Minute)
				default:
					t = t.Add(time.Duration(1+r.Intn(600)) * time.Second)
				}
			}
			for user != "" && used[s.ID+"|"+user+"|"+fmt.Sprint(t.Unix())] {
				t = t.Add(time.Second)
			}
			used[s.ID+"|"+user+"|"+fmt.Sprint(t.Unix())] = true

			e := analytics.Event{ID: newID(), SiteID: s.ID, UserID: user, Timestamp: t.UTC()}
			switch k := r.Intn(20); {
			case i == 0 && k < 16, i > 0 && k < 12:
				e.EventType = analytics.PageView
				e.Path = paths[r.Intn(len(paths))]
				if r.Intn(6) == 0 {
					e.Props = map[string]any{"author": []string{"ann", "bob"}[r.Intn(2)]}
				}
			case k < 13:
				e.EventType = "pageview"
				e.Path = paths[r.Intn(len(paths))]
			default:
				e.EventType = customs[r.Intn(len(customs))]
				if r.Intn(3) > 0 {
					e.Path = paths[r.Intn(len(paths))]
				}
				e.Props = map[string]any{}
				if r.Intn(3) > 0 {
					e.Props["plan"] = plans[r.Intn(len(plans))]
				}
				if r.Intn(2) == 0 {
					e.Props["amount"] = amounts[r.Intn(len(amounts))]
				}
				if r.Intn(3) == 0 {
					e.Props["trial"] = r.Intn(2) == 0
				}
			}
			// The first event carries the visit's attributes; later ones
			// an internal referrer (none), sometimes another country.
			e.Browser, e.OS, e.Device = attrs.Browser, attrs.OS, attrs.Device
			e.Country = attrs.Country
			if i == 0 {
				e.Source, e.ReferrerHost, e.ReferrerURL = attrs.Source, attrs.ReferrerHost, attrs.ReferrerURL
				e.UTMSource, e.UTMMedium, e.UTMCampaign = attrs.UTMSource, attrs.UTMMedium, attrs.UTMCampaign
				e.UTMContent, e.UTMTerm = utmContent, utmTerm
			} else if r.Intn(8) == 0 {
				e.Country = countries[r.Intn(len(countries))]
			}
			if noted {
				e.Visit = &analytics.Visit{Start: i == 0, Began: start.UTC(), Attrs: attrs}
			}
			at := t.Add(time.Duration(r.Intn(5)) * time.Second)
			if r.Intn(25) == 0 {
				at = t.Add(10*time.Minute + time.Duration(r.Int63n(int64(6*time.Hour))))
			}
			out = append(out, arrival{at, e})
			count++
		}
	}

	base := len(out)
	for i := 0; i < base/33; i++ {
		orig := out[r.Intn(base)]
		again := orig.e
		again.Props = orig.e.Props // read only: sharing the map is fine
		at := orig.at.Add(time.Duration(1+r.Intn(3600)) * time.Second)
		if r.Intn(4) == 0 {
			again.Path = "/resent"
			again.Timestamp = again.Timestamp.Add(time.Duration(1+r.Intn(600)) * time.Second)
		}
		out = append(out, arrival{at, again})
	}
	// Arrival order; a resend whose arrival ties with its original still
	// comes after it (stable sort).
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	events := make([]analytics.Event, len(out))
	for i, a := range out {
		events[i] = a.e
	}
	return events
}
