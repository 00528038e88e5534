package query

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/imported"
)

// A shown page filters to itself, as a dashboard click sends it back: a
// path whose decoded form would hold an escape of its own (a double-encoded
// URL, "/a%2520b") is shown as stored, since "/a%20b" would name "/a b".
func TestShownPageFiltersToItself(t *testing.T) {
	evs := pageViews("/a%2520b", "u1", "/a%20b", "u2", "/a%20b", "u3")
	n := now("2021-01-05T12:00:00Z")
	all := v2Results(t, evs, `{"site_id":"dummy.site","metrics":["pageviews"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["event:page"]}`, n)
	if want := `[{"dimensions":["/a b"],"metrics":[2]},{"dimensions":["/a%2520b"],"metrics":[1]}]`; all != want {
		t.Errorf("breakdown:\n got %s\nwant %s", all, want)
	}
	for _, shown := range []string{"/a%2520b", "/a b"} {
		got := v2Results(t, evs, `{"site_id":"dummy.site","metrics":["pageviews"],"date_range":["2021-01-01","2021-01-01"],"filters":[["is","event:page",["`+shown+`"]]]}`, n)
		want := map[string]string{"/a%2520b": `[{"dimensions":[],"metrics":[1]}]`, "/a b": `[{"dimensions":[],"metrics":[2]}]`}[shown]
		if got != want {
			t.Errorf("filter on the shown value %q:\n got %s\nwant %s", shown, got, want)
		}
	}
}

type importsModel struct {
	model
	days []imported.Day
}

func (m importsModel) ImportedSource() imported.Source { return m }
func (m importsModel) ImportedSpan(context.Context, string) (imported.Span, error) {
	return imported.Span{First: "2021-01-01", Last: "2021-01-01"}, nil
}
func (m importsModel) ImportedDays(_ context.Context, _, table, _, _ string) ([]imported.Day, error) {
	var out []imported.Day
	for _, d := range m.days {
		if d.Table == table {
			out = append(out, d)
		}
	}
	return out, nil
}

// Imported pages (Plausible's exports hold them decoded) and ours (stored
// percent-encoded) of one page are one row of the answer.
func TestImportedPagesMergeWithOurs(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2021, 1, 1, 10, min, 0, 0, time.UTC) }
	a := importsModel{
		model: model{{ID: "1", SiteID: "dummy.site", EventType: "page_view", Path: "/caf%C3%A9", UserID: "u1", Timestamp: at(0)}},
		days:  []imported.Day{{Table: imported.Pages, Date: "2021-01-01", Rows: []imported.Row{{Dims: map[string]string{"event:page": "/café"}, Visitors: 5, Pageviews: 7}}}},
	}
	n := now("2021-01-05T12:00:00Z")
	for _, body := range []string{
		`{"site_id":"dummy.site","metrics":["pageviews"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["event:page"],"include":{"imports":true}}`,
		`{"site_id":"dummy.site","metrics":["pageviews"],"date_range":["2021-01-01","2021-01-01"],"filters":[["is","event:page",["/café"]]],"include":{"imports":true}}`,
	} {
		q, err := ParseV2([]byte(body), utc, n)
		if err != nil {
			t.Fatal(err)
		}
		res, err := q.Run(context.Background(), WithImported(a.model, a))
		if err != nil {
			t.Fatal(err)
		}
		got := mustJSON(t, res.Get("results"))
		if got != `[{"dimensions":["/café"],"metrics":[8]}]` && got != `[{"dimensions":[],"metrics":[8]}]` {
			t.Errorf("%s\n  got %s, want one row of 8 page views", body, got)
		}
	}
}

// pageViews are page views of dummy.site on 2021-01-01, a minute apart,
// of the (path, user) pairs given.
func pageViews(pathUser ...string) model {
	var evs model
	for i := 0; i+1 < len(pathUser); i += 2 {
		evs = append(evs, analytics.Event{ID: fmt.Sprint(i), SiteID: "dummy.site", EventType: "page_view", Path: pathUser[i], UserID: pathUser[i+1],
			Timestamp: time.Date(2021, 1, 1, 10, i/2, 0, 0, time.UTC)})
	}
	return evs
}
