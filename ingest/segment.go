package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/siteanalytics/analytics"
)

// Limits of Segment's HTTP Tracking API, which its clients already respect:
// analytics-go, analytics-node and analytics.js split batches by them.
const (
	MaxSegmentMessageBytes = 32 << 10
	MaxSegmentBodyBytes    = 500 << 10
	MaxSegmentBatch        = 2500
)

// Segment message types. page and screen become page_view events, track
// the event it names, identify an "identify" event; group and alias are
// accepted and not recorded.
const (
	SegmentTrack    = "track"
	SegmentPage     = "page"
	SegmentScreen   = "screen"
	SegmentIdentify = "identify"
	SegmentGroup    = "group"
	SegmentAlias    = "alias"
	SegmentBatch    = "batch" // a body {"batch": [...]} of messages of any type
)

// Identify is the event type an identify message is recorded as, so the
// user it names counts as a visitor of the day it was sent.
const Identify = "identify"

// SegmentRequest is a body of Segment's HTTP Tracking API, parsed as far as
// the write key: the collector resolves the key to a site before the
// messages become events. It is not safe for concurrent use.
type SegmentRequest struct {
	// WriteKey is the body's writeKey ("" when absent): analytics.js sends
	// it there, the server libraries as the Basic auth user name.
	WriteKey string
	kind     string // the type of a single message, SegmentBatch for a batch
	messages [][]byte
	context  segContext // the batch's context, under each message's own
	sentAt   string     // the batch's sentAt, for messages without their own
	sent     time.Time  // sentAt parsed, once for all the messages
	sentErr  error      // why sentAt cannot be parsed
}

// segMessage holds the raw values of the fields of a message the mapping
// reads; the others (integrations, traits, groupId, previousId, ...) are
// ignored. A wrong type refuses only its message, naming the field.
type segMessage struct {
	Type, MessageID, UserID, AnonymousID, Event, Name, Category []byte
	Properties, Context, Timestamp, OriginalTimestamp, SentAt   []byte
}

// segContext is the part of a message's context that feeds enrichment.
type segContext struct {
	IP        string
	UserAgent string
	Page      struct{ Path, URL, Referrer string }
	Campaign  struct{ Name, Source, Medium, Term, Content string }
}

// ParseSegment reads the body of a Segment endpoint: kind is the message
// type the path names (SegmentTrack, ...), or SegmentBatch for /v1/batch and
// /v1/import. The error, of kind Invalid, is for the request as a whole:
// not a JSON object, no batch array, more than MaxSegmentBatch messages, a
// message over MaxSegmentMessageBytes.
// A message that is wrong on its own is refused later, by Events. Unlike
// DecodeEvent it ignores fields it does not know, and a field sent twice
// counts with its last value, as Segment's own API does.
func ParseSegment(kind string, body []byte) (*SegmentRequest, error) {
	r := reader{data: body}
	r.skipWS()
	if r.peek() != '{' {
		return nil, analytics.Errorf(analytics.Invalid, `body must be a JSON object (a Segment message, or {"batch": [...]} for /v1/batch)`)
	}
	req := &SegmentRequest{kind: kind}
	start := r.pos
	var raws [][]byte
	var n int
	var batch, context []byte
	err := r.membersOwn(func(name, v []byte) error {
		var err error
		switch string(name) {
		case "writeKey":
			req.WriteKey, err = segString(v, "writeKey", false)
		case "sentAt":
			req.sentAt, err = segString(v, "sentAt", false)
		case "context":
			context = v
		case "batch":
			if kind == SegmentBatch && !isNull(v) {
				err = analytics.Errorf(analytics.Invalid, "batch: must be an array of messages, got %s", kindOf(v[0]))
			}
		}
		return err
	}, func(name []byte) (bool, error) {
		// The batch's messages are cut out as the body is read, not
		// scanned a second time.
		if kind != SegmentBatch || string(name) != "batch" || r.peek() != '[' {
			return false, nil
		}
		var err error
		start := r.pos
		raws, n, err = r.readArray(MaxSegmentBatch)
		batch = r.data[start:r.pos]
		return true, err
	})
	if err != nil {
		return nil, err
	}
	msg := body[start:r.pos]
	if err := r.end(); err != nil {
		return nil, err
	}
	if kind != SegmentBatch {
		req.messages = [][]byte{msg}
		return req, checkMessageSizes(req.messages)
	}
	if req.context, err = parseContext(context); err != nil {
		return nil, err
	}
	if batch == nil {
		return nil, analytics.Errorf(analytics.Invalid, `batch: required; send {"batch": [messages...]}`)
	}
	if n > MaxSegmentBatch {
		return nil, analytics.Errorf(analytics.Invalid, "batch: %d messages, at most %d per request; split them into several requests", n, MaxSegmentBatch)
	}
	req.messages = raws
	return req, checkMessageSizes(raws)
}

