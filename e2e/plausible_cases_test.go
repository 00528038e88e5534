package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/internal/testenv"
)

// Plausible's own Stats API test cases (plausible/analytics,
// test/plausible_web/controllers/api/external_stats_controller/*_test.exs),
// ported case by case and sent through the real pipeline: the collector,
// processor and reporter binaries on the test Redis and MongoDB (embedded
// FerretDB), site settings (time zones, goals) written by `analytics-cli`
// before the reporter starts.
//
// How Plausible's fixtures map onto our events:
//   - build(:pageview, ...) is a "pageview" event, build(:event, name: N) an
//     event N; pathname is the path, timestamp (a naive UTC time) the
//     timestamp, meta.key/meta.value the props.
//   - user_id is our user_id ("u" + Plausible's number), so "the same user"
//     holds; an event without one gets a visitor of its own, as Plausible's
//     factory gives it a random user_id.
//   - Events of a site whose fixtures carry derived fields (referrer_source,
//     referrer, utm_*, browser, operating_system, screen_size,
//     country_code) cannot be sent through the collector, which derives
//     those from the request: such a site's events go through
//     `analytics-cli import --direct` (the same decoder and visit annotator
//     the collector uses, into the same queue, keeping every derived field).
//     Every other site's events are posted to the collector's /events. The
//     collector takes old timestamps (nothing before 1970, at most 1 h
//     ahead), so 2021's events need no other path.
//   - relative_time(...) and "today" fixtures are placed relative to the
//     test's own clock ("now-1h").
//
// A case is one Plausible test (or one assertion of it). A case marked skip
// asks for something this product does not have and the issue does not
// ask for (the reason says what); it is listed, never sent. A case marked
// differs is run and must still differ from Plausible's answer, for the
// reason given; once it agrees, the mark must go. Every other case must
// give Plausible's answer exactly (numbers compared as numbers: 50 and 50.0
// are equal).
//
// PLAUSIBLE_CASES_COUNT=1 ignores the differs marks and reports how many
// cases agree, for the before/after figures in the report;
// PLAUSIBLE_CASES_RUN=<regexp> runs the cases whose names match.

// pcase is one ported Plausible test.
type pcase struct {
	name   string   // Plausible's file and test name
	tz     string   // the site's time zone; "" is UTC
	goals  []string // "event:Signup", "page:/register", as `analytics-cli goals add` takes them
	events []pev
	get    string // a v1 GET: path and query, without site_id
	post   string // a v2 POST /api/v2/query body, without site_id
	status int    // expected status; 0 is 200
	part   string // the part of the answer compared: "" whole, "results", "error", "meta", ...
	want   string // Plausible's expected JSON of that part; "" checks the status alone
	// contains: want is a JSON string the part must contain (Plausible's =~).
	contains bool
	// match: Plausible asserts with a pattern match (`%{...} = answer`),
	// so the answer's objects may hold keys want does not name.
	match   bool
	skip    string // a feature this product does not have: not run
	differs string // a known difference from Plausible, with its reason
}

// pev is one fixture event: Plausible's field names and values.
type pev map[string]string

// pv is build(:pageview, ...): kv pairs "field=value".
func pv(kv ...string) pev { return build("pageview", kv) }

// ev is build(:event, name: name, ...).
func ev(name string, kv ...string) pev { return build(name, kv) }

func build(name string, kv []string) pev {
	e := pev{"name": name}
	for _, s := range kv {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			panic("fixture field without '=': " + s)
		}
		e[k] = v
	}
	return e
}

// many repeats an event n times (Plausible's populate_stats of a list built
// with for _ <- 1..n).
func many(n int, e pev) []pev {
	out := make([]pev, n)
	for i := range out {
		out[i] = e
	}
	return out
}

// evs flattens events and lists of events.
func evs(xs ...any) []pev {
	var out []pev
	for _, x := range xs {
		switch x := x.(type) {
		case pev:
			out = append(out, x)
		case []pev:
			out = append(out, x...)
		default:
			panic(fmt.Sprintf("evs: %T", x))
		}
	}
	return out
}

