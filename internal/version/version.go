// Package version says which build a binary is: `--version` on every
// command prints it.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time with
//
//	-ldflags "-X github.com/siteanalytics/analytics/internal/version.Version=v1.2.3
//	          -X github.com/siteanalytics/analytics/internal/version.Commit=abc123
//	          -X github.com/siteanalytics/analytics/internal/version.Date=2026-11-27T07:00:00Z"
//
// (the Dockerfile does); otherwise read from the Go build information
// (module version, and the VCS revision and time when built from a git
// checkout).
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// String is "VERSION (commit C, built D, goX.Y.Z OS/ARCH)".
func String() string {
	v, c, d := Version, Commit, Date
	modified := false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if c == "" {
					c = s.Value
				}
			case "vcs.time":
				if d == "" {
					d = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if c == "" {
		c = "unknown"
	} else if modified {
		c += "+changes"
	}
	if d == "" {
		d = "unknown"
	}
	return fmt.Sprintf("%s (commit %s, built %s, %s %s/%s)", v, c, d, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
