package e2e

import (
	"fmt"
	"strings"
)

// Cases of Plausible's timeseries_test.exs (Stats API v1 timeseries).

const timeseries = "/api/v1/stats/timeseries?"

// hourRows is Plausible's 24 hourly rows of a day: rows holds the non-empty
// hours (hour -> the row's metrics); every other hour has empty's metrics.
func hourRows(date string, rows map[int]string, empty string) string {
	var b strings.Builder
	b.WriteString(`{"results":[`)
	for h := 0; h < 24; h++ {
		if h > 0 {
			b.WriteByte(',')
		}
		m, ok := rows[h]
		if !ok {
			m = empty
		}
		fmt.Fprintf(&b, `{"date":"%s %02d:00:00",%s}`, date, h, m)
	}
	b.WriteString(`]}`)
	return b.String()
}

func init() {
	const file = "timeseries: "
	const month = "period=month&date=2021-01-01&"
	firstDay := func(m string) string { return `{"date":"2021-01-01",` + m + `}` }
	plausibleCases = append(plausibleCases,
		pcase{name: file + "feature access (props)", skip: "subscription plans and feature access"},
		pcase{name: file + "validates that date can be parsed", get: timeseries + "period=6mo&date=2021-dkjbAS", status: 400,
			want: `{"error":"Error parsing ` + "`date`" + ` parameter: invalid_format. Please specify a valid date in ISO-8601 format."}`},
		pcase{name: file + "ignores a given property parameter", get: timeseries + "property=event:props:author&metrics=visit_duration"},
		pcase{name: file + "validates that period can be parsed", get: timeseries + "period=aosuhsacp", status: 400,
			want: `{"error":"Error parsing ` + "`period`" + ` parameter: invalid period ` + "`aosuhsacp`" + `. Please find accepted values in our docs: https://plausible.io/docs/stats-api#time-periods"}`},
		pcase{name: file + "legacy date interval is overridden to day", get: timeseries + "date=2021-06-30&period=6mo&interval=date",
			part: "results.1.date", want: `"2021-01-02"`},
		pcase{name: file + "validates that interval is day or month", get: timeseries + "period=12mo&interval=alskd", status: 400,
			want: `{"error":"Error parsing ` + "`interval`" + ` parameter: invalid interval ` + "`alskd`" + `. Valid intervals are ` + "`day`, `month`" + `"}`},
		pcase{name: file + "shows hourly data for a certain date", events: evs(
			pv("user_id=123", "timestamp=2021-01-01 00:00:00"), pv("user_id=123", "timestamp=2021-01-01 00:10:00"), pv("timestamp=2021-01-01 23:59:00")),
			get: timeseries + "period=day&date=2021-01-01&metrics=visitors,pageviews,visits,visit_duration,bounce_rate",
			want: hourRows("2021-01-01", map[int]string{
				0:  `"visitors":1,"visits":1,"pageviews":2,"visit_duration":600,"bounce_rate":0`,
				23: `"visitors":1,"visits":1,"pageviews":1,"visit_duration":0,"bounce_rate":100`,
			}, `"visitors":0,"visits":0,"pageviews":0,"visit_duration":null,"bounce_rate":0`)},
		pcase{name: file + "shows last 7 days of visitors", events: evs(pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-07 23:59:00")),
			get: timeseries + "period=7d&date=2021-01-08",
			want: `{"results":[{"date":"2021-01-01","visitors":1},{"date":"2021-01-02","visitors":0},{"date":"2021-01-03","visitors":0},{"date":"2021-01-04","visitors":0},
				{"date":"2021-01-05","visitors":0},{"date":"2021-01-06","visitors":0},{"date":"2021-01-07","visitors":1}]}`},
		pcase{name: file + "shows last 6 months of visitors", events: evs(pv("timestamp=2020-12-31 00:00:00"), pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:00:00")),
			get: timeseries + "period=6mo&date=2021-01-01",
			want: `{"results":[{"date":"2020-08-01","visitors":0},{"date":"2020-09-01","visitors":0},{"date":"2020-10-01","visitors":0},
				{"date":"2020-11-01","visitors":0},{"date":"2020-12-01","visitors":1},{"date":"2021-01-01","visitors":2}]}`},
		pcase{name: file + "shows last 12 months of visitors", events: evs(pv("timestamp=2020-02-01 00:00:00"), pv("timestamp=2020-12-31 00:00:00"),
			pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:00:00")),
			get: timeseries + "period=12mo&date=2021-01-01",
			want: `{"results":[{"date":"2020-02-01","visitors":1},{"date":"2020-03-01","visitors":0},{"date":"2020-04-01","visitors":0},{"date":"2020-05-01","visitors":0},
				{"date":"2020-06-01","visitors":0},{"date":"2020-07-01","visitors":0},{"date":"2020-08-01","visitors":0},{"date":"2020-09-01","visitors":0},
				{"date":"2020-10-01","visitors":0},{"date":"2020-11-01","visitors":0},{"date":"2020-12-01","visitors":1},{"date":"2021-01-01","visitors":2}]}`},
		pcase{name: file + "shows a custom range with daily interval", events: evs(pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-02 00:00:00")),
			get:  timeseries + "period=custom&date=2021-01-01,2021-01-02",
			want: `{"results":[{"date":"2021-01-01","visitors":2},{"date":"2021-01-02","visitors":1}]}`},
		pcase{name: file + "shows a custom range with monthly interval", events: evs(
			pv("user_id=123", "timestamp=2020-12-01 00:00:00"), pv("user_id=123", "timestamp=2020-12-01 00:05:00"),
			pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-02 00:00:00")),
			get: timeseries + "period=custom&date=2020-12-01, 2021-01-02&interval=month&metrics=pageviews,visitors,bounce_rate,visit_duration",
			want: `{"results":[{"date":"2020-12-01","visitors":1,"pageviews":2,"bounce_rate":0,"visit_duration":300},
				{"date":"2021-01-01","visitors":2,"pageviews":2,"bounce_rate":100,"visit_duration":0}]}`},
		pcase{name: file + "event:goal filter returns 400 when goal not configured", get: timeseries + month + "metrics=visitors,events&filters=event:goal==Visit /register**", status: 400,
			part: "error", contains: true, want: `"The pageview goal for the pathname ` + "`/register**`" + ` is not configured for this site"`},
		pcase{name: file + "validates that filters are valid", get: timeseries + month + "metrics=visitors,events&filters=badproperty==bar", status: 400,
			want: `{"error":"Invalid filter property 'badproperty'. Please provide a valid filter property: https://plausible.io/docs/stats-api#properties"}`},
		pcase{name: file + "can filter by a custom event goal", goals: []string{"event:Signup"}, events: evs(
			ev("Signup", "timestamp=2021-01-01 00:00:00"), ev("Signup", "user_id=123", "timestamp=2021-01-01 00:25:00"),
			ev("Signup", "user_id=123", "timestamp=2021-01-01 00:25:00"), ev("NotConfigured", "timestamp=2021-01-01 00:25:00")),
			get: timeseries + month + "metrics=visitors,events&filters=event:goal==Signup", part: "results.0", want: firstDay(`"visitors":2,"events":3`)},
		pcase{name: file + "can filter by a simple pageview goal", goals: []string{"page:/register"}, events: evs(
			pv("pathname=/register", "timestamp=2021-01-01 00:00:00"), pv("pathname=/register", "user_id=123", "timestamp=2021-01-01 00:25:00"),
			pv("pathname=/register", "user_id=123", "timestamp=2021-01-01 00:25:00"), pv("pathname=/", "timestamp=2021-01-01 00:25:00")),
			get: timeseries + month + "metrics=visitors,pageviews&filters=event:goal==Visit /register", part: "results.0", want: firstDay(`"visitors":2,"pageviews":3`)},
		pcase{name: file + "can filter by a wildcard pageview goal", goals: []string{"page:/blog**"}, events: evs(
			pv("pathname=/blog/post-1", "timestamp=2021-01-01 00:25:00"), pv("pathname=/blog/post-2", "user_id=123", "timestamp=2021-01-01 00:25:00"),
			pv("pathname=/blog", "user_id=123", "timestamp=2021-01-01 00:25:00"), pv("pathname=/", "timestamp=2021-01-01 00:25:00")),
			get: timeseries + month + "metrics=visitors,pageviews&filters=event:goal==Visit /blog**", part: "results.0", want: firstDay(`"visitors":2,"pageviews":3`)},
		pcase{name: file + "can filter by multiple custom event goals", goals: []string{"event:Signup", "event:Purchase"}, events: evs(
			ev("Signup", "timestamp=2021-01-01 00:25:00"), ev("Purchase", "user_id=123", "timestamp=2021-01-01 00:25:00"),
			ev("Purchase", "user_id=123", "timestamp=2021-01-01 00:25:00"), pv("timestamp=2021-01-01 00:25:00")),
			get: timeseries + month + "metrics=visitors,events&filters=event:goal==Signup|Purchase", part: "results.0", want: firstDay(`"visitors":2,"events":3`)},
		pcase{name: file + "can filter by multiple mixed goals", goals: []string{"event:Signup", "page:/**register"}, events: evs(
			pv("pathname=/account/register", "timestamp=2021-01-01 00:25:00"), pv("pathname=/register", "user_id=123", "timestamp=2021-01-01 00:25:00"),
			ev("Signup", "user_id=123", "timestamp=2021-01-01 00:25:00"), pv("timestamp=2021-01-01 00:25:00")),
			get: timeseries + month + "metrics=visitors,events,pageviews&filters=event:goal==Signup|Visit /**register", part: "results.0",
			want: firstDay(`"visitors":2,"events":3,"pageviews":2`)},
		pcase{name: file + "can filter by source", events: evs(pv("referrer_source=Google", "timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:00:00")),
			get: timeseries + month + "filters=visit:source==Google", part: "results.0", want: firstDay(`"visitors":1`)},
		pcase{name: file + "can filter by channel", skip: "visit:channel (acquisition channels) is not derived"},
		pcase{name: file + "can filter by no source/referrer", events: evs(pv("timestamp=2021-01-01 00:00:00"), pv("referrer_source=Google", "timestamp=2021-01-01 00:00:00")),
			get: timeseries + month + "filters=visit:source==Direct / None", part: "results.0", want: firstDay(`"visitors":1`)},
		pcase{name: file + "can filter by referrer", events: evs(pv("referrer=https://facebook.com", "timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:00:00")),
			get: timeseries + month + "filters=visit:referrer==https://facebook.com", part: "results.0", want: firstDay(`"visitors":1`)},
		pcase{name: file + "can filter by utm_medium", events: evs(pv("utm_medium=social", "timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:00:00")),
			get: timeseries + month + "filters=visit:utm_medium==social", part: "results.0", want: firstDay(`"visitors":1`)},
		pcase{name: file + "can filter by utm_source", events: evs(pv("utm_source=Twitter", "timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:00:00")),
			get: timeseries + month + "filters=visit:utm_source==Twitter", part: "results.0", want: firstDay(`"visitors":1`)},
		pcase{name: file + "can filter by utm_campaign", events: evs(pv("utm_campaign=profile", "timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:00:00")),
			get: timeseries + month + "filters=visit:utm_campaign==profile", part: "results.0", want: firstDay(`"visitors":1`)},
		pcase{name: file + "can filter by device type", events: evs(pv("screen_size=Desktop", "timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:00:00")),
			get: timeseries + month + "filters=visit:device==Desktop", part: "results.0", want: firstDay(`"visitors":1`)},
		pcase{name: file + "can filter by browser (and browser version)", skip: "browser versions are not collected"},
		pcase{name: file + "can filter by operating system (and OS version)", skip: "OS versions are not collected"},
		pcase{name: file + "can filter by country", events: evs(
			pv("user_id=123", "country_code=EE", "timestamp=2021-01-01 00:00:00"), pv("user_id=123", "country_code=EE", "timestamp=2021-01-01 00:15:00"),
			pv("timestamp=2021-01-01 00:00:00")),
			get: timeseries + month + "filters=visit:country==EE&metrics=visitors,pageviews,bounce_rate,visit_duration", part: "results.0",
			want: firstDay(`"visitors":1,"pageviews":2,"bounce_rate":0,"visit_duration":900`)},
		pcase{name: file + "can filter by page", events: evs(
			pv("user_id=123", "timestamp=2021-01-01 00:00:00"), pv("pathname=/hello", "user_id=123", "timestamp=2021-01-01 00:05:00"),
			pv("pathname=/hello", "timestamp=2021-01-01 05:00:00"), pv("pathname=/goodbye", "timestamp=2021-01-01 00:00:00")),
			get: timeseries + month + "filters=event:page==/hello&metrics=visitors,visits,pageviews,bounce_rate,visit_duration", part: "results.0",
			want: firstDay(`"visitors":2,"visits":2,"pageviews":2,"bounce_rate":100,"visit_duration":150`)},
		pcase{name: file + "can filter by hostname", skip: "event:hostname is not collected"},
		pcase{name: file + "can filter by event:name", events: evs(ev("Signup", "timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:00:00")),
			get: timeseries + month + "filters=event:name==Signup", part: "results.0", want: firstDay(`"visitors":1`)},
		pcase{name: file + "filter by custom event property", events: evs(
			ev("Purchase", "meta.key=package", "meta.value=business", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=package", "meta.value=business", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=package", "meta.value=personal", "timestamp=2021-01-01 00:25:00"),
			ev("Purchase", "meta.key=package", "meta.value=business", "timestamp=2021-01-02 00:25:00")),
			get: timeseries + month + "filters=event:name==Purchase;event:props:package==business", part: "results.1", want: `{"date":"2021-01-02","visitors":1}`},
		pcase{name: file + "filter by custom event property (first day)", events: evs(
			ev("Purchase", "meta.key=package", "meta.value=business", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=package", "meta.value=business", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=package", "meta.value=personal", "timestamp=2021-01-01 00:25:00"),
			ev("Purchase", "meta.key=package", "meta.value=business", "timestamp=2021-01-02 00:25:00")),
			get: timeseries + month + "filters=event:name==Purchase;event:props:package==business", part: "results.0", want: firstDay(`"visitors":2`)},
		pcase{name: file + "filter by multiple custom event properties", events: evs(
			ev("Purchase", "meta.key=package,browser", "meta.value=business,Chrome", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=package,browser", "meta.value=business,Firefox", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=package,browser", "meta.value=personal,Firefox", "timestamp=2021-01-01 00:25:00"),
			ev("Purchase", "meta.key=package", "meta.value=business", "timestamp=2021-01-02 00:25:00")),
			get: timeseries + month + "filters=event:name==Purchase;event:props:package==business;event:props:browser==Firefox", part: "results.0", want: firstDay(`"visitors":1`)},
		pcase{name: file + "filter by multiple custom event properties matching", events: evs(
			ev("Purchase", "meta.key=package,browser", "meta.value=business,Chrome", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=package,browser", "meta.value=business,Firefox", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=package,browser", "meta.value=personal,Safari", "timestamp=2021-01-02 00:25:00"),
			ev("Purchase", "meta.key=package", "meta.value=business", "timestamp=2021-01-02 00:25:00")),
			get: timeseries + month + "filters=event:name==Purchase;event:props:browser==F*|S*", part: "results.1", want: `{"date":"2021-01-02","visitors":1}`},
		pcase{name: file + "returns conversion rate when goal filter is applied", goals: []string{"event:Signup"}, events: evs(
			ev("Signup", "timestamp=2021-01-04 00:00:00"), ev("Signup", "timestamp=2021-01-04 00:00:00"), pv("timestamp=2021-01-04 00:00:00"),
			ev("Signup", "timestamp=2021-01-05 00:00:00")),
			get: timeseries + "metrics=conversion_rate&filters=event:goal==Signup&period=7d&date=2021-01-11", part: "results.0",
			want: `{"date":"2021-01-04","conversion_rate":66.67}`},
		pcase{name: file + "returns conversion rate with a goal + custom prop filter", goals: []string{"event:Signup"}, events: evs(
			ev("Signup", "meta.key=author", "meta.value=Teet", "timestamp=2021-01-04 00:12:00"),
			ev("Signup", "meta.key=author", "meta.value=Tiit", "timestamp=2021-01-04 00:12:00"),
			ev("Signup", "timestamp=2021-01-04 00:12:00"), pv("meta.key=author", "meta.value=Teet", "timestamp=2021-01-04 00:12:00")),
			get: timeseries + "metrics=conversion_rate&filters=event:goal==Signup;event:props:author==Teet&period=7d&date=2021-01-11", part: "results.0",
			want: `{"date":"2021-01-04","conversion_rate":25.0}`},
		pcase{name: file + "returns conversion rate with a goal + page filter", goals: []string{"event:Signup"}, events: evs(
			ev("Signup", "pathname=/yes", "timestamp=2021-01-04 00:12:00"), ev("Signup", "pathname=/no", "timestamp=2021-01-04 00:12:00"),
			ev("Signup", "timestamp=2021-01-04 00:12:00"), pv("pathname=/yes", "timestamp=2021-01-04 00:12:00"), pv("pathname=/yes", "timestamp=2021-01-04 00:12:00")),
			get: timeseries + "metrics=conversion_rate&filters=event:goal==Signup;event:page==/yes&period=7d&date=2021-01-11", part: "results.0",
			want: `{"date":"2021-01-04","conversion_rate":33.33}`},
		pcase{name: file + "returns conversion rate with a goal + session filter", goals: []string{"event:Signup"}, events: evs(
			ev("Signup", "screen_size=Mobile", "timestamp=2021-01-04 00:12:00"), ev("Signup", "screen_size=Laptop", "timestamp=2021-01-04 00:12:00"),
			ev("Signup", "timestamp=2021-01-04 00:12:00"), pv("screen_size=Mobile", "timestamp=2021-01-04 00:12:00"), pv("screen_size=Mobile", "timestamp=2021-01-04 00:12:00")),
			get: timeseries + "metrics=conversion_rate&filters=event:goal==Signup;visit:device==Mobile&period=7d&date=2021-01-11", part: "results.0",
			want: `{"date":"2021-01-04","conversion_rate":33.33}`},
		pcase{name: file + "validates that conversion_rate cannot be queried without a goal filter", get: timeseries + "metrics=conversion_rate", status: 400,
			want: `{"error":"Metric ` + "`conversion_rate`" + ` can only be queried in a goal breakdown or with a goal filter"}`},
		pcase{name: file + "shows pageviews,visits,views_per_visit for last 7d", events: evs(
			pv("user_id=123", "timestamp=2021-01-01 00:00:00"), pv("user_id=123", "timestamp=2021-01-01 00:05:00"),
			pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-07 23:59:00")),
			get: timeseries + "period=7d&metrics=pageviews,visits,views_per_visit&date=2021-01-08",
			want: `{"results":[{"date":"2021-01-01","pageviews":3,"visits":2,"views_per_visit":1.5},{"date":"2021-01-02","pageviews":0,"visits":0,"views_per_visit":0.0},
				{"date":"2021-01-03","pageviews":0,"visits":0,"views_per_visit":0.0},{"date":"2021-01-04","pageviews":0,"visits":0,"views_per_visit":0.0},
				{"date":"2021-01-05","pageviews":0,"visits":0,"views_per_visit":0.0},{"date":"2021-01-06","pageviews":0,"visits":0,"views_per_visit":0.0},
				{"date":"2021-01-07","pageviews":1,"visits":1,"views_per_visit":1.0}]}`},
		pcase{name: file + "shows events for last 7d", events: evs(
			ev("Signup", "timestamp=2021-01-01 00:00:00"), ev("Signup", "timestamp=2021-01-01 00:00:00"), ev("Signup", "timestamp=2021-01-07 23:59:00")),
			get: timeseries + "period=7d&metrics=events&date=2021-01-08",
			want: `{"results":[{"date":"2021-01-01","events":2},{"date":"2021-01-02","events":0},{"date":"2021-01-03","events":0},{"date":"2021-01-04","events":0},
				{"date":"2021-01-05","events":0},{"date":"2021-01-06","events":0},{"date":"2021-01-07","events":1}]}`},
	)
}
