// Package faults drives load through the real binaries while it breaks
// things (kills a processor, restarts Redis, takes MongoDB away, sends
// poison, stops daemons) and then compares what clients were told was
// accepted with what is stored: nothing accepted may be lost or counted
// twice. Each test logs a FAULT line with its figures.
package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics/internal/embedded"
	"github.com/siteanalytics/analytics/internal/testenv"
	"github.com/siteanalytics/analytics/mongostore"
	"github.com/siteanalytics/analytics/redisqueue"
)

var binDir string

// The tests here run one at a time (no t.Parallel): each drives as much
// load as the machine takes into the one FerretDB this package embeds, and
// two at once on 2 cores time its clients out (seen: a drain not done in 2
// minutes).
func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithBinaries(m, &binDir, "../cmd/collector", "../cmd/processor", "../cmd/reporter", "../cmd/analytics-cli"))
}

// env is one isolated deployment: its own key prefix and database.
type env struct {
	redisURL, mongoURI, prefix string
	vars                       []string
	rdb                        *redis.Client
	rep                        *testenv.Process // the reporter verify asks
}

func newEnv(t *testing.T, redisURL, mongoBase string) *env {
	t.Helper()
	name := testenv.Name(t)
	e := &env{redisURL: redisURL, mongoURI: strings.TrimSuffix(mongoBase, "/") + "/f_" + name[len(name)-8:], prefix: "fault:" + name + ":"}
	e.vars = []string{
		"REDIS_URL=" + e.redisURL, "MONGODB_URI=" + e.mongoURI, "QUEUE_PREFIX=" + e.prefix,
		"INGESTION_PORT=0", "REPORTING_PORT=0", "HOST=127.0.0.1", "LEASE_TTL=1s", "BATCH_SIZE=100", "PARTITIONS=4",
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	e.rdb = redis.NewClient(opt)
	t.Cleanup(func() { e.rdb.Close() })
	return e
}

func (e *env) redis() *redis.Client { return e.rdb }

func (e *env) keys() redisqueue.Keys { return redisqueue.Keys{Prefix: e.prefix, Partitions: 4} }

// reporterURL returns the URL of the test's reporter, starting one the first
// time: the counts are judged through the public API.
func (e *env) reporterURL(t *testing.T) string {
	t.Helper()
	if e.rep == nil {
		e.rep = e.start(t, "reporter")
	}
	return e.rep.URL
}

func (e *env) start(t *testing.T, bin string) *testenv.Process {
	return testenv.StartProcess(t, binDir, bin, e.vars)
}

// load posts batches of page views from several clients until stopped and
// remembers every event id the collector answered 2xx for.
type load struct {
	url      string
	mu       sync.Mutex
	accepted map[string]bool
	statuses map[int]int
	neterrs  int
	next     int
	stop     chan struct{}
	wg       sync.WaitGroup
	// mark, once set, splits requests by when they were sent:
	// acceptedSince counts the events of those sent after it and answered
	// 2xx (a request sent before it may be answered after it, truthfully).
	mark          time.Time
	acceptedSince int
}

// setMark starts counting the events accepted of requests sent from now.
func (l *load) setMark() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mark, l.acceptedSince = time.Now(), 0
}

func startLoad(url string, clients int) *load {
	return startPacedLoad(url, clients, 0)
}

// startPacedLoad is startLoad with each client sending at most one batch of
// 20 events per pace (none: as fast as the collector answers), for tests
// that need the processors to keep up.
func startPacedLoad(url string, clients int, pace time.Duration) *load {
	l := &load{url: url, accepted: map[string]bool{}, statuses: map[int]int{}, stop: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	for c := 0; c < clients; c++ {
		l.wg.Add(1)
		go func(c int) {
			defer l.wg.Done()
			var tick <-chan time.Time
			if pace > 0 {
				tk := time.NewTicker(pace)
				defer tk.Stop()
				tick = tk.C
			}
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				if tick != nil {
					select {
					case <-l.stop:
						return
					case <-tick:
					}
				}
				l.mu.Lock()
				base := l.next
				l.next += 20
				l.mu.Unlock()
				var evs []map[string]any
				for i := base; i < base+20; i++ {
					evs = append(evs, map[string]any{"id": fmt.Sprintf("ev-%d", i), "site_id": fmt.Sprintf("site-%d", i%7),
						"event_type": "page_view", "path": fmt.Sprintf("/p%d", i%5), "timestamp": "2025-11-12T12:00:00Z"})
				}
				body, _ := json.Marshal(evs)
				sent := time.Now()
				resp, err := client.Post(url+"/events", "application/json", bytes.NewReader(body))
				l.mu.Lock()
				if err != nil {
					l.neterrs++
				} else {
					resp.Body.Close()
					l.statuses[resp.StatusCode]++
					if resp.StatusCode == http.StatusAccepted {
						for _, ev := range evs {
							l.accepted[ev["id"].(string)] = true
						}
						if !l.mark.IsZero() && sent.After(l.mark) {
							l.acceptedSince += len(evs)
						}
					}
				}
				l.mu.Unlock()
				if err != nil || resp.StatusCode != http.StatusAccepted {
					time.Sleep(20 * time.Millisecond) // a client backing off, not synchronisation
				}
			}
		}(c)
	}
	return l
}

