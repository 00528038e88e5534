package mongostore

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/siteanalytics/analytics"
	"github.com/siteanalytics/analytics/imported"
)

// Imported aggregates (package imported) are kept apart from events:
//
//	imported_days:  {_id: "<site>/<table>/<YYYY-MM-DD>", site, table, date, rows: [...], imported_at}
//	imported_sites: {_id: site, first, last, source, imported_at}
//
// One document per site, table and day, written whole by _id: importing a
// day again replaces it, so a second import of the same export changes
// nothing, and an export that covers more days adds them. Reads are by
// _id (FerretDB scans for anything else), one per day of the range within
// the site's span.
const (
	importedDaysColl  = "imported_days"
	importedSitesColl = "imported_sites"
)

var _ imported.Source = (*Store)(nil)

type importedDayDoc struct {
	ID         string         `bson:"_id"`
	Site       string         `bson:"site"`
	Table      string         `bson:"table"`
	Date       string         `bson:"date"`
	Rows       []imported.Row `bson:"rows"`
	ImportedAt time.Time      `bson:"imported_at"`
}

type importedSiteDoc struct {
	Site       string    `bson:"_id"`
	First      string    `bson:"first"`
	Last       string    `bson:"last"`
	Source     string    `bson:"source"`
	ImportedAt time.Time `bson:"imported_at"`
}

func importedDayID(site, table, date string) string { return site + "/" + table + "/" + date }

// PutImportedDays writes days of site's imported data, each replacing what
// an earlier import wrote for its table and day. A table's day is written
// whole or not at all (one document), so an import stopped midway and run
// again leaves no half day behind.
func (s *Store) PutImportedDays(ctx context.Context, site string, days []imported.Day) error {
	if len(days) == 0 {
		return nil
	}
	now := s.now().UTC()
	models := make([]mongo.WriteModel, 0, len(days))
	for _, d := range days {
		id := importedDayID(site, d.Table, d.Date)
		models = append(models, mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetUpsert(true).
			SetReplacement(importedDayDoc{ID: id, Site: site, Table: d.Table, Date: d.Date, Rows: d.Rows, ImportedAt: now}))
	}
	if _, err := s.db.Collection(importedDaysColl).BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return analytics.Wrap(analytics.Unavailable, "mongostore: write imported days", err)
	}
	return nil
}

// ImportedDay returns one stored day of a table (ok false when there is
// none), for an import to say whether it replaces one.
func (s *Store) ImportedDay(ctx context.Context, site, table, date string) (imported.Day, bool, error) {
	var doc importedDayDoc
	err := s.db.Collection(importedDaysColl).FindOne(ctx, bson.D{{Key: "_id", Value: importedDayID(site, table, date)}}).Decode(&doc)
	if err == mongo.ErrNoDocuments {
		return imported.Day{}, false, nil
	}
	if err != nil {
		return imported.Day{}, false, analytics.Wrap(analytics.Unavailable, "mongostore: read an imported day", err)
	}
	return imported.Day{Table: doc.Table, Date: doc.Date, Rows: doc.Rows}, true, nil
}

// WidenImportedSpan records that site has imported data (from source)
// from first to last, widening what it had.
func (s *Store) WidenImportedSpan(ctx context.Context, site, source, first, last string) error {
	span, err := s.ImportedSpan(ctx, site)
	if err != nil {
		return err
	}
	if !span.Empty() {
		first, last = min(first, span.First), max(last, span.Last)
	}
	_, err = s.db.Collection(importedSitesColl).ReplaceOne(ctx, bson.D{{Key: "_id", Value: site}},
		importedSiteDoc{Site: site, First: first, Last: last, Source: source, ImportedAt: s.now().UTC()}, options.Replace().SetUpsert(true))
	if err != nil {
		return analytics.Wrap(analytics.Unavailable, "mongostore: record the imported span", err)
	}
	return nil
}

// ImportedSpan returns the days site has imported data for (empty: none).
func (s *Store) ImportedSpan(ctx context.Context, site string) (imported.Span, error) {
	var doc importedSiteDoc
	err := s.db.Collection(importedSitesColl).FindOne(ctx, bson.D{{Key: "_id", Value: site}}).Decode(&doc)
	if err == mongo.ErrNoDocuments {
		return imported.Span{}, nil
	}
	if err != nil {
		return imported.Span{}, analytics.Wrap(analytics.Unavailable, "mongostore: read the imported span", err)
	}
	return imported.Span{First: doc.First, Last: doc.Last}, nil
}

// ImportedDays returns table's stored days from first to last (inclusive,
// YYYY-MM-DD) in date order, looked up by _id within the site's span.
func (s *Store) ImportedDays(ctx context.Context, site, table, first, last string) ([]imported.Day, error) {
	span, err := s.ImportedSpan(ctx, site)
	if err != nil || span.Empty() {
		return nil, err
	}
	first, last = max(first, span.First), min(last, span.Last)
	from, err1 := time.Parse(analytics.DateLayout, first)
	to, err2 := time.Parse(analytics.DateLayout, last)
	if err1 != nil || err2 != nil {
		return nil, analytics.Errorf(analytics.Invalid, "imported days: %q to %q are not YYYY-MM-DD", first, last)
	}
	var out []imported.Day
	for start := from; !start.After(to); start = start.AddDate(0, 0, 400) {
		var ids []string
		for d := start; !d.After(to) && d.Before(start.AddDate(0, 0, 400)); d = d.AddDate(0, 0, 1) {
			ids = append(ids, importedDayID(site, table, d.Format(analytics.DateLayout)))
		}
		cur, err := s.db.Collection(importedDaysColl).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
		if err != nil {
			return nil, analytics.Wrap(analytics.Unavailable, "mongostore: read imported days", err)
		}
		var docs []importedDayDoc
		if err := cur.All(ctx, &docs); err != nil {
			return nil, analytics.Wrap(analytics.Unavailable, "mongostore: read imported days", err)
		}
		for _, d := range docs {
			out = append(out, imported.Day{Table: d.Table, Date: d.Date, Rows: d.Rows})
		}
	}
	sortDays(out)
	return out, nil
}

func sortDays(days []imported.Day) {
	for i := 1; i < len(days); i++ {
		for j := i; j > 0 && days[j].Date < days[j-1].Date; j-- {
			days[j], days[j-1] = days[j-1], days[j]
		}
	}
}

// DeleteImported removes every imported day of site and its span, and
// returns how many days it removed.
func (s *Store) DeleteImported(ctx context.Context, site string) (int64, error) {
	res, err := s.db.Collection(importedDaysColl).DeleteMany(ctx, bson.D{{Key: "site", Value: site}})
	if err != nil {
		return 0, analytics.Wrap(analytics.Unavailable, fmt.Sprintf("mongostore: delete the imported data of %s", site), err)
	}
	if _, err := s.db.Collection(importedSitesColl).DeleteOne(ctx, bson.D{{Key: "_id", Value: site}}); err != nil {
		return 0, analytics.Wrap(analytics.Unavailable, "mongostore: delete the imported span", err)
	}
	return res.DeletedCount, nil
}
