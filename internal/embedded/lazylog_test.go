package embedded

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// The lazy handler writes the same lines as the handler it wraps,
// attributes and groups in the same places, and formats nothing for a
// disabled level.
func TestLazyHandlerWritesWhatTheTextHandlerWrites(t *testing.T) {
	var want, got bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	plain := slog.New(slog.NewTextHandler(&want, opts))
	lazy := slog.New(lazyHandler{h: slog.NewTextHandler(&got, opts)})
	for _, l := range []*slog.Logger{plain, lazy} {
		l.With("a", 1).With("b", "two").Debug("hidden", "c", 3)
		l.With("a", 1).WithGroup("g").With("b", 2).Warn("shown", "c", 3)
		l.With("x", "y").Error("also shown")
	}
	if want.String() != got.String() {
		t.Fatalf("lazy handler wrote\n%s\nthe text handler wrote\n%s", got.String(), want.String())
	}
	if strings.Contains(got.String(), "hidden") || !strings.Contains(got.String(), "g.b=2") {
		t.Fatalf("unexpected output:\n%s", got.String())
	}
}

type countingValuer struct{ n *int }

func (c countingValuer) LogValue() slog.Value { *c.n++; return slog.StringValue("v") }

func TestLazyHandlerDoesNotFormatDisabledRecords(t *testing.T) {
	var buf bytes.Buffer
	n := 0
	l := slog.New(lazyHandler{h: slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})})
	for range 10 {
		l.With("args", countingValuer{&n}).Debug("statement")
	}
	if n != 0 || buf.Len() != 0 {
		t.Fatalf("formatted %d attributes and wrote %q for disabled records", n, buf.String())
	}
}
