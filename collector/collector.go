// Package collector is the ingestion HTTP API: it validates events and
// queues them, answering 2xx only once they are durably in the queue.
package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/rs/cors"
	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/enrich"
	"github.com/siteanalytics/analytics/ingest"
	"github.com/siteanalytics/analytics/internal/httpx"
	"github.com/siteanalytics/analytics/js"
)

// Config tunes the collector.
type Config struct {
	// AllowedOrigins for CORS; "*" (the default) allows any site to send.
	AllowedOrigins []string
	// QueueTimeout bounds every queue call a request makes (publishing, and
	// the ping of /readyz): past it the answer is 503 with Retry-After, so a
	// stalled queue never holds a client. Zero means DefaultQueueTimeout.
	QueueTimeout time.Duration
	// Enricher derives source, browser, country and cookieless visitor ids
	// from each request; nil leaves events as sent (tests of the queue
	// path).
	Enricher *enrich.Enricher
	// SiteForKey returns the site a Segment write key sends for, or an error
	// of kind Invalid naming what is wrong (answered 401). nil means the
	// open default: the write key is the site id.
	SiteForKey func(ctx context.Context, key string) (string, error)
	// SiteForDomain returns the site a domain names, for the peers'
	// trackers (Plausible's domain, Umami's website id, GoatCounter's
	// host): *sites.Registry's SiteForDomain in registered mode. nil means
	// the open default: the domain is the site id.
	SiteForDomain func(domain string) (string, bool)
	// Sites admits or refuses each request's sites (registered mode); nil
	// admits any valid site id from anyone (open mode).
	Sites Gate
	// Limits are the rate limits per client address and per site; the
	// zero value has none.
	Limits Limits
	// Now and NewID are the clock and id source; tests fix them.
	Now   func() time.Time
	NewID func() string
}

// DefaultQueueTimeout is the QueueTimeout used when none is given.
const DefaultQueueTimeout = 500 * time.Millisecond

// DefaultConfig returns the settings used when none are given.
func DefaultConfig() Config {
	return Config{AllowedOrigins: []string{"*"}, QueueTimeout: DefaultQueueTimeout, Now: time.Now, NewID: analytics.NewID}
}

// Counters are the collector's running totals.
type Counters struct {
	Accepted atomic.Int64 // events queued (answered 2xx)
	Rejected atomic.Int64 // events refused as invalid
	Failed   atomic.Int64 // events refused because the queue was unavailable
	Bots     atomic.Int64 // events from crawlers and headless browsers, answered 202 and dropped
	// Forbidden counts requests refused 401 or 403: a foreign origin, an
	// unregistered site, a missing or wrong write key.
	Forbidden atomic.Int64
	// RateLimited counts requests answered 429.
	RateLimited atomic.Int64
	// HintsIgnored counts events whose "ip" and "user_agent" were ignored
	// because their request may not speak for another browser.
	HintsIgnored atomic.Int64
	// Disconnected counts requests whose client hung up while their events
	// waited for the queue: nothing was promised, and the queue is not to
	// blame.
	Disconnected atomic.Int64
}

// Collector serves the ingestion API.
type Collector struct {
	pub   analytics.Publisher
	ready analytics.Pinger
	log   zerolog.Logger
	cfg   Config
	// cors answers preflights and adds the CORS headers of AllowedOrigins.
	cors *cors.Cors
	// Counters is exported for /metrics-style reporting and tests.
	Counters Counters
}

// New returns a collector that queues through pub; ready answers /readyz.
func New(pub analytics.Publisher, ready analytics.Pinger, log zerolog.Logger, cfg Config) *Collector {
	def := DefaultConfig()
	if len(cfg.AllowedOrigins) == 0 {
		cfg.AllowedOrigins = def.AllowedOrigins
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = def.QueueTimeout
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = def.NewID
	}
	if cfg.SiteForKey == nil {
		cfg.SiteForKey = keyIsSite
	}
	return &Collector{pub: pub, ready: ready, log: log, cfg: cfg, cors: cors.New(cors.Options{
		AllowedOrigins: cfg.AllowedOrigins,
		AllowedMethods: []string{http.MethodPost, http.MethodGet, http.MethodHead},
		AllowedHeaders: []string{"Content-Type", "Content-Encoding", "Authorization"},
		MaxAge:         86400,
	})}
}