// checkMessageSizes refuses a request with a message over
// MaxSegmentMessageBytes as a whole, as Segment's API does (its clients
// never send one).
func checkMessageSizes(msgs [][]byte) error {
	for i, m := range msgs {
		if len(m) > MaxSegmentMessageBytes {
			return analytics.Errorf(analytics.Invalid, "message %d is %d bytes, at most %d (32 KB) allowed per message; send less in its properties", i, len(m), MaxSegmentMessageBytes)
		}
	}
	return nil
}

// Messages returns how many messages the request carries.
func (s *SegmentRequest) Messages() int { return len(s.messages) }

// Events maps the messages to events of site, applying the same rules as
// DecodeEvent. now is the receive time (the reference of the clock skew
// correction); newID names messages without a messageId. A message that
// breaks a rule is left out with a Rejection naming its index and the
// reason; group and alias messages are left out and counted in ignored.
func (s *SegmentRequest) Events(site string, now time.Time, newID func() string) (events []analytics.Event, rejected []Rejection, ignored int) {
	events = make([]analytics.Event, 0, len(s.messages))
	for i, raw := range s.messages {
		ev, ok, err := s.event(raw, site, now, newID)
		switch {
		case err != nil:
			rejected = append(rejected, Rejection{Index: i, Error: analytics.Message(err)})
		case !ok:
			ignored++
		default:
			events = append(events, ev)
		}
	}
	return events, rejected, ignored
}

