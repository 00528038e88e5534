package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// Every binary says which build it is.
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"collector", "processor", "reporter", "analytics-cli"} {
		out, err := exec.Command(filepath.Join(binDir, name), "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s --version: %v\n%s", name, err, out)
		}
		want := regexp.MustCompile(`^` + name + ` version \S+ \(commit \S+, built \S+, go1\.\d+(\.\d+)? \w+/\w+\)\n$`)
		if !want.Match(out) {
			t.Errorf("%s --version: %q", name, out)
		}
	}
}
