package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics/enrich"
	"github.com/siteanalytics/analytics/internal/testenv"
)

// These tests follow one visitor from a real headless Chromium through the
// snippet, the collector's enrichment, the queue and the processor to the
// Stats API, and look at what the store kept.

// depthPages serves several HTML pages, by path, on one origin.
func depthPages(t *testing.T, pages map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		html, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, html)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// depthClickAndLoad clicks sel and waits for the load event of the page the
// click opens.
func depthClickAndLoad(ctx context.Context, t *testing.T, sel string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(tctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		t.Fatalf("click %s and wait for the next page: %v", sel, err)
	}
}

// depthEval evaluates expr in the page and returns its value.
func depthEval[T any](ctx context.Context, t *testing.T, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// depthAPI asks the reporter's Stats API (endpoint "aggregate" or
// "breakdown") about one UTC day of a site and returns the body.
func depthAPI(p *pipeline, endpoint, site, day, params string) (string, error) {
	u := p.reporter + "/api/v1/stats/" + endpoint + "?site_id=" + url.QueryEscape(site) + "&period=day&date=" + day + "&" + params
	resp, err := http.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s %s", u, resp.Status, b)
	}
	return strings.TrimSpace(string(b)), nil
}

// depthCheck is one Stats API question and its exact expected answer.
type depthCheck struct{ endpoint, params, want string }

// depthWantAPI polls the API until every check answers exactly as
// expected, and fails with the last answers otherwise.
func depthWantAPI(t *testing.T, p *pipeline, site, day string, checks []depthCheck) {
	t.Helper()
	last := map[string]string{}
	deadline := 60 * time.Second
	testenv.Eventually(t, deadline, func() error {
		var bad []string
		for _, c := range checks {
			got, err := depthAPI(p, c.endpoint, site, day, c.params)
			if err != nil {
				got = "error: " + err.Error()
			}
			last[c.params] = got
			if got != c.want {
				bad = append(bad, fmt.Sprintf("%s?%s\n   got  %s\n   want %s", c.endpoint, c.params, got, c.want))
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("Stats API of %s on %s:\n%s", site, day, strings.Join(bad, "\n"))
		}
		return nil
	})
}

// depthBreakdown is the exact answer of a one-metric (visitors) breakdown.
func depthBreakdown(key string, rows ...any) string {
	var b strings.Builder
	b.WriteString(`{"results":[`)
	for i := 0; i+1 < len(rows); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{%q:%q,"visitors":%d}`, key, rows[i], rows[i+1])
	}
	b.WriteString(`]}`)
	return b.String()
}

// depthRawEvents returns the raw events stored for a site, oldest first.
func depthRawEvents(t *testing.T, p *pipeline, site string) []bson.M {
	t.Helper()
	uri := p.env["MONGODB_URI"]
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(context.Background())
	db := strings.TrimPrefix(uri[strings.LastIndex(uri, "/"):], "/")
	if i := strings.IndexByte(db, '?'); i >= 0 {
		db = db[:i]
	}
	var docs []bson.M
	for _, coll := range rawColls(t, c.Database(db)) {
		cur, err := c.Database(db).Collection(coll).Find(context.Background(), bson.D{{Key: "site_id", Value: site}})
		if err != nil {
			t.Fatal(err)
		}
		var some []bson.M
		if err := cur.All(context.Background(), &some); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, some...)
	}
	sort.SliceStable(docs, func(i, j int) bool { return depthTime(docs[i]).Before(depthTime(docs[j])) })
	return docs
}

func depthTime(doc bson.M) time.Time {
	switch v := doc["timestamp"].(type) {
	case bson.DateTime:
		return v.Time().UTC()
	case time.Time:
		return v.UTC()
	}
	return time.Time{}
}

// depthDay is the one UTC day of the stored events (the browser's clock
// stamps them).
func depthDay(t *testing.T, docs []bson.M) string {
	t.Helper()
	days := map[string]bool{}
	for _, d := range docs {
		days[depthTime(d).Format("2006-01-02")] = true
	}
	if len(days) != 1 {
		t.Fatalf("the stored events fall on %d UTC days %v (did the test run across midnight UTC?): %v", len(days), days, docs)
	}
	for d := range days {
		return d
	}
	return ""
}

// depthFields lists every field of a stored document, nested ones as
// "a.b", with its value as text.
func depthFields(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case bson.M:
		for k, e := range x {
			depthFields(prefix+k+".", e, out)
		}
	case bson.D:
		for _, e := range x {
			depthFields(prefix+e.Key+".", e.Value, out)
		}
	case map[string]any:
		for k, e := range x {
			depthFields(prefix+k+".", e, out)
		}
	case bson.A:
		for i, e := range x {
			depthFields(fmt.Sprintf("%s%d.", prefix, i), e, out)
		}
	case []any:
		for i, e := range x {
			depthFields(fmt.Sprintf("%s%d.", prefix, i), e, out)
		}
	default:
		out[strings.TrimSuffix(prefix, ".")] = fmt.Sprint(x)
	}
}

// depthNoClientData fails when a stored event keeps anything that
// identifies the browser or leaks the page URL: the address, the
// User-Agent, a URL (the referrer's or the page's), or a query parameter
// other than utm_*.
// referrerURLRe finds a referrer URL kept inside a JSON field (the visit
// note's attributes).
var referrerURLRe = regexp.MustCompile(`"referrer_url":"([^"]*)"`)

