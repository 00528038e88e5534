package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/siteanalytics/analytics/internal/testenv/chrome"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/mongostore"
)

// browser starts a headless Chrome or Chromium (chrome.Path says
// which, or what to install).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := chrome.Path()
	if err != nil {
		t.Fatalf("browser tests: %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// eval runs JavaScript and ignores its value.
func eval(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return err
	})
}

// snippetLoaded waits until the snippet has replaced the page's stub.
var snippetLoaded = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	_, err := chromedp.Poll[bool](`!!(window.analytics && typeof window.analytics.flush === "function")`,
		chromedp.WithPollingTimeout(30*time.Second))(ctx, t)
	return err
})

// site serves one HTML page on its own origin (its own port), so each test
// page has its own localStorage.
func site(t *testing.T, html string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, html)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// rawCount counts stored raw events of a site and type ("" for any type).
func rawCount(t *testing.T, uri, siteID, eventType string) int64 {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(context.Background())
	db := strings.TrimPrefix(uri[strings.LastIndex(uri, "/"):], "/")
	filter := bson.D{{Key: "site_id", Value: siteID}}
	if eventType != "" {
		filter = append(filter, bson.E{Key: "event_type", Value: eventType})
	}
	var n int64
	for _, coll := range rawColls(t, c.Database(db)) {
		k, err := c.Database(db).Collection(coll).CountDocuments(context.Background(), filter)
		if err != nil {
			t.Fatal(err)
		}
		n += k
	}
	return n
}

// rawColls lists the collections holding raw events (see mongostore/raw.go).
func rawColls(t *testing.T, db *mongo.Database) []string {
	t.Helper()
	colls, err := mongostore.RawCollections(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return colls
}

func TestSnippetInChromium(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	ctx := browser(t)
	page := site(t, `<!doctype html><title>shop</title>
<script>window.analytics=window.analytics||{track:function(){(this.q=this.q||[]).push(arguments)}};
analytics.track("early_click",{button:"buy"});</script>
<script defer src="`+p.collector+`/t.js" data-site="browser-site" data-allow-localhost></script>
<body><button id="nav" onclick="history.pushState({},'','/spa/page2')">next</button></body>`)

	if err := chromedp.Do(ctx,
		chromedp.Navigate(page+"/index.html"),
		chromedp.WaitReady(chromedp.CSS("body")),
		snippetLoaded,
		chromedp.Click(chromedp.CSS("#nav")),
		// The same URL again must not count twice.
		eval(`history.replaceState({}, '', '/spa/page2'); history.pushState({}, '', '/spa/page2')`),
		eval(`analytics.track("signup", {plan: "pro"})`),
		// Leaving the page fires pagehide: the queue goes out by sendBeacon.
		chromedp.Navigate("about:blank"),
	); err != nil {
		t.Fatal(err)
	}

	today := time.Now().UTC().Format("2006-01-02")
	want := `{"site_id":"browser-site","date":"` + today + `","total_views":2,"unique_users":1,"top_paths":[{"path":"/index.html","views":1},{"path":"/spa/page2","views":1}]}`
	testenv.Eventually(t, 30*time.Second, func() error {
		_, body := getStats(t, p.reporter, "browser-site", today)
		if strings.TrimSpace(body) != want {
			return fmt.Errorf("stats %s", body)
		}
		return nil
	})
	uri := p.env["MONGODB_URI"]
	testenv.Eventually(t, 30*time.Second, func() error {
		if s, e := rawCount(t, uri, "browser-site", "signup"), rawCount(t, uri, "browser-site", "early_click"); s != 1 || e != 1 {
			return fmt.Errorf("signup %d, early_click %d stored; want 1 each", s, e)
		}
		return nil
	})
}

func TestSnippetSendsNothingWhenAskedNotTo(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	ctx := browser(t)
	tag := func(site, attrs string) string {
		return `<script defer src="` + p.collector + `/t.js" data-site="` + site + `" ` + attrs + `></script>`
	}
	cases := map[string]string{
		"optout-site": `<script>localStorage.setItem("sa_optout","1")</script>` + tag("optout-site", "data-allow-localhost"),
		"gpc-site":    `<script>Object.defineProperty(navigator,"globalPrivacyControl",{value:true})</script>` + tag("gpc-site", "data-allow-localhost data-respect-dnt"),
		"dnt-site":    `<script>Object.defineProperty(navigator,"doNotTrack",{value:"1"})</script>` + tag("dnt-site", "data-allow-localhost data-respect-dnt"),
		"local-site":  tag("local-site", ""), // served from 127.0.0.1 without data-allow-localhost
	}
	for name, html := range cases {
		if err := chromedp.Do(ctx,
			chromedp.Navigate(site(t, html)+"/"),
			chromedp.WaitReady(chromedp.CSS("body")),
			snippetLoaded,
			eval(`analytics.track("signup"); analytics.flush()`),
			chromedp.Navigate("about:blank"),
		); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// A page that does track, visited last: once its event is stored, any
	// event the pages above had sent would have been stored too.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(site(t, tag("sentinel-site", "data-allow-localhost"))+"/"),
		chromedp.WaitReady(chromedp.CSS("body")),
		snippetLoaded,
		chromedp.Navigate("about:blank"),
	); err != nil {
		t.Fatal(err)
	}
	uri := p.env["MONGODB_URI"]
	testenv.Eventually(t, 30*time.Second, func() error {
		if n := rawCount(t, uri, "sentinel-site", ""); n != 1 {
			return fmt.Errorf("sentinel: %d events", n)
		}
		return nil
	})
	for name := range cases {
		if n := rawCount(t, uri, name, ""); n != 0 {
			t.Errorf("%s sent %d events", name, n)
		}
	}
}
