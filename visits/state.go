package visits

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/siteanalytics/analytics"
)

// state is what Redis keeps of a visitor: their last event (id and time,
// and the ids of the events at that instant), the visit's beginning,
// page views, duration, entry and exit page and attributes, and the
// annotation given to that last event.
type state struct {
	// token is 16 random hex digits, new at every change of state and
	// written first: a commit checks a state is still the one it was
	// read as by its first 16 bytes alone (see version), so Redis
	// compares and copies 16 bytes per visitor instead of the whole state.
	token       string
	id          string
	ts          int64 // Unix ms
	same        []string
	began       int64 // Unix ms
	views, dur  int64
	entry, exit string
	attrs       analytics.VisitAttrs
	ann         *analytics.Visit // nil until needed when read: see annText
	annText     string           // the annotation as appendAnnotation wrote it, when read
}

// last is the annotation of the visitor's last event.
func (st *state) last() (*analytics.Visit, error) {
	if st.ann == nil {
		v, err := parse(st.annText, time.UnixMilli(st.ts).UTC())
		if err != nil {
			return nil, err
		}
		st.ann = v
	}
	v := *st.ann
	return &v, nil
}

const dayMs = 24 * 60 * 60 * 1000

// next applies the rules of the package doc to event e, given the visitor's
// state st (nil: none). It returns e's annotation and the state after e,
// which is st itself when e changes nothing (late, or the last event sent
// again).
func next(st *state, e *analytics.Event, timeout time.Duration) (*analytics.Visit, *state) {
	ts := e.Timestamp.UnixMilli()
	if st != nil {
		if st.id == e.ID {
			if v, err := st.last(); err == nil {
				return v, st
			}
			st = nil // unreadable: as if there were no state
		}
	}
	if st != nil {
		if ts < st.ts || (ts == st.ts && contains(st.same, e.ID)) {
			return &analytics.Visit{Late: true, Began: e.Timestamp}, st
		}
	}
	n := &state{token: newToken(), id: e.ID, ts: ts, same: []string{e.ID}, began: ts, attrs: e.VisitAttrs()}
	v := &analytics.Visit{Start: true, Began: time.UnixMilli(ts).UTC()}
	if st != nil {
		if ts == st.ts {
			n.same = st.same
			if len(st.same) < maxSameTime {
				n.same = append(st.same[:len(st.same):len(st.same)], e.ID)
			}
		}
		if ts-st.ts <= timeout.Milliseconds() {
			n.attrs = st.attrs
			if floorDiv(ts, dayMs) == floorDiv(st.ts, dayMs) {
				gap := floorDiv(ts-st.ts+500, 1000)
				n.began, n.views, n.dur, n.entry, n.exit = st.began, st.views, st.dur+gap, st.entry, st.exit
				v = &analytics.Visit{Began: time.UnixMilli(st.began).UTC(), Gap: gap, Views: st.views, Duration: st.dur, Entry: st.entry, Exit: st.exit}
			}
		}
	}
	v.Attrs = n.attrs
	if e.EventType == analytics.PageView {
		n.views++
		if e.Path != "" {
			if n.entry == "" {
				n.entry = e.Path
			}
			n.exit = e.Path
		}
	}
	ann := *v // the state may outlive this call in the cache: its own copy
	n.ann = &ann
	return v, n
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// Separators of the state and annotation strings: ASCII control
// characters, which no id, stored path or attribute can hold.
const (
	unit   = "\x1f" // between fields
	record = "\x1e" // between the state and the last annotation
	group  = "\x1d" // between the attributes, one field
	ids    = "\x1c" // between the ids of the last instant
)

// tokenLen is the length of a state's token.
const tokenLen = 16

func newToken() string {
	var b [tokenLen]byte
	n := rand.Uint64()
	for i := range b {
		b[i] = hexDigits[n&15]
		n >>= 4
	}
	return string(b[:])
}

const hexDigits = "0123456789abcdef"

// version is what a commit compares of a state as read (and what GETRANGE
// 0 15 answers for it): its token, or for a state written before tokens
// existed its first 16 bytes, which are as good while it is not
// rewritten by one that did not read it ("" for none).
func version(enc string) string { return enc[:min(len(enc), tokenLen)] }

// encode is the state as Redis keeps it: token, id, ts, the ids at ts,
// began, views, duration, entry, exit, attrs; then record and the
// annotation of the last event (as appendAnnotation writes it).
func (st *state) encode() string {
	b := make([]byte, 0, 160+len(st.id)*len(st.same)+2*(len(st.entry)+len(st.exit)))
	b = append(b, st.token...)
	b = append(append(b, unit...), st.id...)
	b = strconv.AppendInt(append(b, unit...), st.ts, 10)
	b = append(b, unit...)
	for i, id := range st.same {
		if i > 0 {
			b = append(b, ids...)
		}
		b = append(b, id...)
	}
	b = strconv.AppendInt(append(b, unit...), st.began, 10)
	b = strconv.AppendInt(append(b, unit...), st.views, 10)
	b = strconv.AppendInt(append(b, unit...), st.dur, 10)
	b = append(append(b, unit...), st.entry...)
	b = append(append(b, unit...), st.exit...)
	b = appendAttrs(append(b, unit...), st.attrs)
	b = append(b, record...)
	if st.ann == nil {
		b = append(b, st.annText...)
	} else {
		b = appendAnnotation(b, st.ann)
	}
	return string(b)
}

// decode reads a state encode wrote, or one of a version before tokens
// (without one: its token is ""). The annotation is read when needed (only
// for the last event sent again).
func decode(s string) (*state, error) {
	head, ann, ok := strings.Cut(s, record)
	f := strings.Split(head, unit)
	token := ""
	if len(f) == 10 && len(f[0]) == tokenLen {
		token, f = f[0], f[1:]
	}
	if !ok || len(f) != 9 {
		return nil, fmt.Errorf("visit state %q: not token, id, time, ids, began, views, duration, entry, exit and attributes, then the annotation", s)
	}
	var n [4]int64
	for i, x := range []string{f[1], f[3], f[4], f[5]} {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("visit state %q: %v", s, err)
		}
		n[i] = v
	}
	attrs, err := splitAttrs(f[8])
	if err != nil {
		return nil, fmt.Errorf("visit state %q: %v", s, err)
	}
	return &state{token: token, id: f[0], ts: n[0], same: strings.Split(f[2], ids), began: n[1], views: n[2], dur: n[3], entry: f[6], exit: f[7], attrs: attrs, annText: ann}, nil
}

