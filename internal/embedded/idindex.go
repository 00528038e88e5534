package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB's SQLite backend uses
)

// FerretDB v1.24's SQLite backend indexes a collection's _id under one
// expression (_ferretdb_sjson->"_id") and looks documents up by _id under
// another (_ferretdb_sjson->'$._id'), so SQLite never uses the index: every
// find, update or delete by _id parses every document of the table.
// Measured: 160-260 ms per FindOne by _id in a table of 100,000 events,
// 1.3-2.6 ms with an index on the expression the lookups use. The store
// relies on lookups by _id (part and block documents, manifests, the owners
// of a redelivered batch's events), so the embedded server adds that index
// to every collection's table, as tables appear.
//
// The index is SQLite's only: FerretDB does not know it (listIndexes does
// not show it) and drops it with its table.
const idIndexSuffix = "_ferretdb_id_lookup"

// indexIDs adds the _id lookup index to every collection table of every
// database under dir that lacks it, now and then every interval, until ctx
// ends. Errors (a table dropped meanwhile, a busy database) are retried on
// the next pass.
func indexIDs(ctx context.Context, dir string, every time.Duration) {
	for {
		_, _ = indexPass(ctx, dir)
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// indexPass adds the missing indexes once and returns how many it added.
func indexPass(ctx context.Context, dir string) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	if err != nil {
		return 0, err
	}
	added := 0
	var firstErr error
	for _, f := range files {
		n, err := indexFile(ctx, f)
		added += n
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return added, firstErr
}

// indexFile opens one database file for the pass only: FerretDB removes
// the file of a dropped database, and a connection kept open would hold
// the removed file, not the one a new database of that name gets.
func indexFile(ctx context.Context, file string) (int, error) {
	u := url.URL{Scheme: "file", Path: file, RawQuery: "_pragma=busy_timeout(10000)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return 0, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT c.table_name FROM _ferretdb_collections c
		WHERE NOT EXISTS (SELECT 1 FROM sqlite_master m WHERE m.type = 'index' AND m.name = c.table_name || ?)`, idIndexSuffix)
	if err != nil {
		return 0, fmt.Errorf("embedded ferretdb: list tables of %s: %w", file, err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return 0, err
		}
		tables = append(tables, t)
	}
	rows.Close()
	added := 0
	for _, t := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, t+idIndexSuffix, t)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return added, fmt.Errorf("embedded ferretdb: index %s of %s: %w", t, file, err)
		}
		added++
	}
	return added, nil
}
