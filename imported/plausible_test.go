package imported

import (
	"archive/zip"
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// The columns of these tables are those of Plausible's CSV export
// (plausible/analytics lib/plausible/exports.ex, export_queries).

func readTable(t *testing.T, table, csv string) ([]Day, PlausibleSummary, error) {
	t.Helper()
	var days []Day
	var sum PlausibleSummary
	err := ReadPlausibleTable(table, strings.NewReader(csv), &sum, func(d Day) error {
		days = append(days, d)
		return nil
	})
	return days, sum, err
}

func TestReadPlausibleTable(t *testing.T) {
	tests := []struct {
		name, table, csv string
		want             string // the days, as fmt prints them
		refused          map[string]int
		err              string
	}{
		{"visitors", Visitors, "date,visitors,pageviews,bounces,visits,visit_duration\n2025-09-02,5,8,2,6,300\n2025-09-01,10,30,4,12,600\n",
			"[{visitors 2025-09-01 [{map[] 10 12 30 4 600 0}]} {visitors 2025-09-02 [{map[] 5 6 8 2 300 0}]}]", nil, ""},
		{"columns in another order, a BOM and a column we do not know", Visitors, "\ufeffvisits,date,new_metric,visitors\n3,2025-09-01,7,2\n",
			"[{visitors 2025-09-01 [{map[] 2 3 0 0 0 0}]}]", nil, ""},
		{"a country's regions and cities add up", Locations, "date,country,region,city,visitors,visits,visit_duration,bounces,pageviews\n" +
			"2025-09-01,DE,DE-BE,1,4,5,300,2,12\n2025-09-01,DE,DE-BY,2,2,2,100,1,6\n2025-09-01,,,0,1,1,0,1,1\n",
			"[{locations 2025-09-01 [{map[visit:country:DE] 6 7 18 3 400 0}]}]", map[string]int{"imported_locations: no country": 1}, ""},
		{"direct visits and names mapped to ours", Sources, "date,source,referrer,utm_source,utm_medium,utm_campaign,utm_content,utm_term,pageviews,visitors,visits,visit_duration,bounces\n" +
			"2025-09-01,,,,,,,,10,4,5,180,2\n",
			"[{sources 2025-09-01 [{map[visit:source:Direct / None] 4 5 10 2 180 0}]}]", nil, ""},
		{"browser versions, Mac, Laptop", Browsers, "date,browser,browser_version,visitors,visits,visit_duration,bounces,pageviews\n2025-09-01,Microsoft Edge,120,1,1,0,1,1\n2025-09-01,Microsoft Edge,119,1,1,0,1,1\n",
			"[{browsers 2025-09-01 [{map[visit:browser:Edge] 2 2 2 2 0 0}]}]", nil, ""},
		{"bad rows are refused and counted", Pages, "date,hostname,page,visits,visitors,pageviews\n2025-09-01,h,/,1,1,1\nyesterday,h,/,1,1,1\n2025-09-01,h,/x,-1,1,1\n2025-09-01,h\n",
			"[{pages 2025-09-01 [{map[event:page:/] 1 1 1 0 0 0}]}]",
			map[string]int{"imported_pages: date is not YYYY-MM-DD": 1, "imported_pages: visits is not a whole number >= 0": 1, "imported_pages: wrong number of fields": 1}, ""},
		{"no date column", Visitors, "day,visitors\n2025-09-01,1\n", "[]", nil, `imported_visitors: no "date" column`},
		{"no column of the table's property", Browsers, "date,visitors\n2025-09-01,1\n", "[]", nil, "imported_browsers: no column for visit:browser"},
		{"empty", Visitors, "", "[]", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			days, sum, err := readTable(t, tt.table, tt.csv)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(days); got != tt.want && !(got == "[]" && tt.want == "[]") {
				t.Errorf("days\n%s\nwant\n%s", got, tt.want)
			}
			if len(tt.refused) > 0 || len(sum.Refused) > 0 {
				if !reflect.DeepEqual(sum.Refused, tt.refused) {
					t.Errorf("refused %v, want %v", sum.Refused, tt.refused)
				}
			}
		})
	}
}

func TestOpenPlausible(t *testing.T) {
	zipOf := func(names ...string) *zip.Reader {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		for _, n := range names {
			w, _ := zw.Create(n)
			w.Write([]byte("date\n"))
		}
		zw.Close()
		zr, err := zip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
		if err != nil {
			t.Fatal(err)
		}
		return zr
	}
	files, err := OpenPlausible(zipOf("imported_pages_20250101_20250131.csv", "imported_visitors_20250101_20250131.csv", "README.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Name != "imported_visitors_20250101_20250131.csv" {
		t.Errorf("tables %v, want visitors then pages", files)
	}
	_, err = OpenPlausible(zipOf("events.csv", "pages.csv", "referrers.csv"))
	if err == nil || !strings.Contains(err.Error(), "without Plausible's imported_*.csv tables (it holds events.csv, pages.csv, referrers.csv)") {
		t.Errorf("Umami's dashboard export: %v", err)
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{"Chrome 86": "Chrome", "edge-chromium": "Edge", "crios": "Chrome", "samsung": "Samsung Browser", "Brave": "Brave"} {
		if got := BrowserName(in); got != want {
			t.Errorf("BrowserName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"Mac": "Mac", "macOS 10.15": "Mac", "Windows 10": "Windows", "GNU/Linux": "Linux", "Android OS": "Android", "Chrome OS": "Chrome OS", "iOS 17.1": "iOS"} {
		if got := OSName(in); got != want {
			t.Errorf("OSName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"Laptop": "Desktop", "Mobile": "Mobile", "tablet": "Tablet"} {
		if got := DeviceName(in); got != want {
			t.Errorf("DeviceName(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzReadPlausibleTable: any bytes are read without a panic, and every
// day written has rows with counts >= 0.
func FuzzReadPlausibleTable(f *testing.F) {
	f.Add("sources", "date,source,referrer,utm_source,utm_medium,utm_campaign,utm_content,utm_term,pageviews,visitors,visits,visit_duration,bounces\n2025-09-01,Google,,,,,,,20,6,7,420,2\n")
	f.Add("visitors", "date,visitors,pageviews,bounces,visits,visit_duration\n2025-09-01,10,30,4,12,600\n")
	f.Add("locations", "date,country,region,city,visitors\n2025-09-01,\"D\"\"E\",,,1\n")
	f.Add("pages", "date,page,visitors\n2025-09-01,/,99999999999999999999\n")
	f.Add("pages", "date,page,visitors\n2025-09-01,/,9000000000000000000\n2025-09-01,/,9000000000000000000\n")
	f.Fuzz(func(t *testing.T, table, csv string) {
		var sum PlausibleSummary
		_ = ReadPlausibleTable(table, strings.NewReader(csv), &sum, func(d Day) error {
			for _, r := range d.Rows {
				if r.Visitors < 0 || r.Visits < 0 || r.Pageviews < 0 || r.Bounces < 0 || r.VisitDuration < 0 || r.Events < 0 {
					t.Fatalf("negative count in %+v", r)
				}
			}
			return nil
		})
	})
}
