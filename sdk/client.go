// Package sdk sends analytics events from Go programs to the collector.
//
// Track and Page validate an event at the call and queue it without touching
// the network; a background loop sends batches to POST /events, gzipped, by
// size and by interval, retrying network errors, 5xx and 429 (honouring
// Retry-After) with exponential backoff and jitter. Every event carries a
// client-made id, so a retried batch is never counted twice. Flush waits for
// everything queued so far to be delivered; Close does the same, within its
// context's deadline, and reports what could not be delivered.
//
// The package uses the standard library only.
package sdk

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by Track, Flush and Close.
var (
	ErrClosed     = errors.New("sdk: client is closed")
	ErrBufferFull = errors.New("sdk: buffer full, event dropped")
	ErrTooLarge   = errors.New("sdk: event larger than 32 KB encoded")
)

// Logger receives the client's diagnostics. *testing.T satisfies it.
type Logger interface {
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
}

// Config configures a Client. Zero values mean the default.
type Config struct {
	// Endpoint is the collector's base URL, e.g. "https://collector.example.com". Required.
	Endpoint string
	// SiteID is used for events that do not set their own.
	SiteID string
	// WriteKey is the site's write key (from `analytics-cli sites add`),
	// sent as "Authorization: Bearer <key>": a collector in registered
	// mode refuses server-side events without it (401).
	WriteKey string
	// BatchSize is the most events per request (default 100, at most 1000).
	BatchSize int
	// BatchBytes is the most bytes of JSON per request (default and at most 500 KB).
	BatchBytes int
	// FlushInterval is the longest an event waits before it is sent (default 5s).
	FlushInterval time.Duration
	// BufferSize is how many events may wait to be sent (default 10000).
	// When it is full, Track refuses new events with ErrBufferFull, counts
	// them as dropped and reports them to OnFailure.
	BufferSize int
	// HTTPClient sends the requests (default: a client with a 10s timeout).
	HTTPClient *http.Client
	// MaxRetries bounds the retries of one batch outside Close (default 10);
	// after that its events are reported to OnFailure.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the wait between retries (default
	// 100ms and 30s); the wait doubles each time, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives diagnostics (default: none).
	Logger Logger
	// OnFailure is called, from the client's goroutine, with events that
	// will never be delivered and why: refused by the collector (4xx other
	// than 429), out of retries, dropped on a full buffer, or left when
	// Close's context ended.
	OnFailure func(events []Event, err error)
}

// Stats are the client's running totals.
type Stats struct {
	Queued  int64 // events waiting to be sent now
	Sent    int64 // events the collector accepted
	Failed  int64 // events that will never be delivered (refused, out of retries, left at Close)
	Dropped int64 // events refused by Track because the buffer was full
	Retried int64 // failed requests that were retried
}

// Client batches events and sends them to the collector. Its methods are
// safe for concurrent use.
type Client struct {
	cfg      Config
	endpoint string
	now      func() time.Time

	mu     sync.Mutex // guards buf, closed and the waiters
	buf    []queued
	closed bool
	wake   chan struct{} // a batch is ready or a flush is asked for
	wants  []chan error  // Flush callers waiting for the buffer to drain
	quit   chan struct{}
	done   chan struct{}

	// base is the context of every request and retry wait; Close cancels
	// it when its own context ends, so a firewalled endpoint cannot hold
	// Close past its deadline.
	base    context.Context
	abort   context.CancelFunc
	closing atomic.Bool
	// unbounded is set when Close's context has a deadline: retries then go
	// on until it passes instead of stopping after MaxRetries.
	unbounded atomic.Bool
	lost      lostEvents // events given up on during Close

	sent, failed, dropped, retried atomic.Int64
	inflight                       atomic.Int64
}

// lostEvents collects what Close could not deliver.
type lostEvents struct {
	mu  sync.Mutex
	evs []Event
	err error
}

