// Package js holds the browser snippet. The readable source is t.js; the
// collector serves the minified build t.min.js (made with `npm run build`
// here, and committed) at GET /t.js.
package js

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
)

// Script is the minified snippet.
//
//go:embed t.min.js
var Script []byte

// ETag identifies this build of Script for HTTP caching.
var ETag = func() string {
	sum := sha256.Sum256(Script)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// PlausibleScript is the Plausible-compatible script the collector serves
// at /js/script.js (plausible.js, readable and small enough unminified).
//
//go:embed plausible.js
var PlausibleScript []byte
