package js

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/ingest"
)

// request is one POST the snippet made to the stand-in collector.
type request struct {
	uri  string // path and query
	body []byte
}

// collector stands in for the collector: it serves the built snippet at
// /t.js, page(r) for any other GET, and records what is posted to /events.
type collector struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newCollector(t *testing.T, page func(r *http.Request) string) *collector {
	c := &collector{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /t.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write(Script)
	})
	mux.HandleFunc("POST /events", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.reqs = append(c.reqs, request{r.URL.RequestURI(), b})
		c.mu.Unlock()
		w.WriteHeader(202)
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page(r))
	})
	c.Server = httptest.NewServer(mux)
	t.Cleanup(c.Close)
	return c
}

// wait returns the requests received once they hold n events, each of
// which the collector accepts (ingest.DecodeBatch), and the raw wire
// objects of those events in the order sent.
func (c *collector) wait(t *testing.T, n int) ([]request, []analytics.Event, []map[string]any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.mu.Lock()
		reqs := append([]request(nil), c.reqs...)
		c.mu.Unlock()
		var evs []analytics.Event
		var raw []map[string]any
		for _, r := range reqs {
			got, rej, err := ingest.DecodeBatch(r.body, time.Now(), analytics.NewID)
			if err != nil || len(rej) > 0 {
				t.Fatalf("the collector refuses what the snippet sent: %v %+v\n%s", err, rej, r.body)
			}
			evs = append(evs, got...)
			var objs []map[string]any
			if err := json.Unmarshal(r.body, &objs); err != nil {
				t.Fatalf("body is not a JSON array of events: %v\n%s", err, r.body)
			}
			raw = append(raw, objs...)
		}
		if len(evs) >= n {
			return reqs, evs, raw
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d events, want %d", len(evs), n)
		}
		time.Sleep(20 * time.Millisecond) // beacons arrive asynchronously
	}
}

// loaded waits until the snippet has replaced the page's stub.
// A navigation (a clicked link) destroys the page's execution context under
// a poll that started on the old page; such a poll is started again until
// the deadline.
var loaded = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := chromedp.Poll[bool](`!!(window.analytics && analytics.flush)`, chromedp.WithPollingTimeout(time.Until(deadline)))(ctx, t)
		if err == nil || !strings.Contains(err.Error(), "context") || time.Now().After(deadline) {
			return err
		}
	}
})

