package statsmodel

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/engine"
)

// event is one kept event of the range with its visit.
type event struct {
	*analytics.Event
	visit *visit
}

// visit is one visitor's run of events, or the stand-alone visit of an
// event without a visitor (counted false).
type visit struct {
	counted    bool
	events     []*event // time order
	attrs      analytics.VisitAttrs
	utmContent string
	utmTerm    string
	entry      string
	exit       string
	pageviews  int64
}

func (v *visit) first() *event { return v.events[0] }

func (v *visit) millis() int64 {
	return v.events[len(v.events)-1].Timestamp.Sub(v.first().Timestamp).Milliseconds()
}

func isPageView(name string) bool { return name == "page_view" || name == "pageview" }

// prepare keeps q's events (first of each id, in the range, of the site) in
// time order and groups them into visits.
func prepare(events []analytics.Event, q engine.Query) []*event {
	seen := map[string]bool{}
	var kept []*event
	for i := range events {
		e := &events[i]
		if e.SiteID != q.Site {
			continue
		}
		if e.ID != "" {
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
		}
		if e.Timestamp.Before(q.From) || !e.Timestamp.Before(q.To) {
			continue
		}
		kept = append(kept, &event{Event: e})
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].Timestamp.Before(kept[j].Timestamp) })

	current := map[string]*visit{}
	for _, e := range kept {
		if e.UserID == "" {
			e.visit = newVisit(e, false)
			continue
		}
		v := current[e.UserID]
		if v != nil && e.Timestamp.Sub(v.events[len(v.events)-1].Timestamp) <= engine.VisitTimeout {
			v.events = append(v.events, e)
			e.visit = v
			continue
		}
		v = newVisit(e, true)
		current[e.UserID] = v
		e.visit = v
	}
	for _, e := range kept {
		v := e.visit
		if v.first() != e {
			continue
		}
		v.entry, v.exit, v.pageviews = "", "", 0
		for _, x := range v.events {
			if isPageView(x.EventType) {
				if v.pageviews == 0 {
					v.entry = x.Path
				}
				v.exit = x.Path
				v.pageviews++
			}
		}
	}
	return kept
}

func newVisit(e *event, counted bool) *visit {
	v := &visit{counted: counted, events: []*event{e}, utmContent: e.UTMContent, utmTerm: e.UTMTerm}
	e.visit = v
	if e.Visit != nil {
		v.attrs = e.Visit.Attrs
	} else {
		v.attrs = e.VisitAttrs()
	}
	return v
}

// propValue is the string form of a property value (see the package doc).
func propValue(props map[string]any, key string) string {
	v, ok := props[key]
	if !ok {
		return "(none)"
	}
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		return strconv.FormatFloat(float64(v), 'f', -1, 64)
	case int64:
		return strconv.FormatFloat(float64(v), 'f', -1, 64)
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return v.String()
		}
		return strconv.FormatFloat(f, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// matchPage reports whether path matches a goal's page pattern as a whole.
func matchPage(pattern, path string) bool {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); {
		switch {
		case strings.HasPrefix(pattern[i:], "**"):
			b.WriteString(".*")
			i += 2
		case pattern[i] == '*':
			b.WriteString("[^/]*")
			i++
		default:
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
			i++
		}
	}
	b.WriteString("$")
	return compiled(b.String()).MatchString(path)
}

var (
	regexpsMu sync.Mutex
	regexps   = map[string]*regexp.Regexp{}
)

// compiled is the compiled form of a regexp already checked valid; the
// cache only saves time.
func compiled(expr string) *regexp.Regexp {
	regexpsMu.Lock()
	defer regexpsMu.Unlock()
	re := regexps[expr]
	if re == nil {
		re = regexp.MustCompile(expr)
		regexps[expr] = re
	}
	return re
}

func goalName(g engine.Goal) string {
	switch {
	case g.Name != "":
		return g.Name
	case g.Event != "":
		return g.Event
	default:
		return "Visit " + g.Page
	}
}

func matchGoal(g engine.Goal, e *event) bool {
	if g.Event != "" {
		return e.EventType == g.Event
	}
	return isPageView(e.EventType) && matchPage(g.Page, e.Path)
}