func (l *lostEvents) add(evs []Event, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, evs...)
	if l.err == nil {
		l.err = err
	}
}

// New validates cfg and starts the client's goroutine. Close it when done.
func New(cfg Config) (*Client, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("sdk: Config.Endpoint is required (the collector's URL)")
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sdk: Config.Endpoint %q is not an http(s) URL", cfg.Endpoint)
	}
	if cfg.SiteID != "" {
		probe := Event{SiteID: cfg.SiteID, EventType: "x"}
		if err := validate(&probe, time.Now()); err != nil {
			return nil, fmt.Errorf("sdk: Config.SiteID: %w", err)
		}
	}
	switch {
	case cfg.BatchSize < 0 || cfg.BatchSize > MaxBatchSize:
		return nil, fmt.Errorf("sdk: Config.BatchSize %d: must be 1-%d", cfg.BatchSize, MaxBatchSize)
	case cfg.BatchBytes < 0 || cfg.BatchBytes > MaxBatchBytes:
		return nil, fmt.Errorf("sdk: Config.BatchBytes %d: must be at most %d", cfg.BatchBytes, MaxBatchBytes)
	case cfg.BatchBytes > 0 && cfg.BatchBytes < MaxEventBytes:
		return nil, fmt.Errorf("sdk: Config.BatchBytes %d: must be at least %d so any valid event fits", cfg.BatchBytes, MaxEventBytes)
	case cfg.FlushInterval < 0, cfg.BufferSize < 0, cfg.MaxRetries < 0, cfg.MinBackoff < 0, cfg.MaxBackoff < 0:
		return nil, errors.New("sdk: Config durations and sizes must not be negative")
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 100
	}
	if cfg.BatchBytes == 0 {
		cfg.BatchBytes = MaxBatchBytes
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 5 * time.Second
	}
	if cfg.BufferSize == 0 {
		cfg.BufferSize = 10000
	}
	if cfg.BufferSize < cfg.BatchSize {
		return nil, fmt.Errorf("sdk: Config.BufferSize %d is smaller than BatchSize %d", cfg.BufferSize, cfg.BatchSize)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 10
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		return nil, fmt.Errorf("sdk: Config.MaxBackoff %v is below MinBackoff %v", cfg.MaxBackoff, cfg.MinBackoff)
	}
	c := &Client{
		cfg: cfg, endpoint: strings.TrimRight(cfg.Endpoint, "/") + "/events", now: time.Now,
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
	c.base, c.abort = context.WithCancel(context.Background())
	go c.loop()
	return c, nil
}

// Track validates ev and queues it. It never blocks on the network. It
// returns a *FieldError for an invalid event, ErrTooLarge, ErrBufferFull
// (the event is dropped and counted) or ErrClosed.
func (c *Client) Track(ev Event) error {
	if ev.SiteID == "" {
		ev.SiteID = c.cfg.SiteID
	}
	if err := validate(&ev, c.now()); err != nil {
		return err
	}
	size := encodedSize(&ev)
	if size > MaxEventBytes {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, size)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if len(c.buf) >= c.cfg.BufferSize {
		c.mu.Unlock()
		c.dropped.Add(1)
		c.fail([]Event{ev}, ErrBufferFull)
		return ErrBufferFull
	}
	c.buf = append(c.buf, queued{ev: ev, size: size})
	full := len(c.buf) >= c.cfg.BatchSize
	c.mu.Unlock()
	if full {
		c.signal()
	}
	return nil
}

// Page tracks a page_view of path by userID (which may be empty).
func (c *Client) Page(path, userID string) error {
	return c.Track(Event{EventType: "page_view", Path: path, UserID: userID})
}

