package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/cmd/internal/app"
	"github.com/siteanalytics/analytics/internal/config"
	"github.com/siteanalytics/analytics/internal/exportfmt"
	"github.com/siteanalytics/analytics/redisqueue"
	"github.com/siteanalytics/analytics/visits"
)

// directEvent turns one line of an export into the event to queue as it
// is (see exportfmt.Decode).
func directEvent(line []byte, now time.Time) (analytics.Event, error) {
	return exportfmt.Decode(line, now)
}

// directQueue queues events straight into the pipeline's Redis, through
// the visit annotation the collector applies when VISIT_TIMEOUT is on, so
// visits are counted as for collected events.
type directQueue struct {
	rdb   redis.UniversalClient
	pub   *redisqueue.Publisher
	queue analytics.Publisher
	close func()
	where string
}

func openDirectQueue(ctx context.Context, cfg *config.Config) (*directQueue, error) {
	rdb, err := app.ConnectRedis(ctx, cfg, zerolog.Nop())
	if err != nil {
		return nil, err
	}
	keys := app.Keys(cfg)
	if err := redisqueue.CheckMeta(ctx, rdb, keys); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	pc := redisqueue.DefaultPublisherConfig()
	pc.Timeout = 30 * time.Second // a tool, not a request: room for a batch of importBatch on a busy Redis
	pc.MaxBacklog = cfg.MaxBacklog
	pub := redisqueue.NewPublisher(rdb, keys, pc)
	q := &directQueue{rdb: rdb, pub: pub, queue: pub, where: app.RedisDescription(cfg)}
	var ann *visits.Annotator
	if cfg.VisitTimeout > 0 {
		ann = visits.New(rdb, keys.Prefix, cfg.VisitTimeout)
		q.queue = ann.Queue(pub)
	}
	q.close = func() {
		if ann != nil {
			ann.Close()
		}
		pub.Close()
		_ = rdb.Close()
	}
	return q, nil
}

// publish queues a batch, retrying a full or unavailable queue a few
// times; lines are the input lines of the events, for errors.
func (q *directQueue) publish(ctx context.Context, events []analytics.Event, lines []int) error {
	for attempt := 0; ; attempt++ {
		err := q.queue.Publish(ctx, events)
		if err == nil {
			return nil
		}
		if analytics.KindOf(err) != analytics.Unavailable || attempt == 5 {
			return fmt.Errorf("queue lines %d-%d into Redis at %s: %w", lines[0], lines[len(lines)-1], q.where, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * time.Second):
		}
	}
}

// importDirect is `import --direct`: each line of the file is checked and
// queued with every field it has, importBatch events at a time.
func importDirect(c *cli.Context, cfg *config.Config, stdout io.Writer) error {
	name := c.Args().First()
	r, total, closeInput, err := openInput(name)
	if err != nil {
		return err
	}
	defer closeInput()
	q, err := openDirectQueue(c.Context, cfg)
	if err != nil {
		return err
	}
	defer q.close()
	cr := &countingReader{r: r}
	sc := bufio.NewScanner(cr)
	sc.Buffer(make([]byte, 64<<10), 2<<20)
	bar := newProgressBar(progressOut(c))
	defer bar.done()
	var batch []analytics.Event
	var lines []int
	sent, lineNo := 0, 0
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := q.publish(c.Context, batch, lines); err != nil {
			return fmt.Errorf("%s: %w (%s before were queued; import again: they count once)", name, err, plural(sent, "event"))
		}
		sent += len(batch)
		batch, lines = batch[:0], lines[:0]
		if total > 0 {
			bar.update(int(min(cr.n, total)), int(total))
		}
		return nil
	}
	now := time.Now()
	for sc.Scan() {
		lineNo++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		ev, err := directEvent(line, now)
		if err != nil {
			return fmt.Errorf("%s line %d: %v (%s before it were queued; fix the line and import again: they count once)", name, lineNo, err, plural(sent, "event"))
		}
		batch = append(batch, ev)
		lines = append(lines, lineNo)
		if len(batch) == importBatch {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s line %d: %v", name, lineNo+1, err)
	}
	if err := send(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %s from %s straight into the queue at %s, every field as in the file (an event imported before counts once)\n",
		plural(sent, "event"), name, q.where)
	return nil
}
