package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/internal/testenv"
)

// peerCounts is what a test of a peer's tracker sent to one site today:
// page views by path, events by name (page views under Plausible's name,
// "pageview") and visitors.
type peerCounts struct {
	paths    []analytics.PathViews
	events   map[string]float64
	visitors float64
}

// checkPeerCounts waits until /stats shows the site's page views, then
// requires /stats and the Stats API to show exactly want.
func checkPeerCounts(t *testing.T, p *pipeline, site string, want peerCounts) {
	t.Helper()
	today := time.Now().UTC().Format("2006-01-02")
	var views int64
	for _, pv := range want.paths {
		views += pv.Views
	}
	var events []any
	for name, n := range want.events {
		events = append(events, map[string]any{"name": name, "events": n})
	}
	byName := p.reporter + "/api/v1/stats/breakdown?site_id=" + site + "&period=day&date=" + today + "&property=event:name&metrics=events"
	testenv.Eventually(t, 30*time.Second, func() error {
		st, raw := getStats(t, p.reporter, site, today)
		if st.TotalViews != views || !reflect.DeepEqual(st.TopPaths, want.paths) {
			return fmt.Errorf("/stats = %s, want paths %v", raw, want.paths)
		}
		got := getJSON(t, byName)["results"].([]any)
		if !sameElements(got, events) {
			return fmt.Errorf("events by name %v, want %v", got, events)
		}
		return nil
	})
	agg := getJSON(t, p.reporter+"/api/v1/stats/aggregate?site_id="+site+"&period=day&date="+today+"&metrics=visitors")["results"]
	if w := map[string]any{"visitors": map[string]any{"value": want.visitors}}; !reflect.DeepEqual(agg, w) {
		t.Fatalf("%s: aggregate %v, want %v", site, agg, w)
	}
}

// sameElements compares two lists whatever their order (ties of a
// breakdown come in name order, which the test need not spell out).
func sameElements(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
outer:
	for _, x := range a {
		for i, y := range b {
			if !used[i] && reflect.DeepEqual(x, y) {
				used[i] = true
				continue outer
			}
		}
		return false
	}
	return true
}

