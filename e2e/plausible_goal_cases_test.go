package e2e

// Cases of Plausible's query_goal_dimension_test.exs (v2 event:goal
// dimension).

func init() {
	const file = "query goal dimension: "
	plausibleCases = append(plausibleCases,
		pcase{name: file + "returns custom event goals and pageview goals", goals: []string{"event:Purchase", "page:/test"}, events: evs(
			pv("timestamp=2021-01-01 00:00:01", "pathname=/test"), ev("Purchase", "timestamp=2021-01-01 00:00:03"), ev("Purchase", "timestamp=2021-01-01 00:00:03")),
			post: `{"date_range":"all","metrics":["visitors"],"dimensions":["event:goal"]}`,
			part: "results", want: `[{"dimensions":["Purchase"],"metrics":[2]},{"dimensions":["Visit /test"],"metrics":[1]}]`},
		pcase{name: file + "returns pageview goals containing wildcards", goals: []string{"page:/**/post", "page:/blog**"}, events: evs(
			pv("pathname=/blog", "user_id=123"), pv("pathname=/blog/post-1", "user_id=123"), pv("pathname=/blog/post-2", "user_id=123"),
			pv("pathname=/blog/something/post"), pv("pathname=/different/page/post")),
			post: `{"date_range":"all","metrics":["visitors","pageviews"],"dimensions":["event:goal"],"order_by":[["pageviews","desc"]]}`,
			part: "results", want: `[{"dimensions":["Visit /blog**"],"metrics":[2,4]},{"dimensions":["Visit /**/post"],"metrics":[2,2]}]`},
		pcase{name: file + "does not return goals that are not configured for the site", events: evs(pv("pathname=/register"), ev("Signup")),
			post: `{"date_range":"all","metrics":["visitors","pageviews"],"dimensions":["event:goal"]}`, part: "results", want: `[]`},
		pcase{name: file + "returns conversion_rate in an event:goal breakdown", goals: []string{"event:Signup", "page:/blog**"}, events: evs(
			ev("Signup", "user_id=1"), ev("Signup", "user_id=1"), pv("pathname=/blog"), pv("pathname=/blog/post"), pv()),
			post: `{"date_range":"all","metrics":["visitors","events","conversion_rate"],"dimensions":["event:goal"]}`,
			part: "results", want: `[{"dimensions":["Visit /blog**"],"metrics":[2,2,50.0]},{"dimensions":["Signup"],"metrics":[1,2,25.0]}]`},
		pcase{name: file + "returns conversion_rate alone in an event:goal breakdown", goals: []string{"event:Signup"}, events: evs(ev("Signup", "user_id=1"), pv()),
			post: `{"date_range":"all","metrics":["conversion_rate"],"dimensions":["event:goal"]}`,
			part: "results", want: `[{"dimensions":["Signup"],"metrics":[50.0]}]`},
		pcase{name: file + "page scroll goals", skip: "scroll depth goals (engagement events)"},
	)
}
