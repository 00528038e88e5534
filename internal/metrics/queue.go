package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueCacheFor is how long a read of the queue's state answers scrapes:
// several Prometheus servers (or a dashboard refreshing) cost Redis one
// read a second at most.
const QueueCacheFor = time.Second

// queueReadTimeout bounds one read, well within a scrape's timeout.
const queueReadTimeout = 2 * time.Second

// QueueStatus is the part of the queue's state that /metrics exports. The
// wiring fills it from the queue's own status (redisqueue.ReadStatus: what
// `analytics-cli queue` prints), so this package knows no queue.
type QueueStatus struct {
	Partitions  []PartitionStatus
	DeadLetters int64
	Processors  int // processors that sent a heartbeat in the last minute
}

// PartitionStatus is one partition's state in QueueStatus.
type PartitionStatus struct {
	Partition int
	Length    int64         // events not yet acknowledged
	Pending   int64         // entries handed to the owner, not yet acknowledged
	Owned     bool          // a processor holds the partition's lease
	OldestAge time.Duration // age of the oldest unacknowledged entry, 0 when empty
}

// AddQueue exports the queue's state, as read reports it, read at
// scrape time and cached for QueueCacheFor. The queue is shared, so every
// process that exports it reports the same values: aggregate with max(),
// not sum(). Calling it again replaces the reader.
func (m *Metrics) AddQueue(read func(ctx context.Context) (QueueStatus, error)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.queue != nil {
		m.queue.mu.Lock()
		m.queue.read, m.queue.at = read, time.Time{}
		m.queue.mu.Unlock()
		return
	}
	m.queue = &queueCollector{read: read}
	m.reg.MustRegister(m.queue)
}

var (
	queueUp = prometheus.NewDesc(Namespace+"_queue_status_up",
		"1 when the queue's state could be read from Redis at the last scrape, else 0 (and the other analytics_queue_ metrics are absent).", nil, nil)
	queueBacklog = prometheus.NewDesc(Namespace+"_queue_backlog_events",
		"Events in the partition not yet acknowledged by a processor (waiting or being stored).", []string{"partition"}, nil)
	queuePending = prometheus.NewDesc(Namespace+"_queue_pending_entries",
		"Stream entries handed to the partition's owner and not yet acknowledged.", []string{"partition"}, nil)
	queueOldest = prometheus.NewDesc(Namespace+"_queue_oldest_age_seconds",
		"Age of the partition's oldest unacknowledged entry; 0 when it is empty.", []string{"partition"}, nil)
	queueOwned = prometheus.NewDesc(Namespace+"_queue_partition_owned",
		"1 when a processor holds the partition's lease, else 0.", []string{"partition"}, nil)
	queueDead = prometheus.NewDesc(Namespace+"_queue_dead_letters",
		"Events waiting in the dead-letter stream (see `analytics-cli queue deadletters`; replay lowers it).", nil, nil)
	queueProcessors = prometheus.NewDesc(Namespace+"_queue_processors",
		"Processors that sent a heartbeat in the last minute.", nil, nil)
)

// queueCollector reads the queue's state when scraped, at most once per
// QueueCacheFor.
type queueCollector struct {
	mu   sync.Mutex
	read func(ctx context.Context) (QueueStatus, error)
	at   time.Time
	st   QueueStatus
	err  error
}

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueUp, queueBacklog, queuePending, queueOldest, queueOwned, queueDead, queueProcessors} {
		ch <- d
	}
}

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := q.status()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(queueUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueUp, prometheus.GaugeValue, 1)
	for _, p := range st.Partitions {
		part := strconv.Itoa(p.Partition)
		owned := 0.0
		if p.Owned {
			owned = 1
		}
		ch <- prometheus.MustNewConstMetric(queueBacklog, prometheus.GaugeValue, float64(p.Length), part)
		ch <- prometheus.MustNewConstMetric(queuePending, prometheus.GaugeValue, float64(p.Pending), part)
		ch <- prometheus.MustNewConstMetric(queueOldest, prometheus.GaugeValue, p.OldestAge.Seconds(), part)
		ch <- prometheus.MustNewConstMetric(queueOwned, prometheus.GaugeValue, owned, part)
	}
	ch <- prometheus.MustNewConstMetric(queueDead, prometheus.GaugeValue, float64(st.DeadLetters))
	ch <- prometheus.MustNewConstMetric(queueProcessors, prometheus.GaugeValue, float64(st.Processors))
}

func (q *queueCollector) status() (QueueStatus, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if time.Since(q.at) < QueueCacheFor {
		return q.st, q.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), queueReadTimeout)
	defer cancel()
	q.st, q.err = q.read(ctx)
	q.at = time.Now()
	return q.st, q.err
}
