package redisqueue

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/siteanalytics/analytics"
)

// appendEvent appends ev's JSON, exactly as json.Marshal writes it, to b.
// Encoding was more than half of the collector's publishing work through
// reflection (the timestamp's MarshalJSON alone a quarter); props of types
// other than string, float64 and bool, which the decoders never make, go
// through json.Marshal.
func appendEvent(b []byte, ev *analytics.Event) ([]byte, error) {
	return appendEventVisit(b, ev, ev.Visit)
}

// appendEventVisit appends ev's JSON with visit as its Visit.
func appendEventVisit(b []byte, ev *analytics.Event, visit *analytics.Visit) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, ev.ID)
	b = append(b, `,"site_id":`...)
	b = appendString(b, ev.SiteID)
	b = append(b, `,"event_type":`...)
	b = appendString(b, ev.EventType)
	b = appendField(b, "path", ev.Path)
	b = appendField(b, "user_id", ev.UserID)
	b = append(b, `,"timestamp":"`...)
	if y := ev.Timestamp.Year(); y < 0 || y >= 10000 {
		return nil, &json.UnsupportedValueError{Str: "timestamp year outside [0,9999]"}
	}
	b = ev.Timestamp.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if len(ev.Props) > 0 {
		var err error
		if b, err = appendProps(append(b, `,"props":`...), ev.Props); err != nil {
			return nil, err
		}
	}
	for _, f := range [...]struct{ name, v string }{
		{"utm_source", ev.UTMSource}, {"utm_medium", ev.UTMMedium}, {"utm_campaign", ev.UTMCampaign},
		{"utm_content", ev.UTMContent}, {"utm_term", ev.UTMTerm}, {"source", ev.Source},
		{"referrer_host", ev.ReferrerHost}, {"referrer_url", ev.ReferrerURL}, {"browser", ev.Browser}, {"os", ev.OS}, {"device", ev.Device},
		{"country", ev.Country},
	} {
		b = appendField(b, f.name, f.v)
	}
	if v := visit; v != nil {
		var err error
		if b, err = appendVisit(append(b, `,"visit":`...), v); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendVisit appends the visit annotation as json.Marshal writes it. The
// annotation is what the processor counts visits from: an encoder that
// dropped it would lose every visit without an error.
func appendVisit(b []byte, v *analytics.Visit) ([]byte, error) {
	b = append(b, '{')
	if v.Start {
		b = append(b, `"start":true,`...)
	}
	if v.Late {
		b = append(b, `"late":true,`...)
	}
	b = append(b, `"began":"`...)
	if y := v.Began.Year(); y < 0 || y >= 10000 {
		return nil, &json.UnsupportedValueError{Str: "visit began: year outside [0,9999]"}
	}
	b = v.Began.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	for _, f := range [...]struct {
		name string
		n    int64
	}{{"gap", v.Gap}, {"views", v.Views}, {"duration", v.Duration}} {
		if f.n != 0 {
			b = append(b, ',', '"')
			b = append(b, f.name...)
			b = append(b, '"', ':')
			b = strconv.AppendInt(b, f.n, 10)
		}
	}
	b = appendField(b, "entry", v.Entry)
	b = appendField(b, "exit", v.Exit)
	b = append(b, `,"attrs":{`...)
	a := v.Attrs
	start := len(b)
	for _, f := range [...]struct{ name, v string }{
		{"source", a.Source}, {"referrer_host", a.ReferrerHost}, {"referrer_url", a.ReferrerURL}, {"utm_source", a.UTMSource},
		{"utm_medium", a.UTMMedium}, {"utm_campaign", a.UTMCampaign}, {"browser", a.Browser},
		{"os", a.OS}, {"device", a.Device}, {"country", a.Country},
	} {
		b = appendField(b, f.name, f.v)
	}
	if len(b) > start {
		// appendField writes a leading comma; the object's first field has none.
		b = append(b[:start], b[start+1:]...)
	}
	return append(b, '}', '}'), nil
}

// appendField appends ,"name":"v" unless v is empty (omitempty).
func appendField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

// appendProps appends props as json.Marshal does: keys sorted.
func appendProps(b []byte, props map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		switch v := props[k].(type) {
		case string:
			b = appendString(b, v)
		case bool:
			b = strconv.AppendBool(b, v)
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, &json.UnsupportedValueError{Str: strconv.FormatFloat(v, 'g', -1, 64)}
			}
			b = appendFloat(b, v)
		default:
			e, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			b = append(b, e...)
		}
	}
	return append(b, '}'), nil
}

// appendFloat writes f as encoding/json does: like ES6, %f between 1e-6
// and 1e21, else %e with a short exponent.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way json.Marshal does:
// HTML-sensitive <, > and & escaped, as are U+2028 and U+2029, and bytes
// that are not UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
