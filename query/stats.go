package query

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
)

// pageviewNames are the event names the engine counts as page views (see
// package engine); top_paths reads page views only.
var pageviewNames = []string{"pageview"}

// Stats answers GET /stats (the seed's shape) through the engine, for the
// site's day q.Date (its time zone) or all time: total_views is the
// pageviews metric, unique_users the visitors metric with no filter (the
// distinct user ids of events of any type), top_paths the page views per
// event:page, most first, ties by path.
func Stats(ctx context.Context, a engine.Answerer, site Site, q analytics.StatsQuery, now time.Time) (analytics.Stats, error) {
	st := analytics.Stats{SiteID: q.SiteID, TopPaths: []analytics.PathViews{}}
	loc := site.Loc()
	var r Range
	if q.Date != "" {
		d, ok := parseDate(q.Date)
		if !ok {
			return st, invalid("date: %q is not a date in YYYY-MM-DD format", q.Date)
		}
		r = dayRange(d, d, loc)
		st.Date = &q.Date
	} else {
		// All time: events may be stamped up to an hour ahead of now.
		tomorrow := dateOf(now, loc).add(1)
		r = Range{From: epoch, To: tomorrow.add(1).midnight(loc), Loc: loc, Last: tomorrow}
	}
	ctx = engine.ShareBlocks(ctx)
	tot, err := a.Query(ctx, site.engineQuery(r, []string{engine.Pageviews, engine.Visitors}, nil, nil))
	if err != nil {
		return st, err
	}
	if len(tot.Rows) > 0 {
		m := metricsOf([]string{engine.Pageviews, engine.Visitors}, tot.Rows[0])
		if v, ok := m[0].(int64); ok {
			st.TotalViews = v
		}
		if v, ok := m[1].(int64); ok {
			st.UniqueUsers = v
		}
	}
	eq := site.engineQuery(r, []string{engine.Pageviews}, []string{engine.EventPage},
		[]*engine.Filter{{Op: engine.OpIs, Dim: engine.EventName, Values: pageviewNames}})
	eq.OrderBy = []engine.Order{{By: engine.Pageviews, Desc: true}, {By: engine.EventPage}}
	eq.Limit = q.Limit
	top, err := a.Query(ctx, eq)
	if err != nil {
		return st, err
	}
	for _, row := range top.Rows {
		views, _ := metricsOf([]string{engine.Pageviews}, row)[0].(int64)
		if views <= 0 {
			continue // a path with no page view in the range is not a top path
		}
		st.TopPaths = append(st.TopPaths, analytics.PathViews{Path: first(row.Dimensions), Views: views})
	}
	return st, nil
}

// Funnel is a parsed funnel request: GET /api/v1/stats/funnel?site_id=S&
// funnel=NAME[&period=...&date=...&filters=...] (v1 periods and filters).
type Funnel struct {
	Site    Site
	Period  string
	Range   Range
	Funnel  engine.Funnel
	Filters []*engine.Filter
}

// ParseFunnel validates a funnel request for site. Errors are of kind
// analytics.Invalid.
func ParseFunnel(v url.Values, site Site, now time.Time) (*Funnel, error) {
	name := v.Get("funnel")
	if name == "" {
		return nil, invalid("The `funnel` parameter is required: the name of one of the site's funnels (%s).", funnelNames(site))
	}
	q := &Funnel{Site: site, Period: v.Get("period")}
	found := false
	for _, f := range site.Funnels {
		if f.Name == name {
			q.Funnel, found = f, true
		}
	}
	if !found {
		return nil, invalid("The funnel `%s` is not configured for this site (its funnels: %s). Add it with `analytics-cli funnels add`.", name, funnelNames(site))
	}
	if q.Period == "" {
		q.Period = "30d"
	}
	var err error
	if q.Range, err = v1Range(q.Period, v.Get("date"), site.Loc(), now); err != nil {
		return nil, err
	}
	f := v.Get("filters")
	if strings.HasPrefix(strings.TrimSpace(f), "[") {
		// v2 filters as JSON (the dashboard's): values are taken as they
		// are, where v1's syntax reads ';', '|' and '*' in them.
		q.Filters, err = ParseV2Filters([]byte(f))
	} else {
		q.Filters, err = ParseV1Filters(f, site)
	}
	if err != nil {
		return nil, err
	}
	return q, nil
}

func funnelNames(site Site) string {
	if len(site.Funnels) == 0 {
		return "none"
	}
	s := ""
	for i, f := range site.Funnels {
		if i > 0 {
			s += ", "
		}
		s += f.Name
	}
	return s
}

// Run answers the funnel: {"funnel": NAME, "date_range": [first, last],
// "steps": [{"goal", "visitors", "dropoff", "conversion_rate",
// "conversion_rate_step"}]}: per step in order, the visitors who reached
// it within one visit having reached every step before it, how many of the
// previous step's did not, and the share (percent, two decimals) of the
// first step's and of the previous step's visitors.
func (q *Funnel) Run(ctx context.Context, a engine.Answerer) (Object, error) {
	var err error
	if q.Range, err = resolveAll(ctx, a, q.Site, q.Range); err != nil {
		return nil, err
	}
	steps, err := a.Funnel(ctx, q.Site.engineQuery(q.Range, nil, nil, q.Filters), q.Funnel)
	if err != nil {
		return nil, err
	}
	for i := range steps {
		steps[i].ConversionRate = round(steps[i].ConversionRate, 2)
		steps[i].ConversionRateStep = round(steps[i].ConversionRateStep, 2)
	}
	if steps == nil {
		steps = []engine.FunnelStep{}
	}
	return Object{{"funnel", q.Funnel.Name}, {"date_range", []string{q.Range.First.String(), q.Range.Last.String()}}, {"steps", steps}}, nil
}
