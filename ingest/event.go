package ingest

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/siteanalytics/analytics"
)

// The fields of an event on the wire, by index in wireEvent.str.
const (
	fID = iota
	fSiteID
	fEventType
	fPath
	fUserID
	fTimestamp
	fReferrer
	fURL
	fUserAgent
	fIP
	fProps
)

var fieldNames = [...]string{"id", "site_id", "event_type", "path", "user_id", "timestamp", "referrer", "url", "user_agent", "ip", "props"}

const fieldList = "id, site_id, event_type, path, user_id, timestamp, referrer, url, user_agent, ip and props"

func fieldIndex(name []byte) int {
	switch string(name) { // compiled without allocating
	case "id":
		return fID
	case "site_id":
		return fSiteID
	case "event_type":
		return fEventType
	case "path":
		return fPath
	case "user_id":
		return fUserID
	case "timestamp":
		return fTimestamp
	case "referrer":
		return fReferrer
	case "url":
		return fURL
	case "user_agent":
		return fUserAgent
	case "ip":
		return fIP
	case "props":
		return fProps
	}
	return -1
}

// wireEvent is what a client sent, before the rules are applied. A field
// that is absent or null is "".
type wireEvent struct {
	str   [fProps]string // the string fields, by field index
	props map[string]any
	when  time.Time // the timestamp, when the sender's format was read already (Segment's)
	utm   [5]string // the campaign labels a format carries beside the URL: source, medium, campaign, content, term
}

// DecodeEvent parses one JSON event, validates it against the SPEC's rules and
// returns it normalized. now is the receive time: the default timestamp and
// the reference for "not in the future". An event without an id gets one from
// newID. Errors are *Error of kind Invalid whose message names the field.
//
// The JSON is read strictly: a field that is unknown or appears twice (at the
// top level or in props), a string that is not valid UTF-8 and data after
// the object are refused, where encoding/json would silently take the last
// value, replace bad bytes or match field names case-insensitively.
func DecodeEvent(data []byte, now time.Time, newID func() string) (analytics.Event, error) {
	return decodeEvent(data, now, newID, false)
}

func decodeEvent(data []byte, now time.Time, newID func() string, inBatch bool) (analytics.Event, error) {
	var w wireEvent
	if err := w.decode(data, inBatch); err != nil {
		return analytics.Event{}, err
	}
	return w.normalize(now, newID)
}

// DecodeBatch parses the body of POST /events: a JSON array of events or an
// object {"events": [...]}. It returns the valid events and, for each invalid
// one, a Rejection with its index. The error is non-nil only when the body as
// a whole is unusable (not JSON, not an array, too many events, empty).
func DecodeBatch(data []byte, now time.Time, newID func() string) ([]analytics.Event, []Rejection, error) {
	r := reader{data: data}
	r.skipWS()
	var raws [][]byte
	var n int
	var err error
	switch c := r.peek(); {
	case r.eof():
		return nil, nil, analytics.Errorf(analytics.Invalid, "body is empty: send a JSON array of events")
	case c == '[':
		raws, n, err = r.readArray(analytics.MaxBatch)
	case c == '{':
		raws, n, err = r.readEnvelope()
	case r.kind() != "":
		return nil, nil, analytics.Errorf(analytics.Invalid, `body is not JSON of events but %s: send a JSON array of events or {"events": [...]}`, r.kind())
	default:
		return nil, nil, analytics.Errorf(analytics.Invalid, "body is not JSON: send a JSON array of events")
	}
	if err != nil {
		return nil, nil, err
	}
	if err := r.end(); err != nil {
		return nil, nil, err
	}
	if n == 0 {
		return nil, nil, analytics.Errorf(analytics.Invalid, "no events in the batch: send at least one")
	}
	if n > analytics.MaxBatch {
		return nil, nil, analytics.Errorf(analytics.Invalid, "too many events: %d (at most %d per batch); split them into several requests", n, analytics.MaxBatch)
	}
	events := make([]analytics.Event, 0, len(raws))
	var rejected []Rejection
	for i, raw := range raws {
		ev, err := decodeEvent(raw, now, newID, true)
		if err != nil {
			rejected = append(rejected, Rejection{Index: i, Error: analytics.Message(err)})
			continue
		}
		events = append(events, ev)
	}
	return events, rejected, nil
}

// Rejection says why the event at Index of a batch was refused.
type Rejection struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// decode reads one event object into w. It checks the JSON syntax and the
// types of the fields; normalize applies the rules.
func (w *wireEvent) decode(data []byte, inBatch bool) error {
	r := reader{data: data}
	r.skipWS()
	if r.eof() {
		return analytics.Errorf(analytics.Invalid, "body is not valid JSON: it is empty; send one event as a JSON object")
	}
	if c := r.peek(); c != '{' {
		switch kind := r.kind(); kind {
		case "":
			return r.syntaxError("a JSON object")
		case "an array":
			if !inBatch {
				return analytics.Errorf(analytics.Invalid, "an event must be a JSON object, got an array (several events go to POST /events)")
			}
			return analytics.Errorf(analytics.Invalid, "an event must be a JSON object, got an array")
		default:
			return analytics.Errorf(analytics.Invalid, "an event must be a JSON object, got %s", kind)
		}
	}
	r.pos++
	var seen uint16
	if r.skipWS(); r.peek() == '}' {
		r.pos++
		return r.end()
	}
	for {
		r.skipWS()
		name, err := r.readKey()
		if err != nil {
			return err
		}
		f := fieldIndex(name)
		if f < 0 {
			return analytics.Errorf(analytics.Invalid, "unknown field %s: an event has only the fields %s", quote(string(name), 64), fieldList)
		}
		if seen&(1<<f) != 0 {
			return analytics.Errorf(analytics.Invalid, "duplicate field %q: send each field once", fieldNames[f])
		}
		seen |= 1 << f
		if err := r.colon(); err != nil {
			return err
		}
		if f == fProps {
			err = w.decodeProps(&r)
		} else {
			err = w.decodeString(&r, f)
		}
		if err != nil {
			return err
		}
		more, err := r.next('}')
		if err != nil {
			return err
		}
		if !more {
			return r.end()
		}
	}
}