// derived are the fixture fields only the collector derives: a site with
// any of them is imported with --direct.
var derived = map[string]string{
	"referrer_source": "source", "referrer": "referrer_host", "utm_source": "utm_source", "utm_medium": "utm_medium",
	"utm_campaign": "utm_campaign", "utm_content": "utm_content", "utm_term": "utm_term", "browser": "browser",
	"operating_system": "os", "screen_size": "device", "country_code": "country",
}

// wire turns a fixture into our event's JSON object.
func (e pev) wire(site string, i int, now time.Time) (map[string]any, error) {
	w := map[string]any{"site_id": site, "event_type": e["name"], "id": fmt.Sprintf("%s-%d", site, i)}
	path := "/"
	props := map[string]any{}
	var keys, vals []string
	for k, v := range e {
		switch k {
		case "name":
		case "pathname":
			path = v
		case "user_id":
			w["user_id"] = "u" + v
		case "timestamp":
			ts, err := fixtureTime(v, now)
			if err != nil {
				return nil, err
			}
			w["timestamp"] = ts.Format(time.RFC3339Nano)
		case "meta.key":
			keys = strings.Split(v, ",")
		case "meta.value":
			vals = strings.Split(v, ",")
		case "referrer":
			if v == "" {
				continue
			}
			// The referrer's URL and host, as the collector keeps them.
			host := v
			if strings.Contains(v, "://") {
				u, err := url.Parse(v)
				if err != nil || u.Host == "" {
					return nil, fmt.Errorf("referrer %q is not a URL", v)
				}
				host = u.Host
			}
			w["referrer_host"] = strings.TrimPrefix(host, "www.")
			if strings.Contains(v, "://") {
				w["referrer_url"], _, _ = strings.Cut(v, "?")
			}
		case "screen_size":
			w["device"] = v
		default:
			f, ok := derived[k]
			if !ok {
				return nil, fmt.Errorf("fixture field %q is not ported", k)
			}
			w[f] = v
		}
	}
	if len(keys) != len(vals) {
		return nil, fmt.Errorf("meta.key %v and meta.value %v differ in length", keys, vals)
	}
	for i := range keys {
		props[keys[i]] = vals[i]
	}
	if len(props) > 0 {
		w["props"] = props
	}
	w["path"] = path
	if _, ok := w["user_id"]; !ok {
		// Plausible's factory gives every event a random user.
		w["user_id"] = fmt.Sprintf("anon-%s-%d", site, i)
	}
	if _, ok := w["timestamp"]; !ok {
		w["timestamp"] = now.Format(time.RFC3339Nano)
	}
	return w, nil
}

// fixtureTime reads a fixture's time: Plausible's naive UTC
// "2021-01-01 00:00:00", or "now", "now-90m", "now+1h".
func fixtureTime(v string, now time.Time) (time.Time, error) {
	if rest, ok := strings.CutPrefix(v, "now"); ok {
		if rest == "" {
			return now, nil
		}
		d, err := time.ParseDuration(rest)
		if err != nil {
			return time.Time{}, fmt.Errorf("timestamp %q: %v", v, err)
		}
		return now.Add(d), nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05Z07:00", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is neither naive UTC time nor now±duration", v)
}

func (c *pcase) direct() bool {
	for _, e := range c.events {
		for k := range e {
			if _, ok := derived[k]; ok {
				return true
			}
		}
	}
	return false
}

// plausibleCases is every ported case; the files plausible_*_cases_test.go
// add theirs in init.
var plausibleCases []pcase