// event maps one message; ok is false for a message that is accepted and
// not recorded (group, alias).
func (s *SegmentRequest) event(raw []byte, site string, now time.Time, newID func() string) (analytics.Event, bool, error) {
	if raw[0] != '{' {
		return analytics.Event{}, false, analytics.Errorf(analytics.Invalid, "message must be a JSON object, got %s", kindOf(raw[0]))
	}
	var m segMessage
	// context and properties are read where they stand (properties once
	// the type is known: "type" comes first from Segment's libraries), not
	// cut out and read again.
	var (
		ctx                segContext
		props              map[string]any
		size               int
		page               segPage
		ctxErr, propsErr   error
		ctxRead, propsRead bool
	)
	r := reader{data: raw, checked: true}
	_ = r.membersOwn(func(name, v []byte) error { // the body's syntax is checked
		switch string(name) {
		case "type":
			m.Type = v
		case "messageId":
			m.MessageID = v
		case "userId":
			m.UserID = v
		case "anonymousId":
			m.AnonymousID = v
		case "event":
			m.Event = v
		case "name":
			m.Name = v
		case "category":
			m.Category = v
		case "properties":
			m.Properties = v
		case "context":
			m.Context = v
		case "timestamp":
			m.Timestamp = v
		case "originalTimestamp":
			m.OriginalTimestamp = v
		case "sentAt":
			m.SentAt = v
		}
		return nil
	}, func(name []byte) (bool, error) {
		if r.peek() != '{' {
			return false, nil
		}
		switch string(name) {
		case "context":
			ctx, ctxErr = readContext(&r)
			ctxRead = true
			return true, nil
		case "properties":
			typ, ok := s.typeOf(m.Type)
			if !ok {
				return false, nil
			}
			props, size, page, propsErr = readProperties(&r, typ)
			propsRead = true
			return true, nil
		}
		return false, nil
	})
	typ := s.kind
	if typ == SegmentBatch {
		t, err := segString(m.Type, "type", false)
		if err != nil {
			return analytics.Event{}, false, err
		}
		switch t {
		case SegmentTrack, SegmentPage, SegmentScreen, SegmentIdentify, SegmentGroup, SegmentAlias:
			typ = t
		case "":
			return analytics.Event{}, false, analytics.Errorf(analytics.Invalid, "type: required in a batch (track, page, screen, identify, group or alias)")
		default:
			return analytics.Event{}, false, analytics.Errorf(analytics.Invalid, "type: %s is not one of track, page, screen, identify, group, alias", quote(t, 40))
		}
	}
	if typ == SegmentGroup || typ == SegmentAlias {
		return analytics.Event{}, false, nil
	}

	var w wireEvent
	set := func(f int, v string) {
		if v != "" {
			w.str[f] = v
		}
	}
	set(fSiteID, site)
	user, err := segString(m.UserID, "userId", true)
	if err != nil {
		return analytics.Event{}, false, err
	}
	if user == "" {
		if user, err = segString(m.AnonymousID, "anonymousId", true); err != nil {
			return analytics.Event{}, false, err
		}
	}
	if user == "" {
		return analytics.Event{}, false, analytics.Errorf(analytics.Invalid, "userId or anonymousId: one is required")
	}
	set(fUserID, user)

	id, err := segString(m.MessageID, "messageId", false)
	if err != nil {
		return analytics.Event{}, false, err
	}
	set(fID, segmentID(id))

	if !ctxRead {
		ctx, ctxErr = parseContext(m.Context)
	}
	if ctxErr != nil {
		return analytics.Event{}, false, ctxErr
	}
	ctx.under(&s.context)
	if !propsRead {
		props, size, page, propsErr = segProperties(m.Properties, typ)
	}
	if propsErr != nil {
		return analytics.Event{}, false, propsErr
	}
	switch typ {
	case SegmentTrack:
		name, err := segString(m.Event, "event", false)
		if err != nil {
			return analytics.Event{}, false, err
		}
		if name == "" {
			return analytics.Event{}, false, analytics.Errorf(analytics.Invalid, "event: required in a track message (the event's name, such as \"Order Completed\")")
		}
		set(fEventType, name)
	case SegmentPage, SegmentScreen:
		set(fEventType, analytics.PageView)
		set(fPath, firstOf(page.Path, ctx.Page.Path))
		set(fURL, firstOf(page.URL, ctx.Page.URL))
		set(fReferrer, firstOf(page.Referrer, ctx.Page.Referrer))
		for _, f := range [...]struct {
			raw  []byte
			name string
		}{{m.Name, "name"}, {m.Category, "category"}} {
			v, err := segString(f.raw, f.name, false)
			if err != nil {
				return analytics.Event{}, false, err
			}
			if v != "" {
				if props == nil {
					props = map[string]any{}
				}
				props[f.name] = v
				size += len(f.name) + len(v)*6 + 6 // "name":"v", every byte escaped at worst
			}
		}
		props = fitProps(props, size)
	case SegmentIdentify:
		set(fEventType, Identify)
		props = nil // traits and properties of an identify are personal data: not kept
	}
	if len(props) > 0 {
		w.props = props
	}
	set(fUserAgent, ctx.UserAgent)
	set(fIP, ctx.IP)
	if typ != SegmentPage && typ != SegmentScreen {
		// A track or identify sent from a page still says where it came from.
		set(fReferrer, ctx.Page.Referrer)
		set(fURL, ctx.Page.URL)
		set(fPath, ctx.Page.Path)
	}

	if w.when, err = s.timestamp(&m, now); err != nil {
		return analytics.Event{}, false, err
	}

	// context.campaign wins over the page URL's utm_ parameters.
	w.utm = [5]string{ctx.Campaign.Source, ctx.Campaign.Medium, ctx.Campaign.Name, ctx.Campaign.Content, ctx.Campaign.Term}
	ev, err := w.normalize(now, newID)
	if err != nil {
		return analytics.Event{}, false, segmentError(err)
	}
	return ev, true, nil
}

