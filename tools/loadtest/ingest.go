package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// result is one load run.
type result struct {
	requests int
	elapsed  time.Duration
	lat      []time.Duration
	errors   int64
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }
func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[int(float64(len(r.lat)-1)*p)]
}

func (r result) String() string {
	return fmt.Sprintf("%8.0f req/s  p50 %7s  p99 %7s  max %7s  errors %d",
		r.rps(), r.pct(0.50).Round(time.Microsecond), r.pct(0.99).Round(time.Microsecond), r.lat[len(r.lat)-1].Round(time.Microsecond), r.errors)
}

// load sends n requests from c keep-alive clients; mk builds each request.
func load(ctx context.Context, c, n int, mk func(i int) (*http.Request, error), want int) result {
	tr := &http.Transport{MaxIdleConns: c, MaxIdleConnsPerHost: c, MaxConnsPerHost: c}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	var next atomic.Int64
	var errs atomic.Int64
	lats := make([][]time.Duration, c)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				req, _ := mk(i)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lats[w] = append(lats[w], time.Since(t0))
				if resp.StatusCode != want {
					errs.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	r := result{requests: n, elapsed: time.Since(start), errors: errs.Load()}
	for _, l := range lats {
		r.lat = append(r.lat, l...)
	}
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	return r
}

func ingest(ctx context.Context, fs *flag.FlagSet, args []string, out io.Writer) error {
	url := fs.String("url", "http://127.0.0.1:3000", "collector base URL")
	c := fs.Int("c", 50, "concurrent keep-alive clients")
	n := fs.Int("n", 100000, "requests per measurement")
	batch := fs.Int("batch", 100, "events per POST /events request")
	batchVisitors := fs.Int("batch-visitors", 0, "visitors per POST /events request (1: a browser's batch; 0: as many as events, a server's)")
	sites := fs.Int("sites", 50, "distinct site ids")
	ua := fs.String("ua", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		"User-Agent of every request, as a browser's (the collector parses it)")
	referrer := fs.Bool("referrer", false, "send a referrer field with each event (collectors before enrichment refuse it)")
	key := fs.String("key", "", "send as a server would: this write key (Authorization: Bearer), no Origin (SITES_MODE=registered: with -sites 1, and load-0 registered with this key)")
	only := fs.String("only", "healthz,event,events", "runs to make, comma-separated: healthz (the baseline), event (POST /event), events (POST /events); one alone lets a process's CPU time be read per run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Browser-like headers: the collector derives browser, OS and device from
	// the User-Agent, and the country from X-Forwarded-For when the
	// collector trusts 127.0.0.1 (TRUSTED_PROXIES=127.0.0.1).
	ips := []string{"8.8.8.8", "80.156.0.1", "210.130.0.1", "195.154.0.1", "81.2.69.142"}
	refs := []string{"https://www.google.com/", "https://news.ycombinator.com/item?id=1", "https://github.com/x/y", "https://blog.example.org/p"}
	browser := func(req *http.Request, i int) {
		req.Header.Set("User-Agent", *ua)
		if *key != "" {
			req.Header.Set("Authorization", "Bearer "+*key)
		} else {
			req.Header.Set("Origin", "https://shop.example")
		}
		req.Header.Set("X-Forwarded-For", ips[i%len(ips)])
	}
	// Each event a millisecond after the one before, as a visitor's events
	// are (the collector's visit annotation keeps each visitor's last
	// instant).
	ts := time.Now().UTC().Add(-time.Hour)
	event := func(i int) map[string]any {
		ev := map[string]any{"site_id": fmt.Sprintf("load-%d", i%*sites), "event_type": "page_view",
			"path": fmt.Sprintf("/p/%d", i%97), "user_id": fmt.Sprintf("u%d", i%5000),
			"timestamp": ts.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)}
		if *referrer {
			ev["referrer"] = refs[i%len(refs)]
		}
		return ev
	}
	fmt.Fprintf(out, "collector %s, %d keep-alive clients, %d requests each run\n", *url, *c, *n)

	runs := map[string]bool{}
	for _, r := range strings.Split(*only, ",") {
		if r = strings.TrimSpace(r); r != "healthz" && r != "event" && r != "events" {
			return fmt.Errorf("-only: %q is not healthz, event or events", r)
		}
		runs[r] = true
	}
	var base, one result
	if runs["healthz"] {
		base = load(ctx, *c, *n, func(int) (*http.Request, error) { return http.NewRequest("GET", *url+"/healthz", nil) }, 200)
		fmt.Fprintf(out, "GET  /healthz (baseline)     %s\n", base)
	}
	if runs["event"] {
		one = load(ctx, *c, *n, func(i int) (*http.Request, error) {
			b, _ := json.Marshal(event(i))
			req, err := http.NewRequest("POST", *url+"/event", bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			browser(req, i)
			return req, err
		}, 202)
		fmt.Fprintf(out, "POST /event                  %s%s\n", one, against(one.rps(), base, "baseline req/s"))
	}
	if !runs["events"] {
		return nil
	}
	nb := max(*n / *batch, 1)
	many := load(ctx, *c, nb, func(i int) (*http.Request, error) {
		evs := make([]map[string]any, *batch)
		for j := range evs {
			evs[j] = event(i**batch + j)
			if k := *batchVisitors; k > 0 {
				v := i*k + j%k // a visitor is on one site
				evs[j]["user_id"], evs[j]["site_id"] = fmt.Sprintf("u%d", v%5000), fmt.Sprintf("load-%d", v%*sites)
			}
		}
		b, _ := json.Marshal(evs)
		req, err := http.NewRequest("POST", *url+"/events", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		browser(req, i)
		return req, err
	}, 202)
	fmt.Fprintf(out, "POST /events (%d per batch)  %s  = %.0f events/s%s\n",
		*batch, many, many.rps()*float64(*batch), against(many.rps()*float64(*batch), one, "POST /event events/s"))
	return nil
}

// against is "  (Nx what)" against another run, or "" when that run was not made.
func against(v float64, base result, what string) string {
	if base.requests == 0 {
		return ""
	}
	return fmt.Sprintf("  (%.2fx %s)", v/base.rps(), what)
}
