// Package testhttp is the HTTP client of tests: one request, its answer
// read whole. It uses only the standard library, so a test package can use
// it without building the test servers of package testenv.
package testhttp

import (
	"io"
	"net/http"
	"testing"
)

// Request sends method url with body (none when nil) and the header pairs
// hdr (name, value, name, value ...) and returns the response with its
// body read and closed, and that body. A request that cannot be made or
// sent fails the test.
func Request(t testing.TB, method, url string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}
