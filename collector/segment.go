package collector

import (
	"context"
	"net/http"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/ingest"
	"github.com/siteanalytics/analytics/internal/httpx"
)

// segmentKinds are the message endpoints of Segment's HTTP Tracking API, by
// full name and by the one-letter path analytics.js uses.
var segmentKinds = [...]struct{ name, short string }{
	{ingest.SegmentTrack, "t"}, {ingest.SegmentPage, "p"}, {ingest.SegmentScreen, "s"},
	{ingest.SegmentIdentify, "i"}, {ingest.SegmentGroup, "g"}, {ingest.SegmentAlias, "a"},
	{ingest.SegmentBatch, "b"},
}

// segmentOK is Segment's answer to a request it took.
var segmentOK = struct {
	Success bool `json:"success"`
}{true}

// maxDropLogs bounds the log lines one request's invalid messages write.
const maxDropLogs = 10

// handleSegment serves one endpoint of Segment's HTTP Tracking API. A
// request that is valid as a whole is answered 200 once its events are
// queued, even when some of its messages are invalid: those are dropped,
// counted as rejected and logged, because Segment's clients resend a whole
// batch on any other answer, so refusing it would resend it forever.
func (c *Collector) handleSegment(kind string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r, segmentBody)
		if err != nil {
			c.fail(w, err, 0)
			return
		}
		req, err := ingest.ParseSegment(kind, body)
		if err != nil {
			c.fail(w, err, 0)
			return
		}
		site, key, err := c.segmentSite(r, req)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="write key"`)
			c.fail(w, &refusal{status: http.StatusUnauthorized, msg: analytics.Message(err)}, 0)
			return
		}
		events, rejected, _ := req.Events(site, c.cfg.Now(), c.cfg.NewID)
		c.Counters.Rejected.Add(int64(len(rejected)))
		for i, rj := range rejected {
			if i == maxDropLogs {
				c.log.Warn().Str("site_id", site).Str("endpoint", r.URL.Path).Int("more", len(rejected)-i).
					Msg("more invalid Segment messages dropped in this request")
				break
			}
			c.log.Warn().Str("site_id", site).Str("endpoint", r.URL.Path).Int("index", rj.Index).Str("reason", rj.Error).
				Msg("invalid Segment message dropped (answered 200 so the client does not resend it)")
		}
		if len(events) > 0 {
			if n, err := c.queue(r, events, key); err != nil {
				c.fail(w, err, n)
				return
			}
		}
		httpx.WriteJSON(w, http.StatusOK, segmentOK)
	})
}

// segmentSite resolves the request's write key (Authorization: Bearer, or
// the Basic auth user name, else the body's writeKey) to its site, and
// returns both.
func (c *Collector) segmentSite(r *http.Request, req *ingest.SegmentRequest) (site, key string, err error) {
	key = writeKey(r)
	if key == "" {
		key = req.WriteKey
	}
	if key == "" {
		return "", "", analytics.Errorf(analytics.Invalid,
			"missing write key: send it as the Basic auth user name with an empty password, as Authorization: Bearer <key>, or as \"writeKey\" in the body")
	}
	site, err = c.cfg.SiteForKey(r.Context(), key)
	return site, key, err
}

// keyIsSite is the open default of Config.SiteForKey: without a sites
// registry the write key is the site id.
func keyIsSite(_ context.Context, key string) (string, error) {
	if err := analytics.ValidateSiteID(key); err != nil {
		return "", analytics.Errorf(analytics.Invalid,
			"unknown write key: without a sites registry the write key is the site id (1-128 characters of A-Za-z0-9._:-): %s",
			analytics.Message(err))
	}
	return key, nil
}
