// Package ingest reads the wire formats events arrive in and turns them
// into analytics.Events under the domain's rules (analytics.Input's
// Normalize): the collector's own JSON (DecodeEvent, DecodeBatch, read by a
// small strict JSON reader), Segment's HTTP Tracking API (ParseSegment), and
// the trackers of the self-hosted peers: Plausible's Events API
// (ParsePlausible), Umami's /api/send (ParseUmami) and GoatCounter's /count
// (ParseGoatCounter). It does no I/O: the collector reads the request,
// resolves sites and applies access rules; this package only decodes.
package ingest
