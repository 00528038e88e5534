// Package analytics is the domain of the analytics pipeline: the Event and
// its validation, the stats query and result, the error vocabulary, and the
// contracts the daemons meet at (a queue that takes and hands out events, a
// store that keeps them and answers stats).
//
// It imports only the standard library so that every other package, and the
// tracking SDK, can share the rules without pulling in a database driver.
package analytics
