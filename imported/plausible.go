package imported

import (
	"archive/zip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Plausible's CSV export is a zip of one CSV per imported_* table, named
// imported_<table>[_YYYYMMDD_YYYYMMDD].csv, each with a header of column
// names (ClickHouse CSVWithNames). The columns are those of
// plausible/analytics lib/plausible/exports.ex (export_queries); they are
// read by name, so their order does not matter and columns added later
// (scroll depth, time on page) are ignored.

// dimColumns maps a column to the property it fills.
var dimColumns = map[string]string{
	"source": "visit:source", "referrer": "visit:referrer",
	"utm_source": "visit:utm_source", "utm_medium": "visit:utm_medium", "utm_campaign": "visit:utm_campaign",
	"utm_content": "visit:utm_content", "utm_term": "visit:utm_term",
	"page": "event:page", "entry_page": "visit:entry_page", "exit_page": "visit:exit_page",
	"name": "event:name", "country": "visit:country", "device": "visit:device",
	"browser": "visit:browser", "operating_system": "visit:os",
}

// metricColumns maps a count column to the Row field it adds to
// (entrances and exits are the visits of entry and exit pages).
var metricColumns = map[string]func(*Row) *int64{
	"visitors":       func(r *Row) *int64 { return &r.Visitors },
	"visits":         func(r *Row) *int64 { return &r.Visits },
	"entrances":      func(r *Row) *int64 { return &r.Visits },
	"exits":          func(r *Row) *int64 { return &r.Visits },
	"pageviews":      func(r *Row) *int64 { return &r.Pageviews },
	"bounces":        func(r *Row) *int64 { return &r.Bounces },
	"visit_duration": func(r *Row) *int64 { return &r.VisitDuration },
	"events":         func(r *Row) *int64 { return &r.Events },
}

// maxCount bounds one count of one row: far above any real site's day.
const maxCount = 1_000_000_000_000

// PlausibleSummary is what ReadPlausible read.
type PlausibleSummary struct {
	// Rows read, per table; Days written, per table.
	Rows, Days map[string]int
	// Refused counts refused rows by reason ("imported_pages: visitors is not a whole number").
	Refused map[string]int
	// First and Last day seen.
	First, Last string
}

// PlausibleTable returns the table a file of the zip holds
// ("imported_sources_20240101_20241231.csv" holds sources), or "".
func PlausibleTable(name string) string {
	base := strings.TrimSuffix(path.Base(name), ".csv")
	rest, ok := strings.CutPrefix(base, "imported_")
	if !ok || base == path.Base(name) {
		return ""
	}
	for _, t := range TableNames {
		if rest == t || strings.HasPrefix(rest, t+"_2") || strings.HasPrefix(rest, t+"_1") {
			return t
		}
	}
	return ""
}

// OpenPlausible checks that zr is Plausible's CSV export and returns its
// tables' files in the order of TableNames, or an error saying what the zip
// holds instead.
func OpenPlausible(zr *zip.Reader) ([]*zip.File, error) {
	var files []*zip.File
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if PlausibleTable(f.Name) != "" {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("a zip archive without Plausible's imported_*.csv tables (it holds %s): not Plausible's CSV export", listNames(names))
	}
	order := map[string]int{}
	for i, t := range TableNames {
		order[t] = i
	}
	sort.SliceStable(files, func(i, j int) bool {
		return order[PlausibleTable(files[i].Name)] < order[PlausibleTable(files[j].Name)]
	})
	return files, nil
}

func listNames(names []string) string {
	if len(names) == 0 {
		return "no files"
	}
	if len(names) > 6 {
		return strings.Join(names[:6], ", ") + fmt.Sprintf(" and %d more", len(names)-6)
	}
	return strings.Join(names, ", ")
}

// ReadPlausibleTable reads one table's CSV and calls fn with each of its
// days (rows of equal properties summed), in date order. Rows that cannot
// be read are counted in sum.Refused by reason and skipped; a file whose
// header lacks the date or the table's columns is an error.
func ReadPlausibleTable(table string, r io.Reader, sum *PlausibleSummary, fn func(Day) error) error {
	if sum.Rows == nil {
		sum.Rows, sum.Days, sum.Refused = map[string]int{}, map[string]int{}, map[string]int{}
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil // an empty table: nothing counted there
	}
	if err != nil {
		return fmt.Errorf("imported_%s: header: %v", table, err)
	}
	header = append([]string(nil), header...) // ReuseRecord: the next row would overwrite it
	dateCol := -1
	dims := map[int]string{}
	metrics := map[int]func(*Row) *int64{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if h == "date" {
			dateCol = i
		} else if p, ok := dimColumns[h]; ok {
			dims[i] = p
		} else if m, ok := metricColumns[h]; ok {
			metrics[i] = m
		}
	}
	if dateCol < 0 {
		return fmt.Errorf("imported_%s: no \"date\" column in its header (%s): not a table of Plausible's CSV export", table, strings.Join(header, ","))
	}
	for _, p := range Props(table) {
		if !strings.HasPrefix(p, "visit:utm") && !strings.HasPrefix(p, "visit:referrer") && !hasValue(dims, p) {
			return fmt.Errorf("imported_%s: no column for %s in its header (%s)", table, p, strings.Join(header, ","))
		}
	}
	days := map[string][]Row{}
	line := 1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && pe.Err == csv.ErrFieldCount {
				sum.Refused["imported_"+table+": wrong number of fields"]++
				continue
			}
			return fmt.Errorf("imported_%s line %d: %v", table, line, err)
		}
		sum.Rows[table]++
		if len(rec) != len(header) {
			sum.Refused["imported_"+table+": wrong number of fields"]++
			continue
		}
		date := rec[dateCol]
		if _, err := time.Parse("2006-01-02", date); err != nil {
			sum.Refused["imported_"+table+": date is not YYYY-MM-DD"]++
			continue
		}
		row := Row{}
		bad := ""
		for i, m := range metrics {
			v := strings.TrimSpace(rec[i])
			if v == "" || v == "\\N" {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				bad = header[i] + " is not a whole number >= 0"
				break
			}
			if n > maxCount {
				// Bounded so that no sum over rows and days overflows.
				bad = header[i] + " is above 10^12"
				break
			}
			*m(&row) += n
		}
		if bad != "" {
			sum.Refused["imported_"+table+": "+bad]++
			continue
		}
		for i, p := range dims {
			if v := normalize(p, rec[i]); v != "" || p == "visit:source" {
				if row.Dims == nil {
					row.Dims = map[string]string{}
				}
				row.Dims[p] = v
			}
		}
		if p := Props(table); len(p) > 0 && table != Sources {
			if row.Dims[p[0]] == "" && table != Pages && table != EntryPages && table != ExitPages {
				// A row without the table's value (an unknown country,
				// device): Plausible's own tables leave those out too.
				sum.Refused["imported_"+table+": no "+strings.TrimPrefix(strings.TrimPrefix(p[0], "visit:"), "event:")]++
				continue
			}
		}
		days[date] = append(days[date], row)
	}
	dates := make([]string, 0, len(days))
	for d := range days {
		dates = append(dates, d)
	}
	sort.Strings(dates)
	for _, d := range dates {
		if sum.First == "" || d < sum.First {
			sum.First = d
		}
		if d > sum.Last {
			sum.Last = d
		}
		if err := fn(Day{Table: table, Date: d, Rows: collapse(days[d])}); err != nil {
			return err
		}
		sum.Days[table]++
	}
	return nil
}

func hasValue(m map[int]string, v string) bool {
	for _, x := range m {
		if x == v {
			return true
		}
	}
	return false
}

// normalize maps a Plausible value to ours: the direct source, the
// collector's browser, OS and device names.
func normalize(prop, v string) string {
	v = strings.TrimSpace(v)
	switch prop {
	case "visit:source":
		if v == "" {
			return "Direct / None"
		}
	case "visit:browser":
		return BrowserName(v)
	case "visit:os":
		return OSName(v)
	case "visit:device":
		return DeviceName(v)
	case "visit:country":
		return strings.ToUpper(v)
	}
	return v
}
