package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/internal/testhttp"
	"github.com/siteanalytics/analytics/sdk"
)

var serveArgs = []string{"analytics-cli", "serve", "--host", "127.0.0.1", "--ingestion-port", "0", "--reporting-port", "0"}

// cli runs analytics-cli args with the pipeline's settings (its MongoDB)
// and returns what it printed; an error fails the test.
func (p *pipeline) cli(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"analytics-cli"}, args...), p.getenv, &out); err != nil {
		t.Fatalf("analytics-cli %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// counter reads one of the fleet counters the pipeline's collector
// reports to Redis.
func (p *pipeline) counter(t *testing.T, name string) int64 {
	t.Helper()
	opt, err := redis.ParseURL(p.env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	n, _ := rdb.HGet(context.Background(), p.env["QUEUE_PREFIX"]+"counters", name).Int64()
	return n
}

// waitCounter polls until the fleet counter name is exactly want.
func (p *pipeline) waitCounter(t *testing.T, name string, want int64) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, func() error {
		if got := p.counter(t, name); got != want {
			return fmt.Errorf("counter %s = %d, want %d", name, got, want)
		}
		return nil
	})
}

// answer is what the collector or the reporter said.
type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, strings.TrimSpace(a.body)) }

// request sends method url with body (when not empty) and the header
// pairs hdr.
func request(t *testing.T, method, url, body string, hdr ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	resp, b := testhttp.Request(t, method, url, rd, hdr...)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

var (
	writeKeyRe = regexp.MustCompile(`sak_[A-Za-z0-9_-]{43}`)
	tokenRe    = regexp.MustCompile(`sat_[A-Za-z0-9_-]{43}`)
)

func event(site string) string {
	return `{"site_id":"` + site + `","event_type":"page_view","path":"/pricing"}`
}

// TestRegisteredMode runs the real pipeline with SITES_MODE=registered: an
// unregistered site is refused until `sites add` registers it; then the
// write key, the site's domains and the refusals (401 without or with a
// wrong key, 403 from another origin or for another site) hold for JSON
// and text/plain, for /event, /events, Segment and the SDK; rotating the
// key and removing the site take effect within SITES_REFRESH; every
// refusal is counted as forbidden.
func TestRegisteredMode(t *testing.T) {
	t.Parallel()
	p := startPipelineEnv(t, map[string]string{"SITES_MODE": "registered", "SITES_REFRESH": "200ms"}, serveArgs)
	const site = "reg-shop"
	forbidden := int64(0)
	refused := func(a answer, status int, want string) {
		t.Helper()
		if a.status != status || !strings.Contains(a.body, want) {
			t.Fatalf("got %s; want %d containing %q", a, status, want)
		}
		forbidden++
	}
	refused(request(t, "POST", p.collector+"/event", event(site), "Content-Type", "application/json"), 403, `site_id \"reg-shop\" is not registered`)

	out := p.cli(t, "sites", "add", "--domain", "shop.example,*.shop.example", site)
	key := writeKeyRe.FindString(out)
	for _, want := range []string{`<script defer src="` + p.collector + `/t.js" data-site="reg-shop"></script>`,
		"curl -X POST " + p.collector + "/event -H 'Authorization: Bearer " + key + "'", "Domains    shop.example, *.shop.example"} {
		if key == "" || !strings.Contains(out, want) {
			t.Fatalf("sites add printed no key or lacks %q:\n%s", want, out)
		}
	}
	// The collector reads the registry again within SITES_REFRESH.
	accepted := 0
	testenv.Eventually(t, 10*time.Second, func() error {
		a := request(t, "POST", p.collector+"/event", event(site), "Content-Type", "application/json", "Authorization", "Bearer "+key)
		if a.status != 202 {
			forbidden++
			return fmt.Errorf("with the new key: %s", a)
		}
		accepted++
		return nil
	})

	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))
	for _, ctype := range []string{"application/json", "text/plain;charset=UTF-8"} {
		tests := []struct {
			name   string
			site   string
			hdr    []string
			status int
			want   string
		}{
			{"right key", site, []string{"Authorization", "Bearer " + key}, 202, `"success":true`},
			{"right key, scheme in lower case", site, []string{"Authorization", "bearer " + key}, 202, `"success":true`},
			{"right key as Basic user name", site, []string{"Authorization", basic}, 202, `"success":true`},
			{"wrong key", site, []string{"Authorization", "Bearer sak_wrong"}, 401, `wrong write key for site \"reg-shop\"`},
			{"no key", site, nil, 401, `needs its write key`},
			{"allowed origin", site, []string{"Origin", "https://shop.example"}, 202, `"success":true`},
			{"allowed subdomain", site, []string{"Origin", "https://www.shop.example"}, 202, `"success":true`},
			{"allowed referer", site, []string{"Referer", "https://shop.example/pricing?x=1"}, 202, `"success":true`},
			{"foreign origin", site, []string{"Origin", "https://evil.example"}, 403, `this page's host \"evil.example\" is not one`},
			{"foreign referer", site, []string{"Referer", "https://shop.example.evil.example/"}, 403, `is not one`},
			{"foreign origin with the key", site, []string{"Origin", "https://evil.example", "Authorization", "Bearer " + key}, 403, `accepted only from its domains`},
			{"unregistered site with a key", "other-site", []string{"Authorization", "Bearer " + key}, 403, `site_id \"other-site\" is not registered`},
			{"unregistered site from the origin", "other-site", []string{"Origin", "https://shop.example"}, 403, `is not registered`},
		}
		for _, tt := range tests {
			t.Run(ctype+"/"+tt.name, func(t *testing.T) {
				a := request(t, "POST", p.collector+"/event", event(tt.site), append([]string{"Content-Type", ctype}, tt.hdr...)...)
				if a.status != tt.status || !strings.Contains(a.body, tt.want) {
					t.Fatalf("got %s; want %d containing %s", a, tt.status, tt.want)
				}
				if a.status == 401 && a.header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
				if a.status == 202 {
					accepted++
				} else {
					forbidden++
				}
			})
		}
	}
	// A batch of two, and one with a site that is not registered: refused
	// whole.
	batch := "[" + event(site) + "," + event(site) + "]"
	if a := request(t, "POST", p.collector+"/events", batch, "Authorization", "Bearer "+key); a.status != 202 || !strings.Contains(a.body, `"accepted":2`) {
		t.Fatalf("batch with the key: %s", a)
	}
	accepted += 2
	refused(request(t, "POST", p.collector+"/events", "["+event(site)+","+event("nope")+"]", "Authorization", "Bearer "+key), 403, `"nope\" is not registered`)

	// Segment: the write key is the site's key, not its id.
	if a := request(t, "POST", p.collector+"/v1/page", `{"name":"Pricing","userId":"u1","properties":{"path":"/pricing"},"writeKey":"`+key+`"}`); a.status != 200 {
		t.Fatalf("Segment page with the key: %s", a)
	}
	accepted++
	refused(request(t, "POST", p.collector+"/v1/page", `{"name":"Pricing","userId":"u1","writeKey":"`+site+`"}`), 401, "unknown write key")

	// The SDK sends its WriteKey; without it, its events are refused.
	for _, withKey := range []bool{true, false} {
		cfg := sdk.Config{Endpoint: p.collector, SiteID: site, FlushInterval: 10 * time.Millisecond, MaxRetries: 1}
		if withKey {
			cfg.WriteKey = key
		}
		client, err := sdk.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Page("/pricing", "user-001"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = client.Close(ctx)
		cancel()
		st := client.Stats()
		if withKey && (st.Sent != 1 || st.Failed != 0) || !withKey && (st.Sent != 0 || st.Failed != 1) {
			t.Fatalf("SDK with key %v: %+v", withKey, st)
		}
		if withKey {
			accepted++
		} else {
			forbidden++
		}
	}

	// analytics-cli import sends the key it is given; without one the
	// collector refuses the file's events and import says why.
	file := filepath.Join(t.TempDir(), "events.ndjson")
	now := time.Now().UTC().Format(time.RFC3339)
	if err := os.WriteFile(file, []byte(`{"id":"imp-1","site_id":"reg-shop","event_type":"page_view","path":"/imported","user_id":"u9","timestamp":"`+now+`"}
{"id":"imp-2","site_id":"reg-shop","event_type":"page_view","path":"/imported","user_id":"u9","timestamp":"`+now+`"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var imp bytes.Buffer
	if err := run(context.Background(), []string{"analytics-cli", "import", "--collector", p.collector, file}, p.getenv, &imp); err == nil || !strings.Contains(err.Error(), "needs its write key") {
		t.Fatalf("import without the key: %v\n%s", err, imp.String())
	}
	forbidden++
	if out := p.cli(t, "import", "--collector", p.collector, "--key", key, file); !strings.Contains(out, "imported 2 events") {
		t.Fatalf("import --key:\n%s", out)
	}
	accepted += 2

	// Everything accepted is stored and counted.
	testenv.Eventually(t, 60*time.Second, func() error {
		st, _ := getStats(t, p.reporter, site, "")
		if st.TotalViews != int64(accepted) {
			return fmt.Errorf("total_views %d, want %d", st.TotalViews, accepted)
		}
		return nil
	})

	if out := p.cli(t, "sites", "list"); !regexp.MustCompile(`reg-shop\s+shop\.example,\*\.shop\.example\s+no\s+RETENTION_DAYS`).MatchString(out) {
		t.Errorf("sites list:\n%s", out)
	}
	if out := p.cli(t, "sites", "update", "--public", "--retention-days", "30", site); !strings.Contains(out, "Public     yes") || !strings.Contains(out, "Retention  30 days") || writeKeyRe.MatchString(out) {
		t.Errorf("sites update --public --retention-days 30:\n%s", out)
	}
	if out := p.cli(t, "sites", "show", site); !strings.Contains(out, "Public     yes") || writeKeyRe.MatchString(out) {
		t.Errorf("sites show:\n%s", out)
	}

	// A new key replaces the old one.
	out = p.cli(t, "sites", "update", "--rotate-key", site)
	newKey := writeKeyRe.FindString(out)
	if newKey == "" || newKey == key {
		t.Fatalf("sites update --rotate-key printed no new key:\n%s", out)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		a := request(t, "POST", p.collector+"/event", event(site), "Authorization", "Bearer "+newKey)
		if a.status != 202 {
			forbidden++
			return fmt.Errorf("new key: %s", a)
		}
		return nil
	})
	refused(request(t, "POST", p.collector+"/event", event(site), "Authorization", "Bearer "+key), 401, "wrong write key")

	// A removed site is refused again.
	p.cli(t, "sites", "remove", site)
	testenv.Eventually(t, 10*time.Second, func() error {
		a := request(t, "POST", p.collector+"/event", event(site), "Origin", "https://shop.example")
		if a.status != 403 {
			return fmt.Errorf("removed site: %s", a)
		}
		forbidden++
		return nil
	})
	p.waitCounter(t, "forbidden", forbidden)
}

// TestCORSOriginsRefuseForeignOrigins: with CORS_ORIGINS set, a request
// from another origin is refused 403 whatever its content type (a
// text/plain beacon needs no preflight), and so is its preflight; an
// allowed origin and server-side requests (no Origin) are taken.
func TestCORSOriginsRefuseForeignOrigins(t *testing.T) {
	t.Parallel()
	p := startPipelineArgs(t, append(append([]string{}, serveArgs...), "--cors-origins", "https://shop.example, https://admin.shop.example"))
	const site = "cors-site"
	forbidden := int64(0)
	for _, ctype := range []string{"application/json", "text/plain;charset=UTF-8"} {
		for _, tt := range []struct {
			name   string
			hdr    []string
			status int
		}{
			{"allowed origin", []string{"Origin", "https://shop.example"}, 202},
			{"second allowed origin, other case", []string{"Origin", "https://ADMIN.shop.example"}, 202},
			{"no origin (server-side)", nil, 202},
			{"allowed referer", []string{"Referer", "https://shop.example/a/b"}, 202},
			{"foreign origin", []string{"Origin", "https://evil.example"}, 403},
			{"allowed host, other scheme", []string{"Origin", "http://shop.example"}, 403},
			{"foreign referer", []string{"Referer", "https://evil.example/page"}, 403},
			{"sandboxed page", []string{"Origin", "null"}, 403},
		} {
			t.Run(ctype+"/"+tt.name, func(t *testing.T) {
				a := request(t, "POST", p.collector+"/event", event(site), append([]string{"Content-Type", ctype}, tt.hdr...)...)
				if a.status != tt.status {
					t.Fatalf("got %s; want %d", a, tt.status)
				}
				if tt.status == 403 {
					forbidden++
					if !strings.Contains(a.body, "is not in CORS_ORIGINS") {
						t.Errorf("403 does not say why: %s", a.body)
					}
				}
				if o := a.header.Get("Access-Control-Allow-Origin"); tt.status == 202 && len(tt.hdr) > 0 && tt.hdr[0] == "Origin" && !strings.EqualFold(o, tt.hdr[1]) {
					t.Errorf("Access-Control-Allow-Origin %q, want %q", o, tt.hdr[1])
				}
			})
		}
	}
	pre := request(t, "OPTIONS", p.collector+"/event", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if pre.status != 403 {
		t.Fatalf("preflight from a foreign origin: %s", pre)
	}
	forbidden++
	pre = request(t, "OPTIONS", p.collector+"/event", "", "Origin", "https://shop.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if pre.status != 204 || !strings.Contains(strings.ToLower(pre.header.Get("Access-Control-Allow-Headers")), "content-type") || pre.header.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Fatalf("preflight from the allowed origin: %s %v", pre, pre.header)
	}
	if a := request(t, "GET", p.collector+"/t.js", "", "Origin", "https://evil.example"); a.status != 200 {
		t.Fatalf("the snippet is served to any page: %s", a)
	}
	p.waitCounter(t, "forbidden", forbidden)
	testenv.Eventually(t, 60*time.Second, func() error {
		if st, _ := getStats(t, p.reporter, site, ""); st.TotalViews != 8 {
			return fmt.Errorf("total_views %d, want the 8 accepted", st.TotalViews)
		}
		return nil
	})
}

// TestRateLimits: per address (as TRUSTED_PROXIES derives it) and per
// site, a client over its bucket is answered 429 with Retry-After, other
// clients and sites are not, and it is taken again once the bucket
// refills; every 429 is counted as rate_limited.
func TestRateLimits(t *testing.T) {
	// One token a second: a loaded machine answering the burst's requests
	// slowly does not refill the bucket before the one over it.
	p := startPipelineEnv(t, map[string]string{"TRUSTED_PROXIES": "127.0.0.1", "RATE_LIMIT_IP": "1", "RATE_LIMIT_IP_BURST": "3",
		"RATE_LIMIT_SITE": "1", "RATE_LIMIT_SITE_BURST": "20"}, serveArgs)
	limited := int64(0)
	from := func(ip, body string) answer {
		t.Helper()
		a := request(t, "POST", p.collector+"/events", body, "Content-Type", "text/plain", "X-Forwarded-For", ip)
		if a.status == 429 {
			limited++
		}
		return a
	}
	one := "[" + event("rl-a") + "]"
	for i := 0; i < 3; i++ {
		if a := from("203.0.113.7", one); a.status != 202 {
			t.Fatalf("request %d within the burst: %s", i+1, a)
		}
	}
	a := from("203.0.113.7", one)
	if a.status != 429 || a.header.Get("Retry-After") != "1" || !strings.Contains(a.body, "too many requests from this address") {
		t.Fatalf("over the address's burst: %s, Retry-After %q", a, a.header.Get("Retry-After"))
	}
	if a := from("203.0.113.8", one); a.status != 202 {
		t.Fatalf("another address: %s", a)
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		if a := from("203.0.113.7", one); a.status != 202 {
			return fmt.Errorf("after the window: %s", a)
		}
		return nil
	})

	// Per site, in events: a batch of 20 takes the whole burst.
	evs := make([]string, 20)
	for i := range evs {
		evs[i] = event("rl-b")
	}
	if a := from("198.51.100.1", "["+strings.Join(evs, ",")+"]"); a.status != 202 || !strings.Contains(a.body, `"accepted":20`) {
		t.Fatalf("a batch of the burst's size: %s", a)
	}
	a = from("198.51.100.2", "["+event("rl-b")+"]")
	if a.status != 429 || a.header.Get("Retry-After") != "1" || !strings.Contains(a.body, `too many events for site \"rl-b\"`) {
		t.Fatalf("over the site's burst: %s, Retry-After %q", a, a.header.Get("Retry-After"))
	}
	if a := from("198.51.100.3", "["+event("rl-c")+"]"); a.status != 202 {
		t.Fatalf("another site: %s", a)
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		if a := from("198.51.100.4", "["+event("rl-b")+"]"); a.status != 202 {
			return fmt.Errorf("after the window: %s", a)
		}
		return nil
	})
	p.waitCounter(t, "rate_limited", limited)
	if limited < 2 {
		t.Fatalf("%d answers 429, want at least 2", limited)
	}
}

