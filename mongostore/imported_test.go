package mongostore

import (
	"context"
	"fmt"
	"testing"

	"github.com/siteanalytics/analytics/imported"
)

// Imported days are written whole by site, table and day: a day written
// again replaces the first, days are read in date order within the span,
// and another site's days are not read.
func TestImportedDays(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	site := fmt.Sprintf("imp-%d.example", s.now().UnixNano())
	row := func(src string, v int64) imported.Row {
		return imported.Row{Dims: map[string]string{"visit:source": src}, Visitors: v, Visits: v}
	}
	if span, err := s.ImportedSpan(ctx, site); err != nil || !span.Empty() {
		t.Fatalf("span of a site without imports: %+v, %v", span, err)
	}
	days := []imported.Day{
		{Table: imported.Sources, Date: "2025-09-02", Rows: []imported.Row{row("Google", 5)}},
		{Table: imported.Sources, Date: "2025-09-01", Rows: []imported.Row{row("Google", 6), row("Direct / None", 4)}},
		{Table: imported.Visitors, Date: "2025-09-01", Rows: []imported.Row{{Visitors: 10}}},
	}
	if err := s.PutImportedDays(ctx, site, days); err != nil {
		t.Fatal(err)
	}
	if err := s.PutImportedDays(ctx, "other-"+site, days[:1]); err != nil {
		t.Fatal(err)
	}
	if err := s.WidenImportedSpan(ctx, site, "plausible", "2025-09-01", "2025-09-02"); err != nil {
		t.Fatal(err)
	}
	// Again, with the second day changed: replaced, not added.
	days[0].Rows = []imported.Row{row("Google", 7)}
	if err := s.PutImportedDays(ctx, site, days[:1]); err != nil {
		t.Fatal(err)
	}
	got, err := s.ImportedDays(ctx, site, imported.Sources, "2025-01-01", "2025-12-31")
	if err != nil {
		t.Fatal(err)
	}
	if want := "[{sources 2025-09-01 [{map[visit:source:Google] 6 6 0 0 0 0} {map[visit:source:Direct / None] 4 4 0 0 0 0}]} {sources 2025-09-02 [{map[visit:source:Google] 7 7 0 0 0 0}]}]"; fmt.Sprint(got) != want {
		t.Errorf("days\n%v\nwant\n%s", got, want)
	}
	got, err = s.ImportedDays(ctx, site, imported.Sources, "2025-09-02", "2025-09-02")
	if err != nil || len(got) != 1 || got[0].Date != "2025-09-02" {
		t.Errorf("one day: %v, %v", got, err)
	}
	if err := s.WidenImportedSpan(ctx, site, "plausible", "2025-08-30", "2025-09-01"); err != nil {
		t.Fatal(err)
	}
	if span, _ := s.ImportedSpan(ctx, site); span != (imported.Span{First: "2025-08-30", Last: "2025-09-02"}) {
		t.Errorf("widened span %+v", span)
	}
	if n, err := s.DeleteImported(ctx, site); err != nil || n != 3 {
		t.Fatalf("DeleteImported: %d, %v; want 3 days", n, err)
	}
	if got, err := s.ImportedDays(ctx, site, imported.Sources, "2025-01-01", "2025-12-31"); err != nil || len(got) != 0 {
		t.Errorf("after delete: %v, %v", got, err)
	}
	if span, _ := s.ImportedSpan(ctx, "other-"+site); !span.Empty() {
		t.Errorf("the other site has no span: %+v", span)
	}
}