// Handler returns the routes of the ingestion API, all in one place.
func (c *Collector) Handler() http.Handler {
	r := httprouter.New()
	httpx.Handle(r, http.MethodPost, "/event", c.handleEvent())
	httpx.Handle(r, http.MethodPost, "/events", c.handleEvents())
	httpx.Handle(r, http.MethodPost, "/import", c.handleImport())
	for _, kind := range segmentKinds {
		h := c.handleSegment(kind.name)
		httpx.Handle(r, http.MethodPost, "/v1/"+kind.name, h)
		httpx.Handle(r, http.MethodPost, "/v1/"+kind.short, h)
	}
	httpx.Handle(r, http.MethodPost, "/v1/import", c.handleSegment(ingest.SegmentBatch))
	httpx.Handle(r, http.MethodPost, "/api/event", c.handlePlausible())
	httpx.Handle(r, http.MethodPost, "/api/send", c.handleUmami())
	count := c.handleGoatCounter()
	httpx.Handle(r, http.MethodGet, "/count", count)
	httpx.Handle(r, http.MethodPost, "/count", count)
	httpx.GetAndHead(r, "/js/:script", plausibleScript())
	httpx.GetAndHead(r, "/t.js", snippet())
	httpx.GetAndHead(r, "/healthz", httpx.Health())
	httpx.GetAndHead(r, "/readyz", httpx.Ready(map[string]analytics.Pinger{"redis": c.ready}, c.cfg.QueueTimeout))
	r.HandleOPTIONS = true
	r.GlobalOPTIONS = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusMethodNotAllowed, failure(r.Method+" is not allowed here; allowed: "+w.Header().Get("Allow")))
	})
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusNotFound, failure("no such endpoint: "+r.URL.Path+" (try POST /event, POST /events, Segment's POST /v1/batch, Plausible's POST /api/event, Umami's POST /api/send or GoatCounter's GET /count)"))
	})
	r.PanicHandler = func(w http.ResponseWriter, r *http.Request, v any) {
		c.log.Error().Interface("panic", v).Str("path", r.URL.Path).Msg("handler panic")
		httpx.WriteJSON(w, http.StatusInternalServerError, failure("internal error"))
	}
	// The guard is outside CORS: a preflight from a foreign origin is
	// refused 403 like its request, not answered 204 without headers.
	return c.guard(c.cors.Handler(r))
}

// failureReply is every error answer of the collector.
type failureReply struct {
	Success bool   `json:"success"`
	Error   string `json:"error"`
}

func failure(msg string) failureReply { return failureReply{Error: msg} }

// originAllowed reports whether origin (a page's scheme://host[:port])
// may send: the CORS policy's own answer, asked with a request that carries
// origin, because the guard also judges requests by their Referer.
func (c *Collector) originAllowed(origin string) bool {
	return c.cors.OriginAllowed(&http.Request{Header: http.Header{"Origin": {origin}}})
}

func (c *Collector) handleEvent() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r, eventBody)
		if err != nil {
			c.fail(w, err, 1)
			return
		}
		ev, err := ingest.DecodeEvent(body, c.cfg.Now(), c.cfg.NewID)
		if err != nil {
			c.fail(w, err, 1)
			return
		}
		queued, err := c.queue(r, []analytics.Event{ev}, writeKey(r))
		if err != nil {
			c.fail(w, err, 1)
			return
		}
		if queued == 0 {
			httpx.WriteJSON(w, http.StatusAccepted, botDropped)
			return
		}
		httpx.WriteJSON(w, http.StatusAccepted, eventOK)
	})
}

// eventReply is the answer of POST /event.
type eventReply struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	// Counted is false for an event that was dropped, not queued: absent
	// from the seed's answer for a counted event.
	Counted *bool `json:"counted,omitempty"`
}

// eventOK is the seed's exact answer, fields in the seed's order.
var eventOK = eventReply{Success: true, Message: "Event queued successfully"}

// botDropped answers an event of a crawler or a headless browser: 202, so
// the sender does not resend it, saying that it was not counted and why.
var botDropped = eventReply{Success: true, Counted: new(bool),
	Message: "Event not counted: its User-Agent is a bot's (a crawler or a headless browser); bots are dropped, and answered 202 so they do not resend"}

// batchReply is the answer of POST /events.
type batchReply struct {
	Success  bool               `json:"success"`
	Accepted int                `json:"accepted"`
	Rejected []ingest.Rejection `json:"rejected"`
	// Bots is the number of events dropped as sent by a crawler or a
	// headless browser (answered 202 so they are not retried).
	Bots  int    `json:"bots,omitempty"`
	Error string `json:"error,omitempty"`
}

