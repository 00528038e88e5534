package main

import (
	"strings"
	"testing"

	"github.com/siteanalytics/analytics/internal/exportfmt"
)

// A CSV export is safe to open in a spreadsheet: a cell that would start
// with a formula character is prefixed with a quote, as OWASP recommends
// against CSV injection; other cells are written as they are.
func TestCSVExportEscapesFormulas(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"equals", "=HYPERLINK(\"http://evil.example\",\"x\")", "'=HYPERLINK(\"http://evil.example\",\"x\")"},
		{"plus", "+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"minus", "-2+3", "'-2+3"},
		{"at", "@SUM(1+1)", "'@SUM(1+1)"},
		{"tab", "\t=1", "'\t=1"},
		{"carriage return", "\r=1", "'\r=1"},
		{"plain", "user-1", "user-1"},
		{"path", "/pricing", "/pricing"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := exported{ID: "id-1", SiteID: "s", EventType: tc.in, UserID: tc.in,
				Derived: exportfmt.Derived{Browser: tc.in, Country: tc.in}, Props: map[string]any{"k": tc.in}}
			row := e.csvRow()
			for _, i := range []int{2, 5, 13, 16} {
				if row[i] != tc.want {
					t.Fatalf("cell %s = %q, want %q", csvHeader[i], row[i], tc.want)
				}
			}
			if props := row[len(row)-1]; strings.HasPrefix(props, "'") {
				t.Fatalf("props cell %q escaped: it starts with {", props)
			}
		})
	}
}
