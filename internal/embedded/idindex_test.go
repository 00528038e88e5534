package embedded

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Lookups by _id on the embedded FerretDB use an index: explain shows
// SQLite searching by index rather than scanning the table, for a
// collection created after the server started, and for one of a
// database dropped and created again (its file is new).
func TestLookupsByIDUseAnIndex(t *testing.T) {
	ctx := context.Background()
	srv, err := FerretDB(ctx, t.TempDir(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, err := mongo.Connect(options.Client().ApplyURI(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	for round := range 2 {
		db := c.Database("idx")
		docs := make([]any, 500)
		for i := range docs {
			docs[i] = bson.D{{Key: "_id", Value: fmt.Sprintf("e-%d", i)}, {Key: "n", Value: i}}
		}
		if _, err := db.Collection("events").InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			// A statement run before explain: SQLite reloads a changed
			// schema when a statement runs, and EXPLAIN QUERY PLAN alone
			// does not.
			if err := db.Collection("events").FindOne(ctx, bson.D{{Key: "_id", Value: "e-7"}}).Err(); err != nil {
				t.Fatal(err)
			}
			var ex bson.M
			cmd := bson.D{{Key: "explain", Value: bson.D{{Key: "find", Value: "events"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: "e-7"}}}}}}
			if err := db.RunCommand(ctx, cmd).Decode(&ex); err != nil {
				t.Fatal(err)
			}
			plan := fmt.Sprint(ex["queryPlanner"])
			if strings.Contains(plan, "USING INDEX") && strings.Contains(plan, idIndexSuffix) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: a lookup by _id is planned as %s, want a search using the index", round, plan)
			}
			time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
		}
		var got bson.M
		if err := db.Collection("events").FindOne(ctx, bson.D{{Key: "_id", Value: "e-7"}}).Decode(&got); err != nil || got["n"] != int32(7) {
			t.Fatalf("round %d: FindOne e-7 = %v, %v", round, got, err)
		}
		if err := db.Drop(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