// TestSnippetSendsReferrerAndCampaign follows a link from a page on another
// origin to a tracked page whose URL has campaign parameters and others:
// every event of that page load carries the first page as its referrer and
// exactly the utm_* parameters in its path's query, nothing else of the
// query.
func TestSnippetSendsReferrerAndCampaign(t *testing.T) {
	t.Parallel()
	const query = "?utm_source=hn&other=secret&utm_campaign=launch&utm_id=7&xutm_term=no"
	c := newCollector(t, func(r *http.Request) string {
		return `<!doctype html><title>pricing</title>
<script defer src="/t.js" data-site="s" data-allow-localhost></script><body>`
	})
	// The first page, on another origin (its own port); unsafe-url makes the
	// browser send its full URL rather than only its origin.
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>news</title><body>
<a id="go" referrerpolicy="unsafe-url" href="%s/pricing%s">pricing</a>`, c.URL, query)
	}))
	defer first.Close()

	ctx := browser(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(first.URL+"/item?id=1"),
		chromedp.WaitReady(chromedp.CSS("#go")),
		chromedp.Click(chromedp.CSS("#go")),
		chromedp.WaitReady(chromedp.CSS("body")),
		loaded,
		// A later page of this load, and a custom event, keep the campaign.
		eval(`history.pushState({}, "", "/signup?step=2"); analytics.track("signup"); analytics.flush()`),
	); err != nil {
		t.Fatal(err)
	}

	reqs, evs, raw := c.wait(t, 3)
	wantRef := first.URL + "/item?id=1"
	var sent []string
	for i, ev := range evs {
		sent = append(sent, ev.EventType+" "+ev.Path)
		w := raw[i]
		path, _ := w["path"].(string)
		_, q, _ := strings.Cut(path, "?")
		if q != "utm_source=hn&utm_campaign=launch" {
			t.Errorf("%s sent path %q: its query must be exactly the utm_source and utm_campaign of the landing URL", ev.EventType, path)
		}
		if w["referrer"] != wantRef {
			t.Errorf("%s sent referrer %v, want %q", ev.EventType, w["referrer"], wantRef)
		}
		if ev.Client.Referrer != wantRef || ev.UTMSource != "hn" || ev.UTMCampaign != "launch" || ev.UTMTerm != "" {
			t.Errorf("the collector reads %+v, source %q campaign %q term %q", ev.Client, ev.UTMSource, ev.UTMCampaign, ev.UTMTerm)
		}
	}
	slices.Sort(sent)
	if want := []string{"page_view /pricing", "page_view /signup", "signup /signup"}; !slices.Equal(sent, want) {
		t.Errorf("sent %q, want %q", sent, want)
	}
	for _, r := range reqs {
		if r.uri != "/events" {
			t.Errorf("posted to %s, want /events", r.uri)
		}
		for _, leak := range []string{"secret", "other", "step", "utm_id", "xutm"} {
			if strings.Contains(string(r.body), leak) {
				t.Errorf("the snippet sent %q, a query parameter it must drop:\n%s", leak, r.body)
			}
		}
	}
}

// TestSnippetWithoutReferrerOrCampaign: a page opened directly sends no
// referrer field and a path without a query.
func TestSnippetWithoutReferrerOrCampaign(t *testing.T) {
	t.Parallel()
	c := newCollector(t, func(r *http.Request) string {
		return `<!doctype html><title>home</title>
<script defer src="/t.js" data-site="s" data-allow-localhost></script><body>`
	})
	ctx := browser(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(c.URL+"/home?q=private"),
		chromedp.WaitReady(chromedp.CSS("body")),
		loaded,
		eval(`analytics.flush()`),
	); err != nil {
		t.Fatal(err)
	}
	_, _, raw := c.wait(t, 1)
	if _, ok := raw[0]["referrer"]; ok {
		t.Errorf("sent referrer %v for a page opened directly; want the field absent", raw[0]["referrer"])
	}
	if raw[0]["path"] != "/home" {
		t.Errorf("sent path %v, want /home", raw[0]["path"])
	}
	if raw[0]["user_id"] == nil {
		t.Errorf("sent no user_id without data-cookieless")
	}
}

// TestSnippetCookieless: with data-cookieless the snippet leaves nothing in
// the browser, sends no user_id, and asks the collector for cookieless
// visitor ids. Calls queued by the stub before the script loaded are sent
// too.
func TestSnippetCookieless(t *testing.T) {
	t.Parallel()
	c := newCollector(t, func(r *http.Request) string {
		return `<!doctype html><title>cookieless</title>
<script>window.analytics=window.analytics||{track:function(){(this.q=this.q||[]).push(arguments)}};
analytics.track("early", {a: 1});</script>
<script defer src="/t.js" data-site="s" data-allow-localhost data-cookieless></script><body>`
	})
	ctx := browser(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(c.URL+"/landing?utm_medium=email"),
		chromedp.WaitReady(chromedp.CSS("body")),
		loaded,
		eval(`analytics.track("signup", {plan: "pro"})`),
		eval(`history.pushState({}, "", "/next")`),
	); err != nil {
		t.Fatal(err)
	}
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`JSON.stringify([localStorage.length, sessionStorage.length, document.cookie, Object.keys(localStorage)])`))
	if err != nil {
		t.Fatal(err)
	}
	if stored != `[0,0,"",[]]` {
		t.Errorf("the browser holds [localStorage items, sessionStorage items, cookies, keys] %s; want nothing", stored)
	}
	if err := chromedp.Do(ctx, eval(`analytics.flush()`)); err != nil {
		t.Fatal(err)
	}

	reqs, evs, raw := c.wait(t, 4)
	types := map[string]bool{}
	for i, ev := range evs {
		types[ev.EventType] = true
		if _, ok := raw[i]["user_id"]; ok || ev.UserID != "" {
			t.Errorf("%s sent user_id %v in cookieless mode", ev.EventType, raw[i]["user_id"])
		}
		if ev.UTMMedium != "email" {
			t.Errorf("%s lost utm_medium: path %v", ev.EventType, raw[i]["path"])
		}
	}
	for _, typ := range []string{"page_view", "early", "signup"} {
		if !types[typ] {
			t.Errorf("no %s event; got %v", typ, types)
		}
	}
	for _, r := range reqs {
		if r.uri != "/events?cookieless=1" {
			t.Errorf("posted to %s, want /events?cookieless=1", r.uri)
		}
	}
	// Sending stored nothing either.
	stored, err = chromedp.Run(ctx, chromedp.Evaluate[string](
		`JSON.stringify([localStorage.length, sessionStorage.length, document.cookie])`))
	if err != nil {
		t.Fatal(err)
	}
	if stored != `[0,0,""]` {
		t.Errorf("after sending, the browser holds %s; want nothing", stored)
	}
}

// TestSnippetOptOutStoresNothing: an opted-out browser sends nothing and is
// not given a visitor id; a tracked one keeps the same id across loads.
func TestSnippetOptOutStoresNothing(t *testing.T) {
	t.Parallel()
	var optout atomic.Bool
	optout.Store(true)
	c := newCollector(t, func(r *http.Request) string {
		pre := ""
		if optout.Load() {
			pre = `<script>localStorage.setItem("sa_optout", "1")</script>`
		}
		return `<!doctype html><title>optout</title>` + pre + `
<script defer src="/t.js" data-site="s" data-allow-localhost></script><body>`
	})
	ctx := browser(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(c.URL+"/"),
		chromedp.WaitReady(chromedp.CSS("body")),
		loaded,
		eval(`analytics.track("x"); analytics.flush()`),
	); err != nil {
		t.Fatal(err)
	}
	keys, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Object.keys(localStorage).sort().join()`))
	if err != nil {
		t.Fatal(err)
	}
	if keys != "sa_optout" {
		t.Errorf("an opted-out browser holds localStorage keys %q; want only sa_optout", keys)
	}

	optout.Store(false)
	if err := chromedp.Do(ctx,
		eval(`localStorage.clear()`),
		chromedp.Navigate(c.URL+"/a"),
		chromedp.WaitReady(chromedp.CSS("body")),
		loaded,
		eval(`analytics.flush()`),
		chromedp.Navigate(c.URL+"/b"),
		chromedp.WaitReady(chromedp.CSS("body")),
		loaded,
		eval(`analytics.flush()`),
	); err != nil {
		t.Fatal(err)
	}
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem("sa_vid")`))
	if err != nil {
		t.Fatal(err)
	}
	_, evs, _ := c.wait(t, 2)
	if len(evs) != 2 {
		t.Fatalf("%d events, want the 2 page views after opting back in (the opted-out page sent some)", len(evs))
	}
	for _, ev := range evs {
		if ev.UserID == "" || ev.UserID != ids {
			t.Errorf("%s %s sent user_id %q, want the stored sa_vid %q", ev.EventType, ev.Path, ev.UserID, ids)
		}
	}
}

// TestSnippetHashRouteCampaign: with data-hash the path is the #/route
// without the route's own query, followed by the campaign parameters.
func TestSnippetHashRouteCampaign(t *testing.T) {
	t.Parallel()
	c := newCollector(t, func(r *http.Request) string {
		return `<!doctype html><title>app</title>