func TestPlausibleStatsAPICases(t *testing.T) {
	counting := os.Getenv("PLAUSIBLE_CASES_COUNT") != ""
	_, prefix := testenv.Redis(t)
	env := []string{
		"REDIS_URL=" + testenv.RedisURL(t), "MONGODB_URI=" + testenv.MongoDB(t), "QUEUE_PREFIX=" + prefix,
		"INGESTION_PORT=0", "REPORTING_PORT=0", "HOST=127.0.0.1", "LEASE_TTL=2s", "SITES_REFRESH=100ms",
	}
	now := time.Now().UTC().Truncate(time.Second)
	cases := plausibleCases
	if re := os.Getenv("PLAUSIBLE_CASES_RUN"); re != "" {
		// A subset, to work on some cases without ingesting every site.
		sel := regexp.MustCompile(re)
		cases = slices.DeleteFunc(slices.Clone(cases), func(c pcase) bool { return !sel.MatchString(c.name) })
	}
	names := map[string]bool{}
	for i := range cases {
		if names[cases[i].name] {
			t.Fatalf("two cases named %q", cases[i].name)
		}
		names[cases[i].name] = true
	}
	site := func(i int) string { return fmt.Sprintf("pc%03d.example", i) }

	// Settings first, so the reporter reads them when it starts.
	for i, c := range cases {
		if c.skip != "" {
			continue
		}
		if c.tz != "" {
			out := cli(t, env, "sites", "update", "--timezone", c.tz, site(i))
			if os.Getenv("PLAUSIBLE_CASES_DEBUG") != "" {
				t.Logf("%s", out)
			}
		}
		for _, g := range c.goals {
			kind, v, _ := strings.Cut(g, ":")
			cli(t, env, "goals", "add", "--site", site(i), "--"+kind, v)
		}
	}
	col := testenv.StartProcess(t, binDir, "collector", env)
	testenv.StartProcess(t, binDir, "processor", env)
	rep := testenv.StartProcess(t, binDir, "reporter", env)

	// Every site's events: through the collector, or import --direct.
	var file bytes.Buffer
	total := map[string]int{}
	for i, c := range cases {
		if c.skip != "" || len(c.events) == 0 {
			continue
		}
		var batch []map[string]any
		for j, e := range c.events {
			w, err := e.wire(site(i), j, now)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			batch = append(batch, w)
		}
		// In time order, as a browser sends them.
		sort.SliceStable(batch, func(a, b int) bool { return batch[a]["timestamp"].(string) < batch[b]["timestamp"].(string) })
		total[site(i)] = len(batch)
		if c.direct() {
			for _, w := range batch {
				b, _ := json.Marshal(w)
				file.Write(append(b, '\n'))
			}
			continue
		}
		for _, w := range batch {
			delete(w, "id") // the collector assigns ids
		}
		b, _ := json.Marshal(batch)
		resp, err := http.Post(col.URL+"/events", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 202 || !bytes.Contains(body, []byte(fmt.Sprintf(`"accepted":%d`, len(batch)))) {
			t.Fatalf("%s: POST /events: %d %s", c.name, resp.StatusCode, body)
		}
	}
	if file.Len() > 0 {
		path := filepath.Join(t.TempDir(), "direct.ndjson")
		if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		cli(t, env, "import", "--direct", path)
	}
	// Wait until every site has all its events stored and readable.
	until := now.AddDate(0, 0, 2).Format("2006-01-02")
	for s, n := range total {
		testenv.Eventually(t, 120*time.Second, func() error {
			var got struct {
				Results struct {
					Events struct{ Value float64 } `json:"events"`
				} `json:"results"`
			}
			status, body := httpGet(rep.URL + "/api/v1/stats/aggregate?site_id=" + s + "&period=custom&date=1990-01-01," + until + "&metrics=events")
			if status != 200 || json.Unmarshal(body, &got) != nil || int(got.Results.Events.Value) != n {
				return fmt.Errorf("%s: %d %s, want %d events", s, status, body, n)
			}
			return nil
		})
	}

	if os.Getenv("PLAUSIBLE_CASES_DEBUG") != "" {
		_, b := httpGet(rep.URL + "/api/v1/sites")
		t.Logf("sites: %s", b)
	}
	var mu sync.Mutex
	pass, known, skipped := 0, 0, 0
	var agreeing []string
	t.Run("case", func(t *testing.T) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if c.skip != "" {
					mu.Lock()
					skipped++
					mu.Unlock()
					t.Skip("not a feature of this product: " + c.skip)
				}
				diff := run(rep.URL, site(i), c, now)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case diff == "" && c.differs != "":
					pass++
					agreeing = append(agreeing, c.name)
					if !counting {
						t.Errorf("agrees with Plausible now: remove its differs mark (%s)", c.differs)
					}
				case diff == "":
					pass++
				case c.differs != "" && !counting:
					known++
					t.Logf("differs, as known (%s): %s", c.differs, diff)
				default:
					t.Error(diff)
				}
			})
		}
	})
	t.Logf("Plausible's Stats API cases: %d of %d agree, %d known differences, %d skipped (features we do not have)",
		pass, len(cases)-skipped, known, skipped)
	if counting {
		fmt.Fprintf(os.Stderr, "PLAUSIBLE CASES: %d of %d run agree (%d skipped of %d ported)\n", pass, len(cases)-skipped, skipped, len(cases))
	}
}

