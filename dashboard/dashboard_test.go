package dashboard

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// The whole page (HTML, script with uPlot, styles) stays under 100 KB
// gzipped.
func TestPageWeight(t *testing.T) {
	d, err := New(Config{CollectorURL: "http://localhost:3000"})
	if err != nil {
		t.Fatal(err)
	}
	if w := d.Weight(); w >= 100*1024 {
		t.Fatalf("the dashboard weighs %d bytes gzipped; the budget is under 100 KB", w)
	} else {
		t.Logf("page weight: %d bytes gzipped (html %d, js %d, css %d)", w, len(d.page.Gzip), len(d.assets["app.js"].Gzip), len(d.assets["app.css"].Gzip))
	}
}

// TestBuildIsFresh fails when a source in web/ changed without `npm run
// build`: the build records the hash of the sources it was made from.
func TestBuildIsFresh(t *testing.T) {
	h := sha256.New()
	for _, name := range []string{"app.js", "app.css", "package-lock.json"} {
		b, err := os.ReadFile("web/" + name)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	recorded, err := os.ReadFile("dist/src-sha256")
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.TrimSpace(string(recorded)) {
		t.Fatal("dist/ is stale: web/ changed since the last build; run `npm ci && npm run build` in dashboard/web")
	}
}
