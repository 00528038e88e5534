// Package imported holds the aggregates brought in from another analytics
// tool (Plausible's CSV export): daily tables of counts, not events. They
// are kept beside the events (never mixed into them) and added to an
// answer only when a query asks for them (Stats API v2 include.imports, v1
// with_imported=true), which then says so.
//
// A table holds, per day of the site's time zone, rows of counts for
// values of one group of properties (sources: source, referrer and UTM;
// pages: the page...). Rows are keyed by the properties' names as the
// Stats API spells them (visit:source, event:page).
package imported

import (
	"context"
	"sort"
	"strings"
)

// Tables, as Plausible names its imported_* tables (without the prefix).
const (
	Visitors         = "visitors"
	Sources          = "sources"
	Pages            = "pages"
	EntryPages       = "entry_pages"
	ExitPages        = "exit_pages"
	CustomEvents     = "custom_events"
	Locations        = "locations"
	Devices          = "devices"
	Browsers         = "browsers"
	OperatingSystems = "operating_systems"
)

// TableNames lists every table, in the order an import writes them.
var TableNames = []string{Visitors, Sources, Pages, EntryPages, ExitPages, CustomEvents, Locations, Devices, Browsers, OperatingSystems}

// Row is one row of a table's day: the values of the table's properties
// and its counts. VisitDuration is the total of its visits' durations in
// seconds, so rows add up.
type Row struct {
	Dims          map[string]string `bson:"d,omitempty" json:"dims,omitempty"`
	Visitors      int64             `bson:"vr,omitempty" json:"visitors,omitempty"`
	Visits        int64             `bson:"vs,omitempty" json:"visits,omitempty"`
	Pageviews     int64             `bson:"pv,omitempty" json:"pageviews,omitempty"`
	Bounces       int64             `bson:"b,omitempty" json:"bounces,omitempty"`
	VisitDuration int64             `bson:"du,omitempty" json:"visit_duration,omitempty"`
	Events        int64             `bson:"ev,omitempty" json:"events,omitempty"`
}

func (r *Row) add(o Row) {
	r.Visitors += o.Visitors
	r.Visits += o.Visits
	r.Pageviews += o.Pageviews
	r.Bounces += o.Bounces
	r.VisitDuration += o.VisitDuration
	r.Events += o.Events
}

// Day is one table's rows of one day (YYYY-MM-DD, the site's time zone):
// the unit an import writes, so importing a day again replaces it.
type Day struct {
	Table string
	Date  string
	Rows  []Row
}

// Span is the first and last day a site has imported data for; zero when
// it has none.
type Span struct {
	First, Last string
}

// Empty reports whether the site has no imported data.
func (s Span) Empty() bool { return s.First == "" }

// Source reads a site's imported days. It is implemented by mongostore.
type Source interface {
	// ImportedSpan returns the days the site has imported data for.
	ImportedSpan(ctx context.Context, site string) (Span, error)
	// ImportedDays returns table's days from first to last (inclusive,
	// YYYY-MM-DD), in date order; days without data are left out.
	ImportedDays(ctx context.Context, site, table, first, last string) ([]Day, error)
}

// TableOf returns the table that holds prop (a Stats API property), if any.
func TableOf(prop string) (string, bool) {
	for t, props := range tableProps {
		for _, p := range props {
			if p == prop {
				return t, true
			}
		}
	}
	return "", false
}

// Props returns the properties a table's rows are keyed by.
func Props(table string) []string { return tableProps[table] }

var tableProps = map[string][]string{
	Visitors:         nil,
	Sources:          {"visit:source", "visit:referrer", "visit:utm_source", "visit:utm_medium", "visit:utm_campaign", "visit:utm_content", "visit:utm_term"},
	Pages:            {"event:page"},
	EntryPages:       {"visit:entry_page"},
	ExitPages:        {"visit:exit_page"},
	CustomEvents:     {"event:name"},
	Locations:        {"visit:country"},
	Devices:          {"visit:device"},
	Browsers:         {"visit:browser"},
	OperatingSystems: {"visit:os"},
}

// VisitMetrics reports whether a table's rows count visits with their
// bounces and durations (pages and custom events count no bounces or
// durations, so bounce_rate and visit_duration cannot include them).
func VisitMetrics(table string) bool {
	return table != Pages && table != CustomEvents
}

// collapse sums the rows of equal properties (a country's regions and
// cities, a browser's versions), sorted by their properties.
func collapse(rows []Row) []Row {
	idx := map[string]int{}
	var out []Row
	for _, r := range rows {
		k := dimsKey(r.Dims)
		if i, ok := idx[k]; ok {
			out[i].add(r)
			continue
		}
		idx[k] = len(out)
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return dimsKey(out[i].Dims) < dimsKey(out[j].Dims) })
	return out
}

func dimsKey(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(d[k])
		b.WriteByte(0)
	}
	return b.String()
}