func (c *Collector) handleEvents() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r, eventBody)
		if err != nil {
			c.fail(w, err, 0)
			return
		}
		events, rejected, err := ingest.DecodeBatch(body, c.cfg.Now(), c.cfg.NewID)
		if err != nil {
			c.fail(w, err, 0)
			return
		}
		if rejected == nil {
			rejected = []ingest.Rejection{}
		}
		c.Counters.Rejected.Add(int64(len(rejected)))
		if len(events) == 0 {
			httpx.WriteJSON(w, http.StatusBadRequest, batchReply{Rejected: rejected, Error: "no valid events in the batch"})
			return
		}
		queued, err := c.queue(r, events, writeKey(r))
		if err != nil {
			c.fail(w, err, queued)
			return
		}
		httpx.WriteJSON(w, http.StatusAccepted, batchReply{Success: true, Accepted: queued, Rejected: rejected, Bots: len(events) - queued})
	})
}

// queue is the path every decoded event takes, whichever endpoint it came
// in by (/event, /events, Segment's /v1/*): the sites' rules and limits for
// a request carrying the write key key (see admit), enrichment, which drops
// and counts the events of bots, then publishing under the queue deadline.
// It returns how many events were kept (not bots); nil error means they
// are all in the queue and counted as accepted, else none may be promised.
func (c *Collector) queue(r *http.Request, events []analytics.Event, key string) (int, error) {
	return c.queueCookieless(r, events, key, false)
}

// queueCookieless is queue where cookieless gives every event without a
// user id a cookieless visitor id, whatever the request's ?cookieless
// says: the peers' trackers send none.
func (c *Collector) queueCookieless(r *http.Request, events []analytics.Event, key string, cookieless bool) (int, error) {
	valid := len(events)
	hints, err := c.admit(r, events, key)
	if err != nil {
		return 0, err
	}
	if !hints {
		c.dropHints(events)
	}
	// One deadline for every Redis call of the request: a slow salt read
	// must not start the publish's wait afresh, or a client waits up to
	// twice QUEUE_TIMEOUT.
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.QueueTimeout)
	defer cancel()
	events, err = c.enrich(ctx, r, events, cookieless)
	if err != nil {
		return valid, c.blame(r, err)
	}
	if len(events) > 0 {
		if err := c.publish(ctx, events); err != nil {
			return len(events), c.blame(r, err)
		}
	}
	c.Counters.Accepted.Add(int64(len(events)))
	return len(events), nil
}

// dropHints clears the "ip" and "user_agent" of events whose request may
// not speak for another browser (see admit), so they count as the
// request's own: otherwise anyone could choose the country, the browser
// and the cookieless visitor of every event. They are ignored rather than
// refused because Segment's analytics.js sends context.userAgent from the
// browser itself.
func (c *Collector) dropHints(events []analytics.Event) {
	n := 0
	for i := range events {
		if events[i].Client.IP != "" || events[i].Client.UserAgent != "" {
			events[i].Client.IP, events[i].Client.UserAgent = "", ""
			n++
		}
	}
	if n > 0 {
		c.Counters.HintsIgnored.Add(int64(n))
	}
}

// enrich derives each event's source, browser, country (and cookieless
// visitor id) from the request and drops the events of bots, counting them.
// The request's address and User-Agent go no further than this call. An
// error (the day's salt could not be read from Redis within ctx) is
// Unavailable.
func (c *Collector) enrich(ctx context.Context, r *http.Request, events []analytics.Event, cookieless bool) ([]analytics.Event, error) {
	if c.cfg.Enricher == nil {
		for i := range events {
			events[i].Client = analytics.ClientHints{}
		}
		return events, nil
	}
	q := c.cfg.Enricher.Request(r)
	cookieless = cookieless || isTrue(r.URL.Query().Get("cookieless"))
	kept := events[:0]
	for i := range events {
		bot, err := q.Event(ctx, &events[i], cookieless)
		if err != nil {
			return nil, analytics.Wrap(analytics.Unavailable, "reading the cookieless salt from Redis", err)
		}
		if bot {
			c.Counters.Bots.Add(1)
			continue
		}
		kept = append(kept, events[i])
	}
	return kept, nil
}

// clientGone is the error of a request whose client hung up before its
// events were queued.
type clientGone struct{ err error }

func (e *clientGone) Error() string { return "client disconnected: " + e.err.Error() }
func (e *clientGone) Unwrap() error { return e.err }

// blame returns err as a clientGone when the request's own context ended
// (the client hung up) rather than the queue deadline passing: a queue
// call cut short by the client says nothing about the queue.
func (c *Collector) blame(r *http.Request, err error) error {
	if r.Context().Err() != nil {
		return &clientGone{err}
	}
	return err
}

func isTrue(s string) bool { return s == "1" || strings.EqualFold(s, "true") }

