package e2e

// Cases of Plausible's query_special_metrics_test.exs (v2 conversion
// rates by dimension).

func init() {
	const file = "query special metrics: "
	authors := evs(
		pv("pathname=/blog/1", "meta.key=author", "meta.value=Uku"), pv("pathname=/blog/2", "meta.key=author", "meta.value=Uku"),
		pv("pathname=/blog/3", "meta.key=author", "meta.value=Uku"), pv("pathname=/blog/1", "meta.key=author", "meta.value=Marko"),
		pv("pathname=/blog/2", "meta.key=author", "meta.value=Marko", "user_id=1"), pv("pathname=/blog/3", "meta.key=author", "meta.value=Marko", "user_id=1"),
		pv("pathname=/blog"), pv("meta.key=author", "meta.value=Marko"), pv())
	plausibleCases = append(plausibleCases,
		pcase{name: file + "returns conversion_rate in a goal filtered custom prop breakdown", goals: []string{"page:/blog**"}, events: authors,
			post: `{"date_range":"all","filters":[["is","event:goal",["Visit /blog**"]]],"metrics":["visitors","events","conversion_rate"],"dimensions":["event:props:author"]}`,
			part: "results", want: `[{"dimensions":["Uku"],"metrics":[3,3,37.5]},{"dimensions":["Marko"],"metrics":[2,3,25.0]},{"dimensions":["(none)"],"metrics":[1,1,12.5]}]`},
		pcase{name: file + "returns conversion_rate alone in a goal filtered custom prop breakdown", goals: []string{"page:/blog**"}, events: evs(
			pv("pathname=/blog/1", "meta.key=author", "meta.value=Uku"), pv()),
			post: `{"metrics":["conversion_rate"],"date_range":"all","dimensions":["event:props:author"],"filters":[["is","event:goal",["Visit /blog**"]]]}`,
			part: "results", want: `[{"dimensions":["Uku"],"metrics":[50]}]`},
		pcase{name: file + "returns conversion_rate in a goal filtered event:page breakdown", goals: []string{"event:Signup"}, events: evs(
			pv("pathname=/en/register"), ev("Signup", "pathname=/en/register"), ev("Signup", "pathname=/en/register"),
			ev("Signup", "pathname=/it/register", "user_id=1"), ev("Signup", "pathname=/it/register", "user_id=1"), pv("pathname=/it/register")),
			post: `{"date_range":"all","dimensions":["event:page"],"filters":[["is","event:goal",["Signup"]]],"metrics":["visitors","events","group_conversion_rate"]}`,
			part: "results", want: `[{"dimensions":["/en/register"],"metrics":[2,2,66.67]},{"dimensions":["/it/register"],"metrics":[1,2,50.0]}]`},
		pcase{name: file + "returns conversion_rate alone in a goal filtered event:page breakdown", goals: []string{"event:Signup"}, events: evs(
			pv("pathname=/en/register"), ev("Signup", "pathname=/en/register")),
			post: `{"date_range":"all","filters":[["is","event:goal",["Signup"]]],"metrics":["group_conversion_rate"],"dimensions":["event:page"]}`,
			part: "results", want: `[{"dimensions":["/en/register"],"metrics":[50.0]}]`},
		pcase{name: file + "returns conversion_rate in a multi-goal filtered visit:screen_size breakdown", goals: []string{"event:Purchase", "event:AddToCart"}, events: evs(
			pv("screen_size=Mobile"), ev("AddToCart", "screen_size=Mobile"), ev("AddToCart", "screen_size=Mobile"),
			ev("AddToCart", "screen_size=Desktop", "user_id=1"), ev("Purchase", "screen_size=Desktop", "user_id=1"), pv("screen_size=Desktop")),
			// Plausible's Purchase goal has a currency (a revenue goal); as a goal it counts the same.
			post: `{"metrics":["visitors","events","group_conversion_rate"],"date_range":"all","dimensions":["visit:device"],"filters":[["is","event:goal",["AddToCart","Purchase"]]]}`,
			part: "results", want: `[{"dimensions":["Mobile"],"metrics":[2,2,66.67]},{"dimensions":["Desktop"],"metrics":[1,2,50]}]`},
		pcase{name: file + "returns conversion_rate alone in a goal filtered visit:screen_size breakdown", goals: []string{"event:AddToCart"}, events: evs(
			pv("screen_size=Mobile"), ev("AddToCart", "screen_size=Mobile")),
			post: `{"metrics":["conversion_rate"],"date_range":"all","dimensions":["visit:device"],"filters":[["is","event:goal",["AddToCart"]]]}`,
			part: "results", want: `[{"dimensions":["Mobile"],"metrics":[50]}]`},
		pcase{name: file + "can break down by visit:device with only percentage metric", skip: "imported data (include.imports): another session's work"},
		pcase{name: file + "exit_rate", skip: "the exit_rate metric is not offered (the issue's metric list does not have it)"},
	)
}