func (l *load) finish() map[string]bool {
	close(l.stop)
	l.wg.Wait()
	return l.accepted
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accepted)
}

func (l *load) waitAccepted(t *testing.T, n int) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		if c := l.count(); c < n {
			return fmt.Errorf("%d events accepted so far, waiting for %d", c, n)
		}
		return nil
	})
}

// verify judges the run once the queue is drained: every partition stream
// is empty (acknowledged entries are deleted) and nothing is pending, so
// every entry, including one stored but not acknowledged and then replayed,
// has gone through a processor. Only then does it compare, through the
// public API, each site's /stats total_views with the raw events stored for
// that site, and the accepted ids with the stored ones. Nothing accepted may
// be missing (lost) and no stored event may be counted twice (duplicates) or
// not at all (a negative duplicates figure). It fails the test without
// stopping it, so the FAULT line is still printed: when the counts differ,
// and when the queue does not drain within timeout (then it judges what is
// there, and the result says so).
//
// The caller must make sure no processor is still writing a batch it no
// longer owns (a paused stale owner): stop such processors first.
func verify(t *testing.T, e *env, accepted map[string]bool, timeout time.Duration) result {
	t.Helper()
	start := time.Now()
	reporter := e.reporterURL(t)
	c, err := mongo.Connect(options.Client().ApplyURI(e.mongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(context.Background())
	db := c.Database(e.mongoURI[strings.LastIndex(e.mongoURI, "/")+1:])
	// snapshot reads the views first and the stored events after them:
	// events are stored before they are counted, so even on a queue still
	// moving, a site with more views than stored events counts some twice.
	snapshot := func(drained bool) (result, error) {
		views := map[string]int64{}
		read := func(site string) error {
			v, err := siteViews(reporter, site)
			views[site] = v
			return err
		}
		for i := 0; i < sites; i++ {
			if err := read(fmt.Sprintf("site-%d", i)); err != nil {
				return result{}, err
			}
		}
		stored, err := storedEvents(db)
		if err != nil {
			return result{}, err
		}
		for site := range stored.perSite {
			if _, ok := views[site]; !ok {
				if err := read(site); err != nil {
					return result{}, err
				}
			}
		}
		return judge(accepted, stored, views, drained), nil
	}
	var r result
	err = testenv.Poll(timeout, func() error {
		if err := e.drained(); err != nil {
			return err
		}
		snap, err := snapshot(true)
		if err != nil {
			return err
		}
		// The judgement holds only if nothing moved meanwhile (a request
		// still in the collector when its client gave up may be queued
		// late): the queue is still drained and a second look sees the
		// same.
		if err := e.drained(); err != nil {
			return fmt.Errorf("while judging: %v", err)
		}
		if again, err := snapshot(true); err != nil {
			return err
		} else if again.stored != snap.stored || again.views != snap.views {
			return fmt.Errorf("while judging, stored events went from %d to %d and views from %d to %d", snap.stored, again.stored, snap.views, again.views)
		}
		r = snap
		return nil
	})
	if err != nil {
		t.Errorf("counts not judged: %v", err)
		var serr error
		if r, serr = snapshot(false); serr != nil {
			r = result{accepted: len(accepted)}
			err = fmt.Errorf("%v; nothing could be read either: %v", err, serr)
		}
		r.undrained = err.Error()
	}
	r.took = time.Since(start)
	if r.undrained == "" && (r.lost > 0 || r.duplicates != 0 || len(r.miscounted) > 0) {
		t.Errorf("queue drained, yet %d accepted events are not stored (e.g. %v), total_views is %d for %d distinct stored events "+
			"(duplicates %d), and these sites are miscounted: %v",
			r.lost, r.lostSample, r.views, r.stored, r.duplicates, r.miscounted)
	}
	if r.undrained != "" && len(r.miscounted) > 0 {
		t.Errorf("queue not drained, yet sites count more views than they have stored events: %v", r.miscounted)
	}
	return r
}

// sites is the number of sites the load spreads its events over.
const sites = 7

// result is what verify found.
type result struct {
	accepted, stored int
	views            int64    // total_views summed over the sites
	lost             int      // accepted ids not stored
	lostSample       []string // a few of them
	duplicates       int64    // views - stored events: > 0 counted twice, < 0 stored but not counted
	miscounted       []string // sites whose total_views differ from their stored events
	undrained        string   // why the queue was not drained when judged, "" when it was
	took             time.Duration
}

// judge compares what the reporter counts with what is stored. On a queue
// not drained (drained false) events may be stored and not counted yet, so
// only more views than stored events is a miscount, and duplicates is the
// excess.
func judge(accepted map[string]bool, stored storedSet, views map[string]int64, drained bool) result {
	r := result{accepted: len(accepted), stored: len(stored.ids)}
	for id := range accepted {
		if !stored.ids[id] {
			r.lost++
			if len(r.lostSample) < 5 {
				r.lostSample = append(r.lostSample, id)
			}
		}
	}
	var names []string
	for site := range views {
		names = append(names, site)
	}
	sort.Strings(names)
	for _, site := range names {
		v, n := views[site], stored.perSite[site]
		r.views += v
		switch {
		case drained && v != n:
			r.duplicates += v - n
		case !drained && v > n:
			r.duplicates += v - n
		default:
			continue
		}
		r.miscounted = append(r.miscounted, fmt.Sprintf("%s counts %d views for %d stored events", site, v, n))
	}
	return r
}

type storedSet struct {
	ids     map[string]bool
	perSite map[string]int64
}

// storedEvents reads the ids and sites of the raw events. Their _id is the
// event id (the load's ids are unique across sites); an id scoped to its
// site ("site-3|ev-12" or {site_id, id}) is understood too.
func storedEvents(db *mongo.Database) (storedSet, error) {
	ctx := context.Background()
	colls, err := mongostore.RawCollections(ctx, db)
	if err != nil {
		return storedSet{}, err
	}
	var docs []struct {
		ID   bson.RawValue `bson:"_id"`
		Site string        `bson:"site_id"`
	}
	for _, c := range colls {
		cur, err := db.Collection(c).Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "site_id", Value: 1}}))
		if err != nil {
			return storedSet{}, err
		}
		var some []struct {
			ID   bson.RawValue `bson:"_id"`
			Site string        `bson:"site_id"`
		}
		if err := cur.All(ctx, &some); err != nil {
			return storedSet{}, err
		}
		docs = append(docs, some...)
	}
	s := storedSet{ids: map[string]bool{}, perSite: map[string]int64{}}
	for _, d := range docs {
		var id string
		switch d.ID.Type {
		case bson.TypeString:
			id = d.ID.StringValue()
			if rest, ok := strings.CutPrefix(id, d.Site); ok && len(rest) > 1 && strings.ContainsRune("|:/", rune(rest[0])) {
				id = rest[1:]
			}
		case bson.TypeEmbeddedDocument:
			v, err := d.ID.Document().LookupErr("id")
			if err != nil || v.Type != bson.TypeString {
				return storedSet{}, fmt.Errorf("stored event _id %v has no string id", d.ID)
			}
			id = v.StringValue()
		default:
			return storedSet{}, fmt.Errorf("stored event _id %v is neither a string nor a document", d.ID)
		}
		if s.ids[id] {
			return storedSet{}, fmt.Errorf("event %s stored twice", id)
		}
		s.ids[id] = true
		s.perSite[d.Site]++
	}
	return s, nil
}

