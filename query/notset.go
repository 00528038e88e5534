package query

import (
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
)

// NotSet is Plausible's name for the empty value of a visit property that
// has no name of its own for it (visit:source and visit:referrer have
// engine.Direct): a visit without a campaign, or whose User-Agent named no
// browser.
const NotSet = "(not set)"

// notSetDims are the properties whose empty value the answers show as
// NotSet, and filters match by that name, as Plausible's SQL expressions
// do (field_or_blank_value in Plausible.Stats.SQL.Expression).
var notSetDims = map[string]bool{
	engine.UTMSource: true, engine.UTMMedium: true, engine.UTMCampaign: true, engine.UTMContent: true,
	engine.UTMTerm: true, engine.Browser: true, engine.OS: true, engine.Device: true,
}

// v1Dropped are the properties whose empty value a v1 breakdown leaves
// out instead (Plausible's Legacy.Breakdown dimension_filters): a visit
// without a campaign is no campaign row, a visit without page views no
// entry or exit page row, an unknown country no country row. The
// condition goes to the engine, so that limit and page count shown rows.
var v1Dropped = map[string]bool{
	engine.UTMSource: true, engine.UTMMedium: true, engine.UTMCampaign: true, engine.UTMContent: true,
	engine.UTMTerm: true, engine.EntryPage: true, engine.ExitPage: true, engine.Country: true,
}

// shownValue is how an answer shows the engine's value v of property dim:
// a page decoded, as Plausible stores it ("/blog/post|1", "/café"; paths
// are kept in one percent-encoding, see analytics.NormalizePath, and
// filters are read in it, see pageValues).
func shownValue(dim, v string) string {
	if v == "" && notSetDims[dim] {
		return NotSet
	}
	if pagePaths[dim] {
		return decodedPath(v)
	}
	return v
}

// decodedPath is p with its percent-escapes decoded; p as it is when the
// decoded form would not be text (an escaped byte that is no UTF-8) or
// would not name p again: a shown page must find that page when sent back
// in a filter (pageValues), and "/a%2520b" decoded, "/a%20b", names "/a b".
func decodedPath(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	d, err := url.PathUnescape(p)
	if err != nil || !utf8.ValidString(d) || analytics.CanonicalPathValue(d) != p {
		return p
	}
	return d
}

// shownDims rewrites an engine row's dimension values as answers show
// them, in place.
func shownDims(dims []string, values []string) {
	for i := range values {
		if i < len(dims) {
			values[i] = shownValue(dims[i], values[i])
		}
	}
}

// storedFilter returns f with NotSet in the values of is / is_not
// conditions on notSetDims read as the stored empty value; f itself is
// left as it is.
func storedFilter(f *engine.Filter) *engine.Filter {
	if f == nil {
		return nil
	}
	c := *f
	if notSetDims[f.Dim] && (f.Op == engine.OpIs || f.Op == engine.OpIsNot) && slices.Contains(f.Values, NotSet) {
		c.Values = make([]string, len(f.Values))
		for i, v := range f.Values {
			if v == NotSet {
				v = ""
			}
			c.Values[i] = v
		}
	}
	if f.Children != nil {
		c.Children = make([]*engine.Filter, len(f.Children))
		for i, ch := range f.Children {
			c.Children[i] = storedFilter(ch)
		}
	}
	return &c
}