<script defer src="/t.js" data-site="s" data-allow-localhost data-hash></script><body>`
	})
	ctx := browser(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(c.URL+"/app?ref=x&utm_term=shoes#/route?tab=2"),
		chromedp.WaitReady(chromedp.CSS("body")),
		loaded,
		eval(`analytics.flush()`),
	); err != nil {
		t.Fatal(err)
	}
	_, evs, raw := c.wait(t, 1)
	if raw[0]["path"] != "/route?utm_term=shoes" || evs[0].Path != "/route" || evs[0].UTMTerm != "shoes" {
		t.Errorf("sent path %v (stored %q, utm_term %q), want /route?utm_term=shoes", raw[0]["path"], evs[0].Path, evs[0].UTMTerm)
	}
}

// TestSnippetSaysWhyItIsOffOnLocalhost: on localhost without
// data-allow-localhost the snippet sends nothing and says so, once, in the
// console; with it, it counts and says nothing.
func TestSnippetSaysWhyItIsOffOnLocalhost(t *testing.T) {
	t.Parallel()
	c := newCollector(t, func(r *http.Request) string {
		allow := ""
		if r.URL.Path == "/allowed" {
			allow = " data-allow-localhost"
		}
		return `<!doctype html><title>local</title>
<script>window.logged = []; for (const k of ["log", "info", "warn"]) { const f = console[k]; console[k] = (...a) => { logged.push(a.join(" ")); f.apply(console, a) } }</script>
<script defer src="/t.js" data-site="s"` + allow + `></script><body>`
	})
	ctx := browser(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(c.URL+"/off"),
		chromedp.WaitReady(chromedp.CSS("body")),
		loaded,
		eval(`analytics.track("x"); analytics.flush()`),
	); err != nil {
		t.Fatal(err)
	}
	logged, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`logged`))
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != 1 || logged[0] != "analytics: localhost: add data-allow-localhost" {
		t.Errorf("console on localhost: %q; want the one line saying why nothing is counted", logged)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(c.URL+"/allowed"),
		chromedp.WaitReady(chromedp.CSS("body")),
		loaded,
		eval(`analytics.flush()`),
	); err != nil {
		t.Fatal(err)
	}
	if logged, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`logged`)); len(logged) != 0 {
		t.Errorf("console with data-allow-localhost: %q; want nothing", logged)
	}
	_, evs, wire := c.wait(t, 1)
	if len(evs) != 1 || evs[0].Path != "/allowed" {
		t.Fatalf("events %+v; want only the page view of /allowed", evs)
	}
	// The collector stamps events on arrival: a visitor's wrong clock
	// cannot misplace them.
	if ts, ok := wire[0]["timestamp"]; ok {
		t.Errorf("the snippet sent a timestamp (%v)", ts)
	}
}
