package docs

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// pages are the Markdown files whose links are checked: the README and
// every page of docs/ (not docs/pending, notes waiting to be merged).
func pages(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no pages in docs/")
	}
	return append([]string{"../README.md"}, files...)
}

var (
	fence     = regexp.MustCompile("(?ms)^```.*?^```[^\n]*$")
	codeSpan  = regexp.MustCompile("`[^`\n]*`")
	link      = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	heading   = regexp.MustCompile(`(?m)^#{1,6} (.*)$`)
	htmlLink  = regexp.MustCompile(`(?:href|src)="([^"]+)"`)
	tocMarker = "**Contents**"
)

// prose is a page without its code blocks and code spans, where a "](x)"
// is not a link.
func prose(s string) string {
	s = fence.ReplaceAllString(s, "")
	return codeSpan.ReplaceAllString(s, "")
}

// anchors are the fragment ids GitHub gives a page's headings: lower case,
// punctuation dropped (but - and _), spaces as -, a repeated one suffixed
// -1, -2, ...
func anchors(page string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(page, ""), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(m[1])) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n, ok := seen[a]; ok {
			seen[a] = n + 1
			a += "-" + strconv.Itoa(n+1)
		} else {
			seen[a] = 0
		}
		out[a] = true
	}
	return out
}

// TestRelativeLinks fails on a relative link of the README or of a docs
// page that leads nowhere: a file that does not exist, or an #anchor that
// no heading of its page has.
func TestRelativeLinks(t *testing.T) {
	texts := map[string]string{}
	read := func(path string) (string, bool) {
		path = filepath.Clean(path)
		if s, ok := texts[path]; ok {
			return s, true
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", false
		}
		texts[path] = string(b)
		return string(b), true
	}
	checked := 0
	for _, page := range pages(t) {
		text, ok := read(page)
		if !ok {
			t.Fatalf("cannot read %s", page)
		}
		body := prose(text)
		var targets []string
		for _, m := range link.FindAllStringSubmatch(body, -1) {
			targets = append(targets, m[1])
		}
		for _, m := range htmlLink.FindAllStringSubmatch(body, -1) {
			targets = append(targets, m[1])
		}
		for _, target := range targets {
			u, err := url.Parse(target)
			if err != nil {
				t.Errorf("%s: link %q does not parse: %v", page, target, err)
				continue
			}
			if u.Scheme != "" || u.Host != "" {
				continue // an outside address: not checked here
			}
			checked++
			dest, destText := page, text
			if u.Path != "" {
				dest = filepath.Join(filepath.Dir(page), filepath.FromSlash(u.Path))
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: link %q: %s does not exist", page, target, dest)
					continue
				}
				if u.Fragment == "" {
					continue
				}
				if !strings.HasSuffix(dest, ".md") {
					t.Errorf("%s: link %q: an anchor into a file that is not Markdown", page, target)
					continue
				}
				destText, _ = read(dest)
			}
			if u.Fragment != "" && !anchors(destText)[u.Fragment] {
				t.Errorf("%s: link %q: %s has no heading with the anchor #%s", page, target, dest, u.Fragment)
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d relative links found; the link reader is broken", checked)
	}
}

// TestPagesHaveContents: every page of docs/ longer than a screen opens
// with a table of contents (checked for dead anchors above).
func TestPagesHaveContents(t *testing.T) {
	for _, page := range pages(t)[1:] {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(b), "\n") > 60 && !strings.Contains(string(b), tocMarker) {
			t.Errorf("%s has no table of contents (a %q list of its sections)", page, tocMarker)
		}
	}
}

// TestAnchors pins the anchor rule on headings of the kinds the pages use.
func TestAnchors(t *testing.T) {
	page := "# Title\n## Collector (port 3000, `INGESTION_PORT`)\n```\n## not a heading\n```\n## Stats API (Plausible's v1)\n## Retention\n### Retention\n## Batch throughput and Segment ingest (2026-11-27)\n"
	for _, want := range []string{"title", "collector-port-3000-ingestion_port", "stats-api-plausibles-v1", "retention", "retention-1", "batch-throughput-and-segment-ingest-2026-11-27"} {
		if !anchors(page)[want] {
			t.Errorf("no anchor %q in %v", want, anchors(page))
		}
	}
	if anchors(page)["not-a-heading"] {
		t.Error("a line in a code block taken for a heading")
	}
}

// TestReadmeInstallsEveryBinary: the README's next steps put every binary
// the pages call bare (collector, analytics-cli, ...) on the PATH with one
// command, and name them all and where they go.
func TestReadmeInstallsEveryBinary(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i := strings.Index(readme, "go install ./cmd/...")
	if i < 0 || !strings.Contains(readme, "$(go env GOPATH)/bin") || !strings.Contains(readme, "GOBIN") {
		t.Fatal("the README does not say `go install ./cmd/...` and where it puts the binaries ($(go env GOPATH)/bin, or GOBIN)")
	}
	line := readme[i : i+strings.Index(readme[i:], "\n")]
	dirs, err := os.ReadDir("../cmd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join("../cmd", d.Name(), "main.go")); err != nil {
			continue
		}
		n++
		if !strings.Contains(line, d.Name()) {
			t.Errorf("the README's install line %q does not name %s", line, d.Name())
		}
	}
	if n < 4 {
		t.Errorf("%d binaries under cmd/, want at least the four", n)
	}
}