// typeOf is the type of a message whose type field is raw, when it is known
// already: the path's, or a valid string in a batch.
func (s *SegmentRequest) typeOf(raw []byte) (string, bool) {
	if s.kind != SegmentBatch {
		return s.kind, true
	}
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	for _, t := range [...]string{SegmentTrack, SegmentPage, SegmentScreen, SegmentIdentify, SegmentGroup, SegmentAlias} {
		if string(unquote(raw)) == t {
			return t, true
		}
	}
	return "", false
}

// timestamp is the message's time as Segment computes it: timestamp (else
// originalTimestamp) moved by the client's clock skew, the difference
// between its sentAt and the receive time; zero means the receive time.
func (s *SegmentRequest) timestamp(m *segMessage, now time.Time) (time.Time, error) {
	field, raw := "timestamp", m.Timestamp
	if isNull(raw) {
		field, raw = "originalTimestamp", m.OriginalTimestamp
	}
	v, err := segString(raw, field, false)
	if err != nil || v == "" {
		return time.Time{}, err
	}
	ts, err := analytics.ParseTimestamp(v)
	if err != nil {
		return time.Time{}, renameField(err, "timestamp", field)
	}
	sent, err := segString(m.SentAt, "sentAt", false)
	if err != nil {
		return time.Time{}, err
	}
	var at time.Time
	switch {
	case sent != "":
		at, err = analytics.ParseTimestamp(sent)
	case s.sentAt != "":
		if s.sent.IsZero() && s.sentErr == nil {
			s.sent, s.sentErr = analytics.ParseTimestamp(s.sentAt)
		}
		at, err = s.sent, s.sentErr
	default:
		return ts, nil
	}
	if err != nil {
		return time.Time{}, renameField(err, "timestamp", "sentAt")
	}
	return now.Add(-at.Sub(ts)).UTC(), nil
}

// segmentID is the event id of a messageId: itself when it fits the id
// rule, else a hash of it (Segment allows any string), so a resent message
// still maps to the same id. "" lets the collector assign one.
func segmentID(id string) string {
	if id == "" || analytics.ValidateID(id) == nil {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "seg-" + hex.EncodeToString(sum[:20])
}

// segPage is what properties say about the page of a page or screen call.
type segPage struct{ Path, URL, Referrer string }

// segProperties reads properties into props under the props rules, which
// Segment's free-form properties often break: values that are objects or
// arrays are dropped (their keys would need "." to flatten, which MongoDB
// cannot store), as are null values, numbers beyond a 64-bit float and keys
// the key rule refuses; of the rest the first 32 keys in byte order are
// kept, fewer when they pass 4 KiB of JSON. For page and screen, path, url,
// referrer and search describe the page and are read into page instead.
func segProperties(raw []byte, typ string) (map[string]any, int, segPage, error) {
	if isNull(raw) {
		return nil, 0, segPage{}, nil
	}
	if raw[0] != '{' {
		return nil, 0, segPage{}, analytics.Errorf(analytics.Invalid, "properties: must be an object, got %s", kindOf(raw[0]))
	}
	return readProperties(&reader{data: raw, checked: true}, typ)
}

// readProperties is segProperties of the object at r.pos of checked data.
// It reads the object to its end even when a value is wrong, and returns
// the first error.
func readProperties(r *reader, typ string) (map[string]any, int, segPage, error) {
	var page segPage
	isPage := typ == SegmentPage || typ == SegmentScreen
	var props map[string]any
	size := 0 // of the kept members as sent
	var first error
	_ = r.members(func(name, v []byte) error {
		if isPage {
			var dst *string
			switch string(name) {
			case "path":
				dst = &page.Path
			case "url":
				dst = &page.URL
			case "referrer":
				dst = &page.Referrer
			case "search":
				return nil // the query of url: read from there
			}
			if dst != nil {
				var err error
				if *dst, err = segMember(v, "properties", name); err != nil && first == nil {
					first = err
				}
				return nil
			}
		}
		var val any
		switch c := v[0]; {
		case c == '"':
			b := unquote(v)
			if !utf8.Valid(b) {
				return nil
			}
			val = string(b)
		case c == 't' || c == 'f':
			val = c == 't'
		case c == '-' || c >= '0' && c <= '9':
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return nil
			}
			val = f
		default:
			return nil
		}
		k := string(name)
		if analytics.ValidatePropKey(k) != nil {
			return nil
		}
		if props == nil {
			props = make(map[string]any, 8)
		}
		props[k] = val
		size += len(k) + len(v) + 4 // "k":v,
		return nil
	})
	if first != nil {
		return nil, 0, page, first
	}
	if isPage {
		return props, size, page, nil // fitted once name and category are in
	}
	return fitProps(props, size), size, page, nil
}

