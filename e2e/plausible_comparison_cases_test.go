package e2e

// Cases of Plausible's query_comparisons_test.exs (v2 include.comparisons;
// Plausible posts them to its internal test endpoint, the same query).

func init() {
	const file = "query comparisons: "
	browsers := evs(
		many(4, pv("browser=Firefox", "timestamp=2021-01-01 00:00:00")), many(3, pv("browser=Safari", "timestamp=2021-01-01 00:00:00")),
		pv("browser=Chrome", "timestamp=2021-01-01 00:00:00"), many(3, pv("browser=Chrome", "timestamp=2021-01-07 00:00:00")),
		many(2, pv("browser=Firefox", "timestamp=2021-01-07 00:00:00")), pv("browser=Safari", "timestamp=2021-01-08 00:00:00"))
	const byBrowser = `"metrics":["visitors","percentage"],"date_range":["2021-01-07","2021-01-13"],"dimensions":["visit:browser"],"include":{"comparisons":{"mode":"previous_period"}}`
	const days28 = `"metrics":["visitors"],"date_range":"28d","date":"2021-06-10","dimensions":["time"],"include":{"time_labels":true,"comparisons":{"mode":"previous_period","match_day_of_week":true}}`
	yoy := evs(many(2, pv("timestamp=2021-04-01 00:00:00")), many(2, pv("timestamp=2021-04-05 00:00:00")), pv("timestamp=2021-06-30 00:00:00"),
		pv("timestamp=2022-04-01 00:00:00"), pv("timestamp=2022-04-05 00:00:00"), pv("timestamp=2022-06-30 00:00:00"), pv("timestamp=2022-07-01 00:00:00"))
	const yoyBody = `{"metrics":["visitors"],"date_range":"91d","date":"2022-07-01","dimensions":["time:day"],"include":{"time_labels":true,"comparisons":{"mode":"year_over_year"}}}`
	plausibleCases = append(plausibleCases,
		pcase{name: file + "aggregates a single metric", events: evs(
			pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:25:00"), pv("timestamp=2021-01-02 00:00:00"), pv("timestamp=2021-01-07 00:00:00")),
			post: `{"metrics":["pageviews"],"date_range":["2021-01-07","2021-01-13"],"include":{"comparisons":{"mode":"previous_period"}}}`,
			part: "results", want: `[{"dimensions":[],"metrics":[1],"comparison":{"change":[-67],"dimensions":[],"metrics":[3]}}]`},
		pcase{name: file + "timeseries comparison", events: evs(
			pv("timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:25:00"), pv("timestamp=2021-01-06 00:00:00"),
			pv("timestamp=2021-01-07 00:00:00"), pv("timestamp=2021-01-08 00:00:00")),
			post: `{"metrics":["pageviews"],"date_range":["2021-01-07","2021-01-13"],"dimensions":["time:day"],"include":{"comparisons":{"mode":"previous_period"}}}`,
			part: "results", want: `[
				{"dimensions":["2021-01-07"],"metrics":[1],"comparison":{"dimensions":["2020-12-31"],"metrics":[0],"change":[100]}},
				{"dimensions":["2021-01-08"],"metrics":[1],"comparison":{"dimensions":["2021-01-01"],"metrics":[2],"change":[-50]}},
				{"dimensions":["2021-01-09"],"metrics":[0],"comparison":{"dimensions":["2021-01-02"],"metrics":[0],"change":[0]}},
				{"dimensions":["2021-01-10"],"metrics":[0],"comparison":{"dimensions":["2021-01-03"],"metrics":[0],"change":[0]}},
				{"dimensions":["2021-01-11"],"metrics":[0],"comparison":{"dimensions":["2021-01-04"],"metrics":[0],"change":[0]}},
				{"dimensions":["2021-01-12"],"metrics":[0],"comparison":{"dimensions":["2021-01-05"],"metrics":[0],"change":[0]}},
				{"dimensions":["2021-01-13"],"metrics":[0],"comparison":{"dimensions":["2021-01-06"],"metrics":[1],"change":[-100]}}]`},
		pcase{name: file + "timeseries last 28d period compares the same period (first bucket)", post: `{` + days28 + `}`,
			part: "results.0", want: `{"dimensions":["2021-05-13"],"metrics":[0],"comparison":{"dimensions":["2021-04-15"],"metrics":[0],"change":[0]}}`},
		pcase{name: file + "timeseries last 28d period compares the same period (last bucket)", post: `{` + days28 + `}`,
			part: "results.27", want: `{"dimensions":["2021-06-09"],"metrics":[0],"comparison":{"dimensions":["2021-05-12"],"metrics":[0],"change":[0]}}`},
		pcase{name: file + "timeseries last 91d period in year_over_year comparison (first label)", events: yoy, post: yoyBody,
			part: "meta.time_labels.0", want: `"2022-04-01"`},
		pcase{name: file + "timeseries last 91d period in year_over_year comparison (last label)", events: yoy, post: yoyBody,
			part: "meta.time_labels.90", want: `"2022-06-30"`},
		pcase{name: file + "timeseries last 91d period in year_over_year comparison (2022-04-01)", events: yoy, post: yoyBody,
			part: "results.0", want: `{"dimensions":["2022-04-01"],"metrics":[1],"comparison":{"dimensions":["2021-04-01"],"metrics":[2]}}`, match: true},
		pcase{name: file + "timeseries last 91d period in year_over_year comparison (2022-04-05)", events: yoy, post: yoyBody,
			part: "results.4", want: `{"dimensions":["2022-04-05"],"metrics":[1],"comparison":{"dimensions":["2021-04-05"],"metrics":[2]}}`, match: true},
		pcase{name: file + "timeseries last 91d period in year_over_year comparison (2022-06-30)", events: yoy, post: yoyBody,
			part: "results.90", want: `{"dimensions":["2022-06-30"],"metrics":[1],"comparison":{"dimensions":["2021-06-30"],"metrics":[1]}}`, match: true},
		pcase{name: file + "dimensional comparison with low limit", events: browsers, post: `{` + byBrowser + `,"pagination":{"limit":2}}`,
			part: "results", want: `[{"dimensions":["Chrome"],"metrics":[3,50.0],"comparison":{"dimensions":["Chrome"],"metrics":[1,12.5],"change":[200,300]}},
				{"dimensions":["Firefox"],"metrics":[2,33.3],"comparison":{"dimensions":["Firefox"],"metrics":[4,50.0],"change":[-50,-33]}}]`},
		pcase{name: file + "dimensional comparison with low limit (second page)", events: browsers, post: `{` + byBrowser + `,"pagination":{"limit":2,"offset":2}}`,
			part: "results", want: `[{"dimensions":["Safari"],"metrics":[1,16.7],"comparison":{"dimensions":["Safari"],"metrics":[3,37.5],"change":[-67,-55]}}]`},
		pcase{name: file + "dimensional comparison with imported data", skip: "imported data (include.imports): another session's work"},
	)
}
