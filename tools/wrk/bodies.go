//go:build ignore

// bodies writes the request bodies of bench.sh into the folder given:
// event.json (one event), events.json (100 events of 50 sites, as the load
// tool sends) and batch.json (100 Segment page messages of one write key,
// shaped as analytics-go sends them).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

func main() {
	dir := os.Args[1]
	ts := time.Now().UTC().Format(time.RFC3339)
	event := func(i int) map[string]any {
		return map[string]any{"site_id": fmt.Sprintf("load-%d", i%50), "event_type": "page_view",
			"path": fmt.Sprintf("/p/%d", i%97), "user_id": fmt.Sprintf("u%d", i%5000), "timestamp": ts}
	}
	events := make([]map[string]any, 100)
	msgs := make([]map[string]any, 100)
	for i := range events {
		events[i] = event(i)
		msgs[i] = map[string]any{"type": "page", "messageId": fmt.Sprintf("4f7c5b0e-2f7a-4d6e-9d1c-%012d", i),
			"userId": fmt.Sprintf("u%d", i%5000), "timestamp": ts,
			"context":    map[string]any{"library": map[string]any{"name": "analytics-go", "version": "3.3.0"}},
			"properties": map[string]any{"path": fmt.Sprintf("/p/%d", i%97), "title": "Page"}}
	}
	write := func(name string, v any) {
		b, _ := json.Marshal(v)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			panic(err)
		}
	}
	write("event.json", event(0))
	write("events.json", events)
	write("batch.json", map[string]any{"messageId": "batch-1", "sentAt": ts, "batch": msgs})
}
