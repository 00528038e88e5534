package sdk_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/siteanalytics/analytics/sdk"
)

func Example() {
	client, err := sdk.New(sdk.Config{Endpoint: "http://localhost:3000", SiteID: "site-abc-123"})
	if err != nil {
		log.Fatal(err)
	}
	_ = client.Page("/pricing", "user-001")
	_ = client.Track(sdk.Event{EventType: "signup", UserID: "user-001", Props: map[string]any{"plan": "pro"}})

	// Close sends what is queued; give it a deadline so a dead collector
	// cannot hold the program.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Close(ctx); err != nil {
		log.Printf("analytics: %v", err)
	}
}

func ExampleClient_Track_invalid() {
	client, _ := sdk.New(sdk.Config{Endpoint: "http://localhost:3000", SiteID: "site-abc-123"})
	defer client.Close(context.Background())
	err := client.Track(sdk.Event{EventType: "page_view", Path: "pricing"})
	fmt.Println(err)
	// Output: sdk: path: "pricing" must start with / (or be a full URL)
}

func ExampleMiddleware() {
	client, _ := sdk.New(sdk.Config{Endpoint: "http://localhost:3000", SiteID: "site-abc-123"})
	defer client.Close(context.Background())

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") })
	track := sdk.Middleware(client, sdk.MiddlewareConfig{
		UserID: func(r *http.Request) string { return r.Header.Get("X-User") },
	})
	_ = http.ListenAndServe // e.g. http.ListenAndServe(":8080", track(mux))
	_ = track(mux)
}
