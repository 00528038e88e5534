package e2e

// Cases of Plausible's aggregate_test.exs (Stats API v1 aggregate).

const aggregate = "/api/v1/stats/aggregate?"

// firstOfThree is the fixture most of Plausible's filter tests share: user
// 123's two page views 25 minutes apart, the first one carrying field=value,
// and a page view of another visitor.
func firstOfThree(field, value string) []pev {
	return evs(
		pv(field+"="+value, "user_id=123", "timestamp=2021-01-01 00:00:00"),
		pv("user_id=123", "timestamp=2021-01-01 00:25:00"),
		pv("timestamp=2021-01-01 00:00:00"),
	)
}

const filteredTwoOfThree = `{"pageviews":{"value":2},"visitors":{"value":1},"bounce_rate":{"value":0},"visit_duration":{"value":1500}}`

func init() {
	const file = "aggregate: "
	const four = "period=day&date=2021-01-01&metrics=pageviews,visitors,bounce_rate,visit_duration"
	three := evs(
		pv("user_id=123", "timestamp=2021-01-01 00:00:00"),
		pv("user_id=123", "timestamp=2021-01-01 00:25:00"),
		pv("timestamp=2021-01-01 00:00:00"),
	)
	plausibleCases = append(plausibleCases,
		pcase{name: file + "cannot filter by a custom prop without access to the props feature", skip: "subscription plans and feature access"},
		pcase{name: file + "validates that date can be parsed", get: aggregate + "period=month&date=2021-dkjbAS&metrics=pageviews", status: 400,
			want: `{"error":"Error parsing ` + "`date`" + ` parameter: invalid_format. Please specify a valid date in ISO-8601 format."}`},
		pcase{name: file + "ignores a given property parameter", get: aggregate + "property=event:props:author&metrics=visit_duration"},
		pcase{name: file + "validates that period can be parsed", get: aggregate + "period=aosuhsacp&metrics=pageviews", status: 400,
			want: `{"error":"Error parsing ` + "`period`" + ` parameter: invalid period ` + "`aosuhsacp`" + `. Please find accepted values in our docs: https://plausible.io/docs/stats-api#time-periods"}`},
		pcase{name: file + "custom period is not valid without a date", get: aggregate + "period=custom&metrics=pageviews", status: 400,
			want: `{"error":"The ` + "`date`" + ` parameter is required when using a custom period. See https://plausible.io/docs/stats-api#time-periods"}`},
		pcase{name: file + "validates date format in custom period", get: aggregate + "period=custom&date=2020-131-2piaskj,s,a90uac&metrics=pageviews", status: 400,
			want: `{"error":"Invalid format for ` + "`date`" + ` parameter. When using a custom period, please include two ISO-8601 formatted dates joined by a comma. See https://plausible.io/docs/stats-api#time-periods"}`},
		pcase{name: file + "validates that metrics are all recognized", get: aggregate + "period=30d&metrics=pageviews,led_zeppelin", status: 400,
			want: `{"error":"The metric ` + "`led_zeppelin`" + ` is not recognized. Find valid metrics from the documentation: https://plausible.io/docs/stats-api#metrics"}`},
		pcase{name: file + "scroll depth metric is not recognized in the legacy API v1", get: aggregate + "period=30d&metrics=scroll_depth", status: 400,
			want: `{"error":"The metric ` + "`scroll_depth`" + ` is not recognized. Find valid metrics from the documentation: https://plausible.io/docs/stats-api#metrics"}`},
		pcase{name: file + "validates that session metrics cannot be used with event:name filter", get: aggregate + "period=30d&metrics=pageviews,visit_duration&filters=event:name==some_value", status: 400,
			want: `{"error":"Session metric ` + "`visit_duration`" + ` cannot be queried when using a filter on ` + "`event:name`" + `."}`},
		pcase{name: file + "validates that session metrics cannot be used with event:goal filter", goals: []string{"event:some_value"},
			get: aggregate + "period=30d&metrics=pageviews,visit_duration&filters=event:goal==some_value", status: 400,
			want: `{"error":"Session metric ` + "`visit_duration`" + ` cannot be queried when using a filter on ` + "`event:goal`" + `."}`},
		pcase{name: file + "validates that session metrics cannot be used with event:props:custom_prop filter", get: aggregate + "period=30d&metrics=pageviews,visit_duration&filters=event:props:custom_prop==some_value", status: 400,
			want: `{"error":"Session metric ` + "`visit_duration`" + ` cannot be queried when using a filter on ` + "`event:props:custom_prop`" + `."}`},
		pcase{name: file + "validates that conversion_rate cannot be queried without a goal filter", get: aggregate + "metrics=conversion_rate", status: 400,
			part: "error", contains: true, want: `"Metric ` + "`conversion_rate`" + ` can only be queried in a goal breakdown or with a goal filter"`},
		pcase{name: file + "validates that views_per_visit cannot be used with event:page filter", get: aggregate + "filters=event:page==/something&metrics=views_per_visit", status: 400,
			want: `{"error":"Metric ` + "`views_per_visit`" + ` cannot be queried with a filter on ` + "`event:page`" + `."}`},
		pcase{name: file + "validates that views_per_visit cannot be used with an event only filter", get: aggregate + "filters=event:name==Something&metrics=views_per_visit", status: 400,
			want: `{"error":"Session metric ` + "`views_per_visit`" + ` cannot be queried when using a filter on ` + "`event:name`" + `."}`},
		pcase{name: file + "validates a metric isn't asked multiple times", get: aggregate + "metrics=visitors,visitors", status: 400,
			want: `{"error":"Metrics cannot be queried multiple times."}`},
		pcase{name: file + "validates that time_on_page cannot be queried without a page filter", skip: "time_on_page (engagement events)"},
		pcase{name: file + "aggregates a single metric", events: three, get: aggregate + "period=day&date=2021-01-01&metrics=pageviews",
			part: "results", want: `{"pageviews":{"value":3}}`},
		pcase{name: file + "rounds views_per_visit to two decimal places", events: evs(
			pv("user_id=123", "timestamp=2021-01-01 00:00:00"), pv("user_id=123", "timestamp=2021-01-01 00:25:00"),
			pv("user_id=456", "timestamp=2021-01-01 00:00:00"), pv("user_id=456", "timestamp=2021-01-01 00:25:00"),
			pv("timestamp=2021-01-01 00:00:00")),
			get: aggregate + "period=day&date=2021-01-01&metrics=views_per_visit", part: "results", want: `{"views_per_visit":{"value":1.67}}`},
		pcase{name: file + "aggregates all metrics in a single query", events: three,
			get:  aggregate + "period=day&date=2021-01-01&metrics=pageviews,visits,views_per_visit,visitors,bounce_rate,visit_duration",
			part: "results", want: `{"pageviews":{"value":3},"visitors":{"value":2},"visits":{"value":2},"views_per_visit":{"value":1.5},"bounce_rate":{"value":50},"visit_duration":{"value":750}}`},
		pcase{name: file + "compare period=day with previous period", events: evs(pv("timestamp=2020-12-31 00:00:00"), three),
			get:  aggregate + four + "&compare=previous_period",
			part: "results", want: `{"pageviews":{"value":3,"change":200,"comparison_value":1},"visitors":{"value":2,"change":100,"comparison_value":1},
				"bounce_rate":{"value":50,"change":-50,"comparison_value":100},"visit_duration":{"value":750,"change":100,"comparison_value":0}}`},
		pcase{name: file + "compare period=6mo with previous period", events: evs(pv("timestamp=2020-12-31 00:00:00"),
			pv("user_id=123", "timestamp=2021-01-01 00:00:00"), pv("user_id=123", "timestamp=2021-02-01 00:25:00"), pv("timestamp=2021-03-01 00:00:00")),
			get:  aggregate + "period=6mo&date=2021-04-11&metrics=pageviews,visitors,bounce_rate,visit_duration&compare=previous_period",
			part: "results", want: `{"pageviews":{"value":4,"change":100,"comparison_value":0},"visitors":{"value":3,"change":100,"comparison_value":0},
				"bounce_rate":{"value":100,"change":null,"comparison_value":0},"visit_duration":{"value":0,"change":0,"comparison_value":0}}`},
		pcase{name: file + "can compare conversion_rate with previous period", goals: []string{"event:Signup"}, events: evs(
			ev("Signup", "timestamp=2023-05-04 12:00:00"), pv("timestamp=2023-05-04 12:00:00"), pv("timestamp=2023-05-04 12:00:00"),
			ev("Signup", "timestamp=2023-05-05 12:00:00"), pv("timestamp=2023-05-05 12:00:00")),
			// Plausible's goal has the display name "Signup Display Name"; ours are named by their event.
			get:  aggregate + "period=day&date=2023-05-05&metrics=conversion_rate&filters=event:goal==Signup&compare=previous_period",
			part: "results", want: `{"conversion_rate":{"value":50.0,"change":16.7,"comparison_value":33.33}}`},
		pcase{name: file + "can compare time_on_page with previous period", skip: "time_on_page (engagement events)"},
		pcase{name: file + "with imported data", skip: "imported data (with_imported): another session's work"},
		pcase{name: file + "event:goal filter returns 400 when goal not configured", get: aggregate + "filters=event:goal==Register|Visit /register", status: 400,
			part: "error", contains: true, want: `"The goal ` + "`Register`" + ` is not configured for this site. Find out how"`},
		pcase{name: file + "validates that filters are valid", get: aggregate + "property=event:page&filters=badproperty==bar", status: 400,
			want: `{"error":"Invalid filter property 'badproperty'. Please provide a valid filter property: https://plausible.io/docs/stats-api#properties"}`},
		pcase{name: file + "can filter by source", events: firstOfThree("referrer_source", "Google"),
			get: aggregate + four + "&filters=visit:source==Google", part: "results", want: filteredTwoOfThree},
		pcase{name: file + "can filter by no source/referrer", events: evs(
			pv("user_id=123", "timestamp=2021-01-01 00:00:00"), pv("user_id=123", "timestamp=2021-01-01 00:25:00"),
			pv("referrer_source=Google", "timestamp=2021-01-01 00:00:00")),
			get: aggregate + four + "&filters=visit:source==Direct / None", part: "results", want: filteredTwoOfThree},
		pcase{name: file + "can filter by referrer", events: firstOfThree("referrer", "https://facebook.com"),
			get: aggregate + four + "&filters=visit:referrer==https://facebook.com", part: "results", want: filteredTwoOfThree},
		pcase{name: file + "wildcard referrer filter with special regex characters", events: evs(
			pv("referrer=https://a.com", "timestamp=now"), pv("referrer=https://a.com", "timestamp=now"), pv("referrer=https://ab.com", "timestamp=now")),
			get: aggregate + "period=day&metrics=visitors&filters=visit:referrer==**a.com**", part: "results", want: `{"visitors":{"value":2}}`},
		pcase{name: file + "can filter by utm_medium", events: firstOfThree("utm_medium", "social"),
			get: aggregate + four + "&filters=visit:utm_medium==social", part: "results", want: filteredTwoOfThree},
		pcase{name: file + "can filter by utm_source", events: firstOfThree("utm_source", "Twitter"),
			get: aggregate + four + "&filters=visit:utm_source==Twitter", part: "results", want: filteredTwoOfThree},
		pcase{name: file + "can filter by utm_campaign", events: firstOfThree("utm_campaign", "profile"),
			get: aggregate + four + "&filters=visit:utm_campaign==profile", part: "results", want: filteredTwoOfThree},
		pcase{name: file + "can filter by device type", events: firstOfThree("screen_size", "Desktop"),
			get: aggregate + four + "&filters=visit:device==Desktop", part: "results", want: filteredTwoOfThree},
		pcase{name: file + "can filter by browser", events: firstOfThree("browser", "Chrome"),
			get: aggregate + four + "&filters=visit:browser==Chrome", part: "results", want: filteredTwoOfThree},
		pcase{name: file + "can filter by browser version", skip: "browser versions are not collected"},
		pcase{name: file + "can filter by operating system", events: firstOfThree("operating_system", "Mac"),
			get: aggregate + four + "&filters=visit:os==Mac", part: "results", want: filteredTwoOfThree},
		pcase{name: file + "can filter by operating system version", skip: "OS versions are not collected"},
		pcase{name: file + "can filter by country", events: firstOfThree("country_code", "EE"),
			get: aggregate + four + "&filters=visit:country==EE", part: "results", want: filteredTwoOfThree},
		pcase{name: file + "can filter by page", events: evs(
			pv("user_id=123", "timestamp=2021-01-01 00:00:00"), pv("user_id=123", "pathname=/blogpost", "timestamp=2021-01-01 00:25:00"),
			pv("timestamp=2021-01-01 00:00:00"), pv("pathname=/blogpost", "timestamp=2021-01-01 00:00:00")),
			get: aggregate + four + "&filters=event:page==/blogpost", part: "results",
			want: `{"pageviews":{"value":2},"visitors":{"value":2},"bounce_rate":{"value":100},"visit_duration":{"value":750}}`},
		pcase{name: file + "can filter by hostname", skip: "event:hostname is not collected"},
		pcase{name: file + "filtering by event:name", events: evs(
			ev("Signup", "timestamp=2021-01-01 00:00:00"), ev("Signup", "user_id=123", "timestamp=2021-01-01 00:25:00"),
			ev("Signup", "user_id=123", "timestamp=2021-01-01 00:25:00"), pv("timestamp=2021-01-01 00:00:00")),
			get: aggregate + "period=day&date=2021-01-01&metrics=visitors,pageviews&filters=event:name==Signup", part: "results",
			want: `{"pageviews":{"value":0},"visitors":{"value":2}}`},
		pcase{name: file + "filtering by a custom event goal", goals: []string{"event:Signup"}, events: evs(
			ev("Signup", "timestamp=2021-01-01 00:00:00"), ev("Signup", "user_id=123", "timestamp=2021-01-01 00:25:00"),
			ev("Signup", "user_id=123", "timestamp=2021-01-01 00:25:00"), ev("NotConfigured", "timestamp=2021-01-01 00:25:00")),
			get: aggregate + "period=day&date=2021-01-01&metrics=visitors,events&filters=event:goal==Signup", part: "results",
			want: `{"visitors":{"value":2},"events":{"value":3}}`},
		pcase{name: file + "filtering by a revenue goal", skip: "revenue goals (currencies)"},
		pcase{name: file + "filtering by a simple pageview goal", goals: []string{"page:/register"}, events: evs(
			pv("pathname=/register", "timestamp=2021-01-01 00:00:00"), pv("pathname=/register", "user_id=123", "timestamp=2021-01-01 00:25:00"),
			pv("pathname=/register", "user_id=123", "timestamp=2021-01-01 00:25:00"), pv("pathname=/", "timestamp=2021-01-01 00:25:00")),
			get: aggregate + "period=day&date=2021-01-01&metrics=visitors,pageviews&filters=event:goal==Visit /register", part: "results",
			want: `{"visitors":{"value":2},"pageviews":{"value":3}}`},
		pcase{name: file + "filtering by a wildcard pageview goal", goals: []string{"page:/blog**"}, events: evs(
			pv("pathname=/blog/post-1"), pv("pathname=/blog/post-2", "user_id=123"), pv("pathname=/blog", "user_id=123"), pv("pathname=/")),
			get: aggregate + "period=day&metrics=visitors,pageviews&filters=event:goal==Visit /blog**", part: "results",
			want: `{"visitors":{"value":2},"pageviews":{"value":3}}`},
		pcase{name: file + "filtering by multiple custom event goals", goals: []string{"event:Signup", "event:Purchase"}, events: evs(
			ev("Signup"), ev("Purchase", "user_id=123"), ev("Purchase", "user_id=123"), pv()),
			get: aggregate + "period=day&metrics=visitors,events&filters=event:goal==Signup|Purchase", part: "results",
			want: `{"visitors":{"value":2},"events":{"value":3}}`},
		pcase{name: file + "filtering by multiple mixed goals", goals: []string{"event:Signup", "page:/**register"}, events: evs(
			pv("pathname=/account/register"), pv("pathname=/register", "user_id=123"), ev("Signup", "user_id=123"), pv()),
			get: aggregate + "period=day&metrics=visitors,events,pageviews&filters=event:goal==Signup|Visit /**register", part: "results",
			want: `{"visitors":{"value":2},"events":{"value":3},"pageviews":{"value":2}}`},
		pcase{name: file + "combining filters", events: evs(
			pv("pathname=/blogpost", "country_code=EE", "user_id=123", "timestamp=2021-01-01 00:00:00"),
			pv("user_id=123", "timestamp=2021-01-01 00:25:00"), pv("timestamp=2021-01-01 00:00:00"),
			pv("pathname=/blogpost", "timestamp=2021-01-01 00:00:00")),
			get: aggregate + four + "&filters=event:page==/blogpost;visit:country==EE", part: "results",
			want: `{"pageviews":{"value":1},"visitors":{"value":1},"bounce_rate":{"value":0},"visit_duration":{"value":1500}}`},
		pcase{name: file + "wildcard page filter", events: evs(pv("pathname=/en/page1"), pv("pathname=/en/page2"), pv("pathname=/pl/page1")),
			get: aggregate + "period=day&metrics=visitors&filters=event:page==/en/**", part: "results", want: `{"visitors":{"value":2}}`},
		pcase{name: file + "negated wildcard page filter", events: evs(pv("pathname=/en/page1"), pv("pathname=/en/page2"), pv("pathname=/pl/page1")),
			get: aggregate + "period=day&metrics=visitors&filters=event:page!=/en/**", part: "results", want: `{"visitors":{"value":1}}`},
		pcase{name: file + "wildcard and member filter combined", events: evs(pv("pathname=/en/page1"), pv("pathname=/en/page2"), pv("pathname=/pl/page1"), pv("pathname=/ee/page1")),
			get: aggregate + "period=day&metrics=visitors&filters=event:page==/en/**|/pl/**", part: "results", want: `{"visitors":{"value":3}}`},
		pcase{name: file + "can escape pipe character in member + wildcard filter", events: evs(
			pv("pathname=/blog/post|1"), pv("pathname=/otherpost|1"), pv("pathname=/blog/post|2"), pv("pathname=/something-else")),
			get: aggregate + `period=day&metrics=visitors&filters=event:page==**post\|1|/something-else`, part: "results", want: `{"visitors":{"value":3}}`},
		pcase{name: file + "handles filtering by visit country", events: evs(pv("country_code=EE"), pv("country_code=EE"), pv("country_code=EE")),
			get: aggregate + "period=day&metrics=pageviews&filters=visit:country==EE", part: "results", want: `{"pageviews":{"value":3}}`},
		pcase{name: file + "time_on_page with a page filter", skip: "time_on_page (engagement events)"},
		pcase{name: file + "conversion_rate when goal filter is applied", goals: []string{"event:Signup"}, events: evs(ev("Signup"), pv()),
			get: aggregate + "period=day&metrics=conversion_rate&filters=event:goal==Signup", part: "results", want: `{"conversion_rate":{"value":50}}`},
		pcase{name: file + "conversion_rate when goal + custom prop filter applied", goals: []string{"event:Signup"}, events: evs(
			ev("Signup"), ev("Signup", "meta.key=author", "meta.value=Uku"), ev("Signup", "meta.key=author", "meta.value=Marko"), pv()),
			get: aggregate + "period=day&metrics=conversion_rate,visitors,events&filters=event:goal==Signup;event:props:author==Uku", part: "results",
			want: `{"conversion_rate":{"value":25.0},"visitors":{"value":1},"events":{"value":1}}`},
		pcase{name: file + "conversion_rate when goal + visit property filter applied", goals: []string{"event:Signup"}, events: evs(
			ev("Signup"), ev("Signup", "browser=Chrome"), ev("Signup", "browser=Firefox", "user_id=123"), ev("Signup", "browser=Firefox", "user_id=123"),
			pv("browser=Firefox"), pv()),
			get: aggregate + "period=day&metrics=conversion_rate,visitors,events&filters=visit:browser==Firefox;event:goal==Signup", part: "results",
			want: `{"conversion_rate":{"value":50.0},"visitors":{"value":1},"events":{"value":2}}`},
		pcase{name: file + "conversion_rate when goal + page filter applied", goals: []string{"event:Signup"}, events: evs(
			ev("Signup"), ev("Signup", "pathname=/not-this"), ev("Signup", "pathname=/this", "user_id=123"), ev("Signup", "pathname=/this", "user_id=123"),
			pv("pathname=/this"), pv()),
			get: aggregate + "period=day&metrics=conversion_rate,visitors,events&filters=event:page==/this;event:goal==Signup", part: "results",
			want: `{"conversion_rate":{"value":50.0},"visitors":{"value":1},"events":{"value":2}}`},
		pcase{name: file + "conversion_rate for the filtered goal is 0 when no stats exist", goals: []string{"event:Signup"},
			get: aggregate + "metrics=conversion_rate&filters=event:goal==Signup", part: "results", want: `{"conversion_rate":{"value":0}}`},
		pcase{name: file + "json filters: filtering by exact string", events: starPaths(),
			get: aggregate + `period=day&metrics=visitors&filters=[["is","event:page",["/en*"]]]`, part: "results", want: `{"visitors":{"value":1}}`},
		pcase{name: file + "json filters: filtering by goal", goals: []string{"page:/blog"}, events: blogPosts(),
			get: aggregate + `period=day&metrics=visitors,pageviews&filters=[["is","event:goal",["Visit /blog"]]]`, part: "results",
			want: `{"visitors":{"value":1},"pageviews":{"value":1}}`},
		pcase{name: file + "json filters: filtering by wildcard goal", goals: []string{"page:/blog**"}, events: blogPosts(),
			get: aggregate + `period=day&metrics=visitors,pageviews&filters=[["is","event:goal",["Visit /blog**"]]]`, part: "results",
			want: `{"visitors":{"value":2},"pageviews":{"value":3}}`},
		pcase{name: file + "json filters: contains", events: starPaths(),
			get: aggregate + `period=day&metrics=visitors&filters=[["contains","event:page",["/en*"]]]`, part: "results", want: `{"visitors":{"value":3}}`},
		pcase{name: file + "json filters: does not contain", events: starPaths(),
			get: aggregate + `period=day&metrics=visitors&filters=[["contains_not","event:page",["/en*"]]]`, part: "results", want: `{"visitors":{"value":2}}`},
		pcase{name: file + "json filters: matches custom event property", events: tiers(),
			get: aggregate + `period=day&metrics=visitors&filters=[["matches_wildcard","event:props:tier",["small*"]]]`, part: "results", want: `{"visitors":{"value":3}}`},
		pcase{name: file + "json filters: not matches_wildcard custom event property", events: evs(tiers(), pv()),
			get: aggregate + `period=day&metrics=visitors&filters=[["matches_wildcard_not","event:props:tier",["small*"]]]`, part: "results", want: `{"visitors":{"value":1}}`},
		pcase{name: file + "json filters: contains custom event property", events: tiers(),
			get: aggregate + `period=day&metrics=visitors&filters=[["contains","event:props:tier",["small"]]]`, part: "results", want: `{"visitors":{"value":3}}`},
	)
}

func starPaths() []pev {
	return evs(pv("pathname=/en*"), pv("pathname=/en*/page1"), pv("pathname=/en*/page2"), pv("pathname=/ena/page2"), pv("pathname=/pll/page1"))
}

func blogPosts() []pev {
	return evs(pv("pathname=/blog/post-1"), pv("pathname=/blog/post-2", "user_id=123"), pv("pathname=/blog", "user_id=123"), pv("pathname=/"))
}

func tiers() []pev {
	return evs(pv("meta.key=tier", "meta.value=large-1"), pv("meta.key=tier", "meta.value=small-1"),
		pv("meta.key=tier", "meta.value=small-1"), pv("meta.key=tier", "meta.value=small-2"))
}