func depthNoClientData(t *testing.T, docs []bson.M, ua string) {
	t.Helper()
	forbidden := []string{"secret", "127.0.0.1", "::1", "HeadlessChrome", ua, "://", "localhost:"}
	for _, doc := range docs {
		fields := map[string]string{}
		depthFields("", doc, fields)
		for name, val := range fields {
			switch strings.ToLower(name) {
			case "ip", "user_agent", "useragent", "ua", "referrer", "referer", "url", "client":
				t.Errorf("stored event %v has a field %q = %q", doc["_id"], name, val)
			}
			// The referrer's URL is kept (visit:referrer answers it, as
			// Plausible's does), without its query and fragment.
			for _, u := range referrerURLRe.FindAllStringSubmatch(val, -1) {
				if strings.ContainsAny(u[1], "?#") {
					t.Errorf("stored event %v: field %q keeps a referrer URL with a query or fragment: %q", doc["_id"], name, u[1])
				}
			}
			if strings.HasSuffix(name, "referrer_url") {
				continue
			}
			val = referrerURLRe.ReplaceAllString(val, "")
			for _, f := range forbidden {
				if strings.Contains(val, f) {
					t.Errorf("stored event %v: field %q = %q contains %q", doc["_id"], name, val, f)
				}
			}
		}
	}
}

