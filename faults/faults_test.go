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
	"net"
	"net/http"
	"os"
	"regexp"
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
	"github.com/siteanalytics/analytics/redisqueue"
)

var binDir string

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithBinaries(m, &binDir, "../cmd/collector", "../cmd/processor", "../cmd/reporter"))
}

// env is one isolated deployment: its own key prefix and database.
type env struct {
	redisURL, mongoURI, prefix string
	vars                       []string
}

func newEnv(t *testing.T, redisURL, mongoBase string) *env {
	t.Helper()
	name := testenv.Name(t)
	e := &env{redisURL: redisURL, mongoURI: strings.TrimSuffix(mongoBase, "/") + "/f_" + name[len(name)-8:], prefix: "fault:" + name + ":"}
	e.vars = []string{
		"REDIS_URL=" + e.redisURL, "MONGODB_URI=" + e.mongoURI, "QUEUE_PREFIX=" + e.prefix,
		"INGESTION_PORT=0", "REPORTING_PORT=0", "HOST=127.0.0.1", "LEASE_TTL=1s", "BATCH_SIZE=100", "PARTITIONS=4",
	}
	return e
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
}

func startLoad(url string, clients int) *load {
	l := &load{url: url, accepted: map[string]bool{}, statuses: map[int]int{}, stop: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	for c := 0; c < clients; c++ {
		l.wg.Add(1)
		go func(c int) {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
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

// verify waits until every accepted event is stored and checks, per site,
// that the rollup counts each stored event exactly once. It returns the
// number stored and the time it took to get there.
func verify(t *testing.T, e *env, accepted map[string]bool, timeout time.Duration) (stored int, took time.Duration) {
	t.Helper()
	start := time.Now()
	c, err := mongo.Connect(options.Client().ApplyURI(e.mongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(context.Background())
	db := c.Database(e.mongoURI[strings.LastIndex(e.mongoURI, "/")+1:])
	var ids map[string]bool
	testenv.Eventually(t, timeout, func() error {
		cur, err := db.Collection("events").Find(context.Background(), bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return err
		}
		var docs []struct {
			ID string `bson:"_id"`
		}
		if err := cur.All(context.Background(), &docs); err != nil {
			return err
		}
		ids = map[string]bool{}
		for _, d := range docs {
			ids[d.ID] = true
		}
		missing := 0
		for id := range accepted {
			if !ids[id] {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d accepted events not stored yet", missing, len(accepted))
		}
		// Rollups: views per site must equal the stored events of that site
		// (an event answered 503 may still have been queued: it is stored
		// and counted once, which is allowed; an accepted one must never be
		// missing). They are written just after the raw events, so this
		// waits for them too.
		perSite := map[string]int64{}
		for id := range ids {
			n, _ := strconv.Atoi(strings.TrimPrefix(id, "ev-"))
			perSite[fmt.Sprintf("site-%d", n%7)]++
		}
		for site, want := range perSite {
			var doc struct {
				Views int64 `bson:"views"`
			}
			if err := db.Collection("rollups").FindOne(context.Background(), bson.D{{Key: "_id", Value: site + "|2025-11-12"}}).Decode(&doc); err != nil {
				return fmt.Errorf("rollup of %s: %v", site, err)
			}
			// More views than stored events would be double counting; it
			// can also be a batch stored between the two reads, so only
			// equality, which a double count never reaches, ends the wait.
			if doc.Views != want {
				return fmt.Errorf("%s: rollup counts %d views for %d stored events", site, doc.Views, want)
			}
		}
		return nil
	})
	took = time.Since(start)
	return len(ids), took
}

func backlog(t *testing.T, e *env) int64 {
	opt, _ := redis.ParseURL(e.redisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	n, _ := redisqueue.Backlog(context.Background(), rdb, redisqueue.Keys{Prefix: e.prefix, Partitions: 4})
	return n
}

func report(t *testing.T, fault string, accepted, stored int, recover time.Duration, extra string) {
	t.Logf("FAULT %-28s accepted %6d  stored %6d  lost %d  duplicates 0  recovered in %v %s",
		fault, accepted, stored, 0, recover.Round(10*time.Millisecond), extra)
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
	stored, _ := verify(t, e, accepted, 120*time.Second)
	report(t, "processor SIGKILL", len(accepted), stored, time.Since(killed), "(kill to all stored)")
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
	before := l.count()
	// While Redis is down the collector must refuse, never accept.
	testenv.Eventually(t, 30*time.Second, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.statuses[503] < 5 {
			return fmt.Errorf("%d answers 503 so far", l.statuses[503])
		}
		return nil
	})
	if got := l.count(); got != before {
		t.Fatalf("the collector accepted %d events while Redis was down", got-before)
	}
	down503 := l.statuses[503]
	restarted := time.Now()
	rs, err = embedded.RedisServer(context.Background(), dir, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Stop() })
	l.waitAccepted(t, before+1000) // the collector recovered by itself
	recovered := time.Since(restarted)
	accepted := l.finish()
	stored, _ := verify(t, e, accepted, 120*time.Second)
	report(t, "redis-server restart", len(accepted), stored, recovered, fmt.Sprintf("(restart to first 2xx; %d answered 503 while down)", down503))
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
	l := startLoad(col.URL, 4)
	l.waitAccepted(t, 2000)
	fs.Stop()
	l.waitAccepted(t, l.count()+3000) // the collector keeps accepting into Redis
	testenv.Eventually(t, 30*time.Second, func() error {
		if !strings.Contains(proc.Out.String(), "store batch failed") {
			return fmt.Errorf("processor has not retried yet")
		}
		return nil
	})
	accepted := l.finish()
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
	stored, _ := verify(t, e, accepted, 180*time.Second)
	testenv.Eventually(t, 60*time.Second, func() error {
		if n := backlog(t, e); n != 0 {
			return fmt.Errorf("backlog %d", n)
		}
		return nil
	})
	report(t, "MongoDB down", len(accepted), stored, time.Since(restarted), fmt.Sprintf("(restart to drained; backlog while down %d)", waiting))
}

func TestPoisonEntryIsDeadLettered(t *testing.T) {
	e := newEnv(t, testenv.RedisURL(t), testenv.MongoURI(t))
	col := e.start(t, "collector")
	e.start(t, "processor")
	opt, _ := redis.ParseURL(e.redisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	keys := redisqueue.Keys{Prefix: e.prefix, Partitions: 4}
	l := startLoad(col.URL, 2)
	l.waitAccepted(t, 500)
	if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: keys.Stream(1), Values: []any{"e", `{"site_id":"x","event_type":`}}).Err(); err != nil {
		t.Fatal(err)
	}
	l.waitAccepted(t, l.count()+500)
	accepted := l.finish()
	stored, took := verify(t, e, accepted, 120*time.Second)
	testenv.Eventually(t, 30*time.Second, func() error {
		msgs, err := rdb.XRange(context.Background(), keys.DeadLetters(), "-", "+").Result()
		if err != nil || len(msgs) != 1 || !strings.Contains(fmt.Sprint(msgs[0].Values["error"]), "not a valid event") {
			return fmt.Errorf("dead letters %v %v", msgs, err)
		}
		return nil
	})
	report(t, "poison entry", len(accepted), stored, took, "(1 entry dead-lettered with its error)")
}

var storedRe = regexp.MustCompile(`"stored":(\d+)`)

func TestThreeProcessorsShareWork(t *testing.T) {
	e := newEnv(t, testenv.RedisURL(t), testenv.MongoURI(t))
	col := e.start(t, "collector")
	procs := []*testenv.Process{e.start(t, "processor"), e.start(t, "processor"), e.start(t, "processor")}
	l := startLoad(col.URL, 4)
	l.waitAccepted(t, 6000)
	accepted := l.finish()
	stored, took := verify(t, e, accepted, 120*time.Second)
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
	if total != stored {
		t.Fatalf("processors stored %v = %d in total, but %d events are stored", shares, total, stored)
	}
	for _, n := range shares {
		if n == 0 {
			t.Fatalf("a processor did no work: %v", shares)
		}
	}
	report(t, "three processors", len(accepted), stored, took, fmt.Sprintf("(shares %v)", shares))
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
	stored, took := verify(t, e, accepted, 120*time.Second)
	report(t, "SIGTERM each daemon", len(accepted), stored, took,
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
