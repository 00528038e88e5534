package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
	"github.com/siteanalytics/analytics/internal/statsmodel"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/internal/visitmodel"
)

// TestVisitsExactThroughKillAndReplay sends randomized visits (every case
// of the rules: bounces, custom events, gaps at the timeout, midnight and a
// month's end, events out of order, resent ids) through the real
// collector, in order, one request after another, while it breaks things:
// some queued entries are dead-lettered (as if their database refused
// them), a processor is killed with SIGKILL mid-run, and the dead letters
// are replayed with `analytics-cli queue replay` at the end. Then it
// compares, through the Stats API, every visit number of every day, month
// and all time (visits, bounce rate, visit duration, views per visit; per
// hour; per source, entry page and exit page) with an independent model
// computed from the events sent, and again after `analytics-cli rebuild`.
func TestVisitsExactThroughKillAndReplay(t *testing.T) {
	e := newEnv(t, testenv.RedisURL(t), testenv.MongoURI(t))
	col := e.start(t, "collector")
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(14, seed))
	sites := []string{"visits-a", "visits-b"}
	const timeout = 30 * time.Minute
	events := visitmodel.Generate(rng, sites, 50, 2400, time.Date(2025, 10, 30, 0, 0, 0, 0, time.UTC), 3, timeout)
	var sentOrder []analytics.Event
	client := &http.Client{Timeout: 10 * time.Second}
	next := 0
	send := func(upTo int) {
		t.Helper()
		for next < upTo {
			req := events[next:min(upTo, next+1+rng.IntN(20))]
			postVisits(t, client, col.URL, req)
			sentOrder = append(sentOrder, req...)
			next += len(req)
		}
	}

	// 1. Entries queued before any processor runs; some of them are
	// dead-lettered, as a processor does when the database refuses an
	// event for good (nothing of it stored).
	send(len(events) / 5)
	// A database refuses a document whenever it is sent: events sent
	// twice are left alone, as their second copy would be refused too.
	sent := map[string]int{}
	for _, ev := range events {
		sent[ev.ID]++
	}
	dead := deadLetterSome(t, e, 12, func(id string) bool { return sent[id] == 1 })

	// 2. A processor, killed with SIGKILL while events flow; another takes
	// its partitions over, replaying what it had been handed.
	p1 := e.start(t, "processor")
	send(len(events) / 2)
	p1.Kill()
	send(len(events) * 3 / 4)
	e.start(t, "processor")
	send(len(events))

	// 3. The dead letters, replayed once "the cause is fixed".
	waitDrained(t, e)
	r := e.startCLI(t, "queue", "replay")
	if err := r.wait(t, 60*time.Second); err != nil || !strings.Contains(r.out.String(), fmt.Sprint(dead)) {
		t.Fatalf("queue replay of %d dead letters: %v\n%s", dead, err, r.out.String())
	}
	waitDrained(t, e)

	reporter := e.reporterURL(t)
	mismatches := compareVisits(t, reporter, sites, sentOrder)
	for _, site := range sites {
		r := e.startCLI(t, "rebuild", "--site", site)
		if err := r.wait(t, 120*time.Second); err != nil {
			t.Fatalf("rebuild %s: %v\n%s", site, err, r.out.String())
		}
	}
	mismatches += compareVisits(t, reporter, sites, sentOrder)
	t.Logf("FAULT %-28s events %6d  %d dead letters replayed  mismatches %d (seed %d)", "visits: SIGKILL and replay", len(events), dead, mismatches, seed)
}

// postVisits sends events as one request, again (same ids) until it is
// answered 202, as the SDK does.
func postVisits(t *testing.T, client *http.Client, collector string, evs []analytics.Event) {
	t.Helper()
	body := make([]map[string]any, len(evs))
	for i, ev := range evs {
		m := map[string]any{"id": ev.ID, "site_id": ev.SiteID, "event_type": ev.EventType, "timestamp": ev.Timestamp.Format(time.RFC3339Nano)}
		if ev.Path != "" {
			m["path"] = ev.Path
		}
		if ev.UserID != "" {
			m["user_id"] = ev.UserID
		}
		if ev.Client.Referrer != "" {
			m["referrer"] = ev.Client.Referrer
		}
		body[i] = m
	}
	b, _ := json.Marshal(body)
	testenv.Eventually(t, 30*time.Second, func() error {
		resp, err := client.Post(collector+"/events", "application/json", bytes.NewReader(b))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(out), fmt.Sprintf(`"accepted":%d`, len(evs))) {
			return fmt.Errorf("POST /events: %s %s", resp.Status, out)
		}
		return nil
	})
}

// deadLetterSome moves up to n entries no processor has seen, of events
// ok accepts, from the partition streams to the dead letters, as a
// processor does with an event the database refuses, and returns how many
// it moved.
func deadLetterSome(t *testing.T, e *env, n int, ok func(id string) bool) int {
	t.Helper()
	ctx := context.Background()
	rdb, keys := e.redis(), e.keys()
	moved := 0
	for p := 0; p < keys.Partitions && moved < n; p++ {
		msgs, err := rdb.XRange(ctx, keys.Stream(p), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var ev struct{ ID string }
			if raw, _ := m.Values["e"].(string); json.Unmarshal([]byte(raw), &ev) != nil || !ok(ev.ID) || moved == n {
				continue
			}
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: keys.DeadLetters(), Values: []any{
				"partition", p, "entry", m.ID, "e", m.Values["e"], "error", "test: refused by the database", "at", time.Now().UTC().Format(time.RFC3339Nano),
			}}).Err(); err != nil {
				t.Fatal(err)
			}
			if err := rdb.XDel(ctx, keys.Stream(p), m.ID).Err(); err != nil {
				t.Fatal(err)
			}
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no queued entry to dead-letter")
	}
	return moved
}

