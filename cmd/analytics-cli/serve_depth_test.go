package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/statsmodel"
	"github.com/siteanalytics/analytics/mongostore"
)

// The randomized run, grown to every dimension: events sent as a
// server-side client would (user_agent, ip, referrer, utm in the path) go
// through the real `serve`, and every Stats API answer is compared, exactly,
// with the answer of the independent model (internal/statsmodel) over the
// events sent: per day, per calendar month, all time, a custom range, per
// hour and day, per value of every property (visit properties with
// Plausible's session semantics: a visitor counts in every value of any of
// their visits in the range).
func TestRandomizedDimensions(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	rng := rand.New(rand.NewPCG(9, uint64(time.Now().UnixNano())))
	run := fmt.Sprintf("%d", time.Now().UnixNano()%1e9)
	sites := []string{"dims-a-" + run, "dims-b-" + run}
	first := time.Date(2025, 10, 30, 0, 0, 0, 0, time.UTC) // four days across a month's end
	const days = 4

	type agent struct{ ua, browser, os, device string }
	agents := []agent{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "Chrome", "Windows", "Desktop"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", "Safari", "iOS", "Mobile"},
		{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Firefox", "Linux", "Desktop"},
		{"Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "Chrome", "Android", "Tablet"},
	}
	countries := [][2]string{{"8.8.8.8", "US"}, {"80.156.0.1", "DE"}, {"210.130.0.1", "JP"}, {"195.154.0.1", "FR"}}
	// referrer, utm query, source, referrer host
	origins := [][4]string{
		{"", "", "Direct / None", ""},
		{"https://www.google.com/search?q=analytics", "", "Google", "google.com"},
		{"https://news.ycombinator.com/item?id=42", "", "Hacker News", "news.ycombinator.com"},
		{"https://blog.example.org/post/1", "", "blog.example.org", "blog.example.org"},
		{"https://shop.example/cart", "", "Direct / None", ""}, // the site's own host
		{"", "?utm_source=newsletter&utm_medium=email&utm_campaign=launch", "newsletter", ""},
		{"https://t.co/abc", "?utm_source=hn&utm_campaign=spring%20sale", "Hacker News", "t.co"},
	}
	paths := []string{"/", "/pricing", "/docs/a.b", "/blog/post-1"}
	types := []string{"page_view", "page_view", "page_view", "signup", "Order Completed"}

	type visitor struct {
		id      string
		agent   agent
		country [2]string
	}
	var visitors []visitor
	for i := 0; i < 30; i++ {
		visitors = append(visitors, visitor{fmt.Sprintf("v%d", i), agents[rng.IntN(len(agents))], countries[rng.IntN(len(countries))]})
	}

	type ev struct {
		site, typ, path, user string
		ts                    time.Time
		v                     visitor
		origin                [4]string
	}
	const n = 1500
	var evs []ev
	for i := 0; i < n; i++ {
		e := ev{site: sites[rng.IntN(len(sites))], typ: types[rng.IntN(len(types))], path: paths[rng.IntN(len(paths))],
			ts: first.Add(time.Duration(rng.IntN(days*86400)) * time.Second), origin: origins[rng.IntN(len(origins))]}
		if rng.IntN(6) != 0 {
			e.v = visitors[rng.IntN(len(visitors))]
			e.user = e.v.id
		} else {
			e.v = visitor{agent: agents[0], country: countries[0]}
		}
		evs = append(evs, e)
	}
	// One site's events are processed in the order they arrive; sending in
	// time order makes "first event of the period" the earliest.
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].ts.Before(evs[j].ts) })

	// Send, as a server-side client, in batches; a crawler's events ride
	// along and must not count.
	var batch []map[string]any
	bots, dropped := 0, 0
	flush := func() {
		body, _ := json.Marshal(batch)
		code, resp := post(t, p.collector+"/events", string(body))
		var reply struct{ Bots int }
		if code != 202 || json.Unmarshal([]byte(resp), &reply) != nil {
			t.Fatalf("POST /events: %d %s", code, resp)
		}
		dropped += reply.Bots
		batch = batch[:0]
	}
	for i, e := range evs {
		m := map[string]any{"id": fmt.Sprintf("dims-%s-%d", run, i), "site_id": e.site, "event_type": e.typ,
			"path": e.path + e.origin[1], "timestamp": e.ts.Format(time.RFC3339), "user_agent": e.v.agent.ua, "ip": e.v.country[0],
			"url": "https://shop.example" + e.path}
		if e.user != "" {
			m["user_id"] = e.user
		}
		if e.origin[0] != "" {
			m["referrer"] = e.origin[0]
		}
		batch = append(batch, m)
		if i%97 == 0 {
			bots++
			batch = append(batch, map[string]any{"site_id": e.site, "event_type": "page_view", "path": "/", "timestamp": e.ts.Format(time.RFC3339),
				"user_agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "ip": "66.249.66.1"})
		}
		if len(batch) >= 100 {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	p.waitProcessed(t, n, n)

	// The expectations: the independent model (internal/statsmodel, which
	// the engine is tested against) over the events as this test sent and
	// expects them enriched. Only the collector's visit note (the visit's
	// attributes when it began, possibly on an earlier day) is taken from
	// the stored events; everything else they hold must be what the test
	// expects.
	store, err := mongostore.Open(context.Background(), p.env["MONGODB_URI"], mongostore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
	var model []analytics.Event
	for i, e := range evs {
		utm := url.Values{}
		if e.origin[1] != "" {
			utm, _ = url.ParseQuery(strings.TrimPrefix(e.origin[1], "?"))
		}
		model = append(model, analytics.Event{ID: fmt.Sprintf("dims-%s-%d", run, i), SiteID: e.site, EventType: e.typ, Path: e.path,
			UserID: e.user, Timestamp: e.ts, UTMSource: utm.Get("utm_source"), UTMMedium: utm.Get("utm_medium"), UTMCampaign: utm.Get("utm_campaign"),
			Source: e.origin[2], ReferrerHost: e.origin[3], Browser: e.v.agent.browser, OS: e.v.agent.os, Device: e.v.agent.device, Country: e.v.country[1]})
		if e.origin[3] != "" { // an outside referrer's URL is kept without its query
			model[len(model)-1].ReferrerURL, _, _ = strings.Cut(e.origin[0], "?")
		}
	}
	stored := map[string]analytics.Event{}
	for _, site := range sites {
		err := store.EachEvent(context.Background(), site, time.Time{}, time.Time{}, func(e analytics.Event) error {
			stored[e.ID] = e
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(stored) != n {
		t.Fatalf("%d events stored, want %d", len(stored), n)
	}
	for i := range model {
		m := &model[i]
		if m.Source == engine.Direct {
			m.Source = ""
		}
		got, ok := stored[m.ID]
		if !ok {
			t.Fatalf("event %s not stored", m.ID)
		}
		m.Visit = got.Visit
		g := got
		g.Props = nil
		if !g.Timestamp.Equal(m.Timestamp) {
			t.Fatalf("event %s stored at %v, sent at %v", m.ID, g.Timestamp, m.Timestamp)
		}
		g.Timestamp = m.Timestamp
		if !reflect.DeepEqual(g, *m) {
			t.Fatalf("event stored as\n%+v\nwant\n%+v", g, *m)
		}
	}
	answer := func(q engine.Query) []engine.Row {
		t.Helper()
		res, err := statsmodel.Answer(model, q)
		if err != nil {
			t.Fatal(err)
		}
		return res.Rows
	}
	api := func(endpoint string, q url.Values) map[string]any {
		t.Helper()
		return getJSON(t, p.reporter+"/api/v1/stats/"+endpoint+"?"+q.Encode())
	}
	num := func(v any) int { f, _ := v.(float64); return int(f) }
	type rng2 struct {
		period, date, pk string
		from, to         time.Time
	}
	var ranges []rng2
	for d := 0; d < days; d++ {
		day := first.AddDate(0, 0, d)
		ranges = append(ranges, rng2{"day", day.Format("2006-01-02"), day.Format("2006-01-02"), day, day.AddDate(0, 0, 1)})
	}
	oct, nov := time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	ranges = append(ranges, rng2{"month", "2025-10-31", "2025-10", oct, nov}, rng2{"month", "2025-11-01", "2025-11", nov, nov.AddDate(0, 1, 0)},
		rng2{"all", "", "all", first, time.Now().Add(time.Hour)},
		rng2{"custom", "2025-10-30,2025-11-02", "custom", first, first.AddDate(0, 0, days)})

	// v1 breakdowns show empty values as Plausible's do: no row for an
	// empty campaign, entry page or country; "(not set)" for an empty
	// browser, OS or device; source and referrer name it Direct / None.
	dropEmpty := map[string]bool{engine.UTMSource: true, engine.UTMMedium: true, engine.UTMCampaign: true, engine.EntryPage: true, engine.Country: true}
	notSet := map[string]bool{engine.Browser: true, engine.OS: true, engine.Device: true}
	for _, site := range sites {
		for _, r := range ranges {
			base := engine.Query{Site: site, From: r.from, To: r.to}
			q := url.Values{"site_id": {site}, "period": {r.period}, "metrics": {"visitors,pageviews,events"}}
			if r.date != "" {
				q.Set("date", r.date)
			}
			// Aggregate.
			a := api("aggregate", q)
			res, _ := a["results"].(map[string]any)
			got := [3]int{}
			for i, k := range []string{"visitors", "pageviews", "events"} {
				mv, _ := res[k].(map[string]any)
				got[i] = num(mv["value"])
			}
			aq := base
			aq.Metrics = []string{engine.Visitors, engine.Pageviews, engine.Events}
			w := answer(aq)[0]
			if want := [3]int{num(w.Metrics[0]), num(w.Metrics[1]), num(w.Metrics[2])}; got != want || a["approximate"] != nil || want[1] == 0 {
				t.Errorf("%s %s aggregate: %v (approximate %v), want %v, no approximate field", site, r.pk, got, a["approximate"], want)
			}
			// Breakdowns of every property: every value, both numbers.
			for _, prop := range []string{engine.EventPage, engine.EventName, engine.Source, engine.Referrer, engine.UTMSource, engine.UTMMedium,
				engine.UTMCampaign, engine.Browser, engine.OS, engine.Device, engine.Country, engine.EntryPage} {
				key := strings.TrimPrefix(strings.TrimPrefix(prop, "event:"), "visit:")
				second := map[string]string{"page": engine.Pageviews, "name": engine.Events}[key]
				if second == "" {
					second = engine.Visits
				}
				bq := url.Values{"site_id": {site}, "period": {r.period}, "property": {prop}, "limit": {"1000"}, "metrics": {"visitors," + second}}
				if r.date != "" {
					bq.Set("date", r.date)
				}
				mq := base
				mq.Metrics, mq.Dimensions = []string{engine.Visitors, second}, []string{prop}
				want := map[string][2]int{}
				for _, row := range answer(mq) {
					val := row.Dimensions[0]
					if val == "" && dropEmpty[prop] {
						continue
					}
					if val == "" && notSet[prop] {
						val = "(not set)"
					}
					want[val] = [2]int{num(row.Metrics[0]), num(row.Metrics[1])}
				}
				b := api("breakdown", bq)
				rows, _ := b["results"].([]any)
				gotRows := map[string][2]int{}
				for _, row := range rows {
					rm, _ := row.(map[string]any)
					val, _ := rm[key].(string)
					gotRows[val] = [2]int{num(rm["visitors"]), num(rm[second])}
				}
				if fmt.Sprint(gotRows) != fmt.Sprint(want) || len(want) == 0 || b["approximate"] != nil {
					t.Errorf("%s %s %s: got %v (approximate %v), want %v", site, r.pk, prop, gotRows, b["approximate"], want)
				}
			}
			// Hours of a day, days of the custom range.
			interval, dim := "hour", engine.TimeHour
			switch r.period {
			case "custom":
				interval, dim = "date", engine.TimeDay
			case "day":
			default:
				continue
			}
			ts := api("timeseries", url.Values{"site_id": {site}, "period": {r.period}, "date": {r.date}, "interval": {interval}, "metrics": {"visitors,pageviews,events"}})
			rows, _ := ts["results"].([]any)
			tq := base
			tq.Metrics, tq.Dimensions, tq.TimeLabels = []string{engine.Visitors, engine.Pageviews, engine.Events}, []string{dim}, true
			wrows := answer(tq)
			if len(rows) != len(wrows) || len(rows) != map[string]int{"hour": 24, "date": days}[interval] {
				t.Fatalf("%s %s %s timeseries: %d rows, want %d", site, r.pk, interval, len(rows), len(wrows))
			}
			for i, row := range rows {
				rm, _ := row.(map[string]any)
				w := wrows[i]
				got := [3]int{num(rm["visitors"]), num(rm["pageviews"]), num(rm["events"])}
				if want := [3]int{num(w.Metrics[0]), num(w.Metrics[1]), num(w.Metrics[2])}; got != want || rm["date"] != w.Dimensions[0] {
					t.Errorf("%s %s %s %d (%v): %v, want %s %v", site, r.pk, interval, i, rm["date"], got, w.Dimensions[0], want)
				}
			}
		}
	}
	if bots == 0 || dropped != bots {
		t.Fatalf("%d crawler events sent, the collector said %d were dropped as bots", bots, dropped)
	}
}
