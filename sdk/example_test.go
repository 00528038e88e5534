package sdk_test

import (
	"context"
	"fmt"
	"log"
	"net"
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

// A server-side event on behalf of a browser: the collector derives the
// traffic source, browser, device and country from these fields, stores
// none of them, and reads the campaign from the path's utm_* parameters
// (the path's other query parameters are not sent).
func ExampleClient_Track_browser() {
	client, _ := sdk.New(sdk.Config{Endpoint: "http://localhost:3000", SiteID: "site-abc-123"})
	defer client.Close(context.Background())
	handler := func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		err := client.Track(sdk.Event{
			EventType: "signup",
			Path:      r.URL.RequestURI(), // "/signup?utm_source=hn&session=x" is sent as "/signup?utm_source=hn"
			Referrer:  r.Referer(),
			UserAgent: r.UserAgent(),
			IP:        host,
		})
		if err != nil {
			// A *sdk.FieldError names the field (a Referer over 2048 bytes,
			// say); Middleware leaves such fields out instead.
			log.Printf("analytics: %v", err)
		}
	}
	_ = handler
}

func ExampleMiddleware() {
	client, _ := sdk.New(sdk.Config{Endpoint: "http://localhost:3000", SiteID: "site-abc-123"})
	defer client.Close(context.Background())

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") })
	// Each page view carries the request's Referer, User-Agent and address,
	// and the utm_* parameters of its URL.
	track := sdk.Middleware(client, sdk.MiddlewareConfig{
		UserID: func(r *http.Request) string { return r.Header.Get("X-User") },
		// Behind a reverse proxy, the browser's address is the one the proxy
		// reports (nginx: proxy_set_header X-Real-IP $remote_addr); without
		// a proxy, leave ClientIP unset (r.RemoteAddr is used).
		ClientIP: func(r *http.Request) string { return r.Header.Get("X-Real-IP") },
	})
	_ = http.ListenAndServe // e.g. http.ListenAndServe(":8080", track(mux))
	_ = track(mux)
}
