package query

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
)

func invalid(format string, args ...any) error {
	return analytics.Errorf(analytics.Invalid, format, args...)
}

// properties are the event and visit properties the engine answers, for
// filters and dimensions (custom properties are engine.PropPrefix + key).
var properties = map[string]bool{
	engine.EventName: true, engine.EventPage: true, engine.EventGoal: true,
	engine.Source: true, engine.Referrer: true, engine.UTMSource: true, engine.UTMMedium: true,
	engine.UTMCampaign: true, engine.UTMContent: true, engine.UTMTerm: true,
	engine.Browser: true, engine.OS: true, engine.Device: true, engine.Country: true,
	engine.EntryPage: true, engine.ExitPage: true,
}

// unsupported are Plausible properties this product does not collect: a
// query naming one is refused with a message saying so, not as unknown.
var unsupported = map[string]bool{
	"event:hostname": true, "visit:browser_version": true, "visit:os_version": true,
	"visit:region": true, "visit:city": true, "visit:country_name": true, "visit:region_name": true,
	"visit:city_name": true, "visit:channel": true, "segment": true,
}

// checkProperty reports whether p is a property the engine answers: nil,
// or an error whose message names the problem; what is Plausible's
// wording for an unknown property.
func checkProperty(p string, unknown func(string) error) error {
	switch {
	case properties[p]:
		return nil
	case strings.HasPrefix(p, engine.PropPrefix) && len(p) > len(engine.PropPrefix):
		return nil
	case unsupported[p]:
		return invalid("Property '%s' is not supported by this server: it does not collect it. Supported: event:name, event:page, event:goal, event:props:<key>, visit:source, visit:referrer, visit:utm_*, visit:browser, visit:os, visit:device, visit:country, visit:entry_page, visit:exit_page.", p)
	}
	return unknown(p)
}

// eventOnly are the properties that exist on events only, so visit
// metrics cannot be split or filtered by them in v1 (Plausible's
// event_only_property?).
func eventOnly(p string) bool {
	return p == engine.EventName || p == engine.EventGoal || strings.HasPrefix(p, engine.PropPrefix)
}

// wildcardAlts turns Plausible wildcard patterns (the alternatives of a
// pattern, already split at its unescaped "|") into an RE2 pattern
// matching the whole value, as Plausible's page_regex does: "**" and "*"
// match any characters and "|" separates alternatives ("\|" is a literal
// bar). The anchors hold for every alternative.
func wildcardAlts(patterns []string) string {
	var alts []string
	for _, alt := range patterns {
		q := regexp.QuoteMeta(alt)
		q = strings.ReplaceAll(q, `\*\*`, `.*`)
		q = strings.ReplaceAll(q, `\*`, `.*`)
		alts = append(alts, q)
	}
	return "^(?:" + strings.Join(alts, "|") + ")$"
}

// splitUnescaped splits s at every "|" not preceded by a backslash and
// unescapes "\|" in the parts.
func splitUnescaped(s string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '|':
			cur.WriteByte('|')
			i++
		case s[i] == '|':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(out, cur.String())
}

// ParseV1Filters parses a Stats API v1 filters parameter into the
// conditions of a filter tree's top level (and; none for an empty one), as Plausible's legacy filter parser reads it:
// conditions joined by ";" (and), each "property==value" or
// "property!=value"; "a|b" lists alternatives ("\|" is a literal bar); a
// value with "*" is a wildcard pattern ("**" and "*" match any
// characters); "~" (and "!~") is contains (does not contain), as in
// Plausible's dashboard filters. Spaces around properties and operators
// are trimmed. Every property must be one the engine answers; goals must
// be configured for the site.
func ParseV1Filters(s string, site Site) ([]*engine.Filter, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if strings.HasPrefix(strings.TrimSpace(s), "[") {
		return parseV1JSONFilters(s, site)
	}
	var conds []*engine.Filter
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		i := strings.IndexAny(part, "=!~")
		if i <= 0 {
			return nil, invalid("Invalid filter '%s'. Write property==value, property!=value or property~value; join several with ';'. See https://plausible.io/docs/stats-api#filtering", part)
		}
		key := strings.TrimSpace(part[:i])
		rest := part[i:]
		var op string
		for _, o := range []string{"==", "!=", "!~", "~"} {
			if strings.HasPrefix(rest, o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, invalid("Invalid filter '%s'. Write property==value, property!=value or property~value; join several with ';'. See https://plausible.io/docs/stats-api#filtering", part)
		}
		value := strings.TrimSpace(rest[len(op):])
		err := checkProperty(key, func(p string) error {
			return invalid("Invalid filter property '%s'. Please provide a valid filter property: https://plausible.io/docs/stats-api#properties", p)
		})
		if err != nil {
			return nil, err
		}
		f := &engine.Filter{Dim: key, Values: pageValues(key, splitUnescaped(value))}
		negated := op == "!=" || op == "!~"
		switch {
		case key == engine.EventGoal:
			// Goal values are goal names, never patterns (Plausible's
			// parse_goal_filter): "Visit /blog**" is the goal's name.
			f.Op = engine.OpIs
			if negated {
				f.Op = engine.OpIsNot
			}
			if err := checkGoals(f.Values, site, true); err != nil {
				return nil, err
			}
		case op == "~" || op == "!~":
			f.Op = engine.OpContains
			if negated {
				f.Op = engine.OpContainsNot
			}
		case strings.Contains(value, "*"):
			f.Op, f.Values = engine.OpMatches, []string{wildcardAlts(f.Values)}
			if negated {
				f.Op = engine.OpMatchesNot
			}
		case negated:
			f.Op = engine.OpIsNot
		default:
			f.Op = engine.OpIs
		}
		if key == engine.Country && (f.Op == engine.OpIs || f.Op == engine.OpIsNot) {
			if err := checkCountries(f.Values); err != nil {
				return nil, err
			}
		}
		conds = append(conds, f)
	}
	return conds, nil
}

