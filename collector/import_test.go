package collector_test

import (
	"strings"
	"testing"
)

// POST /import keeps the file's derived fields for a server's request (open
// mode: no Origin or Referer), refuses a browser's with the reason, and
// rejects bad items by index without failing the rest.
func TestImportEndpoint(t *testing.T) {
	q := &memQueue{}
	srv := newServer(t, q)
	body := `[{"id":"e1","site_id":"s","event_type":"page_view","timestamp":"2025-11-12T10:00:00Z","path":"/a","user_id":"u",` +
		`"source":"Google","referrer_host":"google.com","utm_campaign":"c1","browser":"Firefox","os":"Linux","device":"desktop","country":"JP"},` +
		`{"site_id":"s","event_type":"page_view"},` +
		`{"id":"e3","site_id":"s","event_type":"page_view","timestamp":"2025-11-12T10:00:00Z","country":"Japan"}]`
	resp, got := do(t, "POST", srv.URL+"/import", "application/json", "", []byte(body), "User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36")
	if resp.StatusCode != 202 || !strings.Contains(got, `"accepted":1`) ||
		!strings.Contains(got, `{"index":1,"error":"no \"id\": import needs each event's id, so that importing twice counts once"}`) ||
		!strings.Contains(got, `{"index":2,"error":"country: \"Japan\" is not an ISO 3166-1 alpha-2 code (two capital letters)"}`) {
		t.Fatalf("POST /import: %d %s", resp.StatusCode, got)
	}
	if len(q.events) != 1 {
		t.Fatalf("queued %d events, want 1", len(q.events))
	}
	ev := q.events[0]
	if ev.ID != "e1" || ev.Browser != "Firefox" || ev.OS != "Linux" || ev.Device != "desktop" || ev.Country != "JP" ||
		ev.Source != "Google" || ev.ReferrerHost != "google.com" || ev.UTMCampaign != "c1" || ev.Path != "/a" {
		t.Errorf("queued %+v: the file's fields were not kept", ev)
	}

	// A browser's request may not speak for other browsers.
	resp, got = do(t, "POST", srv.URL+"/import", "application/json", "", []byte(body), "Origin", "https://s.example")
	if resp.StatusCode != 403 || !strings.Contains(got, "only for an authenticated sender") {
		t.Fatalf("POST /import from a browser: %d %s", resp.StatusCode, got)
	}
	resp, got = do(t, "POST", srv.URL+"/import", "application/json", "", []byte(`{"events":[]}`))
	if resp.StatusCode != 400 || !strings.Contains(got, "not a JSON array of exported events") {
		t.Fatalf("POST /import of an object: %d %s", resp.StatusCode, got)
	}
	if len(q.events) != 1 {
		t.Fatalf("refused imports queued events: %d", len(q.events))
	}
}