// siteViews asks the reporter for a site's page views on the load's day.
func siteViews(reporter, site string) (int64, error) {
	return siteViewsWith(http.DefaultClient, reporter, site)
}

func siteViewsWith(client *http.Client, reporter, site string) (int64, error) {
	resp, err := client.Get(reporter + "/stats?site_id=" + site + "&date=2025-11-12")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /stats for %s: %s %s", site, resp.Status, b)
	}
	var st struct {
		TotalViews *int64 `json:"total_views"`
	}
	if err := json.Unmarshal(b, &st); err != nil || st.TotalViews == nil {
		return 0, fmt.Errorf("GET /stats for %s: no total_views in %s (%v)", site, b, err)
	}
	return *st.TotalViews, nil
}

// drained says why the queue is not drained yet, or nil when every
// partition stream is empty and no entry is pending.
func (e *env) drained() error {
	st, err := redisqueue.ReadStatus(context.Background(), e.redis(), e.keys())
	if err != nil {
		return err
	}
	var pending int64
	for _, p := range st.Partitions {
		pending += p.Pending
	}
	if st.Backlog != 0 || pending != 0 {
		return fmt.Errorf("queue not drained: %d entries in the partition streams, %d pending", st.Backlog, pending)
	}
	return nil
}

func backlog(t *testing.T, e *env) int64 {
	n, _ := redisqueue.Backlog(context.Background(), e.redis(), e.keys())
	return n
}