func and(conds []*engine.Filter) *engine.Filter {
	switch len(conds) {
	case 0:
		return nil
	case 1:
		return conds[0]
	}
	return &engine.Filter{Op: engine.OpAnd, Children: conds}
}

func checkCountries(values []string) error {
	for _, c := range values {
		if len(c) != 2 {
			return invalid("Invalid visit:country filter, visit:country needs to be a valid 2-letter country code.")
		}
	}
	return nil
}

// checkGoals refuses goal names the site has not configured, in
// Plausible's words (v1 names page goals by their path).
func checkGoals(names []string, site Site, v1 bool) error {
	for _, n := range names {
		found := false
		for _, g := range site.Goals {
			found = found || g.Name == n
		}
		if found {
			continue
		}
		if page, ok := strings.CutPrefix(n, "Visit "); ok && v1 {
			return invalid("The pageview goal for the pathname `%s` is not configured for this site. Find out how to configure goals here: https://plausible.io/docs/stats-api#filtering-by-goals", page)
		}
		return invalid("The goal `%s` is not configured for this site. Find out how to configure goals here: https://plausible.io/docs/stats-api#filtering-by-goals", n)
	}
	return nil
}

// filterDims calls visit with every property the conditions read, and
// its depth: 0 for a condition of the top level (the implicit and). The
// condition of has_done/has_not_done keeps its depth: Plausible's own
// example filters goals that way at the top level.
func filterDims(conds []*engine.Filter, depth int, visit func(dim string, depth int)) {
	for _, f := range conds {
		if f.Dim != "" {
			visit(f.Dim, depth)
		}
		next := depth + 1
		if f.Op == engine.OpHasDone || f.Op == engine.OpHasNotDone {
			next = depth
		}
		filterDims(f.Children, next, visit)
	}
}

// filtersOn reports whether the conditions read property p anywhere.
func filtersOn(conds []*engine.Filter, p string) bool {
	found := false
	filterDims(conds, 0, func(d string, _ int) { found = found || d == p })
	return found
}

// parseV1JSONFilters reads a v1 filters parameter written as a JSON list
// of v2 filters (`[["is","event:page",["/en*"]]]`), which Plausible's v1
// endpoints take as well as the legacy syntax.
func parseV1JSONFilters(s string, site Site) ([]*engine.Filter, error) {
	var raw []any
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, invalid("Invalid filters '%s': not a JSON list of filters (%v). See https://plausible.io/docs/stats-api#filtering", s, err)
	}
	var conds []*engine.Filter
	for _, r := range raw {
		f, err := parseV2Filter(r)
		if err != nil {
			return nil, err
		}
		conds = append(conds, f)
	}
	if err := resolveGoalFilters(conds, site); err != nil {
		return nil, err
	}
	return conds, nil
}

// resolveGoalFilters checks the goal names of the top level's is/is_not
// event:goal conditions; a case-insensitive one is resolved to the names
// of the configured goals it matches (the engine then compares them
// exactly).
func resolveGoalFilters(conds []*engine.Filter, site Site) error {
	for _, f := range conds {
		if f.Dim != engine.EventGoal || (f.Op != engine.OpIs && f.Op != engine.OpIsNot) {
			continue
		}
		if f.CaseInsensitive {
			var names []string
			for _, v := range f.Values {
				found := false
				for _, g := range site.Goals {
					if strings.EqualFold(g.Name, v) {
						names = append(names, g.Name)
						found = true
					}
				}
				if !found {
					names = append(names, v) // refused just below, by its name
				}
			}
			f.Values, f.CaseInsensitive = names, false
		}
		if err := checkGoals(f.Values, site, false); err != nil {
			return err
		}
	}
	return nil
}

// pagePaths are the properties whose values are stored paths.
var pagePaths = map[string]bool{engine.EventPage: true, engine.EntryPage: true, engine.ExitPage: true}

// pageValues writes the values of a filter on a page property (is,
// contains, wildcards; not regular expressions) in the percent-encoding
// paths are stored in, so "/blog/post|1" finds the page stored as
// "/blog/post%7C1" and "/café" the one stored as "/caf%C3%A9".
func pageValues(dim string, values []string) []string {
	if !pagePaths[dim] {
		return values
	}
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = analytics.CanonicalPathValue(v)
	}
	return out
}