// joinAttrs is the attributes as one field.
func joinAttrs(v analytics.VisitAttrs) string { return string(appendAttrs(nil, v)) }

func appendAttrs(b []byte, v analytics.VisitAttrs) []byte {
	for i, f := range [...]string{v.Source, v.ReferrerHost, v.UTMSource, v.UTMMedium, v.UTMCampaign, v.Browser, v.OS, v.Device, v.Country, v.ReferrerURL} {
		if i > 0 {
			b = append(b, group...)
		}
		b = append(b, f...)
	}
	return b
}

func splitAttrs(s string) (analytics.VisitAttrs, error) {
	at := strings.Split(s, group)
	// Visit states written before referrer URLs were kept have 9 fields.
	if len(at) != 9 && len(at) != 10 {
		return analytics.VisitAttrs{}, fmt.Errorf("attributes %q: %d fields, want 10", s, len(at))
	}
	a := analytics.VisitAttrs{Source: at[0], ReferrerHost: at[1], UTMSource: at[2], UTMMedium: at[3], UTMCampaign: at[4],
		Browser: at[5], OS: at[6], Device: at[7], Country: at[8]}
	if len(at) == 10 {
		a.ReferrerURL = at[9]
	}
	return a, nil
}

// appendAnnotation appends an annotation as the state keeps it: "L", or
// kind (S or C), began, gap, views, duration, entry, exit, attrs.
func appendAnnotation(b []byte, v *analytics.Visit) []byte {
	if v.Late {
		return append(b, 'L')
	}
	kind := byte('C')
	if v.Start {
		kind = 'S'
	}
	b = append(b, kind)
	for _, n := range [...]int64{v.Began.UnixMilli(), v.Gap, v.Views, v.Duration} {
		b = strconv.AppendInt(append(b, unit...), n, 10)
	}
	b = append(append(b, unit...), v.Entry...)
	b = append(append(b, unit...), v.Exit...)
	return appendAttrs(append(b, unit...), v.Attrs)
}

// parse reads an annotation appendAnnotation wrote; a late one began at ts.
func parse(reply any, ts time.Time) (*analytics.Visit, error) {
	s, ok := reply.(string)
	if !ok {
		return nil, fmt.Errorf("annotation is %T, not a string", reply)
	}
	if s == "L" {
		return &analytics.Visit{Late: true, Began: ts}, nil
	}
	f := strings.Split(s, unit)
	if len(f) != 8 || (f[0] != "S" && f[0] != "C") {
		return nil, fmt.Errorf("annotation %q", s)
	}
	attrs, err := splitAttrs(f[7])
	if err != nil {
		return nil, fmt.Errorf("annotation %q: %v", s, err)
	}
	var n [4]int64
	for i, x := range f[1:5] {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("annotation %q: field %d: %v", s, i+1, err)
		}
		n[i] = v
	}
	return &analytics.Visit{Start: f[0] == "S", Began: time.UnixMilli(n[0]).UTC(), Gap: n[1], Views: n[2], Duration: n[3], Entry: f[5], Exit: f[6], Attrs: attrs}, nil
}