func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Flush waits until every event queued before the call has been delivered
// or given up on, or ctx ends. It returns ctx's error in the latter case.
func (c *Client) Flush(ctx context.Context) error {
	ch := make(chan error, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.wants = append(c.wants, ch)
	c.mu.Unlock()
	c.signal()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DeliveryError is returned by Close when events could not be delivered.
type DeliveryError struct {
	Events []Event
	Err    error
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("sdk: %d events not delivered: %v", len(e.Events), e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Close stops accepting events and delivers everything queued, retrying
// until ctx's deadline (or, when ctx has none, up to MaxRetries per batch,
// so Close never hangs on an unreachable collector). Events still undelivered when ctx ends (or that the
// collector refused meanwhile) are returned in a *DeliveryError and reported
// to OnFailure. Calls after the first return ErrClosed.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	c.mu.Unlock()
	_, hasDeadline := ctx.Deadline()
	c.unbounded.Store(hasDeadline)
	c.closing.Store(true)
	stop := context.AfterFunc(ctx, c.abort)
	defer stop()
	close(c.quit)
	<-c.done
	c.abort()
	c.lost.mu.Lock()
	defer c.lost.mu.Unlock()
	if len(c.lost.evs) > 0 {
		return &DeliveryError{Events: c.lost.evs, Err: c.lost.err}
	}
	return nil
}

// Stats returns the running totals.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	queued := int64(len(c.buf))
	c.mu.Unlock()
	return Stats{Queued: queued + c.inflight.Load(), Sent: c.sent.Load(), Failed: c.failed.Load(),
		Dropped: c.dropped.Load(), Retried: c.retried.Load()}
}

// loop is the client's one goroutine: it sends a batch when one is full,
// when the interval passes, when a flush is asked for, and at Close.
func (c *Client) loop() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-c.wake:
			c.sendReady(false)
		case <-t.C:
			c.sendReady(true)
		case <-c.quit:
			c.sendReady(true)
			c.answerWaiters(nil)
			return
		}
	}
}

// sendReady sends full batches, or everything when all is set or a flush
// is waiting, then answers the flush waiters.
func (c *Client) sendReady(all bool) {
	for {
		c.mu.Lock()
		waiting := len(c.wants) > 0
		n := len(c.buf)
		if n == 0 || (!all && !waiting && n < c.cfg.BatchSize) {
			c.mu.Unlock()
			break
		}
		batch, rest := c.cut(c.buf)
		c.buf = rest
		c.inflight.Store(int64(len(batch)))
		c.mu.Unlock()
		c.deliver(batch)
		c.inflight.Store(0)
	}
	c.answerWaiters(nil)
}

func (c *Client) answerWaiters(err error) {
	c.mu.Lock()
	if len(c.buf) > 0 && !c.closed {
		c.mu.Unlock()
		return // new events arrived meanwhile: the next round answers
	}
	wants := c.wants
	c.wants = nil
	c.mu.Unlock()
	for _, ch := range wants {
		ch <- err
	}
}

// queued is a buffered event with its encoded size, measured once by Track
// so batching does not encode every event a second time.
type queued struct {
	ev   Event
	size int
}

// cut takes the longest prefix of buf within BatchSize and BatchBytes.
func (c *Client) cut(buf []queued) (batch []Event, rest []queued) {
	size := 2 // the array's brackets
	n := 0
	for n < len(buf) && n < c.cfg.BatchSize {
		s := buf[n].size + 1 // and a comma
		if n > 0 && size+s > c.cfg.BatchBytes {
			break
		}
		size += s
		n++
	}
	batch = make([]Event, n)
	for i := range batch {
		batch[i] = buf[i].ev
	}
	return batch, append(buf[:0:0], buf[n:]...)
}

func encodedSize(ev *Event) int {
	b, err := json.Marshal(ev)
	if err != nil {
		return MaxEventBytes + 1
	}
	return len(b)
}

// retryable is a failed attempt worth repeating, with the server's wish.
type retryable struct {
	err   error
	after time.Duration
}

func (r *retryable) Error() string { return r.err.Error() }

