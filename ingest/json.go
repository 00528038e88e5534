package ingest

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/siteanalytics/analytics"
)

// reader is a small, strict JSON reader for the fixed shapes of events and
// batches. Unlike encoding/json it refuses duplicate names and keeps raw
// bytes (so invalid UTF-8 is seen, and sizes are measured as sent), and it
// reads an event in one pass with few allocations.
type reader struct {
	data    []byte
	pos     int
	spaces  int    // whitespace bytes skipped between tokens so far
	scratch []byte // unescaped strings
	// checked says a reader went over data before and found it valid, so
	// members only looks for where values end (Segment's messages are
	// read twice: cut out of the batch, then field by field).
	checked bool
}

func (r *reader) eof() bool { return r.pos >= len(r.data) }

// peek returns the next byte, or 0 at the end.
func (r *reader) peek() byte {
	if r.pos < len(r.data) {
		return r.data[r.pos]
	}
	return 0
}

// skipWS skips JSON whitespace, counting it in r.spaces.
func (r *reader) skipWS() {
	start := r.pos
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
			continue
		}
		break
	}
	r.spaces += r.pos - start
}

// end checks that nothing but whitespace follows the value.
func (r *reader) end() error {
	r.skipWS()
	if !r.eof() {
		return analytics.Errorf(analytics.Invalid, "unexpected data after the JSON value at byte %d: send exactly one JSON value", r.pos)
	}
	return nil
}

// syntaxError describes what was found where want was expected.
func (r *reader) syntaxError(want string) error {
	if r.eof() {
		return analytics.Errorf(analytics.Invalid, "body is not valid JSON: it ends too early (expected %s)", want)
	}
	c, size := utf8.DecodeRune(r.data[r.pos:])
	found := strconv.QuoteRune(c)
	if c == utf8.RuneError && size == 1 {
		found = "byte " + strconv.Quote(string(r.data[r.pos:r.pos+1]))
	}
	return analytics.Errorf(analytics.Invalid, "body is not valid JSON: expected %s at byte %d, found %s", want, r.pos, found)
}

// kindOf names the JSON value that starts with c, or "" for none.
func kindOf(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	}
	return ""
}

// kind names the JSON value at r.pos, or "" when none starts there (a
// literal must be complete: "nope" is not null).
func (r *reader) kind() string {
	rest := r.data[r.pos:]
	switch c := r.peek(); {
	case c == 't' && !bytes.HasPrefix(rest, []byte("true")),
		c == 'f' && !bytes.HasPrefix(rest, []byte("false")),
		c == 'n' && !bytes.HasPrefix(rest, []byte("null")):
		return ""
	default:
		return kindOf(c)
	}
}

func (r *reader) colon() error {
	r.skipWS()
	if r.peek() != ':' {
		return r.syntaxError(`":" after a field name`)
	}
	r.pos++
	r.skipWS()
	return nil
}

// next reads the "," between members (true) or the closing byte (false).
func (r *reader) next(closing byte) (bool, error) {
	r.skipWS()
	switch r.peek() {
	case ',':
		r.pos++
		return true, nil
	case closing:
		r.pos++
		return false, nil
	}
	return false, r.syntaxError(`"," or "` + string(closing) + `"`)
}

func (r *reader) literal(lit string) error {
	if !bytes.HasPrefix(r.data[r.pos:], []byte(lit)) {
		return r.syntaxError(lit)
	}
	r.pos += len(lit)
	return nil
}

func (r *reader) readKey() ([]byte, error) {
	if r.peek() != '"' {
		return nil, r.syntaxError("a field name in double quotes")
	}
	return r.readString()
}

