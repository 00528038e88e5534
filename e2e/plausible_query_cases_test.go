package e2e

import (
	"fmt"
	"strings"
)

// Cases of Plausible's query_test.exs (Stats API v2, POST /api/v2/query).

const allFour = `"date_range":"all","metrics":["pageviews","visitors","bounce_rate","visit_duration"]`
const twoOfThree = `[{"metrics":[2,1,0,1500],"dimensions":[]}]`

func init() {
	const file = "query: "
	three := evs(
		pv("user_id=123", "timestamp=2021-01-01 00:00:00"),
		pv("user_id=123", "timestamp=2021-01-01 00:25:00"),
		pv("timestamp=2021-01-01 00:00:00"),
	)
	plausibleCases = append(plausibleCases,
		pcase{name: file + "aggregates a single metric", events: three,
			post: `{"metrics":["pageviews"],"date_range":"all"}`, part: "results", want: `[{"metrics":[3],"dimensions":[]}]`},
		pcase{name: file + "aggregate views_per_visit rounds to two decimal places", events: evs(
			pv("user_id=123", "timestamp=2021-01-01 00:00:00"), pv("user_id=123", "timestamp=2021-01-01 00:25:00"),
			pv("user_id=456", "timestamp=2021-01-01 00:00:00"), pv("user_id=456", "timestamp=2021-01-01 00:25:00"),
			pv("timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["views_per_visit"],"date_range":"all"}`, part: "results", want: `[{"metrics":[1.67],"dimensions":[]}]`},
		pcase{name: file + "aggregates all metrics in a single query", events: three,
			post: `{"date_range":"all","metrics":["pageviews","visits","views_per_visit","visitors","bounce_rate","visit_duration"]}`,
			part: "results", want: `[{"metrics":[3,2,1.5,2,50,750],"dimensions":[]}]`},
		pcase{name: file + "can filter by source", events: firstOfThree("referrer_source", "Google"),
			post: `{` + allFour + `,"filters":[["is","visit:source",["Google"]]]}`, part: "results", want: twoOfThree},
		pcase{name: file + "engagement events", skip: "engagement events (time on page, scroll depth)"},
		pcase{name: file + "can filter by channel", skip: "visit:channel (acquisition channels) is not derived"},
		pcase{name: file + "can filter by no source/referrer", events: evs(
			pv("user_id=123", "timestamp=2021-01-01 00:00:00"), pv("user_id=123", "timestamp=2021-01-01 00:25:00"),
			pv("referrer_source=Google", "timestamp=2021-01-01 00:00:00")),
			post: `{` + allFour + `,"filters":[["is","visit:source",["Direct / None"]]]}`, part: "results", want: twoOfThree},
		pcase{name: file + "can filter by referrer", events: firstOfThree("referrer", "https://facebook.com"),
			post: `{` + allFour + `,"filters":[["is","visit:referrer",["https://facebook.com"]]]}`, part: "results", want: twoOfThree},
		pcase{name: file + "contains referrer filter", events: evs(pv("referrer=https://a.com"), pv("referrer=https://a.com"), pv("referrer=https://ab.com")),
			post: `{"date_range":"all","metrics":["visitors"],"filters":[["contains","visit:referrer",["a.com"]]]}`, part: "results", want: `[{"metrics":[2],"dimensions":[]}]`},
		pcase{name: file + "can filter by utm_medium", events: firstOfThree("utm_medium", "social"),
			post: `{` + allFour + `,"filters":[["is","visit:utm_medium",["social"]]]}`, part: "results", want: twoOfThree},
		pcase{name: file + "can filter by utm_medium case insensitively", events: evs(
			pv("utm_medium=Social", "user_id=123", "timestamp=2021-01-01 00:00:00"), pv("utm_medium=SOCIAL", "user_id=123", "timestamp=2021-01-01 00:25:00"),
			pv("timestamp=2021-01-01 00:00:00")),
			post: `{` + allFour + `,"filters":[["is","visit:utm_medium",["sociaL"],{"case_sensitive":false}]]}`, part: "results", want: twoOfThree},
		pcase{name: file + "can filter by is_not utm_medium case insensitively", events: evs(
			pv("utm_medium=Social", "user_id=123", "timestamp=2021-01-01 00:00:00"), pv("utm_medium=SOCIAL", "user_id=123", "timestamp=2021-01-01 00:25:00"),
			pv("timestamp=2021-01-01 00:00:00")),
			post: `{"date_range":"all","metrics":["pageviews"],"filters":[["is_not","visit:utm_medium",["sociaL"],{"case_sensitive":false}]]}`,
			part: "results", want: `[{"metrics":[1],"dimensions":[]}]`},
		pcase{name: file + "can filter by utm_source", events: firstOfThree("utm_source", "Twitter"),
			post: `{` + allFour + `,"filters":[["is","visit:utm_source",["Twitter"]]]}`, part: "results", want: twoOfThree},
		pcase{name: file + "can filter by utm_campaign", events: firstOfThree("utm_campaign", "profile"),
			post: `{` + allFour + `,"filters":[["is","visit:utm_campaign",["profile"]]]}`, part: "results", want: twoOfThree},
		pcase{name: file + "can filter by device type", events: firstOfThree("screen_size", "Desktop"),
			post: `{` + allFour + `,"filters":[["is","visit:device",["Desktop"]]]}`, part: "results", want: twoOfThree},
		pcase{name: file + "can filter by browser", events: firstOfThree("browser", "Chrome"),
			post: `{` + allFour + `,"filters":[["is","visit:browser",["Chrome"]]]}`, part: "results", want: twoOfThree},
		pcase{name: file + "can filter by browser version", skip: "browser versions are not collected"},
		pcase{name: file + "can filter by operating system", events: firstOfThree("operating_system", "Mac"),
			post: `{` + allFour + `,"filters":[["is","visit:os",["Mac"]]]}`, part: "results", want: twoOfThree},
		pcase{name: file + "can filter by operating system version", skip: "OS versions are not collected"},
		pcase{name: file + "can filter by country", events: firstOfThree("country_code", "EE"),
			post: `{` + allFour + `,"filters":[["is","visit:country",["EE"]]]}`, part: "results", want: twoOfThree},
		pcase{name: file + "can filter by page", events: evs(
			pv("user_id=123", "timestamp=2021-01-01 00:00:00"), pv("user_id=123", "pathname=/blogpost", "timestamp=2021-01-01 00:25:00"),
			pv("timestamp=2021-01-01 00:00:00"), pv("pathname=/blogpost", "timestamp=2021-01-01 00:00:00")),
			post: `{` + allFour + `,"filters":[["is","event:page",["/blogpost"]]]}`, part: "results", want: `[{"metrics":[2,2,100,750],"dimensions":[]}]`},
		pcase{name: file + "can filter by hostname", skip: "event:hostname is not collected"},
		pcase{name: file + "filtering by event:name", events: evs(
			ev("Signup", "timestamp=2021-01-01 00:00:00"), ev("Signup", "user_id=123", "timestamp=2021-01-01 00:25:00"),
			ev("Signup", "user_id=123", "timestamp=2021-01-01 00:25:00"), pv("timestamp=2021-01-01 00:00:00")),
			post: `{"date_range":"all","metrics":["visitors","pageviews"],"filters":[["is","event:name",["Signup"]]]}`, part: "results", want: `[{"metrics":[2,0],"dimensions":[]}]`},
		pcase{name: file + "filtering by a custom event goal", goals: []string{"event:Signup"}, events: signups(),
			post: `{"date_range":"all","metrics":["visitors","events"],"filters":[["is","event:goal",["Signup"]]]}`, part: "results", want: `[{"metrics":[2,3],"dimensions":[]}]`},
		pcase{name: file + "filtering by a custom event goal (case insensitive)", goals: []string{"event:Signup"}, events: signups(),
			post: `{"date_range":"all","metrics":["visitors","events"],"filters":[["is","event:goal",["signup"],{"case_sensitive":false}]]}`, part: "results", want: `[{"metrics":[2,3],"dimensions":[]}]`},
		pcase{name: file + "filtering by a revenue goal", skip: "revenue goals (currencies)"},
		pcase{name: file + "filtering by a simple pageview goal", goals: []string{"page:/register"}, events: evs(
			pv("pathname=/register", "timestamp=2021-01-01 00:00:00"), pv("pathname=/register", "user_id=123", "timestamp=2021-01-01 00:25:00"),
			pv("pathname=/register", "user_id=123", "timestamp=2021-01-01 00:25:00"), pv("pathname=/", "timestamp=2021-01-01 00:25:00")),
			post: `{"date_range":"all","metrics":["visitors","pageviews"],"filters":[["is","event:goal",["Visit /register"]]]}`, part: "results", want: `[{"metrics":[2,3],"dimensions":[]}]`},
		pcase{name: file + "filtering by a wildcard pageview goal", goals: []string{"page:/blog**"}, events: blogPosts(),
			post: `{"date_range":"all","metrics":["visitors","pageviews"],"filters":[["is","event:goal",["Visit /blog**"]]]}`, part: "results", want: `[{"metrics":[2,3],"dimensions":[]}]`},
		pcase{name: file + "filtering by multiple custom event goals", goals: []string{"event:Signup", "event:Purchase"}, events: evs(
			ev("Signup"), ev("Purchase", "user_id=123"), ev("Purchase", "user_id=123"), pv()),
			post: `{"date_range":"all","metrics":["visitors","events"],"filters":[["is","event:goal",["Signup","Purchase"]]]}`, part: "results", want: `[{"metrics":[2,3],"dimensions":[]}]`},
		pcase{name: file + "filtering by multiple mixed goals", goals: []string{"event:Signup", "page:/**register"}, events: evs(
			pv("pathname=/account/register"), pv("pathname=/register", "user_id=123"), ev("Signup", "user_id=123"), pv()),
			post: `{"date_range":"all","metrics":["visitors","events","pageviews"],"filters":[["is","event:goal",["Signup","Visit /**register"]]]}`, part: "results",
			want: `[{"metrics":[2,3,2],"dimensions":[]}]`},
		pcase{name: file + "combining filters", events: evs(
			pv("pathname=/blogpost", "country_code=EE", "user_id=123", "timestamp=2021-01-01 00:00:00"),
			pv("user_id=123", "timestamp=2021-01-01 00:25:00"), pv("timestamp=2021-01-01 00:00:00"),
			pv("pathname=/blogpost", "timestamp=2021-01-01 00:00:00")),
			post: `{` + allFour + `,"filters":[["is","event:page",["/blogpost"]],["is","visit:country",["EE"]]]}`, part: "results",
			want: `[{"metrics":[1,1,0,1500],"dimensions":[]}]`},
		pcase{name: file + "contains page filter", events: evs(pv("pathname=/en/page1"), pv("pathname=/en/page2"), pv("pathname=/pl/page1")),
			post: `{"date_range":"all","metrics":["visitors"],"filters":[["contains","event:page",["/en/"]]]}`, part: "results", want: `[{"metrics":[2],"dimensions":[]}]`},
		pcase{name: file + "contains page filter case insensitive", events: evs(pv("pathname=/en/page1"), pv("pathname=/EN/page2"), pv("pathname=/pl/page1")),
			post: `{"date_range":"all","metrics":["visitors"],"filters":[["contains","event:page",["/En/"],{"case_sensitive":false}]]}`, part: "results", want: `[{"metrics":[2],"dimensions":[]}]`},
		pcase{name: file + "contains_not page filter case insensitive", events: evs(pv("pathname=/en/page1"), pv("pathname=/EN/page2"), pv("pathname=/pl/page1")),
			post: `{"date_range":"all","metrics":["visitors"],"filters":[["contains_not","event:page",["/En/"],{"case_sensitive":false}]]}`, part: "results", want: `[{"metrics":[1],"dimensions":[]}]`},
		pcase{name: file + "contains_not page filter", events: evs(pv("pathname=/en/page1"), pv("pathname=/en/page2"), pv("pathname=/pl/page1")),
			post: `{"date_range":"all","metrics":["visitors"],"filters":[["contains_not","event:page",["/en/"]]]}`, part: "results", want: `[{"metrics":[1],"dimensions":[]}]`},
		pcase{name: file + "contains with and/or/not filters", events: evs(
			pv("pathname=/en/page1"), pv("pathname=/en/page2"), pv("pathname=/eng/page1"), pv("pathname=/pl/page1"), pv("pathname=/gb/page1")),
			post: `{"date_range":"all","metrics":["visitors"],"filters":[["or",[["and",[["contains","event:page",["/en"]],["not",["contains","event:page",["/eng"]]]]],["contains","event:page",["/gb"]]]]]}`,
			part: "results", want: `[{"metrics":[3],"dimensions":[]}]`},
		pcase{name: file + "contains and member filter combined", events: evs(pv("pathname=/en/page1"), pv("pathname=/en/page2"), pv("pathname=/pl/page1"), pv("pathname=/ee/page1")),
			post: `{"date_range":"all","metrics":["visitors"],"filters":[["contains","event:page",["/en/","/pl/"]]]}`, part: "results", want: `[{"metrics":[3],"dimensions":[]}]`},
		pcase{name: file + "can escape pipe character in member + contains filter", events: evs(
			pv("pathname=/blog/post|1"), pv("pathname=/otherpost|1"), pv("pathname=/blog/post|2"), pv("pathname=/something-else")),
			post: `{"date_range":"all","metrics":["visitors"],"filters":[["contains","event:page",["post|1","/something-else"]]]}`, part: "results", want: `[{"metrics":[3],"dimensions":[]}]`},
		pcase{name: file + "matches operator", events: userPaths(),
			post: `{"date_range":"all","metrics":["visitors"],"filters":[["matches","event:page",["^/user/[0-9]+"]]]}`, part: "results", want: `[{"metrics":[2],"dimensions":[]}]`},
		pcase{name: file + "matches_not operator", events: userPaths(),
			post: `{"date_range":"all","metrics":["visitors"],"filters":[["matches_not","event:page",["^/user/[0-9]+"]]]}`, part: "results", want: `[{"metrics":[3],"dimensions":[]}]`},
		pcase{name: file + "contains and contains_not operator with custom properties", events: tierValues("ax", "bx", "ax", "bx", "cx", "ax"),
			post: `{"date_range":"all","metrics":["visitors"],"filters":[["contains","event:props:tier",["small"]],["contains_not","event:props:value",["b","c"]]]}`,
			part: "results", want: `[{"metrics":[1],"dimensions":[]}]`},
		pcase{name: file + "contains operator with custom properties case insensitive", events: names(),
			post: `{"date_range":"all","metrics":["visitors"],"filters":[["contains","event:props:name",["maLL"],{"case_sensitive":false}]]}`, part: "results", want: `[{"metrics":[4],"dimensions":[]}]`},
		pcase{name: file + "contains_not operator with custom properties case insensitive", events: names(),
			post: `{"date_range":"all","metrics":["visitors"],"filters":[["contains_not","event:props:name",["maLL"],{"case_sensitive":false}]]}`, part: "results", want: `[{"metrics":[1],"dimensions":[]}]`},
		pcase{name: file + "matches and matches_not operator with custom properties", events: tierValues("a", "b", "a", "b", "c", "a"),
			post: `{"date_range":"all","metrics":["visitors"],"filters":[["matches","event:props:tier",["small.+"]],["matches_not","event:props:value",["b|c"]]]}`,
			part: "results", want: `[{"metrics":[1],"dimensions":[]}]`},
		pcase{name: file + "handles filtering by visit:country", events: evs(pv("country_code=EE"), pv("country_code=EE"), pv("country_code=EE")),
			post: `{"date_range":"all","metrics":["pageviews"],"filters":[["is","visit:country",["EE"]]]}`, part: "results", want: `[{"metrics":[3],"dimensions":[]}]`},
		pcase{name: file + "handles filtering by visit:country with contains", events: evs(pv("country_code=EE"), pv("country_code=EE"), pv("country_code=IT"), pv("country_code=DE")),
			post: `{"date_range":"all","metrics":["pageviews"],"filters":[["contains","visit:country",["E"]]]}`, part: "results", want: `[{"metrics":[3],"dimensions":[]}]`},
		pcase{name: file + "handles filtering by visit:city", skip: "cities are not collected"},
		pcase{name: file + "shows hourly data for a certain date with time_labels", events: evs(
			pv("user_id=123", "timestamp=2021-01-01 00:00:00"), pv("user_id=123", "timestamp=2021-01-01 00:10:00"), pv("timestamp=2021-01-01 23:59:00")),
			post: `{"metrics":["visitors","pageviews","visits","visit_duration","bounce_rate"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["time:hour"],"include":{"time_labels":true}}`,
			part: "results", want: `[{"dimensions":["2021-01-01 00:00:00"],"metrics":[1,2,1,600,0]},{"dimensions":["2021-01-01 23:00:00"],"metrics":[1,1,1,0,100]}]`},
		pcase{name: file + "shows hourly data for a certain date with time_labels (labels)", events: evs(pv("timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["visitors","pageviews","visits","visit_duration","bounce_rate"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["time:hour"],"include":{"time_labels":true}}`,
			part: "meta.time_labels", want: hourLabels("2021-01-01")},
		pcase{name: file + "shows last 7 days of visitors with time labels", events: evs(pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-07 23:59:00")),
			post: `{"metrics":["visitors"],"date_range":["2021-01-01","2021-01-07"],"dimensions":["time"],"include":{"time_labels":true}}`,
			part: "results", want: `[{"dimensions":["2021-01-01"],"metrics":[1]},{"dimensions":["2021-01-07"],"metrics":[1]}]`},
		pcase{name: file + "shows last 7 days of visitors with time labels (labels)", events: evs(pv("timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["visitors"],"date_range":["2021-01-01","2021-01-07"],"dimensions":["time"],"include":{"time_labels":true}}`,
			part: "meta.time_labels", want: `["2021-01-01","2021-01-02","2021-01-03","2021-01-04","2021-01-05","2021-01-06","2021-01-07"]`},
		pcase{name: file + "shows weekly data with time labels", events: evs(pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-03 23:59:00"), pv("timestamp=2021-01-07 23:59:00")),
			post: `{"metrics":["visitors"],"date_range":["2020-12-20","2021-01-07"],"dimensions":["time:week"],"include":{"time_labels":true}}`,
			part: "results", want: `[{"dimensions":["2020-12-28"],"metrics":[2]},{"dimensions":["2021-01-04"],"metrics":[1]}]`},
		pcase{name: file + "shows weekly data with time labels (labels)", events: evs(pv("timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["visitors"],"date_range":["2020-12-20","2021-01-07"],"dimensions":["time:week"],"include":{"time_labels":true}}`,
			part: "meta.time_labels", want: `["2020-12-20","2020-12-21","2020-12-28","2021-01-04"]`},
		pcase{name: file + "shows last 6 months of visitors", events: evs(pv("timestamp=2020-08-13 00:00:00"), pv("timestamp=2020-12-31 00:00:00"),
			pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["visitors"],"date_range":["2020-07-01","2021-01-31"],"dimensions":["time:month"]}`,
			part: "results", want: `[{"dimensions":["2020-08-01"],"metrics":[1]},{"dimensions":["2020-12-01"],"metrics":[1]},{"dimensions":["2021-01-01"],"metrics":[2]}]`},
		pcase{name: file + "shows last 12 months of visitors", events: evs(pv("timestamp=2020-02-01 00:00:00"), pv("timestamp=2020-12-31 00:00:00"),
			pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["visitors"],"date_range":["2020-01-01","2021-01-01"],"dimensions":["time:month"]}`,
			part: "results", want: `[{"dimensions":["2020-02-01"],"metrics":[1]},{"dimensions":["2020-12-01"],"metrics":[1]},{"dimensions":["2021-01-01"],"metrics":[2]}]`},
		pcase{name: file + "shows last 12 months of visitors with interval daily", events: evs(pv("timestamp=2020-02-01 00:00:00"), pv("timestamp=2020-12-31 00:00:00"),
			pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["visitors"],"date_range":["2020-01-01","2021-01-07"],"dimensions":["time:day"],"include":{"time_labels":true}}`,
			part: "results", want: `[{"dimensions":["2020-02-01"],"metrics":[1]},{"dimensions":["2020-12-31"],"metrics":[1]},{"dimensions":["2021-01-01"],"metrics":[2]}]`},
		pcase{name: file + "shows a custom range with daily interval", events: evs(pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-02 00:00:00")),
			post: `{"metrics":["visitors"],"date_range":["2021-01-01","2021-01-02"],"dimensions":["time:day"]}`,
			part: "results", want: `[{"dimensions":["2021-01-01"],"metrics":[2]},{"dimensions":["2021-01-02"],"metrics":[1]}]`},
		pcase{name: file + "shows a custom range with monthly interval", events: evs(
			pv("user_id=123", "timestamp=2020-12-01 00:00:00"), pv("user_id=123", "timestamp=2020-12-01 00:05:00"),
			pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-02 00:00:00")),
			post: `{"metrics":["pageviews","visitors","bounce_rate","visit_duration"],"date_range":["2020-12-01","2021-01-02"],"dimensions":["time:month"]}`,
			part: "results", want: `[{"dimensions":["2020-12-01"],"metrics":[2,1,0,300]},{"dimensions":["2021-01-01"],"metrics":[2,2,100,0]}]`},
		pcase{name: file + "timeseries with explicit order_by", events: evs(pv("timestamp=2021-01-01 00:00:00"),
			many(3, pv("timestamp=2021-01-02 00:00:00")), many(2, pv("timestamp=2021-01-03 00:00:00")), many(2, pv("timestamp=2021-01-04 00:00:00"))),
			post: `{"metrics":["pageviews"],"date_range":["2020-12-01","2021-01-04"],"dimensions":["time"],"order_by":[["pageviews","desc"],["time","asc"]]}`,
			part: "results", want: `[{"dimensions":["2021-01-02"],"metrics":[3]},{"dimensions":["2021-01-03"],"metrics":[2]},{"dimensions":["2021-01-04"],"metrics":[2]},{"dimensions":["2021-01-01"],"metrics":[1]}]`},
		pcase{name: file + "timeseries with quarter-hour timezone", tz: "Asia/Katmandu", events: evs(
			pv("timestamp=2021-01-02 05:00:00"), pv("timestamp=2021-01-02 05:15:00"), pv("timestamp=2021-01-02 05:30:00"), pv("timestamp=2021-01-02 05:45:00"),
			pv("timestamp=2021-01-02 06:00:00"), pv("timestamp=2021-01-02 06:15:00"), pv("timestamp=2021-01-02 06:30:00")),
			post: `{"metrics":["visits"],"date_range":["2021-01-02","2021-01-02"],"dimensions":["time:hour"]}`,
			part: "results", want: `[{"dimensions":["2021-01-02 10:00:00"],"metrics":[1]},{"dimensions":["2021-01-02 11:00:00"],"metrics":[4]},{"dimensions":["2021-01-02 12:00:00"],"metrics":[2]}]`},
		pcase{name: file + "breakdown by visit:source", events: evs(
			pv("referrer_source=Google", "timestamp=2021-01-01 00:00:00"), pv("referrer_source=Google", "timestamp=2021-01-01 00:25:00"),
			pv("referrer_source=", "timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:source"]}`,
			part: "results", want: `[{"dimensions":["Google"],"metrics":[2]},{"dimensions":["Direct / None"],"metrics":[1]}]`},
		pcase{name: file + "breakdown by visit:channel", skip: "visit:channel (acquisition channels) is not derived"},
		pcase{name: file + "breakdown by visit:country", events: evs(
			pv("country_code=EE", "timestamp=2021-01-01 00:00:00"), pv("country_code=EE", "timestamp=2021-01-01 00:25:00"), pv("country_code=US", "timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:country"]}`,
			part: "results", want: `[{"dimensions":["EE"],"metrics":[2]},{"dimensions":["US"],"metrics":[1]}]`},
		pcase{name: file + "breakdown by visit:utm_* when filtered by hostname", skip: "event:hostname is not collected"},
		pcase{name: file + "simple breakdown by visit:source", events: simpleBreakdown("referrer_source", "Google", "Twitter"),
			post: `{"metrics":["visitors","percentage"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["visit:source"]}`,
			part: "results", want: `[{"dimensions":["Google"],"metrics":[3,50]},{"dimensions":["Twitter"],"metrics":[2,33.3]},{"dimensions":["Direct / None"],"metrics":[1,16.7]}]`},
		pcase{name: file + "simple breakdown by visit:referrer", events: simpleBreakdown("referrer", "example.com", "google.com"),
			post: `{"metrics":["visitors","percentage"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["visit:referrer"]}`,
			part: "results", want: `[{"dimensions":["example.com"],"metrics":[3,50]},{"dimensions":["google.com"],"metrics":[2,33.3]},{"dimensions":["Direct / None"],"metrics":[1,16.7]}]`},
		pcase{name: file + "simple breakdown by visit:utm_medium", events: simpleBreakdown("utm_medium", "Search", "social"),
			post: `{"metrics":["visitors","percentage"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["visit:utm_medium"]}`,
			part: "results", want: `[{"dimensions":["Search"],"metrics":[3,50]},{"dimensions":["social"],"metrics":[2,33.3]},{"dimensions":["(not set)"],"metrics":[1,16.7]}]`},
		pcase{name: file + "simple breakdown by visit:utm_source", events: simpleBreakdown("utm_source", "Google", "Bing"),
			post: `{"metrics":["visitors","percentage"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["visit:utm_source"]}`,
			part: "results", want: `[{"dimensions":["Google"],"metrics":[3,50]},{"dimensions":["Bing"],"metrics":[2,33.3]},{"dimensions":["(not set)"],"metrics":[1,16.7]}]`},
		pcase{name: file + "simple breakdown by visit:utm_campaign", events: simpleBreakdown("utm_campaign", "ads", "profile"),
			post: `{"metrics":["visitors","percentage"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["visit:utm_campaign"]}`,
			part: "results", want: `[{"dimensions":["ads"],"metrics":[3,50]},{"dimensions":["profile"],"metrics":[2,33.3]},{"dimensions":["(not set)"],"metrics":[1,16.7]}]`},
		pcase{name: file + "simple breakdown by visit:utm_content", events: simpleBreakdown("utm_content", "Content1", "blog2"),
			post: `{"metrics":["visitors","percentage"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["visit:utm_content"]}`,
			part: "results", want: `[{"dimensions":["Content1"],"metrics":[3,50]},{"dimensions":["blog2"],"metrics":[2,33.3]},{"dimensions":["(not set)"],"metrics":[1,16.7]}]`},
		pcase{name: file + "simple breakdown by visit:utm_term", events: simpleBreakdown("utm_term", "Term1", "favicon"),
			post: `{"metrics":["visitors","percentage"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["visit:utm_term"]}`,
			part: "results", want: `[{"dimensions":["Term1"],"metrics":[3,50]},{"dimensions":["favicon"],"metrics":[2,33.3]},{"dimensions":["(not set)"],"metrics":[1,16.7]}]`},
		pcase{name: file + "simple breakdown by visit:os", events: simpleBreakdown("operating_system", "Mac", "Windows"),
			post: `{"metrics":["visitors","percentage"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["visit:os"]}`,
			part: "results", want: `[{"dimensions":["Mac"],"metrics":[3,50]},{"dimensions":["Windows"],"metrics":[2,33.3]},{"dimensions":["(not set)"],"metrics":[1,16.7]}]`},
		pcase{name: file + "simple breakdown by visit:browser", events: simpleBreakdown("browser", "Chrome", "Safari"),
			post: `{"metrics":["visitors","percentage"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["visit:browser"]}`,
			part: "results", want: `[{"dimensions":["Chrome"],"metrics":[3,50]},{"dimensions":["Safari"],"metrics":[2,33.3]},{"dimensions":["(not set)"],"metrics":[1,16.7]}]`},
		pcase{name: file + "simple breakdown by visit:device", events: simpleBreakdown("screen_size", "Mobile", "Desktop"),
			post: `{"metrics":["visitors","percentage"],"date_range":["2021-01-01","2021-01-01"],"dimensions":["visit:device"]}`,
			part: "results", want: `[{"dimensions":["Mobile"],"metrics":[3,50]},{"dimensions":["Desktop"],"metrics":[2,33.3]},{"dimensions":["(not set)"],"metrics":[1,16.7]}]`},
		pcase{name: file + "breakdown by visit:os and visit:os_version", skip: "OS versions are not collected"},
		pcase{name: file + "breakdown by visit:browser and visit:browser_version", skip: "browser versions are not collected"},
		pcase{name: file + "explicit order_by", events: evs(
			pv("operating_system=Windows", "browser=Chrome"), pv("operating_system=Windows", "browser=Firefox"), pv("operating_system=Linux", "browser=Firefox"),
			pv("operating_system=Linux", "browser=Firefox"), pv("operating_system=Mac", "browser=Chrome")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:os","visit:browser"],"order_by":[["visitors","asc"],["visit:browser","desc"],["visit:os","asc"]]}`,
			part: "results", want: `[{"dimensions":["Windows","Firefox"],"metrics":[1]},{"dimensions":["Mac","Chrome"],"metrics":[1]},{"dimensions":["Windows","Chrome"],"metrics":[1]},{"dimensions":["Linux","Firefox"],"metrics":[2]}]`},
		pcase{name: file + "breakdown by event:page", events: evs(
			pv("pathname=/", "timestamp=2021-01-01 00:00:00"), pv("pathname=/", "timestamp=2021-01-01 00:25:00"), pv("pathname=/plausible.io", "timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["event:page"]}`,
			part: "results", want: `[{"dimensions":["/"],"metrics":[2]},{"dimensions":["/plausible.io"],"metrics":[1]}]`},
		pcase{name: file + "breakdown by event:hostname", skip: "event:hostname is not collected"},
		pcase{name: file + "can breakdown by event:name", events: evs(
			ev("Signup", "timestamp=2021-01-01 00:00:00"), ev("Signup", "timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:25:00")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["event:name"]}`,
			part: "results", want: `[{"dimensions":["Signup"],"metrics":[2]},{"dimensions":["pageview"],"metrics":[1]}]`},
		pcase{name: file + "can breakdown by event:name with visitors and events metrics", events: evs(
			pv("pathname=/non-existing", "user_id=123", "timestamp=2021-01-01 00:00:00"),
			ev("404", "pathname=/non-existing", "user_id=123", "timestamp=2021-01-01 00:00:00"),
			pv("pathname=/non-existing", "timestamp=2021-01-01 00:00:01"),
			pv("pathname=/non-existing", "user_id=123", "timestamp=2021-01-01 00:00:02"),
			ev("404", "pathname=/non-existing", "user_id=123", "timestamp=2021-01-01 00:00:02"),
			pv("pathname=/non-existing", "user_id=123", "timestamp=2021-01-01 00:00:03")),
			post: `{"metrics":["visitors","events"],"date_range":"all","dimensions":["event:name"]}`,
			part: "results", want: `[{"dimensions":["pageview"],"metrics":[2,4]},{"dimensions":["404"],"metrics":[1,2]}]`},
		pcase{name: file + "can breakdown by event:name while filtering for something", events: evs(
			ev("Signup", "pathname=/pageA", "browser=Chrome", "timestamp=2021-01-01 00:00:00"),
			ev("Signup", "pathname=/pageA", "browser=Chrome", "timestamp=2021-01-01 00:00:00"),
			ev("Signup", "pathname=/pageA", "browser=Safari", "timestamp=2021-01-01 00:00:00"),
			ev("Signup", "pathname=/pageB", "browser=Chrome", "timestamp=2021-01-01 00:00:00"),
			pv("pathname=/pageA", "browser=Chrome", "timestamp=2021-01-01 00:25:00")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["event:name"],"filters":[["is","event:page",["/pageA"]],["is","visit:browser",["Chrome"]]]}`,
			part: "results", want: `[{"dimensions":["Signup"],"metrics":[2]},{"dimensions":["pageview"],"metrics":[1]}]`},
		pcase{name: file + "can breakdown by a visit:property when filtering by event:name", events: evs(
			pv("referrer_source=Google", "user_id=123", "timestamp=2021-01-01 00:00:00"),
			ev("Signup", "user_id=123", "timestamp=2021-01-01 00:00:00"),
			pv("referrer_source=Twitter", "timestamp=2021-01-01 00:25:00")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:source"],"filters":[["is","event:name",["Signup"]]]}`,
			part: "results", want: `[{"dimensions":["Google"],"metrics":[1]}]`},
		pcase{name: file + "can breakdown by event:name when filtering by event:page", events: evs(
			pv("pathname=/pageA", "timestamp=2021-01-01 00:00:00"), pv("pathname=/pageA", "timestamp=2021-01-01 00:00:00"),
			ev("Signup", "pathname=/pageA", "timestamp=2021-01-01 00:00:00"),
			pv("pathname=/pageB", "referrer_source=Twitter", "timestamp=2021-01-01 00:25:00")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["event:name"],"filters":[["contains","event:page",["/pageA"]]]}`,
			part: "results", want: `[{"dimensions":["pageview"],"metrics":[2]},{"dimensions":["Signup"],"metrics":[1]}]`},
		pcase{name: file + "can breakdown by event:page when filtering by event:name", events: evs(
			ev("Signup", "pathname=/pageA", "timestamp=2021-01-01 00:00:00"), ev("Signup", "pathname=/pageA", "timestamp=2021-01-01 00:00:00"),
			ev("Signup", "pathname=/pageB", "timestamp=2021-01-01 00:00:00"),
			pv("pathname=/pageB", "referrer_source=Twitter", "timestamp=2021-01-01 00:25:00")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["event:page"],"filters":[["is","event:name",["Signup"]]]}`,
			part: "results", want: `[{"dimensions":["/pageA"],"metrics":[2]},{"dimensions":["/pageB"],"metrics":[1]}]`},
		pcase{name: file + "can filter event:page with a wildcard", events: evs(
			pv("pathname=/en/page1"), pv("pathname=/en/page2"), pv("pathname=/en/page2"), pv("pathname=/pl/page1")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["event:page"],"filters":[["contains","event:page",["/en/"]]]}`,
			part: "results", want: `[{"dimensions":["/en/page2"],"metrics":[2]},{"dimensions":["/en/page1"],"metrics":[1]}]`},
		pcase{name: file + "can filter event:hostname with a contains", skip: "event:hostname is not collected"},
		pcase{name: file + "breakdown by custom event property", events: evs(
			ev("Purchase", "meta.key=package", "meta.value=business", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=package", "meta.value=personal", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=package", "meta.value=business", "timestamp=2021-01-01 00:25:00"),
			ev("Some other event", "meta.key=package", "meta.value=business", "timestamp=2021-01-01 00:25:00")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["event:props:package"],"filters":[["is","event:name",["Purchase"]]]}`,
			part: "results", want: `[{"dimensions":["business"],"metrics":[2]},{"dimensions":["personal"],"metrics":[1]}]`},
		pcase{name: file + "breakdown by custom event property, with pageviews metric", events: evs(
			pv("meta.key=package", "meta.value=business", "timestamp=2021-01-01 00:00:00"),
			pv("meta.key=package", "meta.value=personal", "timestamp=2021-01-01 00:00:00"),
			pv("meta.key=package", "meta.value=business", "timestamp=2021-01-01 00:25:00")),
			post: `{"metrics":["pageviews"],"date_range":"all","dimensions":["event:props:package"]}`,
			part: "results", want: `[{"dimensions":["business"],"metrics":[2]},{"dimensions":["personal"],"metrics":[1]}]`},
		pcase{name: file + "breakdown by custom event property, with (none)", events: evs(
			many(3, ev("Purchase", "meta.key=cost", "meta.value=16", "timestamp=2021-01-01 00:00:00")),
			ev("Purchase", "timestamp=2021-01-01 00:25:00"),
			ev("Purchase", "meta.key=cost", "meta.value=14", "timestamp=2021-01-01 00:25:00"),
			ev("Purchase", "meta.key=cost", "meta.value=14", "timestamp=2021-01-01 00:26:00")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["event:props:cost"],"filters":[["is","event:name",["Purchase"]]]}`,
			part: "results", want: `[{"dimensions":["16"],"metrics":[3]},{"dimensions":["14"],"metrics":[2]},{"dimensions":["(none)"],"metrics":[1]}]`},
		pcase{name: file + "event:goal filter returns 400 when goal not configured", status: 400,
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:browser"],"filters":[["is","event:goal",["Register"]]]}`,
			part: "error", contains: true, want: `"The goal ` + "`Register`" + ` is not configured for this site. Find out how"`},
		pcase{name: file + "validates that filters are valid", status: 400,
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:browser"],"filters":[["is","badproperty",["bar"]]]}`,
			part: "error", contains: true, want: `"Invalid filter"`},
		pcase{name: file + "event:page filter for breakdown by session props", events: evs(
			pv("pathname=/ignore", "browser=Chrome", "timestamp=2021-01-01 00:00:00"), pv("pathname=/plausible.io", "browser=Chrome", "timestamp=2021-01-01 00:00:00"),
			pv("pathname=/plausible.io", "browser=Chrome", "timestamp=2021-01-01 00:25:00"), pv("pathname=/plausible.io", "browser=Safari", "timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:browser"],"filters":[["is","event:page",["/plausible.io"]]]}`,
			part: "results", want: `[{"dimensions":["Chrome"],"metrics":[2]},{"dimensions":["Safari"],"metrics":[1]}]`},
		pcase{name: file + "event:page filter shows visit:source of sessions that have visited that page", events: pageSources(),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:source"],"filters":[["is","event:page",["/plausible.io"]]]}`,
			part: "results", want: `[{"dimensions":["Google"],"metrics":[2]},{"dimensions":["Twitter"],"metrics":[1]}]`},
		pcase{name: file + "event:page filter shows visit:utm_medium of sessions that have visited that page", events: pageSources(),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:utm_medium"],"filters":[["is","event:page",["/plausible.io"]]]}`,
			part: "results", want: `[{"dimensions":["Google"],"metrics":[2]},{"dimensions":["Twitter"],"metrics":[1]}]`},
		pcase{name: file + "event:page filter shows visit:utm_source of sessions that have visited that page", events: pageSources(),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:utm_source"],"filters":[["is","event:page",["/plausible.io"]]]}`,
			part: "results", want: `[{"dimensions":["Google"],"metrics":[2]},{"dimensions":["Twitter"],"metrics":[1]}]`},
		pcase{name: file + "event:page filter shows visit:utm_campaign of sessions that have visited that page", events: pageSources(),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:utm_campaign"],"filters":[["is","event:page",["/plausible.io"]]]}`,
			part: "results", want: `[{"dimensions":["Google"],"metrics":[2]},{"dimensions":["Twitter"],"metrics":[1]}]`},
		pcase{name: file + "Multiple event:props:* filters", events: evs(
			pv("browser=Chrome", "meta.key=browser", "meta.value=Chrome", "timestamp=2021-01-01 00:00:00"),
			pv("browser=Chrome", "meta.key=browser,prop", "meta.value=Chrome,xyz", "timestamp=2021-01-01 00:00:00"),
			pv("browser=Safari", "meta.key=browser,prop", "meta.value=Safari,target_value", "timestamp=2021-01-01 00:00:00"),
			pv("browser=Chrome", "meta.key=browser,prop", "meta.value=Chrome,target_value", "timestamp=2021-01-01 00:00:00"),
			pv("browser=Firefox", "meta.key=browser,prop", "meta.value=Firefox,target_value", "timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:browser"],"filters":[["is","event:props:browser",["CHROME","sAFari"],{"case_sensitive":false}],
				["is_not","event:props:browser",["Chrome"],{"case_sensitive":false}],["is","event:props:prop",["target_value"]]]}`,
			part: "results", want: `[{"dimensions":["Safari"],"metrics":[1]}]`},
		pcase{name: file + "IN filter for event:props:* including (none) value", events: evs(
			pv("browser=Chrome", "meta.key=browser", "meta.value=Chrome", "timestamp=2021-01-01 00:00:00"),
			pv("browser=Chrome", "meta.key=browser", "meta.value=Chrome", "timestamp=2021-01-01 00:00:00"),
			pv("browser=Safari", "timestamp=2021-01-01 00:00:00"),
			pv("browser=Firefox", "meta.key=browser", "meta.value=Firefox", "timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:browser"],"filters":[["is","event:props:browser",["Chrome","(none)"]]]}`,
			part: "results", want: `[{"dimensions":["Chrome"],"metrics":[2]},{"dimensions":["Safari"],"metrics":[1]}]`},
		pcase{name: file + "can use a is_not filter", events: evs(pv("browser=Chrome"), pv("browser=Safari"), pv("browser=Safari"), pv("browser=Edge")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:browser"],"filters":[["is_not","visit:browser",["Chrome"]]]}`,
			part: "results", want: `[{"dimensions":["Safari"],"metrics":[2]},{"dimensions":["Edge"],"metrics":[1]}]`},
		pcase{name: file + "all metrics for breakdown by visit prop", events: evs(
			pv("user_id=1", "referrer_source=Google", "timestamp=2021-01-01 00:00:00"),
			ev("signup", "user_id=1", "referrer_source=Google", "timestamp=2021-01-01 00:05:00"),
			pv("user_id=1", "referrer_source=Google", "timestamp=2021-01-01 00:10:00"),
			pv("referrer_source=Google", "timestamp=2021-01-01 00:25:00"),
			pv("referrer_source=Twitter", "timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["visitors","visits","pageviews","events","bounce_rate","visit_duration"],"date_range":"all","dimensions":["visit:source"]}`,
			part: "results", want: `[{"dimensions":["Google"],"metrics":[2,2,3,4,50,300]},{"dimensions":["Twitter"],"metrics":[1,1,1,1,100,0]}]`},
		pcase{name: file + "metrics=bounce_rate does not add visits to the response", events: evs(
			pv("user_id=1", "pathname=/entry-page-1", "timestamp=2021-01-01 00:00:00"), pv("user_id=1", "pathname=/some-page", "timestamp=2021-01-01 00:10:00"),
			pv("user_id=2", "pathname=/entry-page-2", "referrer_source=Google", "timestamp=2021-01-01 00:05:00")),
			post: `{"metrics":["bounce_rate"],"date_range":"all","dimensions":["visit:entry_page"],"order_by":[["visit:entry_page","asc"]]}`,
			part: "results", want: `[{"dimensions":["/entry-page-1"],"metrics":[0]},{"dimensions":["/entry-page-2"],"metrics":[100]}]`},
		pcase{name: file + "all metrics for breakdown by event prop", events: evs(
			pv("user_id=1", "pathname=/", "timestamp=2021-01-01 00:00:00"), pv("user_id=1", "pathname=/plausible.io", "timestamp=2021-01-01 00:10:00"),
			pv("pathname=/", "timestamp=2021-01-01 00:25:00"), pv("pathname=/plausible.io", "timestamp=2021-01-01 00:00:00")),
			post: `{"metrics":["visitors","visits","pageviews","events","bounce_rate","visit_duration"],"date_range":"all","dimensions":["event:page"],"order_by":[["event:page","desc"]]}`,
			part: "results", want: `[{"dimensions":["/plausible.io"],"metrics":[2,2,2,2,100,0]},{"dimensions":["/"],"metrics":[2,2,2,2,50,300]}]`},
		pcase{name: file + "filtering by custom event property", events: evs(
			ev("Purchase", "meta.key=package", "meta.value=business", "browser=Chrome", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=package", "meta.value=business", "browser=Safari", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=package", "meta.value=business", "browser=Safari", "timestamp=2021-01-01 00:25:00"),
			ev("Purchase", "meta.key=package", "meta.value=personal", "browser=IE", "timestamp=2021-01-01 00:25:00")),
			post: `{"metrics":["visitors"],"date_range":"all","dimensions":["visit:browser"],"filters":[["is","event:name",["Purchase"]],["is","event:props:package",["business"]]]}`,
			part: "results", want: `[{"dimensions":["Safari"],"metrics":[2]},{"dimensions":["Chrome"],"metrics":[1]}]`},
		pcase{name: file + "multiple breakdown timeseries with sources", events: evs(
			pv("referrer_source=Google", "timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-02 00:00:00"),
			pv("referrer_source=Google", "timestamp=2021-01-02 00:00:00"), pv("referrer_source=Google", "timestamp=2021-01-02 00:00:00"),
			pv("timestamp=2021-01-03 00:00:00"), pv("timestamp=2021-01-03 00:00:00"), pv("referrer_source=Twitter", "timestamp=2021-01-03 00:00:00")),
			post: `{"metrics":["visitors"],"date_range":["2021-01-01","2021-01-03"],"dimensions":["time","visit:source"]}`,
			part: "results", want: `[{"dimensions":["2021-01-01","Google"],"metrics":[1]},{"dimensions":["2021-01-02","Google"],"metrics":[2]},
				{"dimensions":["2021-01-02","Direct / None"],"metrics":[1]},{"dimensions":["2021-01-03","Direct / None"],"metrics":[2]},{"dimensions":["2021-01-03","Twitter"],"metrics":[1]}]`},
		pcase{name: file + "filtering by visit:country_name, visit:region_name, visit:city_name", skip: "regions and cities are not collected"},
		pcase{name: file + "bounce rate calculation handles invalid session data gracefully", events: evs(
			pv("user_id=77", "pathname=/", "timestamp=2021-01-01 00:00:00"), pv("user_id=77", "pathname=/", "timestamp=2021-01-01 00:01:00"),
			pv("user_id=77", "pathname=/", "timestamp=2021-01-01 00:01:00")),
			post: `{"date_range":"all","metrics":["bounce_rate"],"dimensions":["event:page"]}`, part: "results", want: `[{"dimensions":["/"],"metrics":[0]}]`},
		pcase{name: file + "pagination above total count - all results are returned", events: eightPages(),
			post: `{"metrics":["pageviews"],"date_range":"all","dimensions":["event:page"],"order_by":[["event:page","asc"]],"include":{"total_rows":true},"pagination":{"limit":10}}`, part: "results",
			want: `[{"dimensions":["/1"],"metrics":[1]},{"dimensions":["/2"],"metrics":[1]},{"dimensions":["/3"],"metrics":[1]},{"dimensions":["/4"],"metrics":[1]},
				{"dimensions":["/5"],"metrics":[1]},{"dimensions":["/6"],"metrics":[1]},{"dimensions":["/7"],"metrics":[1]},{"dimensions":["/8"],"metrics":[1]}]`},
		pcase{name: file + "pagination above total count (total_rows)", events: eightPages(),
			post: `{"metrics":["pageviews"],"date_range":"all","dimensions":["event:page"],"order_by":[["event:page","asc"]],"include":{"total_rows":true},"pagination":{"limit":10}}`, part: "meta.total_rows", want: `8`},
		pcase{name: file + "pagination with offset (first page)", events: eightPages(),
			post: `{"metrics":["pageviews"],"date_range":"all","dimensions":["event:page"],"order_by":[["event:page","asc"]],"include":{"total_rows":true},"pagination":{"limit":3}}`, part: "results",
			want: `[{"dimensions":["/1"],"metrics":[1]},{"dimensions":["/2"],"metrics":[1]},{"dimensions":["/3"],"metrics":[1]}]`},
		pcase{name: file + "pagination with offset (first page total_rows)", events: eightPages(),
			post: `{"metrics":["pageviews"],"date_range":"all","dimensions":["event:page"],"order_by":[["event:page","asc"]],"include":{"total_rows":true},"pagination":{"limit":3}}`, part: "meta.total_rows", want: `8`},
		pcase{name: file + "pagination with offset 3", events: eightPages(),
			post: `{"metrics":["pageviews"],"date_range":"all","dimensions":["event:page"],"order_by":[["event:page","asc"]],"include":{"total_rows":true},"pagination":{"limit":3,"offset":3}}`, part: "results",
			want: `[{"dimensions":["/4"],"metrics":[1]},{"dimensions":["/5"],"metrics":[1]},{"dimensions":["/6"],"metrics":[1]}]`},
		pcase{name: file + "pagination with offset 6", events: eightPages(),
			post: `{"metrics":["pageviews"],"date_range":"all","dimensions":["event:page"],"order_by":[["event:page","asc"]],"include":{"total_rows":true},"pagination":{"limit":3,"offset":6}}`, part: "results",
			want: `[{"dimensions":["/7"],"metrics":[1]},{"dimensions":["/8"],"metrics":[1]}]`},
		pcase{name: file + "pagination with offset 6 (total_rows)", events: eightPages(),
			post: `{"metrics":["pageviews"],"date_range":"all","dimensions":["event:page"],"order_by":[["event:page","asc"]],"include":{"total_rows":true},"pagination":{"limit":3,"offset":6}}`, part: "meta.total_rows", want: `8`},
		pcase{name: file + "pagination with offset 9", events: eightPages(),
			post: `{"metrics":["pageviews"],"date_range":"all","dimensions":["event:page"],"order_by":[["event:page","asc"]],"include":{"total_rows":true},"pagination":{"limit":3,"offset":9}}`, part: "results", want: `[]`},
		pcase{name: file + "scroll_depth", skip: "scroll depth (engagement events)"},
	)
}

func signups() []pev {
	return evs(ev("Signup", "timestamp=2021-01-01 00:00:00"), ev("Signup", "user_id=123", "timestamp=2021-01-01 00:25:00"),
		ev("Signup", "user_id=123", "timestamp=2021-01-01 00:25:00"), ev("NotConfigured", "timestamp=2021-01-01 00:25:00"))
}

func userPaths() []pev {
	return evs(pv("pathname=/user/1234"), pv("pathname=/user/789/contributions"), pv("pathname=/blog/user/1234"),
		pv("pathname=/user/ef/contributions"), pv("pathname=/other/path"))
}

// tierValues: Plausible's fixture of tier and value props; v holds the six
// value props in order.
func tierValues(v ...string) []pev {
	return evs(
		pv("meta.key=tier,value", "meta.value=large-1,"+v[0]), pv("meta.key=tier,value", "meta.value=small-1,"+v[1]),
		pv("meta.key=tier,value", "meta.value=small-1,"+v[2]), pv("meta.key=tier,value", "meta.value=small-2,"+v[3]),
		pv("meta.key=tier,value", "meta.value=small-2,"+v[4]), pv("meta.key=tier", "meta.value=small-3"),
		pv("meta.key=value", "meta.value="+v[5]), pv())
}

func names() []pev {
	return evs(pv("meta.key=name", "meta.value=large-1"), pv("meta.key=name", "meta.value=Small-1"), pv("meta.key=name", "meta.value=mall-1"),
		pv("meta.key=name", "meta.value=SMALL-2"), pv("meta.key=name", "meta.value=small-2"), pv())
}

func hourLabels(date string) string {
	var b strings.Builder
	b.WriteByte('[')
	for h := 0; h < 24; h++ {
		if h > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%s %02d:00:00"`, date, h)
	}
	b.WriteByte(']')
	return b.String()
}

// simpleBreakdown: three visitors with value1, two with value2 and one with
// no value of column, on 2021-01-01 (each event a visitor of its own).
func simpleBreakdown(column, value1, value2 string) []pev {
	return evs(
		pv(column+"="+value1, "timestamp=2021-01-01 00:00:00"), pv(column+"="+value1, "timestamp=2021-01-01 00:25:00"),
		pv(column+"="+value1, "timestamp=2021-01-01 00:55:00"), pv(column+"="+value2, "timestamp=2021-01-01 01:00:00"),
		pv(column+"="+value2, "timestamp=2021-01-01 01:25:00"), pv(column+"=", "timestamp=2021-01-01 00:00:00"))
}

func eightPages() []pev {
	return evs(pv("pathname=/1"), pv("pathname=/2"), pv("pathname=/3"), pv("pathname=/4"),
		pv("pathname=/5"), pv("pathname=/6"), pv("pathname=/7"), pv("pathname=/8"))
}