// trackerPages serves the test pages and the peers' trackers of
// testdata/peers, so that the browser loads them from 127.0.0.1 (where
// headless Chromium's events count: see enrich). An import without ".js"
// (plausible-tracker's ES modules) is served the file with it.
func trackerPages(t *testing.T, pages map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if page, ok := pages[r.URL.Path]; ok {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, page)
			return
		}
		name := filepath.Join("testdata/peers", filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/")))
		if !strings.HasSuffix(name, ".js") {
			name += ".js"
		}
		b, err := os.ReadFile(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/javascript")
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// runPage opens a page and waits until its script sets window.done, then
// gives its outbound clicks and SPA navigations to the test's checks.
func runPage(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		done, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.done) + " " + (window.errors || []).join("; ") + (window.done ? "" : " at " + window.stage)`))
		if err != nil {
			return err
		}
		if done != "true " {
			return fmt.Errorf("%s: window.done and the page's errors: %s", url, done)
		}
		return nil
	})
}

// TestPlausibleTrackersInChromium runs three Plausible trackers in headless
// Chromium against the real pipeline, each sending to a site of its own:
// the collector's /js/script.js (with Plausible's outbound-links and local
// extensions in its name, and a call queued by Plausible's snippet before
// it loaded), plausible-tracker 0.3.9 and @plausible-analytics/tracker
// 0.4.6 from npm, unchanged. Each sends a page view, a custom event with
// props, an outbound link click and an SPA navigation; the Stats API must
// count exactly that (and not 0.4's engagement events).
func TestPlausibleTrackersInChromium(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	warmUp(t, p)
	ctx := browser(t)
	var link string // set once the pages' server has its port
	// After the tracker's first page view: a custom event, an outbound
	// click, an SPA navigation; then done.
	steps := func(track string) string {
		return `
  window.stage = "started";
  await new Promise(r => setTimeout(r, 300));
  window.stage = "signup";
  await new Promise(r => ` + track + `("Signup", {props: {plan: "pro"}, callback: r}));
  window.stage = "spa";
  history.pushState({}, "", "/spa/next");
  await new Promise(r => setTimeout(r, 300));
  window.stage = "outbound";
  // The trackers hold the navigation until the event is sent, then
  // follow the link: its page (another host, so outbound) says done. (A
  // new tab would hide this one, and 0.4 holds a hidden page's first
  // page view until it is shown.)
  document.getElementById("out").click();
  await new Promise(r => setTimeout(r, 1000));
  window.done = true;`
	}
	pages := map[string]string{
		"/ours.html": `<!doctype html><title>Ours</title><body>
<script>window.plausible = window.plausible || function () { (window.plausible.q = window.plausible.q || []).push(arguments) };
plausible("Queued", {props: {early: "yes"}});</script>
<script defer data-domain="ours.test" src="` + p.collector + `/js/script.outbound-links.local.js"></script>
<script>window.addEventListener("load", async () => {` + steps("window.plausible") + `});</script>`,
		"/pt03.html": `<!doctype html><title>0.3</title><body>
<script type="module">
import Plausible from "/plausible-tracker-0.3.9/index.js";
const { trackEvent, enableAutoPageviews, enableAutoOutboundTracking } = Plausible({domain: "pt03.test", apiHost: "` + p.collector + `", trackLocalhost: true});
enableAutoPageviews();
enableAutoOutboundTracking();
const track = trackEvent;
` + steps("track") + `
</script>`,
		"/pt04.html": `<!doctype html><title>0.4</title><body>
<script type="module">
window.__plausible = true; // the tracker ignores a browser that says it is automated, unless told
import { init, track } from "/plausible-analytics-tracker-0.4.6/plausible.js";
init({domain: "pt04.test", endpoint: "` + p.collector + `/api/event", captureOnLocalhost: true, outboundLinks: true, logging: false});
` + steps("track") + `
</script>`,
	}
	for k, v := range pages {
		pages[k] = strings.Replace(v, "<body>", "<body>"+errorCapture, 1)
	}
	srv := trackerPages(t, pages)
	// localhost is another host than the pages' 127.0.0.1: an outbound link.
	link = `<a id="out" href="` + strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + `/outbound">out</a>`
	for k, v := range pages {
		pages[k] = strings.Replace(v, "<body>", "<body>"+link, 1)
	}
	pages["/outbound"] = `<!doctype html><script>window.done = true</script>`
	for _, page := range []string{"/ours.html", "/pt03.html", "/pt04.html"} {
		runPage(t, ctx, srv.URL+page)
	}
	// Leave the last page so 0.4 sends its engagement event too.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	for site, page := range map[string]string{"ours.test": "/ours.html", "pt03.test": "/pt03.html", "pt04.test": "/pt04.html"} {
		want := peerCounts{
			paths:    []analytics.PathViews{{Path: page, Views: 1}, {Path: "/spa/next", Views: 1}},
			events:   map[string]float64{"pageview": 2, "Signup": 1, "Outbound Link: Click": 1},
			visitors: 1,
		}
		if site == "ours.test" {
			want.events["Queued"] = 1
		}
		checkPeerCounts(t, p, site, want)
		today := time.Now().UTC().Format("2006-01-02")
		props := getJSON(t, p.reporter+"/api/v1/stats/breakdown?site_id="+site+"&period=day&date="+today+
			"&property=event:props:plan&metrics=events&filters=event:name%3D%3DSignup")["results"]
		if w := []any{map[string]any{"plan": "pro", "events": 1.0}}; !reflect.DeepEqual(props, w) {
			t.Errorf("%s: Signup by plan %v, want %v", site, props, w)
		}
	}
}

// postPeer sends body to url with the headers and returns the status, the
// headers and the body of the answer.
func postPeer(t *testing.T, url, body string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestPlausibleServerSide sends Plausible's documented server-side call
// (its curl example: the visitor's User-Agent and X-Forwarded-For in the
// headers), a comma list of domains, an engagement event and bodies
// Plausible refuses, and checks the answers and the counts.
func TestPlausibleServerSide(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	warmUp(t, p)
	opera := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.124 Safari/537.36 OPR/71.0.3770.284"
	headers := map[string]string{"User-Agent": opera, "X-Forwarded-For": "127.0.0.1", "Content-Type": "application/json"}
	for _, tt := range []struct {
		body, dropped string
	}{
		{`{"name":"pageview","url":"http://dummy.site","domain":"dummy.site"}`, ""},
		{`{"name":"pageview","url":"http://dummy.site/pricing","domain":"dummy.site, other.site","referrer":"https://www.google.com/"}`, ""},
		{`{"name":"Signup","url":"http://dummy.site/pricing","domain":"dummy.site","props":{"plan":"pro"},"revenue":{"currency":"EUR","amount":9}}`, ""},
		{`{"n":"engagement","sd":50,"e":4000,"u":"http://dummy.site/","d":"dummy.site"}`, "engagement"},
		{`{"name":"pageview","url":"not a url","domain":"dummy.site"}`, "url:"},
		{`{"name":"pageview","url":"http://dummy.site/","domain":"dummy site"}`, "domain:"},
	} {
		status, h, body := postPeer(t, p.collector+"/api/event", tt.body, headers)
		if status != 202 || body != "ok" {
			t.Fatalf("%s: %d %q, want 202 ok", tt.body, status, body)
		}
		if got := h.Get("X-Analytics-Dropped"); (tt.dropped == "") != (got == "") || !strings.HasPrefix(got, tt.dropped) ||
			(tt.dropped != "") != (h.Get("X-Plausible-Dropped") == "1") {
			t.Fatalf("%s: dropped %q (X-Plausible-Dropped %q), want %q", tt.body, got, h.Get("X-Plausible-Dropped"), tt.dropped)
		}
	}
	status, _, body := postPeer(t, p.collector+"/api/event", `{"url":"http://dummy.site/","domain":"dummy.site"}`, headers)
	if status != 400 || body != `{"errors":{"name":["name: required (\"pageview\", or a custom event's name)"]}}`+"\n" {
		t.Fatalf("no name: %d %s", status, body)
	}
	checkPeerCounts(t, p, "dummy.site", peerCounts{
		paths:    []analytics.PathViews{{Path: "/", Views: 1}, {Path: "/pricing", Views: 1}},
		events:   map[string]float64{"pageview": 2, "Signup": 1},
		visitors: 1,
	})
	checkPeerCounts(t, p, "other.site", peerCounts{paths: []analytics.PathViews{{Path: "/pricing", Views: 1}},
		events: map[string]float64{"pageview": 1}, visitors: 1})
	today := time.Now().UTC().Format("2006-01-02")
	for q, w := range map[string]any{
		"&property=visit:browser": []any{map[string]any{"browser": "Opera", "visitors": 1.0}},
		"&property=visit:source":  []any{map[string]any{"source": "Google", "visitors": 1.0}},
	} {
		got := getJSON(t, p.reporter+"/api/v1/stats/breakdown?site_id=other.site&period=day&date="+today+q)["results"]
		if !reflect.DeepEqual(got, w) {
			t.Errorf("other.site %s: %v, want %v", q, got, w)
		}
	}
}

// TestUmamiNodeClient runs Umami's own Node client (@umami/node 0.4.0,
// unchanged, in testdata/peers) against the real pipeline: two page views
// (one with a campaign and a referrer), a custom event with data and an
// identify, which Umami does not count as an event.
func TestUmamiNodeClient(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("this test runs Umami's Node client: it needs node (./test.sh installs it on Debian; apt-get install nodejs, or brew install node on macOS)")
	}
	p := startPipeline(t)
	warmUp(t, p)
	const website = "4fb7fa4c-5b46-438d-94b3-3a8fb9bc2e8b"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "testdata/peers/umami-node-0.4.0/run.cjs", p.collector, website).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var answers []struct {
		Status int
		Body   string
	}
	if err := json.Unmarshal(out, &answers); err != nil || len(answers) != 4 {
		t.Fatalf("@umami/node reported %s (%v)", out, err)
	}
	for _, a := range answers {
		if a.Status != 200 || a.Body != "{}\n" {
			t.Fatalf("@umami/node was answered %s", out)
		}
	}
	checkPeerCounts(t, p, website, peerCounts{
		paths:    []analytics.PathViews{{Path: "/checkout", Views: 1}, {Path: "/pricing", Views: 1}},
		events:   map[string]float64{"pageview": 2, "Plan Upgraded": 1},
		visitors: 1,
	})
	today := time.Now().UTC().Format("2006-01-02")
	got := getJSON(t, p.reporter+"/api/v1/stats/breakdown?site_id="+website+"&period=day&date="+today+"&property=visit:utm_source")["results"]
	if w := []any{map[string]any{"utm_source": "node-guide", "visitors": 1.0}}; !reflect.DeepEqual(got, w) {
		t.Errorf("utm_source %v, want %v", got, w)
	}
}

// TestUmamiAndGoatCounterFromChromium sends, from a page in headless
// Chromium, the request Umami's browser tracker sends (a JSON POST to
// /api/send, which needs a CORS preflight) and GoatCounter's tracking
// pixels (an <img> of /count, a page view and an event), and from Go a
// GoatCounter hit for another host; the counts must be exact.
func TestUmamiAndGoatCounterFromChromium(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	warmUp(t, p)
	ctx := browser(t)
	pages := map[string]string{"/page.html": `<!doctype html><title>Page</title><body>
<img id="pv" src="` + p.collector + `/count?p=%2Fpixel-page&t=Page&r=https%3A%2F%2Fnews.example.com%2F&rnd=1">
<img id="ev" src="` + p.collector + `/count?p=signup-click&e=true&rnd=2">
<script>
window.addEventListener("load", async () => {
  const r = await fetch("` + p.collector + `/api/send", {method: "POST", keepalive: true, headers: {"Content-Type": "application/json"},
    body: JSON.stringify({type: "event", payload: {website: "umami-site", screen: "1280x720", language: "en", title: document.title,
      hostname: location.hostname, url: location.href, referrer: ""}})});
  window.umamiAnswer = r.status + " " + JSON.stringify(await r.json());
  window.pixels = [document.getElementById("pv"), document.getElementById("ev")].map(i => i.naturalWidth).join(",");
  window.done = true;
});
</script>`}
	for k, v := range pages {
		pages[k] = strings.Replace(v, "<body>", "<body>"+errorCapture, 1)
	}
	srv := trackerPages(t, pages)
	runPage(t, ctx, srv.URL+"/page.html")
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.umamiAnswer + " " + window.pixels`))
	if err != nil {
		t.Fatal(err)
	}
	if got != "200 {} 1,1" {
		t.Fatalf("Umami's answer and the pixels' widths: %q, want 200 {} and two 1x1 images", got)
	}
	// The collector is at 127.0.0.1: in open mode that host is the site.
	checkPeerCounts(t, p, "127.0.0.1", peerCounts{paths: []analytics.PathViews{{Path: "/pixel-page", Views: 1}},
		events: map[string]float64{"pageview": 1, "signup-click": 1}, visitors: 1})
	checkPeerCounts(t, p, "umami-site", peerCounts{paths: []analytics.PathViews{{Path: "/page.html", Views: 1}},
		events: map[string]float64{"pageview": 1}, visitors: 1})

	// GoatCounter's site is the host the request names.
	hit := func(query string) (int, http.Header, []byte) {
		req, _ := http.NewRequest("GET", p.collector+"/count?"+query, nil)
		req.Host = "goat.test:8080"
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	for _, q := range []string{"p=%2Fa&q=%3Futm_source%3Dhn", "p=a", "p=download&e=1"} {
		status, h, b := hit(q)
		if status != 200 || h.Get("Content-Type") != "image/gif" || len(b) != 43 || h.Get("X-Analytics-Dropped") != "" {
			t.Fatalf("%s: %d %v %d bytes", q, status, h, len(b))
		}
	}
	if status, h, _ := hit("t=no-path"); status != 400 || !strings.HasPrefix(h.Get("X-Analytics-Dropped"), "p: required") {
		t.Fatalf("no p: %d %q", status, h.Get("X-Analytics-Dropped"))
	}
	checkPeerCounts(t, p, "goat.test", peerCounts{paths: []analytics.PathViews{{Path: "/a", Views: 2}},
		events: map[string]float64{"pageview": 2, "download": 1}, visitors: 1})
}

// warmUp waits until the collector answers a cookieless event with 2xx:
// the first read of the day's salt can outlast the queue deadline (503)
// on a busy machine, and the peers' clients, unlike ours, never retry.
func warmUp(t *testing.T, p *pipeline) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, func() error {
		status, _, body := postPeer(t, p.collector+"/event?cookieless=1", `{"site_id":"warm-up","event_type":"warm-up"}`, nil)
		if status != 202 {
			return fmt.Errorf("%d %s", status, body)
		}
		return nil
	})
}

// errorCapture collects a page's uncaught errors in window.errors, for
// runPage to show.
const errorCapture = `<script>window.errors = [];
window.addEventListener("error", e => window.errors.push(String(e.message)));
window.addEventListener("unhandledrejection", e => window.errors.push(String(e.reason)));</script>`