func httpGet(u string) (int, []byte) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// run asks the reporter the case's question and returns how the answer
// differs from Plausible's, "" when it does not.
func run(base, site string, c pcase, now time.Time) string {
	var status int
	var body []byte
	var asked string
	switch {
	case c.get != "":
		path, q, _ := strings.Cut(c.get, "?")
		// The case's query is written unescaped (filters hold ';', spaces
		// and '|'): split on '&' and the first '=', then encode.
		v := url.Values{}
		for _, kv := range strings.Split(q, "&") {
			k, val, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Sprintf("bad case query %q: %q has no '='", c.get, kv)
			}
			v.Set(k, val)
		}
		v.Set("site_id", site)
		asked = "GET " + path + "?" + v.Encode()
		status, body = httpGet(base + path + "?" + v.Encode())
	default:
		var m map[string]any
		if err := json.Unmarshal([]byte(c.post), &m); err != nil {
			return fmt.Sprintf("bad case body %s: %v", c.post, err)
		}
		m["site_id"] = site
		b, _ := json.Marshal(m)
		asked = "POST /api/v2/query " + string(b)
		resp, err := http.Post(base+"/api/v2/query", "application/json", bytes.NewReader(b))
		if err != nil {
			return err.Error()
		}
		status = resp.StatusCode
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	wantStatus := c.status
	if wantStatus == 0 {
		wantStatus = 200
	}
	if status != wantStatus {
		return fmt.Sprintf("%s\nstatus %d, want %d: %s", asked, status, wantStatus, body)
	}
	var got any
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Sprintf("%s\nanswer is not JSON: %s", asked, body)
	}
	if c.want == "" {
		return ""
	}
	part := got
	if c.part != "" {
		for _, k := range strings.Split(c.part, ".") {
			switch p := part.(type) {
			case map[string]any:
				part = p[k]
			case []any:
				n, err := strconv.Atoi(k)
				if err != nil || n >= len(p) {
					return fmt.Sprintf("%s\nanswer has no %s: %s", asked, c.part, body)
				}
				part = p[n]
			default:
				return fmt.Sprintf("%s\nanswer has no %s: %s", asked, c.part, body)
			}
		}
	}
	var want any
	if err := json.Unmarshal([]byte(c.want), &want); err != nil {
		return fmt.Sprintf("bad case want %s: %v", c.want, err)
	}
	if c.contains {
		s, _ := part.(string)
		if !strings.Contains(s, want.(string)) {
			return fmt.Sprintf("%s\n%s = %q, want it to contain %q", asked, c.part, s, want)
		}
		return ""
	}
	if !sameJSON(part, want, c.match) {
		g, _ := json.Marshal(part)
		return fmt.Sprintf("%s\n%s =\n  %s\nPlausible's:\n  %s", asked, orWhole(c.part), g, c.want)
	}
	return ""
}

func orWhole(p string) string {
	if p == "" {
		return "answer"
	}
	return p
}

// sameJSON compares decoded JSON a (ours) with b (Plausible's), numbers as
// numbers (to within rounding noise: Plausible's 50 and our 50.0 are the
// same); with match, a's objects may have keys b's do not.
func sameJSON(a, b any, match bool) bool {
	switch a := a.(type) {
	case float64:
		b, ok := b.(float64)
		return ok && math.Abs(a-b) < 1e-9
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameJSON(a[i], b[i], match) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || (!match && len(a) != len(b)) {
			return false
		}
		for k, w := range b {
			v, ok := a[k]
			if !ok || !sameJSON(v, w, match) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(a, b)
	}
}
