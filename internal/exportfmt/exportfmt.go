// Package exportfmt reads the events of `analytics-cli export` (NDJSON, one
// event a line) back as the events they were: the fields the collector
// takes, checked by its own rules, and the fields it derived when they
// were collected. Both `import --direct` (into the queue) and the
// collector's POST /import (with the site's write key) use it, so an
// import keeps what the export wrote whichever way it goes.
package exportfmt

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/ingest"
)

// Derived are the fields of an exported event that the collector derives,
// as export writes them and import reads them back.
type Derived struct {
	Source       string `json:"source,omitempty"`
	ReferrerHost string `json:"referrer_host,omitempty"`
	ReferrerURL  string `json:"referrer_url,omitempty"`
	UTMSource    string `json:"utm_source,omitempty"`
	UTMMedium    string `json:"utm_medium,omitempty"`
	UTMCampaign  string `json:"utm_campaign,omitempty"`
	UTMContent   string `json:"utm_content,omitempty"`
	UTMTerm      string `json:"utm_term,omitempty"`
	Browser      string `json:"browser,omitempty"`
	OS           string `json:"os,omitempty"`
	Device       string `json:"device,omitempty"`
	Country      string `json:"country,omitempty"`
}

// DerivedOf returns the fields the collector derived for ev.
func DerivedOf(ev *analytics.Event) Derived {
	return Derived{Source: ev.Source, ReferrerHost: ev.ReferrerHost, ReferrerURL: ev.ReferrerURL,
		UTMSource: ev.UTMSource, UTMMedium: ev.UTMMedium, UTMCampaign: ev.UTMCampaign, UTMContent: ev.UTMContent, UTMTerm: ev.UTMTerm,
		Browser: ev.Browser, OS: ev.OS, Device: ev.Device, Country: ev.Country}
}

// apply sets ev's derived fields to d's.
func (d Derived) apply(ev *analytics.Event) {
	ev.Source, ev.ReferrerHost, ev.ReferrerURL = d.Source, d.ReferrerHost, d.ReferrerURL
	ev.UTMSource, ev.UTMMedium, ev.UTMCampaign, ev.UTMContent, ev.UTMTerm = d.UTMSource, d.UTMMedium, d.UTMCampaign, d.UTMContent, d.UTMTerm
	ev.Browser, ev.OS, ev.Device, ev.Country = d.Browser, d.OS, d.Device, d.Country
}

// Check is what a sender checks of a line before sending it: one JSON
// object with an id (the receiver checks the rest, item by item).
func Check(line []byte) error {
	_, err := importable(line)
	return err
}

// Decode turns one line of an export into the event to queue as it
// is: the fields the collector takes, checked by the collector's own
// rules, and every field it derived when the events were first collected
// (source, referrer host, campaign, browser, OS, device, country) kept
// from the file. Going through a collector instead would derive those
// again from the importing request: every event would get the admin's
// country and browser.
func Decode(line []byte, now time.Time) (analytics.Event, error) {
	m, err := importable(line)
	if err != nil {
		return analytics.Event{}, err
	}
	var x Derived
	if err := json.Unmarshal(line, &x); err != nil {
		return analytics.Event{}, analytics.Errorf(analytics.Invalid, "not an exported event: %v", err)
	}
	delete(m, "referrer") // the source and referrer host come from the file
	b, _ := json.Marshal(m)
	ev, err := ingest.DecodeEvent(b, now, analytics.NewID)
	if err != nil {
		return analytics.Event{}, err
	}
	for _, f := range []struct{ name, v string }{
		{"source", x.Source}, {"referrer_host", x.ReferrerHost}, {"referrer_url", x.ReferrerURL}, {"utm_source", x.UTMSource}, {"utm_medium", x.UTMMedium},
		{"utm_campaign", x.UTMCampaign}, {"utm_content", x.UTMContent}, {"utm_term", x.UTMTerm},
		{"browser", x.Browser}, {"os", x.OS}, {"device", x.Device},
	} {
		if len(f.v) > maxDerived || !utf8.ValidString(f.v) {
			return analytics.Event{}, analytics.Errorf(analytics.Invalid, "%s: at most %d bytes of UTF-8", f.name, maxDerived)
		}
	}
	if c := x.Country; c != "" && (len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z') {
		return analytics.Event{}, analytics.Errorf(analytics.Invalid, "country: %q is not an ISO 3166-1 alpha-2 code (two capital letters)", c)
	}
	x.apply(&ev)
	ev.Client = analytics.ClientHints{}
	return ev, nil
}

// maxDerived bounds a derived field read from a file; what the collector
// derives is far shorter.
const maxDerived = 256

// importable turns one line of an export (or any NDJSON event) into what
// the collector takes: the fields it derives itself (source, browser,
// country...) are dropped, UTM parameters go back into the path's query
// and the referrer host becomes a referrer, so the collector derives the
// same source and campaign again. An event needs an id: that is what makes
// a second import count nothing.
func importable(line []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, analytics.Errorf(analytics.Invalid, "not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, analytics.Errorf(analytics.Invalid, "more than one JSON value on the line")
	}
	if id, _ := m["id"].(string); id == "" {
		return nil, analytics.Errorf(analytics.Invalid, "no \"id\": import needs each event's id, so that importing twice counts once")
	}
	str := func(k string) string { s, _ := m[k].(string); delete(m, k); return s }
	var q []string
	for _, k := range []string{"utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"} {
		if v := str(k); v != "" {
			q = append(q, k+"="+url.QueryEscape(v))
		}
	}
	if p, ok := m["path"].(string); ok && len(q) > 0 && !strings.Contains(p, "?") {
		m["path"] = p + "?" + strings.Join(q, "&")
	}
	u := str("referrer_url")
	if h := str("referrer_host"); h != "" {
		if _, set := m["referrer"]; !set {
			m["referrer"] = "https://" + h + "/"
			if u != "" {
				m["referrer"] = u
			}
		}
	}
	for _, k := range []string{"source", "browser", "os", "device", "country"} {
		delete(m, k)
	}
	return m, nil
}