// deliver sends one batch, retrying what can be retried. Outside Close it
// gives up after MaxRetries; during Close, when Close's context ends.
func (c *Client) deliver(batch []Event) {
	body, err := encodeBatch(batch)
	if err != nil {
		c.failBatch(batch, err)
		return
	}
	backoff := c.cfg.MinBackoff
	ctx := c.base
	for attempt := 0; ; attempt++ {
		rejected, err := c.post(ctx, body)
		if err == nil {
			c.sent.Add(int64(len(batch) - len(rejected)))
			if len(rejected) > 0 {
				evs := make([]Event, 0, len(rejected))
				for _, r := range rejected {
					if r.Index >= 0 && r.Index < len(batch) {
						evs = append(evs, batch[r.Index])
					}
				}
				c.failBatch(evs, fmt.Errorf("sdk: collector rejected %d events, first: %s", len(rejected), rejected[0].Error))
			}
			return
		}
		var rt *retryable
		if !errors.As(err, &rt) {
			c.failBatch(batch, err)
			return
		}
		if !c.unbounded.Load() && attempt >= c.cfg.MaxRetries {
			c.failBatch(batch, fmt.Errorf("sdk: gave up after %d retries: %w", attempt, rt.err))
			return
		}
		wait := backoff/2 + rand.N(backoff/2+1) // jitter: spread retries of many clients
		if rt.after > wait {
			wait = rt.after
		}
		backoff = min(backoff*2, c.cfg.MaxBackoff)
		c.retried.Add(1)
		c.logf("sdk: sending %d events failed (%v); retry in %v", len(batch), rt.err, wait)
		if !c.sleep(ctx, wait) {
			c.failBatch(batch, fmt.Errorf("sdk: Close's context ended before delivery: %w (last error: %v)", ctx.Err(), rt.err))
			return
		}
	}
}

// sleep waits d, or less when Close starts (retries then follow Close's
// context) or Close's context ends; it reports false only in the latter case.
func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	quit := c.quit
	if c.closing.Load() {
		quit = nil
	}
	select {
	case <-t.C:
		return true
	case <-quit:
		return true
	case <-ctx.Done():
		return false
	}
}

type rejection struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// post sends one gzipped batch. It returns the events the collector
// rejected one by one, a *retryable for failures worth repeating, or a
// permanent error.
func (c *Client) post(ctx context.Context, body []byte) ([]rejection, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("User-Agent", "siteanalytics-go-sdk/1")
	if c.cfg.WriteKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.WriteKey)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &retryable{err: ctx.Err()}
		}
		return nil, &retryable{err: err}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var reply struct {
		Rejected []rejection `json:"rejected"`
		Error    string      `json:"error"`
	}
	_ = json.Unmarshal(data, &reply)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return reply.Rejected, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, &retryable{err: fmt.Errorf("collector answered %s: %s", resp.Status, reply.Error), after: retryAfter(resp.Header.Get("Retry-After"), c.now())}
	default:
		msg := reply.Error
		if msg == "" && len(reply.Rejected) > 0 {
			msg = reply.Rejected[0].Error
		}
		return nil, fmt.Errorf("sdk: collector refused the batch: %s: %s", resp.Status, msg)
	}
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now)
	}
	return 0
}

func encodeBatch(batch []Event) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(batch); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (c *Client) failBatch(evs []Event, err error) {
	if len(evs) == 0 {
		return
	}
	c.failed.Add(int64(len(evs)))
	if c.closing.Load() {
		c.lost.add(evs, err)
	}
	c.fail(evs, err)
}

func (c *Client) fail(evs []Event, err error) {
	if c.cfg.Logger != nil {
		c.cfg.Logger.Errorf("sdk: %d events not delivered: %v", len(evs), err)
	}
	if c.cfg.OnFailure != nil {
		c.cfg.OnFailure(evs, err)
	}
}

func (c *Client) logf(format string, args ...any) {
	if c.cfg.Logger != nil {
		c.cfg.Logger.Logf(format, args...)
	}
}