// TestReporterTokens: REPORTER_TOKEN and `tokens create --all` read every
// site; a `--site` token reads its site only, on every endpoint that takes
// a site, and /api/v1/sites lists only it; a revoked token is refused; a
// public site is readable without a token.
func TestReporterTokens(t *testing.T) {
	t.Parallel()
	p := startPipelineEnv(t, map[string]string{"REPORTER_TOKEN": "root-token", "SITES_REFRESH": "200ms"}, serveArgs)
	for _, s := range []string{"tok-a", "tok-b"} {
		if code, body := post(t, p.collector+"/event", event(s)); code != 202 {
			t.Fatalf("%d %s", code, body)
		}
	}
	get := func(path, token string) answer {
		t.Helper()
		var hdr []string
		if token != "" {
			hdr = []string{"Authorization", "Bearer " + token}
		}
		return request(t, "GET", p.reporter+path, "", hdr...)
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		for _, s := range []string{"tok-a", "tok-b"} {
			if a := get("/stats?site_id="+s, "root-token"); !strings.Contains(a.body, `"total_views":1`) {
				return fmt.Errorf("%s with REPORTER_TOKEN: %s", s, a)
			}
		}
		return nil
	})
	if a := get("/stats?site_id=tok-a", ""); a.status != 401 || a.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %s", a)
	}

	out := p.cli(t, "tokens", "create", "--site", "tok-a", "--name", "a-reader")
	tokA := tokenRe.FindString(out)
	if tokA == "" || !strings.Contains(out, "Created token a-reader, reading tok-a") {
		t.Fatalf("tokens create printed:\n%s", out)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if a := get("/stats?site_id=tok-a", tokA); a.status != 200 || !strings.Contains(a.body, `"total_views":1`) {
			return fmt.Errorf("site token on its site: %s", a)
		}
		return nil
	})
	day := time.Now().UTC().Format(time.DateOnly)
	for _, ep := range []string{"/stats?site_id=%s", "/api/v1/stats/aggregate?site_id=%s&period=day", "/api/v1/stats/timeseries?site_id=%s&period=day",
		"/api/v1/stats/breakdown?site_id=%s&period=day&property=event:page", "/api/v1/stats/realtime?site_id=%s", "/api/v1/stats/realtime/visitors?site_id=%s"} {
		if a := get(fmt.Sprintf(ep, "tok-a")+"&date="+day, tokA); a.status != 200 {
			t.Errorf("site token, its site, %s: %s", ep, a)
		}
		if a := get(fmt.Sprintf(ep, "tok-b"), tokA); a.status != 403 || !strings.Contains(a.body, "may read site tok-a only") {
			t.Errorf("site token, another site, %s: %s", ep, a)
		}
	}
	sitesOf := func(token string) string {
		t.Helper()
		a := get("/api/v1/sites", token)
		var r struct {
			Results []struct {
				ID string `json:"site_id"`
			} `json:"results"`
		}
		if err := json.Unmarshal([]byte(a.body), &r); err != nil || a.status != 200 {
			t.Fatalf("/api/v1/sites: %s", a)
		}
		var ids []string
		for _, s := range r.Results {
			ids = append(ids, s.ID)
		}
		return strings.Join(ids, ",")
	}
	if got := sitesOf(tokA); got != "tok-a" {
		t.Errorf("/api/v1/sites with the tok-a token: %s", got)
	}
	if got := sitesOf("root-token"); got != "tok-a,tok-b" {
		t.Errorf("/api/v1/sites with REPORTER_TOKEN: %s", got)
	}

	tokAll := tokenRe.FindString(p.cli(t, "tokens", "create", "--all", "--name", "everything"))
	testenv.Eventually(t, 10*time.Second, func() error {
		if a := get("/stats?site_id=tok-b", tokAll); a.status != 200 {
			return fmt.Errorf("all-sites token: %s", a)
		}
		return nil
	})
	out = p.cli(t, "tokens", "list")
	if !regexp.MustCompile(`a-reader\s+tok-a\s+20`).MatchString(out) || !regexp.MustCompile(`everything\s+all sites\s+20`).MatchString(out) ||
		strings.Contains(out, tokA) || strings.Contains(out, tokAll) {
		t.Errorf("tokens list:\n%s", out)
	}

	p.cli(t, "tokens", "revoke", "a-reader")
	testenv.Eventually(t, 10*time.Second, func() error {
		if a := get("/stats?site_id=tok-a", tokA); a.status != 401 {
			return fmt.Errorf("revoked token: %s", a)
		}
		return nil
	})
	if a := get("/stats?site_id=tok-a", tokAll); a.status != 200 {
		t.Fatalf("the other token after a revoke: %s", a)
	}

	// A public site is readable without a token; the others are not.
	p.cli(t, "sites", "add", "--public", "--domain", "b.example", "tok-b")
	testenv.Eventually(t, 10*time.Second, func() error {
		if a := get("/api/v1/stats/aggregate?site_id=tok-b&period=day&metrics=pageviews", ""); a.status != 200 || !strings.Contains(a.body, `"pageviews":{"value":1}`) {
			return fmt.Errorf("public site without a token: %s", a)
		}
		return nil
	})
	if a := get("/stats?site_id=tok-a", ""); a.status != 401 {
		t.Fatalf("private site without a token: %s", a)
	}
}

