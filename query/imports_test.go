package query

import (
	"testing"

	"github.com/siteanalytics/analytics/engine"
)

func TestImportsPlan(t *testing.T) {
	is := func(dim string, v ...string) *engine.Filter {
		return &engine.Filter{Op: engine.OpIs, Dim: dim, Values: v}
	}
	tests := []struct {
		name                         string
		q                            engine.Query
		table, prop, timeDim, reason string
	}{
		{"aggregate", engine.Query{Metrics: []string{"visitors", "bounce_rate"}}, "visitors", "", "", ""},
		{"by source and day", engine.Query{Metrics: []string{"visitors"}, Dimensions: []string{"visit:source", "time:day"}}, "sources", "visit:source", "time:day", ""},
		{"filtered on the table of the dimension", engine.Query{Metrics: []string{"visits"}, Dimensions: []string{"visit:utm_medium"}, Filter: is("visit:source", "Google")}, "sources", "visit:utm_medium", "", ""},
		{"aggregate filtered on one table", engine.Query{Metrics: []string{"visitors"}, Filter: &engine.Filter{Op: engine.OpOr, Children: []*engine.Filter{is("visit:country", "DE"), is("visit:country", "FR")}}}, "locations", "", "", ""},
		{"hours", engine.Query{Metrics: []string{"visitors"}, Dimensions: []string{"time:hour"}}, "", "", "", SkipUnsupportedInterval},
		{"two tables", engine.Query{Metrics: []string{"visitors"}, Dimensions: []string{"visit:source"}, Filter: is("visit:country", "DE")}, "", "", "", SkipUnsupportedQuery},
		{"two property dimensions", engine.Query{Metrics: []string{"visitors"}, Dimensions: []string{"visit:browser", "visit:os"}}, "", "", "", SkipUnsupportedQuery},
		{"a goal", engine.Query{Metrics: []string{"visitors"}, Dimensions: []string{"event:goal"}}, "", "", "", SkipUnsupportedQuery},
		{"has_done", engine.Query{Metrics: []string{"visitors"}, Filter: &engine.Filter{Op: engine.OpHasDone, Children: []*engine.Filter{is("event:name", "x")}}}, "", "", "", SkipUnsupportedQuery},
		{"bounce rate of pages", engine.Query{Metrics: []string{"bounce_rate"}, Dimensions: []string{"event:page"}}, "", "", "", SkipUnsupportedQuery},
		{"percentage", engine.Query{Metrics: []string{"percentage"}, Dimensions: []string{"visit:browser"}}, "", "", "", SkipUnsupportedQuery},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, prop, td, reason := importsPlan(tt.q)
			if table != tt.table || prop != tt.prop || td != tt.timeDim || reason != tt.reason {
				t.Errorf("plan %q %q %q %q, want %q %q %q %q", table, prop, td, reason, tt.table, tt.prop, tt.timeDim, tt.reason)
			}
		})
	}
}

func TestMatchRow(t *testing.T) {
	dims := map[string]string{"visit:source": "Google", "visit:utm_medium": "cpc"}
	tests := []struct {
		f    *engine.Filter
		want bool
	}{
		{&engine.Filter{Op: engine.OpIs, Dim: "visit:source", Values: []string{"Bing", "Google"}}, true},
		{&engine.Filter{Op: engine.OpIs, Dim: "visit:source", Values: []string{"google"}}, false},
		{&engine.Filter{Op: engine.OpIs, Dim: "visit:source", Values: []string{"google"}, CaseInsensitive: true}, true},
		{&engine.Filter{Op: engine.OpIsNot, Dim: "visit:source", Values: []string{"Google"}}, false},
		{&engine.Filter{Op: engine.OpContains, Dim: "visit:source", Values: []string{"oog"}}, true},
		{&engine.Filter{Op: engine.OpMatches, Dim: "visit:source", Values: []string{"^G.*e$"}}, true},
		{&engine.Filter{Op: engine.OpMatchesNot, Dim: "visit:source", Values: []string{"^G"}}, false},
		{&engine.Filter{Op: engine.OpIs, Dim: "visit:utm_term", Values: []string{""}}, true},
		{&engine.Filter{Op: engine.OpNot, Children: []*engine.Filter{{Op: engine.OpIs, Dim: "visit:utm_medium", Values: []string{"cpc"}}}}, false},
	}
	for i, tt := range tests {
		if got := matchRow(tt.f, dims); got != tt.want {
			t.Errorf("%d: %+v: %v, want %v", i, tt.f, got, tt.want)
		}
	}
}
