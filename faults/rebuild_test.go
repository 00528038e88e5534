package faults

import (
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteanalytics/analytics/internal/testenv"
)

// TestRebuildRacesProcessors runs `analytics-cli rebuild --site site-3`
// several times while two processors store the load's events, site-3's
// among them; each must exit 0. Then it kills rebuilds with SIGKILL midway
// (once all events are read, and as one starts) and runs another, which must
// exit 0. All along, a reader polls site-3's /stats: its total_views must
// never go down (a rebuild is invisible to readers, and an interrupted one
// leaves the site as it was). Counts must be exact at the end.
func TestRebuildRacesProcessors(t *testing.T) {
	const site = "site-3"
	e := newEnv(t, testenv.RedisURL(t), testenv.MongoURI(t))
	col := e.start(t, "collector")
	rep := e.reporterURL(t)
	e.start(t, "processor")
	e.start(t, "processor")
	// Paced so the processors keep up and site-3 keeps changing while the
	// rebuilds run.
	l := startPacedLoad(col.URL, 2, 20*time.Millisecond)
	l.waitAccepted(t, 3000)
	w := watchViews(rep, site)
	w.waitSamples(t, 1)

	const runs = 3
	var took []string
	for i := 1; i <= runs; i++ {
		w.setPhase(fmt.Sprintf("rebuild %d", i))
		r := e.startCLI(t, "rebuild", "--site", site)
		if err := r.wait(t, 90*time.Second); err != nil {
			t.Errorf("rebuild %d: %v; output:\n%s", i, err, r.out.String())
		} else if !strings.Contains(r.out.String(), "rebuilt "+site) {
			t.Errorf("rebuild %d exited 0 without saying it rebuilt %s:\n%s", i, site, r.out.String())
		}
		took = append(took, r.took.Round(10*time.Millisecond).String())
		w.setPhase(fmt.Sprintf("after rebuild %d", i))
		l.waitAccepted(t, l.count()+300) // site-3's events keep arriving
	}

	var killed []string
	for _, k := range rebuildKillPoints {
		w.setPhase("rebuild killed " + k.name)
		if at := e.killRebuild(t, site, k.re); at != "" {
			killed = append(killed, at)
		}
		w.setPhase("after the rebuild killed " + k.name)
		l.waitAccepted(t, l.count()+300)
	}
	if len(killed) == 0 {
		t.Error("no rebuild could be killed midway: every run finished first")
	}
	w.setPhase("rebuild after the killed ones")
	r := e.startCLI(t, "rebuild", "--site", site)
	lastOK := "the next exit 0"
	if err := r.wait(t, 90*time.Second); err != nil {
		t.Errorf("rebuild after the killed ones: %v; output:\n%s", err, r.out.String())
		lastOK = fmt.Sprintf("the next FAILED (%v)", err)
	}
	w.setPhase("after the last rebuild")
	l.waitAccepted(t, l.count()+300)
	accepted := l.finish()
	w.waitSamples(t, w.count()+1)
	samples, drops, errs := w.stop()
	down := 0
	for _, d := range w.dropped {
		down += d.reads
	}
	if len(drops) > 0 {
		t.Errorf("/stats for %s went down while rebuilds ran: %s", site, strings.Join(drops, "; "))
	}
	if len(errs) > 0 {
		t.Errorf("/stats for %s failed %d times while rebuilds ran, e.g. %v", site, len(errs), errs[:min(len(errs), 5)])
	}
	res := verify(t, e, accepted, 90*time.Second)
	report(t, "rebuild racing processors", res, res.took,
		fmt.Sprintf("(%d rebuilds took %v; killed %s, %s; /stats %s read %d times, went down %d times, failed %d)",
			runs, took, strings.Join(killed, " and "), lastOK, site, samples, down, len(errs)))
}

// cliRun is one run of analytics-cli.
type cliRun struct {
	cmd   *exec.Cmd
	out   *testenv.Buffer
	done  chan error
	start time.Time
	took  time.Duration
}

// startCLI runs analytics-cli with the deployment's environment (its Redis,
// MongoDB, queue prefix, partitions and lease TTL) in an empty folder.
func (e *env) startCLI(t *testing.T, args ...string) *cliRun {
	t.Helper()
	r := &cliRun{out: &testenv.Buffer{}, done: make(chan error, 1), start: time.Now()}
	r.cmd = exec.Command(filepath.Join(binDir, "analytics-cli"), args...)
	r.cmd.Env = append(r.cmd.Environ(), e.vars...)
	r.cmd.Dir = t.TempDir()
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := r.cmd.Wait()
		r.took = time.Since(r.start)
		r.done <- err
	}()
	t.Cleanup(func() {
		if r.cmd.Process.Kill() == nil {
			<-r.done
		}
	})
	return r
}