// goals are the names of the goals e matches, in q.Goals' order.
func goals(gs []engine.Goal, e *event) []string {
	var names []string
	for _, g := range gs {
		if matchGoal(g, e) {
			names = append(names, goalName(g))
		}
	}
	return names
}

func isTimeDim(d string) bool {
	return d == engine.Time || d == engine.TimeHour || d == engine.TimeDay || d == engine.TimeWeek || d == engine.TimeMonth
}

var visitDims = map[string]bool{
	engine.Source: true, engine.Referrer: true, engine.UTMSource: true, engine.UTMMedium: true,
	engine.UTMCampaign: true, engine.UTMContent: true, engine.UTMTerm: true, engine.Browser: true,
	engine.OS: true, engine.Device: true, engine.Country: true, engine.EntryPage: true, engine.ExitPage: true,
}

func isPropDim(d string) bool {
	return strings.HasPrefix(d, engine.PropPrefix) && len(d) > len(engine.PropPrefix)
}

func knownProperty(d string) bool {
	return visitDims[d] || d == engine.EventName || d == engine.EventPage || d == engine.EventGoal || isPropDim(d)
}

func visitValue(d string, v *visit) string {
	switch d {
	case engine.Source:
		if v.attrs.Source == "" {
			return engine.Direct
		}
		return v.attrs.Source
	case engine.Referrer:
		if v.attrs.Referrer() == "" {
			return engine.Direct
		}
		return v.attrs.Referrer()
	case engine.UTMSource:
		return v.attrs.UTMSource
	case engine.UTMMedium:
		return v.attrs.UTMMedium
	case engine.UTMCampaign:
		return v.attrs.UTMCampaign
	case engine.UTMContent:
		return v.utmContent
	case engine.UTMTerm:
		return v.utmTerm
	case engine.Browser:
		return v.attrs.Browser
	case engine.OS:
		return v.attrs.OS
	case engine.Device:
		return v.attrs.Device
	case engine.Country:
		return v.attrs.Country
	case engine.EntryPage:
		return v.entry
	case engine.ExitPage:
		return v.exit
	}
	panic("statsmodel: not a visit property: " + d)
}

// values are e's values of the property d (not a time dimension): one,
// or for event:goal zero or more.
func values(d string, e *event, gs []engine.Goal) []string {
	switch {
	case d == engine.EventName:
		if isPageView(e.EventType) {
			return []string{"pageview"}
		}
		return []string{e.EventType}
	case d == engine.EventPage:
		return []string{e.Path}
	case d == engine.EventGoal:
		return goals(gs, e)
	case isPropDim(d):
		return []string{propValue(e.Props, strings.TrimPrefix(d, engine.PropPrefix))}
	default:
		return []string{visitValue(d, e.visit)}
	}
}

// timeLabel is t's bucket label for the time dimension d (resolved: not
// "time").
func timeLabel(d string, t time.Time, loc *time.Location) string {
	lt := t.In(loc)
	switch d {
	case engine.TimeHour:
		return lt.Format("2006-01-02 15:00:00")
	case engine.TimeDay:
		return lt.Format("2006-01-02")
	case engine.TimeWeek:
		back := (int(lt.Weekday()) + 6) % 7 // days since Monday
		return time.Date(lt.Year(), lt.Month(), lt.Day()-back, 12, 0, 0, 0, loc).Format("2006-01-02")
	case engine.TimeMonth:
		return lt.Format("2006-01") + "-01"
	}
	panic("statsmodel: not a time dimension: " + d)
}

// samples are instants of [from, to) that hit every wall-clock bucket: from
// itself and each quarter hour after it (every zone's offset is a multiple
// of 15 minutes, so every bucket starts on one).
func samples(from, to time.Time) []time.Time {
	out := []time.Time{from}
	for t := from.Truncate(15 * time.Minute).Add(15 * time.Minute); t.Before(to); t = t.Add(15 * time.Minute) {
		out = append(out, t)
	}
	return out
}

// resolveTime picks time's granularity as engine.Granularity documents it
// (Plausible's rule; a one-line contract, shared rather than copied).
func resolveTime(q engine.Query, loc *time.Location) string {
	return engine.Granularity(q.From, q.To, loc)
}