// publish queues the events under ctx, which carries the request's queue
// deadline; the publisher returns an Unavailable error once it passes
// (answered 503: the events may still land, which is why every event
// carries an id). Visits are noted by the publisher itself (the wiring
// hands the collector visits.Annotator.Queue, which annotates and queues
// in one script call), so nothing annotated is dropped but by a failed
// publish.
func (c *Collector) publish(ctx context.Context, events []analytics.Event) error {
	err := c.pub.Publish(ctx, events)
	if err != nil && ctx.Err() != nil && analytics.KindOf(err) == analytics.Internal {
		// A publisher that reports the deadline as a plain error: still 503.
		return analytics.Wrap(analytics.Unavailable, fmt.Sprintf("queue did not answer within %v", c.cfg.QueueTimeout), err)
	}
	return err
}

func (c *Collector) fail(w http.ResponseWriter, err error, n int) {
	status, msg := httpx.Status(err), analytics.Message(err)
	var gone *clientGone
	if errors.As(err, &gone) {
		c.Counters.Disconnected.Add(1)
		c.log.Debug().Err(err).Int("events", n).Msg("client disconnected before its events were queued")
		// 499 (nginx's "client closed request") for access logs; nobody reads the body.
		w.WriteHeader(499)
		return
	}
	var rf *refusal
	if errors.As(err, &rf) {
		c.refuse(w, rf)
		return
	}
	var he *httpError
	if errors.As(err, &he) {
		status, msg = he.status, he.msg
	}
	switch status {
	case http.StatusServiceUnavailable:
		c.Counters.Failed.Add(int64(n))
		w.Header().Set("Retry-After", "1")
		c.log.Warn().Err(err).Msg("queue unavailable; answered 503")
		httpx.WriteJSON(w, status, failure("queue unavailable, retry later: "+msg))
		return
	case http.StatusInternalServerError:
		c.log.Error().Err(err).Msg("internal error")
	default:
		c.Counters.Rejected.Add(int64(n))
	}
	httpx.WriteJSON(w, status, failure(msg))
}

// httpError carries a status that is not a plain kind mapping (401, 413, 415).
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// bodyRule is what an endpoint accepts as a body.
type bodyRule struct {
	max     int64  // bytes, after gunzip
	maxText string // max for people ("1 MiB")
	anyType bool   // JSON whatever the Content-Type says
}

var (
	eventBody = bodyRule{max: analytics.MaxBodyBytes, maxText: "1 MiB"}
	// Segment's clients send JSON under any content type (analytics.js
	// says text/plain to avoid a CORS preflight).
	segmentBody = bodyRule{max: ingest.MaxSegmentBodyBytes, maxText: "500 KB", anyType: true}
)

// readBody reads at most rule.max bytes of the body, gunzipping it when the
// client says so, and refuses content types a browser or SDK would not send.
// Form encoding is let through because `curl -d` sends it by default; the
// body must still be JSON.
func readBody(w http.ResponseWriter, r *http.Request, rule bodyRule) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !rule.anyType {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "text/plain" && mt != "application/x-www-form-urlencoded") {
			return nil, &httpError{http.StatusUnsupportedMediaType,
				"Content-Type " + ct + " is not supported: send application/json (or text/plain, as sendBeacon does)"}
		}
	}
	tooLarge := &httpError{http.StatusRequestEntityTooLarge, "body is larger than " + rule.maxText + ": send fewer events per request"}
	var rd io.Reader = http.MaxBytesReader(w, r.Body, rule.max)
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		gz, err := gzip.NewReader(rd)
		if err != nil {
			return nil, analytics.Errorf(analytics.Invalid, "body is not valid gzip: %v", err)
		}
		defer gz.Close()
		rd = gz
	default:
		return nil, &httpError{http.StatusUnsupportedMediaType, "Content-Encoding " + enc + " is not supported: use gzip or none"}
	}
	// Read one byte past the limit so a decompressed body over it is caught.
	// The buffer starts at the announced length: growing it from 512 bytes
	// allocated twice a batch's size.
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= rule.max {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(io.LimitReader(rd, rule.max+1))
	body := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, analytics.Errorf(analytics.Invalid, "body is not valid gzip: %v", err)
		}
		return nil, analytics.Errorf(analytics.Invalid, "reading body: %v", err)
	}
	if int64(len(body)) > rule.max {
		return nil, tooLarge
	}
	return body, nil
}

// snippet serves the browser script. Browsers revalidate it hourly with the
// ETag, so a new collector version reaches them within an hour at the cost
// of a 304 per page load at most once an hour.
func snippet() http.Handler {
	st := httpx.NewStatic(js.Script, "application/javascript; charset=utf-8")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		st.ServeHTTP(w, r)
	})
}