func report(t *testing.T, fault string, r result, recover time.Duration, extra string) {
	t.Helper()
	if len(r.miscounted) > 0 {
		extra += fmt.Sprintf(" MISCOUNTED: %s", strings.Join(r.miscounted, "; "))
	}
	if r.undrained != "" {
		extra += " NOT DRAINED, judged as it stood: " + r.undrained
	}
	t.Logf("FAULT %-28s accepted %6d  stored %6d  lost %d  duplicates %d  recovered in %v %s",
		fault, r.accepted, r.stored, r.lost, r.duplicates, recover.Round(10*time.Millisecond), extra)
}

func TestProcessorKilledMidBatch(t *testing.T) {
	e := newEnv(t, testenv.RedisURL(t), testenv.MongoURI(t))
	col := e.start(t, "collector")
	p1 := e.start(t, "processor")
	l := startLoad(col.URL, 4)
	l.waitAccepted(t, 3000)
	p1.Kill() // SIGKILL: no chance to finish or give partitions back
	killed := time.Now()
	l.waitAccepted(t, l.count()+1000)
	e.start(t, "processor")
	accepted := l.finish()
	r := verify(t, e, accepted, 120*time.Second)
	report(t, "processor SIGKILL", r, time.Since(killed), "(kill to drained and judged)")
}

func TestRedisRestartUnderLoad(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	rs, err := embedded.RedisServer(context.Background(), dir, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Stop() })
	e := newEnv(t, rs.URL, testenv.MongoURI(t))
	col := e.start(t, "collector")
	e.start(t, "processor")
	l := startLoad(col.URL, 4)
	l.waitAccepted(t, 2000)
	if err := rs.Stop(); err != nil { // SIGTERM: redis-server fsyncs its AOF
		t.Fatal(err)
	}
	// While Redis is down the collector must refuse, never accept. A
	// request sent before it stopped may still be answered 202 after: Redis
	// stored its events before exiting.
	l.setMark()
	testenv.Eventually(t, 30*time.Second, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.statuses[503] < 5 {
			return fmt.Errorf("%d answers 503 so far", l.statuses[503])
		}
		return nil
	})
	l.mu.Lock()
	late := l.acceptedSince
	l.mu.Unlock()
	if late != 0 {
		t.Fatalf("the collector accepted %d events sent while Redis was down", late)
	}
	down503 := l.statuses[503]
	before := l.count()
	restarted := time.Now()
	rs, err = embedded.RedisServer(context.Background(), dir, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Stop() })
	l.waitAccepted(t, before+1000) // the collector recovered by itself
	recovered := time.Since(restarted)
	accepted := l.finish()
	r := verify(t, e, accepted, 120*time.Second)
	report(t, "redis-server restart", r, recovered, fmt.Sprintf("(restart to first 2xx; %d answered 503 while down)", down503))
}

