package embedded

import (
	"context"
	"log/slog"
)

// lazyHandler defers a handler's WithAttrs until a record is actually
// logged. FerretDB's SQLite backend calls Logger.With(args...) around every
// statement, with the statement's arguments (whole documents as JSON), and
// only then logs at debug level; slog's text handler formats those
// attributes in WithAttrs, enabled or not. At the warn level the embedded
// server runs at, that formatting was an eighth of the processor's CPU.
type lazyHandler struct {
	h     slog.Handler
	attrs []slog.Attr
}

func (l lazyHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l lazyHandler) Handle(ctx context.Context, r slog.Record) error {
	h := l.h
	if len(l.attrs) > 0 {
		h = h.WithAttrs(l.attrs)
	}
	return h.Handle(ctx, r)
}

func (l lazyHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return lazyHandler{h: l.h, attrs: append(l.attrs[:len(l.attrs):len(l.attrs)], attrs...)}
}

// WithGroup applies the attributes held so far first: they belong outside
// the group.
func (l lazyHandler) WithGroup(name string) slog.Handler {
	h := l.h
	if len(l.attrs) > 0 {
		h = h.WithAttrs(l.attrs)
	}
	return lazyHandler{h: h.WithGroup(name)}
}
