package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// The randomized run, grown to every dimension: events sent as a
// server-side client would (user_agent, ip, referrer, utm in the path) go
// through the real `serve`, and every Stats API answer is compared with
// expectations computed here, independently of the rollup package: per day,
// per calendar month, all time, per hour, per value of every property.
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
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "Chrome", "Windows", "desktop"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", "Safari", "iOS", "mobile"},
		{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Firefox", "Linux", "desktop"},
		{"Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "Chrome", "Android", "tablet"},
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

	// The model: per site and period ("2025-10-30", "2025-10", "all").
	type counter struct{ count, visitors int }
	type period struct {
		views, events int
		visitors      map[string]bool
		hours         [24]struct {
			views, events int
			visitors      map[string]bool
		}
		event map[string]map[string]*struct { // dim -> value -> count and day-visitors
			count    int
			visitors map[string]bool
		}
		visit map[string]map[string]int // dim -> value -> attributed visitors
	}
	model := map[[2]string]*period{}
	get := func(site, p string) *period {
		k := [2]string{site, p}
		if model[k] == nil {
			model[k] = &period{visitors: map[string]bool{}, event: map[string]map[string]*struct {
				count    int
				visitors map[string]bool
			}{}, visit: map[string]map[string]int{}}
		}
		return model[k]
	}
	for _, e := range evs {
		day := e.ts.Format("2006-01-02")
		for _, pk := range []string{day, e.ts.Format("2006-01"), "all"} {
			m := get(e.site, pk)
			m.events++
			if e.typ == "page_view" {
				m.views++
			}
			if pk == day {
				h := &m.hours[e.ts.Hour()]
				h.events++
				if e.typ == "page_view" {
					h.views++
				}
				if e.user != "" {
					if h.visitors == nil {
						h.visitors = map[string]bool{}
					}
					h.visitors[e.user] = true
				}
			}
			addEvent := func(dim, val string) {
				if m.event[dim] == nil {
					m.event[dim] = map[string]*struct {
						count    int
						visitors map[string]bool
					}{}
				}
				c := m.event[dim][val]
				if c == nil {
					c = &struct {
						count    int
						visitors map[string]bool
					}{visitors: map[string]bool{}}
					m.event[dim][val] = c
				}
				c.count++
				if e.user != "" {
					c.visitors[day+"|"+e.user] = true
				}
			}
			if e.typ == "page_view" {
				addEvent("page", e.path)
			}
			addEvent("name", e.typ)
			if e.user == "" || m.visitors[e.user] {
				continue
			}
			m.visitors[e.user] = true
			utm := map[string]string{}
			if q, err := url.ParseQuery(strings.TrimPrefix(e.origin[1], "?")); err == nil {
				for k := range q {
					utm[k] = q.Get(k)
				}
			}
			for dim, val := range map[string]string{"source": e.origin[2], "referrer": e.origin[3], "utm_source": utm["utm_source"],
				"utm_medium": utm["utm_medium"], "utm_campaign": utm["utm_campaign"], "browser": e.v.agent.browser, "os": e.v.agent.os,
				"device": e.v.agent.device, "country": e.v.country[1], "entry_page": e.path} {
				if val == "" {
					continue
				}
				if m.visit[dim] == nil {
					m.visit[dim] = map[string]int{}
				}
				m.visit[dim][val]++
			}
		}
	}

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

	api := func(endpoint string, q url.Values) map[string]any {
		t.Helper()
		return getJSON(t, p.reporter+"/api/v1/stats/"+endpoint+"?"+q.Encode())
	}
	num := func(v any) int { f, _ := v.(float64); return int(f) }
	type rng2 struct{ period, date, pk string }
	var ranges []rng2
	for d := 0; d < days; d++ {
		day := first.AddDate(0, 0, d).Format("2006-01-02")
		ranges = append(ranges, rng2{"day", day, day})
	}
	ranges = append(ranges, rng2{"month", "2025-10-31", "2025-10"}, rng2{"month", "2025-11-01", "2025-11"}, rng2{"all", "", "all"})

	for _, site := range sites {
		for _, r := range ranges {
			m := get(site, r.pk)
			q := url.Values{"site_id": {site}, "period": {r.period}, "metrics": {"visitors,pageviews,events"}}
			if r.date != "" {
				q.Set("date", r.date)
			}
			// Aggregate: exact on a day, a calendar month and all time.
			a := api("aggregate", q)
			res, _ := a["results"].(map[string]any)
			got := [3]int{}
			for i, k := range []string{"visitors", "pageviews", "events"} {
				mv, _ := res[k].(map[string]any)
				got[i] = num(mv["value"])
			}
			if want := [3]int{len(m.visitors), m.views, m.events}; got != want || a["approximate"] != false {
				t.Errorf("%s %s aggregate: %v approximate=%v, want %v exact", site, r.pk, got, a["approximate"], want)
			}
			// Breakdowns of every property.
			for _, prop := range []string{"event:page", "event:name", "visit:source", "visit:referrer", "visit:utm_source", "visit:utm_medium",
				"visit:utm_campaign", "visit:browser", "visit:os", "visit:device", "visit:country", "visit:entry_page"} {
				key := strings.TrimPrefix(strings.TrimPrefix(prop, "event:"), "visit:")
				bq := url.Values{"site_id": {site}, "period": {r.period}, "property": {prop}, "limit": {"1000"}}
				if r.date != "" {
					bq.Set("date", r.date)
				}
				want := map[string]counter{}
				if strings.HasPrefix(prop, "event:") {
					metric := map[string]string{"page": "pageviews", "name": "events"}[key]
					bq.Set("metrics", "visitors,"+metric)
					for val, c := range m.event[key] {
						want[val] = counter{c.count, len(c.visitors)}
					}
				} else {
					bq.Set("metrics", "visitors")
					for val, c := range m.visit[key] {
						want[val] = counter{0, c}
					}
				}
				b := api("breakdown", bq)
				rows, _ := b["results"].([]any)
				gotRows := map[string]counter{}
				for _, row := range rows {
					rm, _ := row.(map[string]any)
					val, _ := rm[key].(string)
					c := counter{visitors: num(rm["visitors"])}
					if strings.HasPrefix(prop, "event:") {
						c.count = num(rm[map[string]string{"page": "pageviews", "name": "events"}[key]])
					}
					gotRows[val] = c
				}
				if r.period == "day" || strings.HasPrefix(prop, "visit:") {
					// Exact: every value, both numbers.
					if fmt.Sprint(gotRows) != fmt.Sprint(want) || b["approximate"] != false {
						t.Errorf("%s %s %s: got %v (approximate=%v), want %v", site, r.pk, prop, gotRows, b["approximate"], want)
					}
					continue
				}
				// Event properties over a month or all time: counts exact,
				// visitors estimated from the days and said to be.
				for val, w := range want {
					g := gotRows[val]
					distinct := map[string]bool{}
					for dv := range m.event[key][val].visitors {
						distinct[dv[strings.Index(dv, "|")+1:]] = true
					}
					if g.count != w.count || g.visitors < 1 || g.visitors > w.visitors || b["approximate"] != true {
						t.Errorf("%s %s %s %q: %+v approximate=%v; want count %d, visitors in 1..%d (%d distinct)", site, r.pk, prop, val, g, b["approximate"], w.count, w.visitors, len(distinct))
					}
				}
				if len(gotRows) != len(want) {
					t.Errorf("%s %s %s: values %v, want %v", site, r.pk, prop, gotRows, want)
				}
			}
			if r.period != "day" {
				continue
			}
			// Hours of the day, exact.
			ts := api("timeseries", url.Values{"site_id": {site}, "period": {"day"}, "date": {r.date}, "interval": {"hour"}, "metrics": {"visitors,pageviews,events"}})
			rows, _ := ts["results"].([]any)
			if len(rows) != 24 {
				t.Fatalf("%s %s hourly: %d rows", site, r.pk, len(rows))
			}
			for h, row := range rows {
				rm, _ := row.(map[string]any)
				w := m.hours[h]
				got := [3]int{num(rm["visitors"]), num(rm["pageviews"]), num(rm["events"])}
				if want := [3]int{len(w.visitors), w.views, w.events}; got != want || rm["date"] != fmt.Sprintf("%s %02d:00:00", r.date, h) {
					t.Errorf("%s %s hour %d (%v): %v, want %v", site, r.pk, h, rm["date"], got, want)
				}
			}
		}
		// The four days as one custom range: counts exact, visitors
		// estimated (and said to be), daily rows exact.
		q := url.Values{"site_id": {site}, "period": {"custom"}, "date": {"2025-10-30,2025-11-02"}, "metrics": {"visitors,pageviews,events"}}
		a := api("aggregate", q)
		res, _ := a["results"].(map[string]any)
		all := get(site, "all")
		vis, _ := res["visitors"].(map[string]any)
		pv, _ := res["pageviews"].(map[string]any)
		if est := num(vis["value"]); math.Abs(float64(est-len(all.visitors))) > 0.03*float64(len(all.visitors))+1 || num(pv["value"]) != all.views || a["approximate"] != true {
			t.Errorf("%s custom range: %v, want about %d visitors (approximate) and %d page views", site, a, len(all.visitors), all.views)
		}
		ts := api("timeseries", url.Values{"site_id": {site}, "period": {"custom"}, "date": {"2025-10-30,2025-11-02"}, "interval": {"date"}, "metrics": {"visitors,pageviews"}})
		rows, _ := ts["results"].([]any)
		for d, row := range rows {
			rm, _ := row.(map[string]any)
			day := first.AddDate(0, 0, d).Format("2006-01-02")
			m := get(site, day)
			if rm["date"] != day || num(rm["visitors"]) != len(m.visitors) || num(rm["pageviews"]) != m.views {
				t.Errorf("%s daily row %d: %v, want %s %d visitors %d page views", site, d, rm, day, len(m.visitors), m.views)
			}
		}
		if len(rows) != days {
			t.Errorf("%s daily rows: %d, want %d", site, len(rows), days)
		}
	}
	if bots == 0 || dropped != bots {
		t.Fatalf("%d crawler events sent, the collector said %d were dropped as bots", bots, dropped)
	}
}