// readString reads a string whose opening quote is at r.pos and returns its
// unescaped bytes, which are valid only until the next call. A lone UTF-16
// surrogate escape (\ud800) becomes bytes that are not valid UTF-8, so
// callers refuse it like any other invalid UTF-8.
func (r *reader) readString() ([]byte, error) {
	start := r.pos + 1
	i := start
	for ; i < len(r.data); i++ {
		c := r.data[i]
		if c == '"' {
			r.pos = i + 1
			return r.data[start:i], nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	b := append(r.scratch[:0], r.data[start:i]...)
	for i < len(r.data) {
		c := r.data[i]
		switch {
		case c == '"':
			r.pos = i + 1
			r.scratch = b
			return b, nil
		case c < 0x20:
			r.pos = i
			return nil, analytics.Errorf(analytics.Invalid, `body is not valid JSON: control character %U in a string at byte %d; escape it (\n, \t, \u00XX)`, rune(c), i)
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(r.data) {
			break
		}
		switch e := r.data[i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			u, ok := hex4(r.data, i+2)
			if !ok {
				if i+6 > len(r.data) {
					i = len(r.data)
					continue
				}
				return nil, analytics.Errorf(analytics.Invalid, `body is not valid JSON: \u must be followed by 4 hex digits (byte %d)`, i)
			}
			i += 6
			if u >= 0xd800 && u < 0xdc00 && i+1 < len(r.data) && r.data[i] == '\\' && r.data[i+1] == 'u' {
				if lo, ok := hex4(r.data, i+2); ok && lo >= 0xdc00 && lo < 0xe000 {
					b = utf8.AppendRune(b, 0x10000+(u-0xd800)<<10+(lo-0xdc00))
					i += 6
					continue
				}
			}
			if u >= 0xd800 && u < 0xe000 { // a lone surrogate: keep it as invalid UTF-8
				b = append(b, 0xe0|byte(u>>12), 0x80|byte(u>>6)&0x3f, 0x80|byte(u)&0x3f)
			} else {
				b = utf8.AppendRune(b, u)
			}
			continue
		default:
			esc := `\` + string(rune(e))
			if e < 0x21 || e > 0x7e {
				esc = fmt.Sprintf(`\ followed by byte 0x%02X`, e)
			}
			return nil, analytics.Errorf(analytics.Invalid, `body is not valid JSON: invalid escape %s in a string at byte %d; JSON allows \" \\ \/ \b \f \n \r \t \uXXXX`, esc, i)
		}
		i += 2
	}
	r.pos = len(r.data)
	return nil, r.syntaxError(`the closing " of a string`)
}

func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var u rune
	for _, c := range data[i : i+4] {
		h, ok := unhex(c)
		if !ok {
			return 0, false
		}
		u = u<<4 | rune(h)
	}
	return u, true
}

// readNumber reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *reader) readNumber() ([]byte, error) {
	start := r.pos
	if r.peek() == '-' {
		r.pos++
	}
	switch c := r.peek(); {
	case c == '0':
		r.pos++
	case c >= '1' && c <= '9':
		r.digits()
	default:
		return nil, r.syntaxError("a digit")
	}
	if r.peek() == '.' {
		r.pos++
		if c := r.peek(); c < '0' || c > '9' {
			return nil, r.syntaxError("a digit after the decimal point")
		}
		r.digits()
	}
	if c := r.peek(); c == 'e' || c == 'E' {
		r.pos++
		if c := r.peek(); c == '+' || c == '-' {
			r.pos++
		}
		if c := r.peek(); c < '0' || c > '9' {
			return nil, r.syntaxError("a digit in the exponent")
		}
		r.digits()
	}
	return r.data[start:r.pos], nil
}

func (r *reader) digits() {
	for r.pos < len(r.data) && r.data[r.pos] >= '0' && r.data[r.pos] <= '9' {
		r.pos++
	}
}

// maxDepth bounds the nesting of the values skipVal reads, as encoding/json
// does.
const maxDepth = 10000

// skipValue reads any JSON value, checking its syntax, without keeping it.
func (r *reader) skipValue() error {
	var open []byte // the containers the value is inside: '{' or '['
	for {
		// A value starts here.
		r.skipWS()
		switch c := r.peek(); {
		case c == '{' || c == '[':
			r.pos++
			r.skipWS()
			if r.peek() == c+2 { // '}' is '{'+2 and ']' is '['+2
				r.pos++
				break
			}
			if len(open) == maxDepth {
				return analytics.Errorf(analytics.Invalid, "body is not valid JSON: nested more than %d levels deep", maxDepth)
			}
			open = append(open, c)
			if c == '{' {
				if err := r.member(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if _, err := r.readString(); err != nil {
				return err
			}
		case c == '-' || c >= '0' && c <= '9':
			if _, err := r.readNumber(); err != nil {
				return err
			}
		case c == 't':
			if err := r.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := r.literal("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := r.literal("null"); err != nil {
				return err
			}
		default:
			return r.syntaxError("a JSON value")
		}
		// The value ended: close what it ends, up to the next value.
		for {
			if len(open) == 0 {
				return nil
			}
			top := open[len(open)-1]
			more, err := r.next(top + 2)
			if err != nil {
				return err
			}
			if more {
				if top == '{' {
					if err := r.member(); err != nil {
						return err
					}
				}
				break
			}
			open = open[:len(open)-1]
		}
	}
}

// members calls f with the name and the raw value of each member of the
// object at r.pos, in order, checking the syntax as it goes. name is valid
// only during the call.
func (r *reader) members(f func(name, value []byte) error) error { return r.membersOwn(f, nil) }

// membersOwn is members where own, when not nil, may read a member's value
// itself (from r.pos, after the colon) and report that it did; f is then not
// called for it.
func (r *reader) membersOwn(f func(name, value []byte) error, own func(name []byte) (bool, error)) error {
	if r.peek() != '{' {
		return r.syntaxError("a JSON object")
	}
	r.pos++
	if r.skipWS(); r.peek() == '}' {
		r.pos++
		return nil
	}
	for {
		r.skipWS()
		name, err := r.readKey()
		if err != nil {
			return err
		}
		// An escaped name is in the scratch space: the value's strings
		// must not overwrite it.
		held := r.scratch
		r.scratch = nil
		if err := r.colon(); err != nil {
			return err
		}
		done := false
		if own != nil {
			var err error
			if done, err = own(name); err != nil {
				return err
			}
		}
		if !done {
			start := r.pos
			if r.checked {
				r.skipChecked()
			} else if err := r.skipValue(); err != nil {
				return err
			}
			if err := f(name, r.data[start:r.pos]); err != nil {
				return err
			}
		}
		if cap(held) > cap(r.scratch) {
			r.scratch = held
		}
		more, err := r.next('}')
		if err != nil || !more {
			return err
		}
	}
}

// skipChecked moves past the value at r.pos of data that was found valid
// before: it only finds the value's end.
func (r *reader) skipChecked() {
	depth := 0
	for {
		switch c := r.data[r.pos]; c {
		case '"':
			r.pos = closingQuote(r.data, r.pos+1) + 1
		case '{', '[':
			depth++
			r.pos++
			continue
		case '}', ']':
			depth--
			r.pos++
		case ',', ':', ' ', '\t', '\n', '\r':
			r.pos++
			continue
		default: // a number or a literal
			for r.pos < len(r.data) && !endOfScalar[r.data[r.pos]] {
				r.pos++
			}
		}
		if depth == 0 {
			return
		}
	}
}

// endOfScalar marks the bytes that end a number or literal.
var endOfScalar = func() (t [256]bool) {
	for _, c := range []byte(",:}] \t\n\r") {
		t[c] = true
	}
	return t
}()

// closingQuote returns the index of the quote that ends the string whose
// text starts at i: the first one not escaped by an odd run of backslashes.
func closingQuote(data []byte, i int) int {
	for {
		q := i + bytes.IndexByte(data[i:], '"')
		n := 0
		for k := q - 1; k >= i && data[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q
		}
		i = q + 1
	}
}

// member reads an object member's name and colon.
func (r *reader) member() error {
	r.skipWS()
	if _, err := r.readKey(); err != nil {
		return err
	}
	return r.colon()
}

// readArray reads an array of values and returns the first limit of them
// raw, and how many there are.
func (r *reader) readArray(limit int) ([][]byte, int, error) {
	r.pos++ // '['
	var raws [][]byte
	n := 0
	if r.skipWS(); r.peek() == ']' {
		r.pos++
		return nil, 0, nil
	}
	for {
		r.skipWS()
		start := r.pos
		if err := r.skipValue(); err != nil {
			return nil, 0, err
		}
		if n < limit {
			raws = append(raws, r.data[start:r.pos])
		}
		n++
		more, err := r.next(']')
		if err != nil {
			return nil, 0, err
		}
		if !more {
			return raws, n, nil
		}
	}
}

// readEnvelope reads {"events": [...]}.
func (r *reader) readEnvelope() ([][]byte, int, error) {
	const shape = `body must be a JSON array of events or {"events": [...]}`
	r.pos++ // '{'
	var raws [][]byte
	n, seen, found := 0, false, false
	if r.skipWS(); r.peek() == '}' {
		r.pos++
		return nil, 0, analytics.Errorf(analytics.Invalid, shape)
	}
	for {
		r.skipWS()
		name, err := r.readKey()
		if err != nil {
			return nil, 0, err
		}
		if string(name) != "events" {
			return nil, 0, analytics.Errorf(analytics.Invalid, `unknown field %s: a batch object has only "events"`, quote(string(name), 64))
		}
		if seen {
			return nil, 0, analytics.Errorf(analytics.Invalid, `duplicate field "events": send each field once`)
		}
		seen = true
		if err := r.colon(); err != nil {
			return nil, 0, err
		}
		switch c := r.peek(); {
		case c == '[':
			raws, n, err = r.readArray(analytics.MaxBatch)
			if err != nil {
				return nil, 0, err
			}
			found = true
		case c == 'n':
			if err := r.literal("null"); err != nil {
				return nil, 0, err
			}
		case r.kind() != "":
			return nil, 0, analytics.Errorf(analytics.Invalid, "events: must be an array, got %s", r.kind())
		default:
			return nil, 0, r.syntaxError("a JSON value")
		}
		more, err := r.next('}')
		if err != nil {
			return nil, 0, err
		}
		if !more {
			break
		}
	}
	if !found {
		return nil, 0, analytics.Errorf(analytics.Invalid, shape)
	}
	return raws, n, nil
}

// truncate shortens s to at most n bytes (plus "..."), cutting at a rune
// boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// quote is %q of s, shortened to about n bytes.
func quote(s string, n int) string { return strconv.Quote(truncate(s, n)) }

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