// TestTokensCloseAnOpenReporter: a reporter without REPORTER_TOKEN is open
// until the first token is created; from then on it wants one.
func TestTokensCloseAnOpenReporter(t *testing.T) {
	t.Parallel()
	p := startPipelineEnv(t, map[string]string{"SITES_REFRESH": "200ms"}, serveArgs)
	if a := request(t, "GET", p.reporter+"/stats?site_id=x", ""); a.status != 200 {
		t.Fatalf("open reporter: %s", a)
	}
	tok := tokenRe.FindString(p.cli(t, "tokens", "create", "--site", "x"))
	testenv.Eventually(t, 10*time.Second, func() error {
		if a := request(t, "GET", p.reporter+"/stats?site_id=x", ""); a.status != 401 {
			return fmt.Errorf("without a token once one exists: %s", a)
		}
		return nil
	})
	// Creating the token closes the reporter first (fail closed): the
	// token itself is read within a refresh.
	testenv.Eventually(t, 10*time.Second, func() error {
		if a := request(t, "GET", p.reporter+"/stats?site_id=x", "", "Authorization", "Bearer "+tok); a.status != 200 {
			return fmt.Errorf("with it: %s", a)
		}
		return nil
	})
}

// TestSnippetInChromiumRegistered: the snippet, unchanged, in a real
// browser, against a collector in registered mode with CORS_ORIGINS set:
// a page of an allowed origin on a registered site's domain is counted
// (sendBeacon's text/plain with the browser's Origin); a page of another
// origin, and one on a domain that is not its site's, are refused 403 and
// nothing of theirs is stored.
func TestSnippetInChromiumRegistered(t *testing.T) {
	t.Parallel()
	var collector atomic.Value
	collector.Store("")
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>shop</title><script defer src="%s/t.js" data-site="%s" data-allow-localhost></script><body>`,
			collector.Load(), r.URL.Query().Get("site"))
	})
	allowed, foreign := httptest.NewServer(page), httptest.NewServer(page)
	t.Cleanup(allowed.Close)
	t.Cleanup(foreign.Close)
	p := startPipelineEnv(t, map[string]string{"SITES_MODE": "registered", "SITES_REFRESH": "200ms"},
		append(append([]string{}, serveArgs...), "--cors-origins", allowed.URL))
	collector.Store(p.collector)
	p.cli(t, "sites", "add", "--domain", "127.0.0.1", "browser-reg")
	p.cli(t, "sites", "add", "--domain", "other.example", "browser-elsewhere")
	testenv.Eventually(t, 10*time.Second, func() error {
		if a := request(t, "POST", p.collector+"/event", `{"site_id":"browser-reg","event_type":"probe"}`, "Origin", allowed.URL); a.status != 202 {
			return fmt.Errorf("registry not read yet: %s", a)
		}
		return nil
	})

	ctx := browser(t)
	for _, u := range []string{allowed.URL + "/counted?site=browser-reg", allowed.URL + "/elsewhere?site=browser-elsewhere", foreign.URL + "/foreign?site=browser-reg"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(u), chromedp.WaitReady(chromedp.CSS("body")), snippetLoaded, chromedp.Navigate("about:blank")); err != nil {
			t.Fatal(err)
		}
	}
	today := time.Now().UTC().Format(time.DateOnly)
	testenv.Eventually(t, 30*time.Second, func() error {
		st, body := getStats(t, p.reporter, "browser-reg", today)
		if st.TotalViews != 1 || len(st.TopPaths) != 1 || st.TopPaths[0].Path != "/counted" {
			return fmt.Errorf("stats %s", body)
		}
		if n := p.counter(t, "forbidden"); n < 2 {
			return fmt.Errorf("forbidden %d, want the 2 foreign pages' beacons at least", n)
		}
		return nil
	})
	if n := rawCount(t, p.env["MONGODB_URI"], "browser-elsewhere", ""); n != 0 {
		t.Fatalf("%d events of the page on another domain stored", n)
	}
}

// TestRevokingTheLastTokenKeepsTheReporterClosed: once a token has existed,
// revoking the last one leaves the reporter closed (it would otherwise
// turn every site readable by anyone, silently) until `tokens open` opens
// it on purpose; `tokens close` closes it again. The CLI and the
// reporter's log say it at every change.
func TestRevokingTheLastTokenKeepsTheReporterClosed(t *testing.T) {
	p := startPipelineEnv(t, map[string]string{"SITES_REFRESH": "200ms", "LOG_LEVEL": "info"}, serveArgs)
	stats := func(token string) answer {
		t.Helper()
		var hdr []string
		if token != "" {
			hdr = []string{"Authorization", "Bearer " + token}
		}
		return request(t, "GET", p.reporter+"/stats?site_id=x", "", hdr...)
	}
	waitStatus := func(token string, status int) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, func() error {
			if a := stats(token); a.status != status {
				return fmt.Errorf("token %q: %s, want %d", token, a, status)
			}
			return nil
		})
	}
	waitLog := func(want string) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, func() error {
			if !strings.Contains(p.out.String(), want) {
				return fmt.Errorf("the log does not say %q yet", want)
			}
			return nil
		})
	}
	if a := stats(""); a.status != 200 {
		t.Fatalf("a reporter that never had a token: %s", a)
	}

	out := p.cli(t, "tokens", "create", "--site", "x", "--name", "only")
	tok := tokenRe.FindString(out)
	if !strings.Contains(out, "The reporter is closed from now on") {
		t.Errorf("tokens create does not say the reporter closes:\n%s", out)
	}
	waitStatus("", 401)
	waitLog("reporter closed")

	out = p.cli(t, "tokens", "revoke", "only")
	if !strings.Contains(out, "stays closed") || !strings.Contains(out, "analytics-cli tokens open") {
		t.Errorf("revoking the last token does not say the reporter stays closed:\n%s", out)
	}
	waitStatus(tok, 401) // the revoke has reached the reporter
	if a := stats(""); a.status != 401 || !strings.Contains(a.body, "tokens open") {
		t.Fatalf("without a token after the last one was revoked: %s; want 401 saying how to open it", a)
	}
	if out := p.cli(t, "tokens", "status"); !strings.Contains(out, "closed") {
		t.Fatalf("tokens status after the last revoke:\n%s", out)
	}

	out = p.cli(t, "tokens", "open")
	if !strings.Contains(out, "open") || !strings.Contains(out, "anyone") {
		t.Errorf("tokens open:\n%s", out)
	}
	waitStatus("", 200)
	waitLog("reporter open")

	p.cli(t, "tokens", "close")
	waitStatus("", 401)

	// Opening with a token in place is refused: it would not open anything.
	p.cli(t, "tokens", "create", "--all", "--name", "again")
	var buf bytes.Buffer
	if err := run(context.Background(), []string{"analytics-cli", "tokens", "open"}, p.getenv, &buf); err == nil || !strings.Contains(err.Error(), "revoke") {
		t.Fatalf("tokens open with a token in place: %v\n%s", err, buf.String())
	}
}

// TestServeTryItInRegisteredMode: serve's "Try it" works in registered mode
// too. With no site it says how to add one; with one it prints a curl line
// for that site which, given the key `sites add` printed, the collector
// takes (the open mode's line would be refused 403).
func TestServeTryItInRegisteredMode(t *testing.T) {
	env := map[string]string{"SITES_MODE": "registered", "SITES_REFRESH": "200ms"}
	p := startPipelineEnv(t, env, serveArgs)
	out := p.out.String()
	if !strings.Contains(out, "there is none yet") || !strings.Contains(out, "analytics-cli sites add --domain example.com example.com") || strings.Contains(out, "site-abc-123") {
		t.Fatalf("registered mode without sites, serve printed:\n%s", out)
	}
	key := writeKeyRe.FindString(p.cli(t, "sites", "add", "--domain", "try.example", "try.example"))
	if key == "" {
		t.Fatal("sites add printed no key")
	}
	p.stop(t)
	p = startWithEnv(t, serveArgs, p.env)
	out = p.out.String()
	line := regexp.MustCompile(`curl -X POST (\S+) -H 'Content-Type: application/json' -H 'Authorization: Bearer <write key of try\.example>' \\\n\s+-d '(\{.*\})'`).FindStringSubmatch(out)
	if line == nil || !strings.Contains(out, "--rotate-key try.example") {
		t.Fatalf("registered mode with a site, serve printed no curl line for it:\n%s", out)
	}
	if a := request(t, "POST", line[1], line[2], "Content-Type", "application/json", "Authorization", "Bearer "+key); a.status != 202 {
		t.Fatalf("serve's Try it line with the site's key: %s", a)
	}
	if a := request(t, "POST", line[1], strings.ReplaceAll(line[2], "try.example", "site-abc-123"), "Content-Type", "application/json"); a.status != 403 {
		t.Fatalf("the open mode's line in registered mode: %s, want 403", a)
	}
}
