// Package tty tells whether output goes to a terminal, where progress bars
// and colours belong; files and pipes get plain lines.
package tty

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// Is reports whether w is a terminal (a Cygwin or MSYS one included). Any
// writer that is not an *os.File (a buffer, a pipe's wrapper) is not.
func Is(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// Or returns w when it is a terminal, else io.Discard: for output only a
// person watching wants (a redrawn progress bar).
func Or(w io.Writer) io.Writer {
	if Is(w) {
		return w
	}
	return io.Discard
}
