package e2e

// Cases of Plausible's query_validations_test.exs (Stats API v2 errors).

func init() {
	const file = "query validations: "
	err := func(name, body, want string, contains bool) pcase {
		c := pcase{name: file + name, post: body, status: 400, part: "error", want: want, contains: contains}
		return c
	}
	plausibleCases = append(plausibleCases,
		pcase{name: file + "feature access (props)", skip: "subscription plans and feature access"},
		err("does not allow querying conversion_rate without a goal filter",
			`{"metrics":["conversion_rate"],"date_range":"all","dimensions":["event:page"],"filters":[["is","event:props:author",["Uku"]]]}`,
			`"Metric `+"`conversion_rate`"+` can only be queried with event:goal filters or dimensions."`, false),
		err("validates that dimensions are valid", `{"metrics":["visitors"],"date_range":"all","dimensions":["badproperty"]}`,
			`"#/dimensions/0: Invalid dimension \"badproperty\""`, false),
		err("empty custom property is invalid", `{"metrics":["visitors"],"date_range":"all","dimensions":["event:props:"]}`,
			`"#/dimensions/0: Invalid dimension \"event:props:\""`, false),
		err("validates that correct date range is used", `{"metrics":["visitors"],"date_range":"bad_period","dimensions":["event:name"]}`,
			`"#/date_range: Invalid date range \"bad_period\""`, false),
		err("fails when an invalid metric is provided", `{"metrics":["visitors","baa"],"date_range":"all","dimensions":["event:name"]}`,
			`"#/metrics/1: Invalid metric \"baa\""`, false),
		err("session metrics cannot be used with event:name dimension", `{"metrics":["visitors","bounce_rate"],"date_range":"all","dimensions":["event:name"]}`,
			`"Session metric(s) `+"`bounce_rate`"+` cannot be queried along with event dimension(s) `+"`event:name`"+`"`, true),
		err("session metrics cannot be used with event:props:* dimension", `{"metrics":["visitors","bounce_rate"],"date_range":"all","dimensions":["event:props:url"]}`,
			`"Session metric(s) `+"`bounce_rate`"+` cannot be queried along with event dimension(s) `+"`event:props:url`"+`"`, true),
		err("validates that metric views_per_visit cannot be used with event:page filter",
			`{"date_range":"all","metrics":["views_per_visit"],"filters":[["is","event:page",["/something"]]]}`,
			`"Metric `+"`views_per_visit`"+` cannot be queried with a filter on `+"`event:page`"+`."`, false),
		err("validates that metric views_per_visit cannot be used together with dimensions",
			`{"date_range":"all","metrics":["views_per_visit"],"dimensions":["event:name"]}`,
			`"Metric `+"`views_per_visit`"+` cannot be queried with `+"`dimensions`"+`."`, false),
		err("validates a metric can't be asked multiple times", `{"date_range":"all","metrics":["views_per_visit","visitors","visitors"]}`,
			`"#/metrics: Expected items to be unique but they were not."`, false),
		err("handles filtering by visit:country with invalid country code",
			`{"date_range":"all","metrics":["pageviews"],"filters":[["is","visit:country",["USA"]]]}`,
			`"Invalid visit:country filter, visit:country needs to be a valid 2-letter country code."`, false),
		// query_timezone_test.exs. Plausible fixes "now" in these tests; the
		// v2 "date" field (the day that stands in for today) says the same.
		pcase{name: "query timezone: uses site timezone to determine 'today' (negative offset)", tz: "America/New_York", events: evs(
			pv("timestamp=2024-01-01 12:00:00"), pv("timestamp=2024-01-02 12:00:00"), pv("timestamp=2024-01-02 14:00:00")),
			post: `{"metrics":["pageviews"],"date_range":"day","date":"2024-01-01"}`, part: "results", want: `[{"metrics":[1],"dimensions":[]}]`},
		pcase{name: "query timezone: uses site timezone to determine 'today' (positive offset)", tz: "Asia/Tokyo", events: evs(
			pv("timestamp=2024-01-01 10:00:00"), pv("timestamp=2024-01-01 12:00:00"), pv("timestamp=2024-01-02 12:00:00")),
			post: `{"metrics":["pageviews"],"date_range":"day","date":"2024-01-02"}`, part: "results", want: `[{"metrics":[1],"dimensions":[]}]`},
		pcase{name: "query timezone: handles timezone gap when date starts at non-existent midnight (spring forward)", tz: "America/Santiago", events: evs(
			pv("timestamp=2022-09-11 03:59:00"), pv("timestamp=2022-09-11 04:00:00"), pv("timestamp=2022-09-11 05:00:00")),
			post: `{"metrics":["pageviews"],"date_range":["2022-09-11","2022-09-11"]}`, part: "results", want: `[{"metrics":[2],"dimensions":[]}]`},
		pcase{name: "query timezone: handles ambiguous datetime at start of range (fall back)", tz: "America/Havana", events: evs(
			pv("timestamp=2023-11-05 04:30:00"), pv("timestamp=2023-11-05 05:30:00"), pv("timestamp=2023-11-05 06:30:00")),
			post: `{"metrics":["pageviews"],"date_range":["2023-11-05","2023-11-05"]}`, part: "results", want: `[{"metrics":[2],"dimensions":[]}]`,
			differs: "midnight happened twice in Havana on 2023-11-05 (00:00 CDT, 04:00 UTC, then 00:00 CST): the day begins at the first, so the event at 00:30 CDT (04:30 UTC) is on the 5th; Plausible begins the day at the second midnight and counts that event on no day"},
		pcase{name: "query timezone: handles ambiguous datetime at end of range (fall back)", tz: "America/Asuncion", events: evs(
			pv("timestamp=2024-03-23 12:00:00"), pv("timestamp=2024-03-24 02:58:00"), pv("timestamp=2024-03-24 03:00:00")),
			post: `{"metrics":["pageviews"],"date_range":["2024-03-23","2024-03-23"]}`, part: "results", want: `[{"metrics":[2],"dimensions":[]}]`,
			differs: "in Asuncion clocks went back from 2024-03-24 00:00 -03 to 2024-03-23 23:00 -04 (tz database 2025b), so 03:00 UTC is 23:00 on the 23rd and counts on the 23rd; Plausible's test takes it for midnight of the 24th"},
		pcase{name: "query timezone: legacy_time_on_page_cutoff timezone handling", skip: "time_on_page (engagement events)"},
	)
}