func TestMongoDBDownUnderLoad(t *testing.T) {
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	fs, err := embedded.FerretDB(context.Background(), dir, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Stop() })
	e := newEnv(t, testenv.RedisURL(t), fs.URL)
	col := e.start(t, "collector")
	proc := e.start(t, "processor")
	// Paced (at most 4000 events/s) and stopped once the collector has shown
	// it keeps accepting: unpaced, the load piles a hundred thousand events
	// or more into Redis while MongoDB stops, and the drain takes minutes.
	l := startPacedLoad(col.URL, 4, 20*time.Millisecond)
	l.waitAccepted(t, 2000)
	fs.Stop()
	l.waitAccepted(t, l.count()+3000) // the collector keeps accepting into Redis
	accepted := l.finish()
	testenv.Eventually(t, 30*time.Second, func() error {
		if !strings.Contains(proc.Out.String(), "store batch failed") {
			return fmt.Errorf("processor has not retried yet")
		}
		return nil
	})
	waiting := backlog(t, e)
	if waiting == 0 {
		t.Fatal("no backlog while MongoDB is down")
	}
	restarted := time.Now()
	fs, err = embedded.FerretDB(context.Background(), dir, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Stop() })
	r := verify(t, e, accepted, 180*time.Second) // waits for the backlog to drain
	report(t, "MongoDB down", r, time.Since(restarted), fmt.Sprintf("(restart to drained; backlog while down %d)", waiting))
}

func TestPoisonEntryIsDeadLettered(t *testing.T) {
	e := newEnv(t, testenv.RedisURL(t), testenv.MongoURI(t))
	col := e.start(t, "collector")
	e.start(t, "processor")
	rdb, keys := e.redis(), e.keys()
	l := startLoad(col.URL, 2)
	l.waitAccepted(t, 500)
	if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: keys.Stream(1), Values: []any{"e", `{"site_id":"x","event_type":`}}).Err(); err != nil {
		t.Fatal(err)
	}
	l.waitAccepted(t, l.count()+500)
	accepted := l.finish()
	r := verify(t, e, accepted, 120*time.Second)
	testenv.Eventually(t, 30*time.Second, func() error {
		msgs, err := rdb.XRange(context.Background(), keys.DeadLetters(), "-", "+").Result()
		if err != nil || len(msgs) != 1 || !strings.Contains(fmt.Sprint(msgs[0].Values["error"]), "not a valid event") {
			return fmt.Errorf("dead letters %v %v", msgs, err)
		}
		return nil
	})
	report(t, "poison entry", r, r.took, "(1 entry dead-lettered with its error)")
}

var storedRe = regexp.MustCompile(`"stored":(\d+)`)

func TestThreeProcessorsShareWork(t *testing.T) {
	e := newEnv(t, testenv.RedisURL(t), testenv.MongoURI(t))
	col := e.start(t, "collector")
	procs := []*testenv.Process{e.start(t, "processor"), e.start(t, "processor"), e.start(t, "processor")}
	l := startLoad(col.URL, 4)
	l.waitAccepted(t, 6000)
	accepted := l.finish()
	r := verify(t, e, accepted, 120*time.Second)
	var shares []int
	total := 0
	for _, p := range procs {
		p.Stop(t, 30*time.Second)
		m := storedRe.FindStringSubmatch(p.Out.String())
		if m == nil {
			t.Fatalf("processor did not report its count:\n%s", p.Out.String())
		}
		n, _ := strconv.Atoi(m[1])
		shares = append(shares, n)
		total += n
	}
	if total != r.stored {
		t.Errorf("processors stored %v = %d in total, but %d events are stored", shares, total, r.stored)
	}
	for _, n := range shares {
		if n == 0 {
			t.Errorf("a processor did no work: %v", shares)
		}
	}
	report(t, "three processors", r, r.took, fmt.Sprintf("(shares %v)", shares))
}

func TestSIGTERMUnderLoad(t *testing.T) {
	e := newEnv(t, testenv.RedisURL(t), testenv.MongoURI(t))
	col := e.start(t, "collector")
	proc := e.start(t, "processor")
	rep := e.start(t, "reporter")
	l := startLoad(col.URL, 4)
	l.waitAccepted(t, 2000)
	tookP := proc.Stop(t, 40*time.Second) // finishes its batch mid-load
	tookC := col.Stop(t, 15*time.Second)  // drains requests in flight
	tookR := rep.Stop(t, 15*time.Second)
	accepted := l.finish()
	e.start(t, "processor")
	r := verify(t, e, accepted, 120*time.Second) // with a new reporter
	report(t, "SIGTERM each daemon", r, r.took,
		fmt.Sprintf("(exit 0 after: processor %v, collector %v, reporter %v)", tookP.Round(time.Millisecond), tookC.Round(time.Millisecond), tookR.Round(time.Millisecond)))
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