// TestBrowserVisitCountedUnderSourceAndCampaign follows a visitor who
// comes from another origin through a campaign link, moves to a second page,
// and checks every visit and page breakdown of the day; then a visitor in a
// fresh profile whose first tracked page was reached from the site itself
// counts as "Direct / None".
func TestBrowserVisitCountedUnderSourceAndCampaign(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	site := fmt.Sprintf("depth-visit-%d", time.Now().UnixNano())
	tag := `<script defer src="` + p.collector + `/t.js" data-site="` + site + `" data-allow-localhost></script>`

	// The tracked site, on 127.0.0.1. /plain has no snippet: a page of the
	// site the third visitor starts on.
	siteURL := depthPages(t, map[string]string{
		"/landing": `<!doctype html><title>landing</title>` + tag + `<body><h1 id="landing">Launch</h1></body>`,
		"/plain":   `<!doctype html><title>plain</title><body><a id="in" href="/home">home</a></body>`,
		"/home":    `<!doctype html><title>home</title>` + tag + `<body><h1 id="home">Home</h1></body>`,
	})
	landing := siteURL + "/landing?utm_source=hn&utm_medium=social&utm_campaign=launch&secret=1"
	// The referring page, on another origin and another host name
	// (localhost): its host is not the site's own.
	refURL := strings.Replace(depthPages(t, map[string]string{
		"/": `<!doctype html><title>news</title><body><a id="go" href="` + landing + `">Show HN</a></body>`,
	}), "127.0.0.1", "localhost", 1)

	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(refURL+"/"), chromedp.WaitReady(chromedp.CSS("#go"))); err != nil {
		t.Fatal(err)
	}
	depthClickAndLoad(ctx, t, "#go")
	if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("#landing")), snippetLoaded); err != nil {
		t.Fatal(err)
	}
	ref := depthEval[string](ctx, t, "document.referrer")
	if !strings.HasPrefix(ref, refURL) {
		t.Fatalf("document.referrer = %q, want the referring page %s", ref, refURL)
	}
	keptRef, _, _ := strings.Cut(ref, "?") // visit:referrer: the URL without its query
	if loc := depthEval[string](ctx, t, "location.href"); loc != landing {
		t.Fatalf("landed on %s, want %s", loc, landing)
	}
	ua := depthEval[string](ctx, t, "navigator.userAgent")
	agent := enrich.ParseUA(ua)
	if !agent.Bot || !agent.Headless {
		t.Fatalf("ParseUA(%q) = %+v: this headless browser is not recognised as headless, so the test proves nothing about the localhost exception", ua, agent)
	}
	if agent.Browser == "" {
		t.Fatalf("ParseUA(%q) = %+v: no browser name", ua, agent)
	}
	// An SPA move (the snippet tracks pushState), then leaving the page
	// flushes the queue by sendBeacon.
	if err := chromedp.Do(ctx,
		eval(`history.pushState({}, "", "/pricing")`),
		chromedp.Navigate("about:blank"),
	); err != nil {
		t.Fatal(err)
	}

	p.waitProcessed(t, 2, 2)
	docs := depthRawEvents(t, p, site)
	if len(docs) != 2 {
		t.Fatalf("%d raw events stored, want 2: %v", len(docs), docs)
	}
	day := depthDay(t, docs)
	for i, wantPath := range []string{"/landing", "/pricing"} {
		d := docs[i]
		if d["path"] != wantPath || d["event_type"] != "page_view" || d["source"] != "Hacker News" || d["utm_source"] != "hn" ||
			d["utm_medium"] != "social" || d["utm_campaign"] != "launch" || d["referrer_host"] != "localhost" || d["browser"] != agent.Browser {
			t.Errorf("stored event %d = %v; want path %s, source Hacker News, utm hn/social/launch, referrer_host localhost, browser %s", i, d, wantPath, agent.Browser)
		}
	}
	if u0, u1 := docs[0]["user_id"], docs[1]["user_id"]; u0 == nil || u0 == "" || u0 != u1 {
		t.Errorf("the two page views carry user ids %v and %v, want one visitor id", u0, u1)
	}
	depthNoClientData(t, docs, ua)

	vis := func(key string, rows ...any) string { return depthBreakdown(key, rows...) }
	opt := func(key, val string) string { // a visit dimension ParseUA may leave empty: Plausible's "(not set)"
		if val == "" {
			val = "(not set)"
		}
		return vis(key, val, 1)
	}
	depthWantAPI(t, p, site, day, []depthCheck{
		{"aggregate", "metrics=visitors,pageviews", `{"results":{"visitors":{"value":1},"pageviews":{"value":2}}}`},
		{"breakdown", "property=visit:source&metrics=visitors", vis("source", "Hacker News", 1)},
		{"breakdown", "property=visit:utm_source&metrics=visitors", vis("utm_source", "hn", 1)},
		{"breakdown", "property=visit:utm_medium&metrics=visitors", vis("utm_medium", "social", 1)},
		{"breakdown", "property=visit:utm_campaign&metrics=visitors", vis("utm_campaign", "launch", 1)},
		{"breakdown", "property=visit:referrer&metrics=visitors", vis("referrer", keptRef, 1)},
		{"breakdown", "property=visit:entry_page&metrics=visitors", vis("entry_page", "/landing", 1)},
		{"breakdown", "property=visit:browser&metrics=visitors", vis("browser", agent.Browser, 1)},
		{"breakdown", "property=visit:os&metrics=visitors", opt("os", agent.OS)},
		{"breakdown", "property=visit:device&metrics=visitors", opt("device", agent.Device)},
		{"breakdown", "property=event:page&metrics=pageviews,visitors",
			`{"results":[{"page":"/landing","pageviews":1,"visitors":1},{"page":"/pricing","pageviews":1,"visitors":1}]}`},
	})

	// A second visitor, in a fresh profile (new localStorage, so a new
	// visitor id), whose first tracked page view was reached from a page of
	// the site itself, with no campaign: an own-origin referrer is no
	// source.
	ctx2 := browser(t)
	if err := chromedp.Do(ctx2, chromedp.Navigate(siteURL+"/plain"), chromedp.WaitReady(chromedp.CSS("#in"))); err != nil {
		t.Fatal(err)
	}
	depthClickAndLoad(ctx2, t, "#in")
	if err := chromedp.Do(ctx2, chromedp.WaitReady(chromedp.CSS("#home")), snippetLoaded); err != nil {
		t.Fatal(err)
	}
	if ref := depthEval[string](ctx2, t, "document.referrer"); ref != siteURL+"/plain" {
		t.Fatalf("document.referrer = %q, want the site's own page %s/plain", ref, siteURL)
	}
	if err := chromedp.Do(ctx2, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	p.waitProcessed(t, 3, 3)
	docs = depthRawEvents(t, p, site)
	if len(docs) != 3 {
		t.Fatalf("%d raw events stored, want 3: %v", len(docs), docs)
	}
	home := docs[2]
	if home["path"] != "/home" || home["source"] != nil || home["referrer_host"] != nil || home["utm_source"] != nil {
		t.Errorf("stored event of the own-origin visit = %v; want path /home and no source, referrer_host or utm_source", home)
	}
	if home["user_id"] == nil || home["user_id"] == docs[0]["user_id"] {
		t.Errorf("the fresh profile's user id %v is not a new visitor (first visitor %v)", home["user_id"], docs[0]["user_id"])
	}
	depthNoClientData(t, docs, ua)
	depthWantAPI(t, p, site, depthDay(t, docs), []depthCheck{
		{"aggregate", "metrics=visitors,pageviews", `{"results":{"visitors":{"value":2},"pageviews":{"value":3}}}`},
		{"breakdown", "property=visit:source&metrics=visitors", vis("source", "Direct / None", 1, "Hacker News", 1)},
		// The own-origin visit has no referrer: Plausible's "Direct / None"
		// row; it has no campaign: no campaign row.
		{"breakdown", "property=visit:referrer&metrics=visitors", vis("referrer", "Direct / None", 1, keptRef, 1)},
		{"breakdown", "property=visit:utm_campaign&metrics=visitors", vis("utm_campaign", "launch", 1)},
		{"breakdown", "property=visit:entry_page&metrics=visitors", vis("entry_page", "/home", 1, "/landing", 1)},
	})
}

