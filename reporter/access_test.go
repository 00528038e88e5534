package reporter_test

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/siteanalytics/analytics/reporter"
	"github.com/siteanalytics/analytics/sites"
)

// memAccess is an Access whose tokens and mode a test sets.
type memAccess struct {
	tokens atomic.Int32
	closed atomic.Bool
}

func (a *memAccess) HasTokens() bool { return a.tokens.Load() > 0 }
func (a *memAccess) Closed() bool    { return a.closed.Load() || a.HasTokens() }
func (a *memAccess) Token(secret string) (*sites.Token, bool) {
	if a.HasTokens() && secret == "good" {
		return &sites.Token{Name: "good"}, true
	}
	return nil, false
}
func (a *memAccess) Public(string) bool { return false }

// TestReporterOpenOnlyOnPurpose: a reporter that once had a token stays
// closed when none is left, unless it is opened on purpose (Config.Open,
// REPORTER_OPEN=true); Open never opens a reporter that has tokens. Each
// change of mode is logged once.
func TestReporterOpenOnlyOnPurpose(t *testing.T) {
	f := &fakeEngine{}
	for _, tt := range []struct {
		name           string
		open, closed   bool
		tokens         int32
		status         int
		wantLog, wantE string
	}{
		{"never had a token", false, false, 0, 200, "reporter open", ""},
		{"last token revoked", false, true, 0, 401, "reporter closed", "analytics-cli tokens open"},
		{"last token revoked, REPORTER_OPEN", true, true, 0, 200, "reporter open", ""},
		{"tokens exist, REPORTER_OPEN", true, true, 1, 401, "reporter closed", "bearer token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			acc := &memAccess{}
			acc.closed.Store(tt.closed)
			acc.tokens.Store(tt.tokens)
			var logs bytes.Buffer
			rp := reporter.New(f, f, zerolog.New(&logs), reporter.Config{Access: acc, Open: tt.open})
			srv := httptest.NewServer(rp.Handler())
			defer srv.Close()
			if status, body := get(t, srv.URL+"/stats?site_id=s"); status != tt.status || !strings.Contains(body, tt.wantE) {
				t.Fatalf("%d %s; want %d containing %q", status, body, tt.status, tt.wantE)
			}
			rp.NoteMode()
			rp.NoteMode()
			if n := strings.Count(logs.String(), `"message":"reporter `); n != 1 || !strings.Contains(logs.String(), tt.wantLog) {
				t.Fatalf("log after two notes of one mode:\n%s\nwant %q once", logs.String(), tt.wantLog)
			}
		})
	}

	// A change is logged: the last token revoked, then opened on purpose.
	acc := &memAccess{}
	acc.tokens.Store(1)
	var logs bytes.Buffer
	rp := reporter.New(f, f, zerolog.New(&logs), reporter.Config{Access: acc})
	rp.NoteMode()
	acc.tokens.Store(0)
	acc.closed.Store(true)
	rp.NoteMode()
	if strings.Count(logs.String(), `"message":"reporter `) != 1 {
		t.Fatalf("revoking the last token changed the mode:\n%s", logs.String())
	}
	acc.closed.Store(false)
	rp.NoteMode()
	if !strings.Contains(logs.String(), "reporter open") {
		t.Fatalf("opening was not logged:\n%s", logs.String())
	}
}
