package e2e

// Cases of Plausible's breakdown_test.exs (Stats API v1 breakdown).

const breakdown = "/api/v1/stats/breakdown?"

func init() {
	const file = "breakdown: "
	const day = "period=day&date=2021-01-01&"
	plausibleCases = append(plausibleCases,
		pcase{name: file + "feature access (props)", skip: "subscription plans and feature access"},
		pcase{name: file + "time_on_page is not supported in breakdown queries other than by event:page", skip: "time_on_page (engagement events)"},
		pcase{name: file + "does not allow querying conversion_rate without a goal filter", get: breakdown + "property=event:page&metrics=conversion_rate", status: 400,
			want: `{"error":"Metric ` + "`conversion_rate`" + ` can only be queried in a goal breakdown or with a goal filter"}`},
		pcase{name: file + "validates that property is required", get: breakdown + "metrics=visitors", status: 400,
			want: `{"error":"The ` + "`property`" + ` parameter is required. Please provide at least one property to show a breakdown by."}`},
		pcase{name: file + "validates that property is valid", get: breakdown + "property=badproperty", status: 400,
			want: `{"error":"Invalid property 'badproperty'. Please provide a valid property for the breakdown endpoint: https://plausible.io/docs/stats-api#properties"}`},
		pcase{name: file + "empty custom prop is invalid", get: breakdown + "property=event:props:", status: 400,
			want: `{"error":"Invalid property 'event:props:'. Please provide a valid property for the breakdown endpoint: https://plausible.io/docs/stats-api#properties"}`},
		pcase{name: file + "validates that correct period is used", get: breakdown + "period=bad_period", status: 400,
			want: `{"error":"Error parsing ` + "`period`" + ` parameter: invalid period ` + "`bad_period`" + `. Please find accepted values in our docs: https://plausible.io/docs/stats-api#time-periods"}`},
		pcase{name: file + "fails when an invalid metric is provided", get: breakdown + "property=event:page&metrics=visitors,baa", status: 400,
			want: `{"error":"The metric ` + "`baa`" + ` is not recognized. Find valid metrics from the documentation: https://plausible.io/docs/stats-api#metrics"}`},
		pcase{name: file + "session metrics cannot be used with event:name property", get: breakdown + "property=event:name&metrics=visitors,bounce_rate", status: 400,
			want: `{"error":"Session metric ` + "`bounce_rate`" + ` cannot be queried for breakdown by ` + "`event:name`" + `."}`},
		pcase{name: file + "session metrics cannot be used with event:props:* property", get: breakdown + "property=event:props:url&metrics=visitors,bounce_rate", status: 400,
			want: `{"error":"Session metric ` + "`bounce_rate`" + ` cannot be queried for breakdown by ` + "`event:props:url`" + `."}`},
		pcase{name: file + "session metrics cannot be used with event:name filter", get: breakdown + "property=event:page&filters=event:name==Signup&metrics=visitors,bounce_rate", status: 400,
			want: `{"error":"Session metric ` + "`bounce_rate`" + ` cannot be queried when using a filter on ` + "`event:name`" + `."}`},
		pcase{name: file + "session metrics cannot be used with event:props:* filter", get: breakdown + "property=event:page&filters=event:props:url==google.com&metrics=visitors,bounce_rate", status: 400,
			want: `{"error":"Session metric ` + "`bounce_rate`" + ` cannot be queried when using a filter on ` + "`event:props:url`" + `."}`},
		pcase{name: file + "breakdown by visit:source", events: evs(
			pv("referrer_source=Google", "timestamp=2021-01-01 00:00:00"), pv("referrer_source=Google", "timestamp=2021-01-01 00:25:00"),
			pv("referrer_source=", "timestamp=2021-01-01 00:00:00")),
			get:  breakdown + day + "property=visit:source",
			want: `{"results":[{"source":"Google","visitors":2},{"source":"Direct / None","visitors":1}]}`},
		pcase{name: file + "breakdown by visit:channel", skip: "visit:channel (acquisition channels) is not derived"},
		pcase{name: file + "breakdown by visit:country", events: evs(
			pv("country_code=EE", "timestamp=2021-01-01 00:00:00"), pv("country_code=EE", "timestamp=2021-01-01 00:25:00"),
			pv("country_code=US", "timestamp=2021-01-01 00:00:00")),
			get:  breakdown + day + "property=visit:country",
			want: `{"results":[{"country":"EE","visitors":2},{"country":"US","visitors":1}]}`},
		pcase{name: file + "breakdown by visit:referrer", events: evs(
			pv("referrer=https://ref.com", "timestamp=2021-01-01 00:00:00"), pv("referrer=https://ref.com", "timestamp=2021-01-01 00:25:00"),
			pv("referrer=", "timestamp=2021-01-01 00:00:00")),
			get:  breakdown + day + "property=visit:referrer",
			want: `{"results":[{"referrer":"https://ref.com","visitors":2},{"referrer":"Direct / None","visitors":1}]}`},
		pcase{name: file + "breaks down all metrics by visit:referrer with imported data", skip: "imported data (with_imported): another session's work"},
		pcase{name: file + "breakdown by visit:utm_* when filtered by hostname", skip: "event:hostname is not collected"},
		pcase{name: file + "breakdown by visit:utm_medium", events: evs(
			pv("utm_medium=Search", "timestamp=2021-01-01 00:00:00"), pv("utm_medium=Search", "timestamp=2021-01-01 00:25:00"),
			pv("utm_medium=", "timestamp=2021-01-01 00:00:00")),
			get: breakdown + day + "property=visit:utm_medium", want: `{"results":[{"utm_medium":"Search","visitors":2}]}`},
		pcase{name: file + "breakdown by visit:utm_source", events: evs(
			pv("utm_source=Google", "timestamp=2021-01-01 00:00:00"), pv("utm_source=Google", "timestamp=2021-01-01 00:25:00"),
			pv("utm_source=", "timestamp=2021-01-01 00:00:00")),
			get: breakdown + day + "property=visit:utm_source", want: `{"results":[{"utm_source":"Google","visitors":2}]}`},
		pcase{name: file + "breaks down all metrics by visit:utm_source with imported data", skip: "imported data (with_imported): another session's work"},
		pcase{name: file + "breakdown by visit:utm_campaign", events: evs(
			pv("utm_campaign=ads", "timestamp=2021-01-01 00:00:00"), pv("utm_campaign=ads", "timestamp=2021-01-01 00:25:00"),
			pv("utm_campaign=", "timestamp=2021-01-01 00:00:00")),
			get: breakdown + day + "property=visit:utm_campaign", want: `{"results":[{"utm_campaign":"ads","visitors":2}]}`},
		pcase{name: file + "breakdown by visit:utm_content", events: evs(
			pv("utm_content=Content1", "timestamp=2021-01-01 00:00:00"), pv("utm_content=Content1", "timestamp=2021-01-01 00:25:00"),
			pv("utm_content=", "timestamp=2021-01-01 00:00:00")),
			get: breakdown + day + "property=visit:utm_content", want: `{"results":[{"utm_content":"Content1","visitors":2}]}`},
		pcase{name: file + "breakdown by visit:utm_term", events: evs(
			pv("utm_term=Term1", "timestamp=2021-01-01 00:00:00"), pv("utm_term=Term1", "timestamp=2021-01-01 00:25:00"),
			pv("utm_term=", "timestamp=2021-01-01 00:00:00")),
			get: breakdown + day + "property=visit:utm_term", want: `{"results":[{"utm_term":"Term1","visitors":2}]}`},
		pcase{name: file + "breakdown by visit:device", events: evs(
			pv("screen_size=Desktop", "timestamp=2021-01-01 00:00:00"), pv("screen_size=Desktop", "timestamp=2021-01-01 00:25:00"),
			pv("screen_size=Mobile", "timestamp=2021-01-01 00:00:00")),
			get: breakdown + day + "property=visit:device", want: `{"results":[{"device":"Desktop","visitors":2},{"device":"Mobile","visitors":1}]}`},
		pcase{name: file + "breakdown by visit:os", events: evs(
			pv("operating_system=Mac", "timestamp=2021-01-01 00:00:00"), pv("operating_system=Mac", "timestamp=2021-01-01 00:25:00"),
			pv("operating_system=Windows", "timestamp=2021-01-01 00:00:00")),
			get: breakdown + day + "property=visit:os", want: `{"results":[{"os":"Mac","visitors":2},{"os":"Windows","visitors":1}]}`},
		pcase{name: file + "breakdown by visit:os_version", skip: "OS versions are not collected"},
		pcase{name: file + "breakdown by visit:browser", events: evs(
			pv("browser=Firefox", "timestamp=2021-01-01 00:00:00"), pv("browser=Firefox", "timestamp=2021-01-01 00:25:00"),
			pv("browser=Safari", "timestamp=2021-01-01 00:00:00")),
			get: breakdown + day + "property=visit:browser", want: `{"results":[{"browser":"Firefox","visitors":2},{"browser":"Safari","visitors":1}]}`},
		pcase{name: file + "breakdown by visit:browser_version", skip: "browser versions are not collected"},
		pcase{name: file + "pageviews breakdown by event:page - imported data", skip: "imported data (with_imported): another session's work"},
		pcase{name: file + "breakdown by event:page", events: evs(
			pv("pathname=/", "timestamp=2021-01-01 00:00:00"), pv("pathname=/", "timestamp=2021-01-01 00:25:00"),
			pv("pathname=/plausible.io", "timestamp=2021-01-01 00:00:00")),
			get: breakdown + day + "property=event:page", want: `{"results":[{"page":"/","visitors":2},{"page":"/plausible.io","visitors":1}]}`},
		pcase{name: file + "breakdown by event:page when there are no events in the second page", events: evs(
			pv("pathname=/", "timestamp=2021-01-01 00:00:00"), pv("pathname=/", "timestamp=2021-01-01 00:25:00"),
			pv("pathname=/plausible.io", "timestamp=2021-01-01 00:00:00")),
			get: breakdown + day + "property=event:page&metrics=visitors,bounce_rate&page=2&limit=2", want: `{"results":[]}`},
		pcase{name: file + "attempting to breakdown by event:hostname returns an error", get: breakdown + day + "property=event:hostname", status: 400,
			part: "error", contains: true, want: `"Property 'event:hostname' is currently not supported for breakdowns."`},
		pcase{name: file + "can breakdown by visit:exit_page (without the imported rows)", events: evs(
			pv("pathname=/a", "timestamp=2021-01-01 00:00:00"), pv("user_id=123", "pathname=/a", "timestamp=2021-01-01 00:25:00"),
			pv("user_id=123", "pathname=/b", "timestamp=2021-01-01 00:35:00")),
			// Plausible's test adds imported exits of /b (2 visitors); these are the live rows alone.
			get: breakdown + day + "property=visit:exit_page&metrics=visitors,visits,bounce_rate,visit_duration,events,pageviews",
			want: `{"results":[{"exit_page":"/a","visitors":1,"visits":1,"bounce_rate":100,"visit_duration":0,"events":1,"pageviews":1},
				{"exit_page":"/b","visitors":1,"visits":1,"bounce_rate":0,"visit_duration":600,"events":2,"pageviews":2}]}`},
		pcase{name: file + "can breakdown by event:name", events: evs(
			ev("Signup", "timestamp=2021-01-01 00:00:00"), ev("Signup", "timestamp=2021-01-01 00:00:00"), pv("timestamp=2021-01-01 00:25:00")),
			get: breakdown + day + "property=event:name", want: `{"results":[{"name":"Signup","visitors":2},{"name":"pageview","visitors":1}]}`},
		pcase{name: file + "can breakdown by event:name with visitors and events metrics", events: evs(
			pv("pathname=/non-existing", "user_id=123", "timestamp=2021-01-01 00:00:00"),
			ev("404", "pathname=/non-existing", "user_id=123", "timestamp=2021-01-01 00:00:00"),
			pv("pathname=/non-existing", "timestamp=2021-01-01 00:00:01"),
			pv("pathname=/non-existing", "user_id=123", "timestamp=2021-01-01 00:00:02"),
			ev("404", "pathname=/non-existing", "user_id=123", "timestamp=2021-01-01 00:00:02"),
			pv("pathname=/non-existing", "user_id=123", "timestamp=2021-01-01 00:00:03")),
			get:  breakdown + day + "property=event:name&metrics=visitors,events",
			want: `{"results":[{"name":"pageview","visitors":2,"events":4},{"name":"404","visitors":1,"events":2}]}`},
		pcase{name: file + "can breakdown by event:name while filtering for something", events: evs(
			ev("Signup", "pathname=/pageA", "browser=Chrome", "timestamp=2021-01-01 00:00:00"),
			ev("Signup", "pathname=/pageA", "browser=Chrome", "timestamp=2021-01-01 00:00:00"),
			ev("Signup", "pathname=/pageA", "browser=Safari", "timestamp=2021-01-01 00:00:00"),
			ev("Signup", "pathname=/pageB", "browser=Chrome", "timestamp=2021-01-01 00:00:00"),
			pv("pathname=/pageA", "browser=Chrome", "timestamp=2021-01-01 00:25:00")),
			get:  breakdown + day + "property=event:name&filters=event:page==/pageA;visit:browser==Chrome",
			want: `{"results":[{"name":"Signup","visitors":2},{"name":"pageview","visitors":1}]}`},
		pcase{name: file + "can breakdown by a visit:property when filtering by event:name", events: evs(
			pv("referrer_source=Google", "user_id=123", "timestamp=2021-01-01 00:00:00"),
			ev("Signup", "user_id=123", "timestamp=2021-01-01 00:00:00"),
			pv("referrer_source=Twitter", "timestamp=2021-01-01 00:25:00")),
			get: breakdown + day + "property=visit:source&filters=event:name==Signup", want: `{"results":[{"source":"Google","visitors":1}]}`},
		pcase{name: file + "can breakdown by event:name when filtering by event:page", events: evs(
			pv("pathname=/pageA", "timestamp=2021-01-01 00:00:00"), pv("pathname=/pageA", "timestamp=2021-01-01 00:00:00"),
			ev("Signup", "pathname=/pageA", "timestamp=2021-01-01 00:00:00"),
			pv("pathname=/pageB", "referrer_source=Twitter", "timestamp=2021-01-01 00:25:00")),
			get:  breakdown + day + "property=event:name&filters=event:page==/pageA",
			want: `{"results":[{"name":"pageview","visitors":2},{"name":"Signup","visitors":1}]}`},
		pcase{name: file + "can breakdown by event:page when filtering by event:name", events: evs(
			ev("Signup", "pathname=/pageA", "timestamp=2021-01-01 00:00:00"), ev("Signup", "pathname=/pageA", "timestamp=2021-01-01 00:00:00"),
			ev("Signup", "pathname=/pageB", "timestamp=2021-01-01 00:00:00"),
			pv("pathname=/pageB", "referrer_source=Twitter", "timestamp=2021-01-01 00:25:00")),
			get:  breakdown + day + "property=event:page&filters=event:name==Signup",
			want: `{"results":[{"page":"/pageA","visitors":2},{"page":"/pageB","visitors":1}]}`},
		pcase{name: file + "can filter event:page with a wildcard", events: evs(
			pv("pathname=/en/page1"), pv("pathname=/en/page2"), pv("pathname=/en/page2"), pv("pathname=/pl/page1")),
			get:  breakdown + "period=day&property=event:page&filters=event:page==/en/**",
			want: `{"results":[{"page":"/en/page2","visitors":2},{"page":"/en/page1","visitors":1}]}`},
		pcase{name: file + "can filter event:hostname with a wildcard", skip: "event:hostname is not collected"},
		pcase{name: file + "breakdown by custom event property", events: evs(
			ev("Purchase", "meta.key=package", "meta.value=business", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=package", "meta.value=personal", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=package", "meta.value=business", "timestamp=2021-01-01 00:25:00"),
			ev("Some other event", "meta.key=package", "meta.value=business", "timestamp=2021-01-01 00:25:00")),
			get:  breakdown + day + "property=event:props:package&filters=event:name==Purchase",
			want: `{"results":[{"package":"business","visitors":2},{"package":"personal","visitors":1}]}`},
		pcase{name: file + "breakdown by custom event property, with pageviews metric", events: evs(
			pv("meta.key=package", "meta.value=business", "timestamp=2021-01-01 00:00:00"),
			pv("meta.key=package", "meta.value=personal", "timestamp=2021-01-01 00:00:00"),
			pv("meta.key=package", "meta.value=business", "timestamp=2021-01-01 00:25:00")),
			get:  breakdown + day + "property=event:props:package&metrics=pageviews",
			want: `{"results":[{"package":"business","pageviews":2},{"package":"personal","pageviews":1}]}`},
		pcase{name: file + "breakdown by custom event property, with (none)", events: evs(
			many(3, ev("Purchase", "meta.key=cost", "meta.value=16", "timestamp=2021-01-01 00:00:00")),
			ev("Purchase", "timestamp=2021-01-01 00:25:00"),
			ev("Purchase", "meta.key=cost", "meta.value=14", "timestamp=2021-01-01 00:25:00"),
			ev("Purchase", "meta.key=cost", "meta.value=14", "timestamp=2021-01-01 00:26:00")),
			get:  breakdown + day + "property=event:props:cost&filters=event:name==Purchase",
			want: `{"results":[{"cost":"16","visitors":3},{"cost":"14","visitors":2},{"cost":"(none)","visitors":1}]}`},
		pcase{name: file + "breakdown by custom event property, limited", events: evs(
			ev("Purchase", "meta.key=cost", "meta.value=16", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=cost", "meta.value=18", "timestamp=2021-01-01 00:25:00"),
			ev("Purchase", "meta.key=cost", "meta.value=14", "timestamp=2021-01-01 00:25:00"),
			ev("Purchase", "meta.key=cost", "meta.value=14", "timestamp=2021-01-01 00:26:00")),
			get:  breakdown + day + "property=event:props:cost&filters=event:name==Purchase&limit=2",
			want: `{"results":[{"cost":"14","visitors":2},{"cost":"16","visitors":1}]}`},
		pcase{name: file + "breakdown by custom event property, paginated", events: evs(
			ev("Purchase", "meta.key=cost", "meta.value=16", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=cost", "meta.value=16", "timestamp=2021-01-01 00:00:00"),
			ev("Purchase", "meta.key=cost", "meta.value=18", "timestamp=2021-01-01 00:25:00"),
			ev("Purchase", "meta.key=cost", "meta.value=14", "timestamp=2021-01-01 00:25:00"),
			ev("Purchase", "meta.key=cost", "meta.value=14", "timestamp=2021-01-01 00:26:00")),
			get:  breakdown + day + "property=event:props:cost&filters=event:name==Purchase&limit=2&page=2",
			want: `{"results":[{"cost":"18","visitors":1}]}`},
		pcase{name: file + "returns custom event goals and pageview goals", goals: []string{"event:Purchase", "page:/test"}, events: evs(
			pv("timestamp=2021-01-01 00:00:01", "pathname=/test"), ev("Purchase", "timestamp=2021-01-01 00:00:03"), ev("Purchase", "timestamp=2021-01-01 00:00:03")),
			get: breakdown + day + "property=event:goal", part: "results", want: `[{"goal":"Purchase","visitors":2},{"goal":"Visit /test","visitors":1}]`},
		pcase{name: file + "returns pageview goals containing wildcards", goals: []string{"page:/**/post", "page:/blog**"}, events: evs(
			pv("pathname=/blog", "user_id=123"), pv("pathname=/blog/post-1", "user_id=123"), pv("pathname=/blog/post-2", "user_id=123"),
			pv("pathname=/blog/something/post"), pv("pathname=/different/page/post")),
			get: breakdown + "metrics=visitors,pageviews&property=event:goal", part: "results",
			want:    `[{"goal":"Visit /**/post","visitors":2,"pageviews":2},{"goal":"Visit /blog**","visitors":2,"pageviews":4}]`,
			differs: "the events are today's and the default period is 30d: the 30 days before today, as the issue and Plausible's newer timeseries test (7d of 2021-01-08 ends 2021-01-07) define it; this older test counted today in 30d"},
		pcase{name: file + "does not return goals that are not configured for the site", events: evs(pv("pathname=/register"), ev("Signup")),
			get: breakdown + "metrics=visitors,pageviews&property=event:goal", part: "results", want: `[]`},
		pcase{name: file + "event:goal filter returns 400 when goal not configured", get: breakdown + "property=event:page&filters=event:goal==Register", status: 400,
			part: "error", contains: true, want: `"The goal ` + "`Register`" + ` is not configured for this site. Find out how"`},
		pcase{name: file + "validates that filters are valid", get: breakdown + "property=event:page&filters=badproperty==bar", status: 400,
			want: `{"error":"Invalid filter property 'badproperty'. Please provide a valid filter property: https://plausible.io/docs/stats-api#properties"}`},
		pcase{name: file + "event:page filter for breakdown by session props", events: evs(
			pv("pathname=/ignore", "browser=Chrome", "timestamp=2021-01-01 00:00:00"), pv("pathname=/plausible.io", "browser=Chrome", "timestamp=2021-01-01 00:00:00"),
			pv("pathname=/plausible.io", "browser=Chrome", "timestamp=2021-01-01 00:25:00"), pv("pathname=/plausible.io", "browser=Safari", "timestamp=2021-01-01 00:00:00")),
			get:  breakdown + day + "property=visit:browser&filters=event:page==/plausible.io",
			want: `{"results":[{"browser":"Chrome","visitors":2},{"browser":"Safari","visitors":1}]}`},
		pcase{name: file + "event:page filter shows sources of sessions that have visited that page", events: pageSources(),
			get: breakdown + "period=day&property=visit:source&filters=event:page==/plausible.io", want: `{"results":[{"source":"Google","visitors":2},{"source":"Twitter","visitors":1}]}`},
		pcase{name: file + "event:page filter shows utm_medium of sessions that have visited that page", events: pageSources(),
			get: breakdown + "period=day&property=visit:utm_medium&filters=event:page==/plausible.io", want: `{"results":[{"utm_medium":"Google","visitors":2},{"utm_medium":"Twitter","visitors":1}]}`},
		pcase{name: file + "event:page filter shows utm_source of sessions that have visited that page", events: pageSources(),
			get: breakdown + "period=day&property=visit:utm_source&filters=event:page==/plausible.io", want: `{"results":[{"utm_source":"Google","visitors":2},{"utm_source":"Twitter","visitors":1}]}`},
		pcase{name: file + "event:page filter shows utm_campaign of sessions that have visited that page", events: pageSources(),
			get: breakdown + "period=day&property=visit:utm_campaign&filters=event:page==/plausible.io", want: `{"results":[{"utm_campaign":"Google","visitors":2},{"utm_campaign":"Twitter","visitors":1}]}`},
		pcase{name: file + "top sources for a custom goal and filtered by hostname", skip: "event:hostname is not collected"},
		pcase{name: file + "event:page filter is interpreted as entry_page filter only for bounce_rate", events: evs(
			pv("browser=Chrome", "user_id=123", "pathname=/ignore", "timestamp=2021-01-01 00:00:00"),
			pv("browser=Chrome", "user_id=123", "pathname=/plausible.io", "timestamp=2021-01-01 00:01:00"),
			pv("browser=Chrome", "user_id=456", "pathname=/important-page", "timestamp=2021-01-01 00:00:00"),
			pv("browser=Chrome", "user_id=456", "pathname=/", "timestamp=2021-01-01 00:01:00"),
			pv("browser=Chrome", "pathname=/plausible.io", "timestamp=2021-01-01 00:01:00")),
			get:  breakdown + day + "metrics=visitors,bounce_rate&property=visit:browser&filters=event:page == /plausible.io|/important-page",
			want: `{"results":[{"browser":"Chrome","bounce_rate":50,"visitors":3}]}`},
		pcase{name: file + "event:goal pageview filter for breakdown by visit source", goals: []string{"page:/plausible.io"}, events: evs(
			pv("referrer_source=Bing", "timestamp=2021-01-01 00:00:00"), pv("referrer_source=Google", "user_id=123", "timestamp=2021-01-01 00:00:00"),
			pv("pathname=/plausible.io", "user_id=123", "timestamp=2021-01-01 00:00:00")),
			get: breakdown + day + "property=visit:source&filters=event:goal == Visit /plausible.io", want: `{"results":[{"source":"Google","visitors":1}]}`},
		pcase{name: file + "event:goal custom event filter for breakdown by visit source", goals: []string{"event:Register"}, events: evs(
			pv("referrer_source=Bing", "timestamp=2021-01-01 00:00:00"), pv("referrer_source=Google", "user_id=123", "timestamp=2021-01-01 00:00:00"),
			ev("Register", "user_id=123", "timestamp=2021-01-01 00:00:00")),
			get: breakdown + day + "property=visit:source&filters=event:goal == Register", want: `{"results":[{"source":"Google","visitors":1}]}`},
		pcase{name: file + "wildcard pageview goal filter for breakdown by event:page", goals: []string{"page:/**register"}, events: evs(
			pv("pathname=/en/register"), pv("pathname=/en/register", "user_id=123"), pv("pathname=/en/register", "user_id=123"),
			pv("pathname=/123/it/register"), pv("pathname=/should-not-appear")),
			get:  breakdown + "period=day&metrics=visitors,pageviews&property=event:page&filters=event:goal==Visit /**register",
			want: `{"results":[{"page":"/en/register","visitors":2,"pageviews":3},{"page":"/123/it/register","visitors":1,"pageviews":1}]}`},
		pcase{name: file + "mixed multi-goal filter for breakdown by visit:country", goals: []string{"page:/**register", "event:Signup"}, events: evs(
			pv("country_code=EE", "pathname=/en/register"), ev("Signup", "country_code=EE", "pathname=/en/register"),
			pv("country_code=US", "pathname=/123/it/register"), pv("country_code=US", "pathname=/different")),
			get:  breakdown + "period=day&metrics=visitors,pageviews,events&property=visit:country&filters=event:goal==Signup|Visit /**register",
			want: `{"results":[{"country":"EE","visitors":2,"pageviews":1,"events":2},{"country":"US","visitors":1,"pageviews":1,"events":1}]}`},
		pcase{name: file + "event:goal custom event filter for breakdown by event page", goals: []string{"event:Register"}, events: evs(
			ev("Register", "pathname=/en/register"), ev("Register", "pathname=/en/register"), ev("Register", "pathname=/it/register")),
			get:  breakdown + "period=day&property=event:page&filters=event:goal == Register",
			want: `{"results":[{"page":"/en/register","visitors":2},{"page":"/it/register","visitors":1}]}`},
		pcase{name: file + "IN filter for event:page", events: evs(
			pv("pathname=/ignore", "timestamp=2021-01-01 00:00:00"), pv("pathname=/plausible.io", "timestamp=2021-01-01 00:00:00"),
			pv("pathname=/plausible.io", "timestamp=2021-01-01 00:00:00"), pv("pathname=/important-page", "timestamp=2021-01-01 00:00:00")),
			get:  breakdown + day + "property=event:page&filters=event:page == /plausible.io|/important-page",
			want: `{"results":[{"page":"/plausible.io","visitors":2},{"page":"/important-page","visitors":1}]}`},
	)
}

// pageSources: a Twitter visit that reaches /plausible.io second, and two
// Google visits landing on it (Plausible's fixture, all at the test's now).
func pageSources() []pev {
	return evs(
		pv("pathname=/", "referrer_source=Twitter", "utm_medium=Twitter", "utm_source=Twitter", "utm_campaign=Twitter", "user_id=123", "timestamp=now-1s"),
		pv("pathname=/plausible.io", "user_id=123"),
		pv("pathname=/plausible.io", "referrer_source=Google", "utm_medium=Google", "utm_source=Google", "utm_campaign=Google"),
		pv("pathname=/plausible.io", "referrer_source=Google", "utm_medium=Google", "utm_source=Google", "utm_campaign=Google"),
	)
}
