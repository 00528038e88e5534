package js

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

func TestSnippetUnder1KBGzipped(t *testing.T) {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(Script)
	zw.Close()
	if b.Len() >= 1024 {
		t.Fatalf("t.min.js is %d bytes gzipped; the budget is under 1024", b.Len())
	}
	t.Logf("t.min.js: %d bytes, %d gzipped", len(Script), b.Len())
}

// TestBuildIsFresh fails when t.js changed without `npm run build`: the
// build records the hash of the source it was made from.
func TestBuildIsFresh(t *testing.T) {
	src, err := os.ReadFile("t.js")
	if err != nil {
		t.Fatal(err)
	}
	recorded, err := os.ReadFile("t.min.js.src-sha256")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	if got := hex.EncodeToString(sum[:]); got != strings.TrimSpace(string(recorded)) {
		t.Fatalf("t.min.js is stale: t.js changed since the last build; run `npm install && npm run build` in js/")
	}
}
