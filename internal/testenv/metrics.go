package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/redis/go-redis/v9"
)

// Metrics is a /metrics page as the Prometheus text parser reads it.
type Metrics map[string]*dto.MetricFamily

// Scrape gets url (a /metrics address) and parses it with the Prometheus
// text parser; anything but a 200 in the text format is an error.
func Scrape(url string) (Metrics, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET %s: %s %s", url, resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		return nil, fmt.Errorf("GET %s: Content-Type %q, want the Prometheus text format", url, ct)
	}
	var p expfmt.TextParser
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return mf, nil
}

// Sum adds up the samples of the family name whose labels include labels
// (name, value pairs): counter, gauge and untyped values, and for a
// histogram the number of observations. A missing family sums to 0.
func (m Metrics) Sum(name string, labels ...string) float64 {
	f := m[name]
	if f == nil {
		return 0
	}
	var sum float64
	for _, s := range f.GetMetric() {
		if !hasLabels(s, labels) {
			continue
		}
		switch {
		case s.Counter != nil:
			sum += s.Counter.GetValue()
		case s.Gauge != nil:
			sum += s.Gauge.GetValue()
		case s.Untyped != nil:
			sum += s.Untyped.GetValue()
		case s.Histogram != nil:
			sum += float64(s.Histogram.GetSampleCount())
		}
	}
	return sum
}

func hasLabels(s *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range s.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// QueueTotals reads the fleet counters from `analytics-cli queue`'s
// output: the lines after "Totals since the queue was created", keyed by
// the counter's name ("dead lettered" is dead_lettered).
func QueueTotals(out string) (map[string]int64, error) {
	_, totals, ok := strings.Cut(out, "Totals since the queue was created\n")
	if !ok {
		return nil, fmt.Errorf("no totals in the queue's output:\n%s", out)
	}
	got := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(totals), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("totals line %q", line)
		}
		n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("totals line %q: %w", line, err)
		}
		got[strings.Join(f[:len(f)-1], "_")] = n
	}
	return got, nil
}

// Workload is a known mix of requests, sent by SendWorkload, and what the
// counters must say once it is processed.
var Workload = struct {
	// Counters are the totals of the fleet (and of /metrics, summed over
	// the daemons) after it.
	Counters map[string]int64
	// Events are the collector's requests by route and status.
	Events map[[2]string]float64
	// Published is how many requests queued events (bots queue nothing).
	Published float64
	// Acked is how many events the processor acknowledged: stored,
	// duplicate and dead-lettered.
	Acked float64
}{
	Counters: map[string]int64{
		"accepted": 10, "rejected": 3, "unavailable": 0, "bots": 2,
		"stored": 9, "duplicates": 1, "dead_lettered": 1, "retried": 0, "fenced": 0, "takeovers": 0,
	},
	Events:    map[[2]string]float64{{"/event", "202"}: 9, {"/event", "400"}: 1, {"/events", "202"}: 1},
	Published: 8,
	Acked:     11,
}

// SendWorkload sends Workload through the collector at url: 5 valid
// events, a batch of 3 valid and 2 invalid ones, 1 invalid event, 2 events
// from a crawler and one event twice with the same id; and it appends one
// entry that is no event (a poison entry, dead-lettered) to stream, a
// partition of the queue.
func SendWorkload(t testing.TB, url string, rdb redis.UniversalClient, stream string) {
	t.Helper()
	send := func(path, ua, body string, want int) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if ua != "" {
			req.Header.Set("User-Agent", ua)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s %s: %s %s, want %d", path, body, resp.Status, b, want)
		}
	}
	ev := func(path string) string {
		return `{"site_id":"metrics.example","event_type":"page_view","path":"` + path + `"}`
	}
	for i := range 5 {
		send("/event", "", ev(fmt.Sprintf("/p%d", i)), http.StatusAccepted)
	}
	send("/events", "", "["+ev("/b1")+","+ev("/b2")+","+ev("/b3")+`,{"site_id":"metrics.example"},{"event_type":"click"}]`, http.StatusAccepted)
	send("/event", "", `{"site_id":"metrics.example","event_type":""}`, http.StatusBadRequest)
	for range 2 {
		send("/event", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", ev("/crawled"), http.StatusAccepted)
	}
	for range 2 {
		send("/event", "", `{"id":"0190d6a4-7c1e-7000-8000-000000000001","site_id":"metrics.example","event_type":"page_view","path":"/twice"}`, http.StatusAccepted)
	}
	if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: []any{"e", "this is not an event"}}).Err(); err != nil {
		t.Fatal(err)
	}
}

// CheckWorkload compares what pages (the /metrics of the collector and of
// the processor; one page when one process runs both) and the fleet totals
// (`analytics-cli queue`'s) say with Workload, once it is processed: every
// counter the fleet totals hold equals the sum of the pages'; requests by
// route and status, publishes and acknowledgements are exact; the queue is
// drained.
func CheckWorkload(totals map[string]int64, pages ...Metrics) error {
	sum := func(name string, labels ...string) float64 {
		var s float64
		for _, p := range pages {
			s += p.Sum(name, labels...)
		}
		return s
	}
	for name, want := range Workload.Counters {
		if got := totals[name]; got != want {
			return fmt.Errorf("fleet total %s = %d, want %d (all: %v)", name, got, want, totals)
		}
	}
	for name, total := range totals {
		metric := "analytics_" + name + "_total"
		if got := sum(metric); got != float64(total) {
			return fmt.Errorf("%s = %v on /metrics, but the fleet total %s is %d", metric, got, name, total)
		}
	}
	for rc, want := range Workload.Events {
		if got := sum("analytics_http_request_duration_seconds", "server", "collector", "route", rc[0], "code", rc[1]); got != want {
			return fmt.Errorf("collector requests %s %s: %v, want %v", rc[0], rc[1], got, want)
		}
	}
	if got := sum("analytics_queue_publish_duration_seconds", "result", "ok"); got != Workload.Published {
		return fmt.Errorf("%v publishes, want %v", got, Workload.Published)
	}
	if got := sum("analytics_processor_lag_seconds"); got != Workload.Acked {
		return fmt.Errorf("processor lag observed %v events, want %v", got, Workload.Acked)
	}
	for name, want := range map[string]float64{
		"analytics_queue_status_up": 1, "analytics_queue_backlog_events": 0, "analytics_queue_pending_entries": 0,
		"analytics_queue_oldest_age_seconds": 0, "analytics_queue_dead_letters": 1, "analytics_queue_processors": 1,
	} {
		if got := sum(name); got != want {
			return fmt.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	return nil
}
