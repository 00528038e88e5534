package js

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/siteanalytics/analytics/ingest"
	"github.com/siteanalytics/analytics/internal/testenv/chrome"

	"github.com/siteanalytics/analytics"
)

// TestSnippetSendsOnlyStorableProps runs the built snippet in headless
// Chromium and requires every event it sends to be one the collector
// accepts: props keys the database cannot store are dropped (each with a
// console warning), the event and its other props are sent.
func TestSnippetSendsOnlyStorableProps(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		props string // a JavaScript expression
		want  map[string]any
		warns int
	}{
		{"valid props kept", `{plan: "pro", seats: 3, trial: true}`, map[string]any{"plan": "pro", "seats": 3.0, "trial": true}, 0},
		{"non-ASCII and punctuation keys kept", `{"prénom": "é", "a-b:c_d": 1, "a$b": 2}`, map[string]any{"prénom": "é", "a-b:c_d": 1.0, "a$b": 2.0}, 0},
		{"key with a dot dropped", `{"a.b": 1, ok: 1}`, map[string]any{"ok": 1.0}, 1},
		{"key starting with $ dropped", `{"$set": 1, ok: 1}`, map[string]any{"ok": 1.0}, 1},
		{"empty key dropped", `{"": 1, ok: 1}`, map[string]any{"ok": 1.0}, 1},
		{"key with NUL dropped", `{"a\u0000b": 1, ok: 1}`, map[string]any{"ok": 1.0}, 1},
		{"key with a newline dropped", `{"a\nb": 1, ok: 1}`, map[string]any{"ok": 1.0}, 1},
		{"key with a C1 control dropped", `{"a\u0085": 1, ok: 1}`, map[string]any{"ok": 1.0}, 1},
		{"key of 128 bytes kept, 129 dropped", `{["k".repeat(128)]: 1, ["k".repeat(129)]: 2}`, map[string]any{repeat("k", 128): 1.0}, 1},
		{"key of 129 bytes in 65 characters dropped", `{["é".repeat(64) + "a"]: 1, ok: 1}`, map[string]any{"ok": 1.0}, 1},
		{"every key dropped", `{"a.b": 1, "$c": 2}`, nil, 2},
		{"no props", `undefined`, nil, 0},
	}

	var mu sync.Mutex
	var bodies [][]byte
	mux := http.NewServeMux()
	mux.HandleFunc("/t.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write(Script)
	})
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.WriteHeader(202)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>props</title>
<script>window.warns = []; console.warn = function (m) { warns.push(String(m)) }</script>
<script defer src="/t.js" data-site="s" data-allow-localhost></script><body>`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := browser(t)
	actions := []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(srv.URL + "/caf%C3%A9/a b"),
		chromedp.WaitReady(chromedp.CSS("body")),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`!!(window.analytics && analytics.flush)`, chromedp.WithPollingTimeout(30*time.Second))(ctx, t)
			return err
		}),
	}
	for i, c := range cases {
		actions = append(actions, eval(fmt.Sprintf(`analytics.track("case%d", %s)`, i, c.props)))
	}
	actions = append(actions, eval(`analytics.flush()`))
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
	warns, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`warns`))
	if err != nil {
		t.Fatal(err)
	}

	// The page_view and one event per case, each accepted by the collector.
	got := map[string]analytics.Event{}
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < len(cases)+1 {
		if time.Now().After(deadline) {
			t.Fatalf("received %d events, want %d", len(got), len(cases)+1)
		}
		time.Sleep(20 * time.Millisecond) // polling interval: beacons arrive asynchronously
		mu.Lock()
		for _, b := range bodies {
			evs, rej, err := ingest.DecodeBatch(b, time.Now(), analytics.NewID)
			if err != nil || len(rej) > 0 {
				t.Fatalf("the collector refuses what the snippet sent: %v %+v\n%s", err, rej, b)
			}
			for _, ev := range evs {
				got[ev.EventType] = ev
			}
		}
		bodies = nil
		mu.Unlock()
	}
	if pv := got["page_view"]; pv.Path != "/caf%C3%A9/a%20b" {
		t.Errorf("page_view path %q, want the canonical /caf%%C3%%A9/a%%20b", pv.Path)
	}
	total := 0
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := got[fmt.Sprintf("case%d", i)]
			if !reflect.DeepEqual(ev.Props, c.want) && !(len(ev.Props) == 0 && len(c.want) == 0) {
				t.Errorf("props sent %v, want %v", ev.Props, c.want)
			}
		})
		total += c.warns
	}
	if len(warns) != total {
		t.Errorf("%d console warnings, want %d: %q", len(warns), total, warns)
	}
}

// eval runs JavaScript and ignores its value.
func eval(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return err
	})
}

func repeat(s string, n int) string {
	b := make([]byte, 0, len(s)*n)
	for range n {
		b = append(b, s...)
	}
	return string(b)
}

// browser starts a headless Chrome or Chromium (chrome.Path says
// which, or what to install).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := chrome.Path()
	if err != nil {
		t.Fatalf("browser tests: %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}
