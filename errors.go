package analytics

import (
	"errors"
	"fmt"
)

// Kind classifies an error so that each HTTP service can map it to a status
// in one place, and so the processor can tell a transient failure (retry)
// from a permanent one (dead-letter).
type Kind int

// The error kinds. The zero value is Internal.
const (
	Internal    Kind = iota // a bug or an unexpected failure
	Invalid                 // the caller sent something wrong; retrying the same input fails again
	NotFound                // the thing asked for does not exist
	Unavailable             // a dependency is down or overloaded; retrying later can succeed
)

func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case NotFound:
		return "not found"
	case Unavailable:
		return "unavailable"
	default:
		return "internal"
	}
}

// Error is an error with a Kind. Msg is safe to show to the client.
type Error struct {
	Kind Kind
	Msg  string
	Err  error // the cause, if any; not shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil && e.Msg == "" {
		return e.Err.Error()
	}
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of kind k with a formatted message.
func Errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns err marked with kind k and prefixed with msg. It returns nil
// when err is nil.
func Wrap(k Kind, msg string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Msg: msg, Err: err}
}

// KindOf returns the kind of the outermost *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Message returns the client-safe message of err: the message of an *Error,
// or a generic text for anything else so internals never leak.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != Internal {
		if e.Msg == "" {
			return e.Kind.String()
		}
		return e.Msg
	}
	return "internal error"
}
