package httpx_test

import (
	"net/http/httptest"
	"testing"

	"github.com/siteanalytics/analytics/internal/httpx"
)

// JSON answers are application/json, never HTML: <, > and & are written as
// they are, not as \u003c, \u003e and \u0026.
func TestWriteJSONWithoutHTMLEscapes(t *testing.T) {
	w := httptest.NewRecorder()
	httpx.WriteJSON(w, 400, map[string]string{"error": `path "/<img src=x>?a&b": too long`})
	want := `{"error":"path \"/<img src=x>?a&b\": too long"}` + "\n"
	if w.Code != 400 || w.Body.String() != want {
		t.Fatalf("%d %s, want 400 %s", w.Code, w.Body.String(), want)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
}
