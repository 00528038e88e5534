package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/ingest"
	"github.com/siteanalytics/analytics/internal/exportfmt"
	"github.com/siteanalytics/analytics/internal/httpx"
)

// importRefused is the answer to an import whose request may not speak
// for the browsers its events came from.
const importRefused = "POST /import keeps the fields the file derived when its events were collected (country, browser, OS, device, source), " +
	"so it is only for an authenticated sender: send the site's write key (Authorization: Bearer) in registered mode, " +
	"or call it from a server (no Origin or Referer header) in open mode"

// handleImport is POST /import: a JSON array of events as `analytics-cli
// export` writes them (at most analytics.MaxBatch), each kept with every
// field of the file, including those the collector would otherwise derive
// from the request: an import is sent by an admin's machine, whose
// country and browser are not the visitors'. Only a request that may speak
// for other browsers (see admit: the write key of every site in registered
// mode, a server's request in open mode) may do that; others are refused
// with 401 or 403. Nothing is enriched and no bot filter applies (the
// events were filtered when first collected); the sites' rules, rate
// limits, visits and the queue are those of /events. Answered as /events.
func (c *Collector) handleImport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r, eventBody)
		if err != nil {
			c.fail(w, err, 0)
			return
		}
		var raws []json.RawMessage
		if err := json.Unmarshal(body, &raws); err != nil {
			httpx.WriteJSON(w, http.StatusBadRequest, batchReply{Rejected: []ingest.Rejection{},
				Error: "body is not a JSON array of exported events (the lines of analytics-cli export): " + err.Error()})
			return
		}
		if len(raws) == 0 || len(raws) > analytics.MaxBatch {
			httpx.WriteJSON(w, http.StatusBadRequest, batchReply{Rejected: []ingest.Rejection{},
				Error: fmt.Sprintf("%d events: send 1 to %d", len(raws), analytics.MaxBatch)})
			return
		}
		now := c.cfg.Now()
		events := make([]analytics.Event, 0, len(raws))
		rejected := []ingest.Rejection{}
		for i, raw := range raws {
			ev, err := exportfmt.Decode(raw, now)
			if err != nil {
				rejected = append(rejected, ingest.Rejection{Index: i, Error: analytics.Message(err)})
				continue
			}
			events = append(events, ev)
		}
		c.Counters.Rejected.Add(int64(len(rejected)))
		if len(events) == 0 {
			httpx.WriteJSON(w, http.StatusBadRequest, batchReply{Rejected: rejected, Error: "no valid events in the batch"})
			return
		}
		hints, err := c.admit(r, events, writeKey(r))
		if err != nil {
			c.fail(w, err, 0)
			return
		}
		if !hints {
			status := http.StatusForbidden
			if c.cfg.Sites != nil {
				status = http.StatusUnauthorized
			}
			c.refuse(w, &refusal{status: status, msg: importRefused})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), c.cfg.QueueTimeout)
		defer cancel()
		if err := c.publish(ctx, events); err != nil {
			c.fail(w, c.blame(r, err), len(events))
			return
		}
		c.Counters.Accepted.Add(int64(len(events)))
		httpx.WriteJSON(w, http.StatusAccepted, batchReply{Success: true, Accepted: len(events), Rejected: rejected})
	})
}