// fitProps keeps the first analytics.MaxProps keys of props in byte order, and fewer
// when their JSON passes analytics.MaxPropsBytes. sent is the size of their JSON as
// sent: encoded again it can only grow by the longer form of a number
// ("1e20" is 100000000000000000000), so well under the limit it fits.
func fitProps(props map[string]any, sent int) map[string]any {
	if len(props) == 0 {
		return nil
	}
	if len(props) <= analytics.MaxProps && sent+analytics.MaxProps*24 <= analytics.MaxPropsBytes {
		return props
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys[min(len(keys), analytics.MaxProps):] {
		delete(props, k)
	}
	keys = keys[:min(len(keys), analytics.MaxProps)]
	for len(keys) > 0 && analytics.ValidateProps(props) != nil {
		delete(props, keys[len(keys)-1])
		keys = keys[:len(keys)-1]
	}
	if len(props) == 0 {
		return nil
	}
	return props
}

var (
	pageFields     = [...]string{"path", "url", "referrer"}
	campaignFields = [...]string{"name", "source", "medium", "term", "content"}
)

// parseContext reads the context fields that feed enrichment.
func parseContext(raw []byte) (segContext, error) {
	var c segContext
	if isNull(raw) {
		return c, nil
	}
	if raw[0] != '{' {
		return c, analytics.Errorf(analytics.Invalid, "context: must be an object, got %s", kindOf(raw[0]))
	}
	return readContext(&reader{data: raw, checked: true})
}

// readContext is parseContext of the object at r.pos of checked data. It
// reads the object to its end even when a value is wrong, and returns the
// first error.
func readContext(r *reader) (segContext, error) {
	var c segContext
	var first error
	_ = r.members(func(name, v []byte) error {
		var err error
		switch string(name) {
		case "ip":
			c.IP, err = segString(v, "context.ip", false)
		case "userAgent":
			c.UserAgent, err = segString(v, "context.userAgent", false)
		case "page":
			var out [3]string
			err = segStrings(v, "context.page", pageFields[:], out[:])
			c.Page.Path, c.Page.URL, c.Page.Referrer = out[0], out[1], out[2]
		case "campaign":
			var out [5]string
			err = segStrings(v, "context.campaign", campaignFields[:], out[:])
			c.Campaign.Name, c.Campaign.Source, c.Campaign.Medium, c.Campaign.Term, c.Campaign.Content = out[0], out[1], out[2], out[3], out[4]
		}
		if first == nil {
			first = err
		}
		return nil
	})
	return c, first
}

// under fills the fields c lacks from the batch's context d.
func (c *segContext) under(d *segContext) {
	for _, f := range [...][2]*string{{&c.IP, &d.IP}, {&c.UserAgent, &d.UserAgent}, {&c.Page.Path, &d.Page.Path},
		{&c.Page.URL, &d.Page.URL}, {&c.Page.Referrer, &d.Page.Referrer}, {&c.Campaign.Name, &d.Campaign.Name},
		{&c.Campaign.Source, &d.Campaign.Source}, {&c.Campaign.Medium, &d.Campaign.Medium},
		{&c.Campaign.Term, &d.Campaign.Term}, {&c.Campaign.Content, &d.Campaign.Content}} {
		if *f[0] == "" {
			*f[0] = *f[1]
		}
	}
}

// segStrings reads the string members of the object raw named in names
// into out (by index).
func segStrings(raw []byte, field string, names []string, out []string) error {
	if isNull(raw) {
		return nil
	}
	if raw[0] != '{' {
		return analytics.Errorf(analytics.Invalid, "%s: must be an object, got %s", field, kindOf(raw[0]))
	}
	r := reader{data: raw, checked: true}
	return r.members(func(name, v []byte) error {
		for i, n := range names {
			if string(name) == n {
				var err error
				out[i], err = segMember(v, field, name)
				return err
			}
		}
		return nil
	})
}

// segString reads a string field; "" when absent or null. numbers lets an
// id be a JSON number, as some clients send user ids.
func segString(raw []byte, field string, numbers bool) (string, error) {
	v, problem := segValue(raw, numbers)
	if problem != "" {
		return "", analytics.Errorf(analytics.Invalid, "%s: %s", field, problem)
	}
	return v, nil
}

// segMember is segString for the member name of the object field, its
// name put together only for an error.
func segMember(raw []byte, field string, name []byte) (string, error) {
	v, problem := segValue(raw, false)
	if problem != "" {
		return "", analytics.Errorf(analytics.Invalid, "%s.%s: %s", field, name, problem)
	}
	return v, nil
}

// segValue reads a string value, or says what is wrong with it.
func segValue(raw []byte, numbers bool) (string, string) {
	if isNull(raw) {
		return "", ""
	}
	switch c := raw[0]; {
	case c == '"':
		b := unquote(raw)
		if !utf8.Valid(b) {
			return "", "must be valid UTF-8 text"
		}
		return string(b), ""
	case numbers && (c == '-' || c >= '0' && c <= '9'):
		return string(raw), ""
	default:
		return "", "must be a string, got " + kindOf(c)
	}
}

func isNull(raw []byte) bool { return len(raw) == 0 || raw[0] == 'n' }

// unquote returns the text of the JSON string raw, which a reader has read
// before (so its syntax is right): without escapes, the bytes between the
// quotes, as they are.
func unquote(raw []byte) []byte {
	b := raw[1 : len(raw)-1]
	if bytes.IndexByte(b, '\\') < 0 {
		return b
	}
	r := reader{data: raw, checked: true}
	b, _ = r.readString()
	return b
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// segmentFields names, for each field of an event, where a Segment message
// carries it, so an error names what the sender can fix.
var segmentFields = [...][2]string{
	{"event_type: ", "event: "},
	{"user_id: ", "userId/anonymousId: "},
	{"id: ", "messageId: "},
	{"path: ", "path (properties.path or context.page.path): "},
	{"url: ", "url (properties.url or context.page.url): "},
	{"referrer: ", "referrer (properties.referrer or context.page.referrer): "},
	{"user_agent: ", "context.userAgent: "},
	{"ip: ", "context.ip: "},
}

// segmentError renames the event field an error of normalize names.
func segmentError(err error) error {
	msg := analytics.Message(err)
	for _, f := range segmentFields {
		if strings.HasPrefix(msg, f[0]) {
			return analytics.Errorf(analytics.Invalid, "%s%s", f[1], msg[len(f[0]):])
		}
	}
	return err
}

func renameField(err error, from, to string) error {
	msg := analytics.Message(err)
	if strings.HasPrefix(msg, from+": ") {
		return analytics.Errorf(analytics.Invalid, "%s: %s", to, msg[len(from)+2:])
	}
	return err
}
