package tty_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/siteanalytics/analytics/internal/tty"
)

// Files, pipes and buffers are not terminals; /dev/null is a character
// device, and not a terminal either.
func TestNotATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for name, out := range map[string]io.Writer{"file": f, "pipe": w, "buffer": &bytes.Buffer{}, "/dev/null": null} {
		if tty.Is(out) {
			t.Errorf("%s taken for a terminal", name)
		}
		if tty.Or(out) != io.Discard {
			t.Errorf("%s gets the progress bar", name)
		}
	}
}