// TestBrowserCookielessStoresNothing checks that a data-cookieless page
// leaves nothing in the browser, and that the collector gives its events
// the visitor id it derives from the day's salt, the address and the
// User-Agent.
func TestBrowserCookielessStoresNothing(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	site := fmt.Sprintf("depth-cookieless-%d", time.Now().UnixNano())
	siteURL := depthPages(t, map[string]string{
		"/": `<!doctype html><title>cookieless</title><script defer src="` + p.collector + `/t.js" data-site="` + site +
			`" data-allow-localhost data-cookieless></script><body><h1 id="page">Hello</h1></body>`,
	})

	ctx := browser(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(siteURL+"/"),
		chromedp.WaitReady(chromedp.CSS("#page")),
		snippetLoaded,
		eval(`analytics.track("signup"); analytics.flush()`),
	); err != nil {
		t.Fatal(err)
	}
	ua := depthEval[string](ctx, t, "navigator.userAgent")
	p.waitProcessed(t, 2, 2)

	// Nothing in the page's storage, once the events have gone out.
	type pageStorage struct {
		Local   int    `json:"local"`
		Session int    `json:"session"`
		Cookie  string `json:"cookie"`
	}
	st := depthEval[pageStorage](ctx, t, `({local: localStorage.length, session: sessionStorage.length, cookie: document.cookie})`)
	if st != (pageStorage{}) {
		t.Errorf("the page stored something: localStorage.length %d, sessionStorage.length %d, document.cookie %q", st.Local, st.Session, st.Cookie)
	}
	// No cookie in the browser, for the page's origin, the collector's, or
	// any other.
	all, err := chromedp.Call(ctx, storage.GetCookies, storage.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all.Cookies {
		t.Errorf("the browser holds a cookie: %s=%s for %s%s", c.Name, c.Value, c.Domain, c.Path)
	}
	for _, u := range []string{siteURL + "/", p.collector + "/", p.collector + "/events?cookieless=1"} {
		got, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range got.Cookies {
			t.Errorf("cookie for %s: %s=%s", u, c.Name, c.Value)
		}
	}

	docs := depthRawEvents(t, p, site)
	if len(docs) != 2 {
		t.Fatalf("%d raw events stored, want 2: %v", len(docs), docs)
	}
	day := depthDay(t, docs)
	types := []string{fmt.Sprint(docs[0]["event_type"]), fmt.Sprint(docs[1]["event_type"])}
	sort.Strings(types)
	if types[0] != "page_view" || types[1] != "signup" {
		t.Errorf("stored event types %v, want page_view and signup", types)
	}
	uid, _ := docs[0]["user_id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(uid) || docs[1]["user_id"] != uid {
		t.Fatalf("stored user ids %v and %v, want one 32-hex-character derived id", docs[0]["user_id"], docs[1]["user_id"])
	}
	// The id is the collector's derivation: HMAC of the receive day's salt
	// (kept in Redis) over site, address and User-Agent. The events may
	// have been received on either side of midnight UTC: try both days.
	opt, err := redis.ParseURL(p.env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	var derived []string
	for _, d := range []time.Time{time.Now().UTC(), time.Now().UTC().AddDate(0, 0, -1)} {
		key := p.env["QUEUE_PREFIX"] + "salt:" + d.Format("2006-01-02")
		salt, err := rdb.Get(context.Background(), key).Bytes()
		if err != nil {
			continue
		}
		derived = append(derived, enrich.VisitorID(salt, site, "127.0.0.1", ua))
	}
	if len(derived) == 0 {
		t.Fatalf("no cookieless salt in Redis under %ssalt:<today>", p.env["QUEUE_PREFIX"])
	}
	if uid != derived[0] && (len(derived) < 2 || uid != derived[1]) {
		t.Errorf("stored user id %s is not the id derived from the salt, site, 127.0.0.1 and the User-Agent (%v)", uid, derived)
	}
	depthNoClientData(t, docs, ua)

	depthWantAPI(t, p, site, day, []depthCheck{
		{"aggregate", "metrics=visitors,events,pageviews", `{"results":{"visitors":{"value":1},"events":{"value":2},"pageviews":{"value":1}}}`},
		{"breakdown", "property=event:name&metrics=visitors,events",
			`{"results":[{"name":"pageview","visitors":1,"events":1},{"name":"signup","visitors":1,"events":1}]}`},
		{"breakdown", "property=visit:source&metrics=visitors", depthBreakdown("source", "Direct / None", 1)},
	})
}