func (w *wireEvent) decodeString(r *reader, f int) error {
	switch c := r.peek(); {
	case c == '"':
		b, err := r.readString()
		if err != nil {
			return err
		}
		if !utf8.Valid(b) {
			return analytics.Errorf(analytics.Invalid, "%s: must be valid UTF-8 text", fieldNames[f])
		}
		w.str[f] = string(b)
		return nil
	case c == 'n':
		return r.literal("null")
	case r.kind() != "":
		return analytics.Errorf(analytics.Invalid, "%s: must be a string, got %s", fieldNames[f], r.kind())
	default:
		return r.syntaxError("a JSON value")
	}
}

// decodeProps reads the props object. Its size is measured on the bytes the
// client sent (not counting whitespace between tokens), so the limit does not
// depend on how Go would encode it again.
func (w *wireEvent) decodeProps(r *reader) error {
	switch c := r.peek(); {
	case c == 'n':
		return r.literal("null")
	case c != '{' && r.kind() != "":
		return analytics.Errorf(analytics.Invalid, `props: must be an object like {"plan": "pro"}, got %s`, r.kind())
	case c != '{':
		return r.syntaxError("a JSON value")
	}
	start, spaces := r.pos, r.spaces
	r.pos++
	r.skipWS()
	var props map[string]any
	if r.peek() == '}' {
		r.pos++
	} else {
		for {
			r.skipWS()
			kb, err := r.readKey()
			if err != nil {
				return err
			}
			key := string(kb)
			if err := analytics.ValidatePropKey(key); err != nil {
				return err
			}
			if props == nil {
				props = make(map[string]any, 8)
			}
			if _, dup := props[key]; dup {
				return analytics.Errorf(analytics.Invalid, "props: duplicate key %q: send each key once", key)
			}
			if len(props) == analytics.MaxProps {
				return analytics.Errorf(analytics.Invalid, "props: more than %d keys; at most %d are allowed", analytics.MaxProps, analytics.MaxProps)
			}
			if err := r.colon(); err != nil {
				return err
			}
			v, err := r.readPropValue(key)
			if err != nil {
				return err
			}
			props[key] = v
			more, err := r.next('}')
			if err != nil {
				return err
			}
			if !more {
				break
			}
		}
	}
	if size := r.pos - start - (r.spaces - spaces); size > analytics.MaxPropsBytes {
		return analytics.Errorf(analytics.Invalid, "props: %d bytes of JSON, at most %d allowed", size, analytics.MaxPropsBytes)
	}
	w.props = props
	return nil
}

func (r *reader) readPropValue(key string) (any, error) {
	switch c := r.peek(); {
	case c == '"':
		b, err := r.readString()
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(b) {
			return nil, analytics.Errorf(analytics.Invalid, "props.%s: must be valid UTF-8 text", key)
		}
		return string(b), nil
	case c == '-' || c >= '0' && c <= '9':
		num, err := r.readNumber()
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(string(num), 64)
		if err != nil {
			return nil, analytics.Errorf(analytics.Invalid, "props.%s: number %s is out of range; numbers must fit in a 64-bit float (send larger ones as strings)",
				key, truncate(string(num), 40))
		}
		return f, nil
	case c == 't':
		return true, r.literal("true")
	case c == 'f':
		return false, r.literal("false")
	case c == 'n' && r.kind() != "", c == '{', c == '[':
		return nil, analytics.Errorf(analytics.Invalid, "props.%s: must be a string, number or boolean, got %s", key, kindOf(c))
	default:
		return nil, r.syntaxError("a JSON value")
	}
}

// input is the event as sent, for the rules.
func (w *wireEvent) input() analytics.Input {
	return analytics.Input{ID: w.str[fID], SiteID: w.str[fSiteID], EventType: w.str[fEventType], Path: w.str[fPath],
		UserID: w.str[fUserID], Timestamp: w.str[fTimestamp], When: w.when, Referrer: w.str[fReferrer], URL: w.str[fURL],
		UserAgent: w.str[fUserAgent], IP: w.str[fIP], Props: w.props,
		UTMSource: w.utm[0], UTMMedium: w.utm[1], UTMCampaign: w.utm[2], UTMContent: w.utm[3], UTMTerm: w.utm[4]}
}

// normalize applies the event rules (analytics.Input.Normalize).
func (w *wireEvent) normalize(now time.Time, newID func() string) (analytics.Event, error) {
	in := w.input()
	return in.Normalize(now, newID)
}