func waitDrained(t *testing.T, e *env) {
	t.Helper()
	testenv.Eventually(t, 120*time.Second, e.drained)
}

// rounded are the Stats API's visit metrics as it rounds them
// (Plausible's: bounce rate and duration whole, views per visit to 2
// places), from the model's exact values.
func rounded(row engine.Row) [4]float64 {
	f := func(i int) float64 { v, _ := row.Metrics[i].(float64); return v }
	return [4]float64{f(0), math.Round(f(1)), math.Round(f(2)), math.Round(100*f(3)) / 100}
}

const visitMetrics = "visits,bounce_rate,visit_duration,views_per_visit"

// compareVisits asks the reporter for every visit number of every day,
// month and all time of sites and compares it with the independent model
// (internal/statsmodel) over the events sent; it returns how many differ
// (each an error of the test).
func compareVisits(t *testing.T, reporter string, sites []string, events []analytics.Event) int {
	t.Helper()
	bad := 0
	check := func(what string, got, exp [4]float64) {
		if got != exp {
			bad++
			t.Errorf("%s: visits, bounce_rate, visit_duration, views_per_visit = %v, want %v", what, got, exp)
		}
	}
	metrics := strings.Split(visitMetrics, ",")
	for _, site := range sites {
		periods := map[string]bool{"all": true}
		first := time.Now()
		for _, ev := range events {
			if ev.SiteID == site {
				d := ev.Timestamp.UTC()
				periods[d.Format("2006-01-02")] = true
				periods[d.Format("2006-01")] = true
				if d.Before(first) {
					first = d
				}
			}
		}
		for period := range periods {
			q := url.Values{"site_id": {site}, "metrics": {visitMetrics}}
			mq := engine.Query{Site: site, Metrics: metrics}
			switch {
			case period == "all":
				q.Set("period", "all")
				mq.From = time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC)
				mq.To = time.Now().UTC().AddDate(0, 0, 1).Truncate(24 * time.Hour)
			case len(period) == len("2006-01"):
				q.Set("period", "month")
				q.Set("date", period+"-01")
				mq.From, _ = time.Parse("2006-01", period)
				mq.To = mq.From.AddDate(0, 1, 0)
			default:
				q.Set("period", "day")
				q.Set("date", period)
				mq.From, _ = time.Parse("2006-01-02", period)
				mq.To = mq.From.AddDate(0, 0, 1)
			}
			key := site + " " + period
			want, err := statsmodel.Answer(events, mq)
			if err != nil {
				t.Fatal(err)
			}
			var agg struct {
				Results map[string]struct{ Value float64 } `json:"results"`
			}
			getJSON(t, reporter+"/api/v1/stats/aggregate?"+q.Encode(), &agg)
			var got [4]float64
			for i, m := range metrics {
				got[i] = agg.Results[m].Value
			}
			check(key+" aggregate", got, rounded(want.Rows[0]))
			for _, prop := range []string{"entry_page", "exit_page"} {
				bq := url.Values{}
				for k, v := range q {
					bq[k] = v
				}
				bq.Set("property", "visit:"+prop)
				bq.Set("limit", "1000")
				// Plausible's v1 breakdown does not take views_per_visit.
				bq.Set("metrics", "visits,bounce_rate,visit_duration")
				var br struct {
					Results []map[string]any `json:"results"`
				}
				getJSON(t, reporter+"/api/v1/stats/breakdown?"+bq.Encode(), &br)
				rows := map[string][4]float64{}
				for _, r := range br.Results {
					var v [4]float64
					for i, m := range metrics[:3] {
						v[i], _ = r[m].(float64)
					}
					if v[0] != 0 {
						rows[fmt.Sprint(r[prop])] = v
					}
				}
				bm := mq
				bm.Dimensions = []string{"visit:" + prop}
				// A v1 breakdown leaves out visits without an entry or
				// exit page, as Plausible's does.
				bm.Filter = &engine.Filter{Op: engine.OpIsNot, Dim: "visit:" + prop, Values: []string{""}}
				wb, err := statsmodel.Answer(events, bm)
				if err != nil {
					t.Fatal(err)
				}
				exp := map[string][4]float64{}
				for _, r := range wb.Rows {
					if v := rounded(r); v[0] != 0 {
						v[3] = 0 // not asked of the breakdown
						exp[r.Dimensions[0]] = v
					}
				}
				for _, val := range union(rows, exp) {
					check(fmt.Sprintf("%s breakdown %s=%s", key, prop, val), rows[val], exp[val])
				}
			}
			if q.Get("period") == "day" {
				q.Set("interval", "hour")
				q.Set("metrics", "visits")
				var ts struct {
					Results []struct {
						Date   string
						Visits float64
					} `json:"results"`
				}
				getJSON(t, reporter+"/api/v1/stats/timeseries?"+q.Encode(), &ts)
				hq := mq
				hq.Metrics, hq.Dimensions, hq.TimeLabels = []string{engine.Visits}, []string{engine.TimeHour}, true
				wh, err := statsmodel.Answer(events, hq)
				if err != nil {
					t.Fatal(err)
				}
				for h, r := range ts.Results {
					if h >= len(wh.Rows) || r.Visits != wh.Rows[h].Metrics[0].(float64) {
						bad++
						t.Errorf("%s hour %s: %v visits, model %v", key, r.Date, r.Visits, wh.Rows[min(h, len(wh.Rows)-1)])
					}
				}
			}
		}
	}
	return bad
}

func union(a, b map[string][4]float64) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", u, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %s", u, err, b)
	}
}