// wait returns the run's exit error (nil for exit 0), or fails the test when
// it runs past timeout.
func (r *cliRun) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(timeout):
		t.Fatalf("analytics-cli %v still running after %v; output:\n%s", r.cmd.Args[1:], timeout, r.out.String())
		return nil
	}
}

// Where rebuilds are killed: once every raw event is read (the last
// progress report, when the new numbers are about to be written or switched
// to), and as soon as it starts rebuilding (it holds the partition).
var rebuildKillPoints = []struct {
	name string
	re   *regexp.Regexp
}{
	{"at the end of reading", regexp.MustCompile(`100%|\d+ events read`)},
	{"as it starts", regexp.MustCompile(`rebuilding \S+`)},
}

// killRebuild starts a rebuild and kills it (SIGKILL) the moment its output
// matches re, trying again (up to three runs) when a run finishes first. It
// says where the kill landed, or "" when every run finished first.
func (e *env) killRebuild(t *testing.T, site string, re *regexp.Regexp) string {
	t.Helper()
	for attempt := 1; attempt <= 3; attempt++ {
		r := e.startCLI(t, "rebuild", "--site", site)
		var line string
		deadline := time.After(90 * time.Second)
	watch:
		for {
			changed := r.out.Next()
			if m := re.FindString(r.out.String()); m != "" {
				line = m
				break
			}
			select {
			case <-changed:
			case err := <-r.done:
				r.done <- err
				break watch
			case <-deadline:
				t.Fatalf("rebuild printed no %s in 90s:\n%s", re, r.out.String())
			}
		}
		if line != "" {
			_ = r.cmd.Process.Kill()
		}
		err := r.wait(t, 30*time.Second)
		var exit *exec.ExitError
		switch {
		case line != "" && errors.As(err, &exit) && !exit.Exited():
			return fmt.Sprintf("at %q (run %d)", line, attempt)
		case err != nil:
			t.Errorf("rebuild failed: %v; output:\n%s", err, r.out.String())
			return ""
		}
		t.Logf("rebuild run %d finished before it could be killed at %s; trying again", attempt, re)
	}
	return ""
}

// viewsWatch reads a site's /stats over and over, from a goroutine, and
// notes every answer lower than the highest before it (views only ever
// grow) and every failed read, with the phase of the test it happened in.
type viewsWatch struct {
	mu      sync.Mutex
	phase   string
	last    int64
	samples int
	drops   []string // per phase: how many reads went down, and how low
	dropped map[string]*drop
	errs    []string
	quit    chan struct{}
	done    chan struct{}
}

type drop struct {
	reads       int
	low, before int64
}

func watchViews(reporter, site string) *viewsWatch {
	w := &viewsWatch{phase: "before any rebuild", dropped: map[string]*drop{}, quit: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.quit:
				return
			default:
			}
			v, err := siteViewsWith(client, reporter, site)
			w.mu.Lock()
			w.samples++
			switch {
			case err != nil:
				w.errs = append(w.errs, fmt.Sprintf("%s: %v", w.phase, err))
			case v < w.last:
				d := w.dropped[w.phase]
				if d == nil {
					d = &drop{low: v, before: w.last}
					w.dropped[w.phase] = d
					w.drops = append(w.drops, w.phase)
				}
				d.reads++
				d.low = min(d.low, v)
			default:
				w.last = v
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *viewsWatch) setPhase(p string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.phase = p
}

func (w *viewsWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.samples
}

func (w *viewsWatch) waitSamples(t *testing.T, n int) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		if c := w.count(); c < n {
			return fmt.Errorf("%d reads of /stats so far, waiting for %d", c, n)
		}
		return nil
	})
}

// stop ends the reads and returns their number, the phases in which views
// went down (with how many reads and how low), and the failed reads.
func (w *viewsWatch) stop() (samples int, drops, errs []string) {
	close(w.quit)
	<-w.done
	for _, phase := range w.drops {
		d := w.dropped[phase]
		drops = append(drops, fmt.Sprintf("%s: %d reads, down to %d from %d", phase, d.reads, d.low, d.before))
	}
	return w.samples, drops, w.errs
}
