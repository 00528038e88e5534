package httpx

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

// Static is a file served from memory: compressed once, revalidated by
// its ETag (a hash of the content).
type Static struct {
	Body, Gzip  []byte
	ContentType string
	ETag        string // quoted
}

// NewStatic prepares body.
func NewStatic(body []byte, contentType string) *Static {
	sum := sha256.Sum256(body)
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = zw.Write(body)
	_ = zw.Close()
	return &Static{Body: body, Gzip: b.Bytes(), ContentType: contentType, ETag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// Version is the ETag without quotes, for ?v= in URLs.
func (s *Static) Version() string { return strings.Trim(s.ETag, `"`) }

// ServeHTTP answers 304 to a matching If-None-Match, else the body,
// gzipped when the client accepts it. Callers set caching headers first.
func (s *Static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", s.ContentType)
	h.Set("ETag", s.ETag)
	h.Add("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, s.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := s.Body
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = s.Gzip
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
