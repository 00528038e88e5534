package chrome

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestLocations(t *testing.T) {
	for goos, want := range map[string]string{
		"darwin":  "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
		"linux":   "/usr/bin/chromium",
		"windows": `C:\Program Files\Google\Chrome\Application\chrome.exe`,
	} {
		if !slices.Contains(locations(goos), want) {
			t.Errorf("%s: %q not among %q", goos, want, locations(goos))
		}
		if install(goos) == "" {
			t.Errorf("%s: no install hint", goos)
		}
	}
}

func TestPathFromEnv(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in browser is a shell script")
	}
	exe := filepath.Join(t.TempDir(), "my-chrome")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CHROME_PATH", exe)
	if got, err := Path(); err != nil || got != exe {
		t.Fatalf("Path() = %q, %v; want %q", got, err, exe)
	}
	t.Setenv("CHROME_PATH", exe+"-missing")
	if _, err := Path(); err == nil || !strings.Contains(err.Error(), "CHROME_PATH") {
		t.Fatalf("Path() with a missing CHROME_PATH: %v, want an error naming CHROME_PATH", err)
	}
}
