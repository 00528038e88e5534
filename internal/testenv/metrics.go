package testenv

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
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
