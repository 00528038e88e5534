// Package chrome finds the Chrome or Chromium that browser tests drive,
// where each operating system installs it, and says what to install when
// there is none. It imports no browser driver and nothing of testenv, so a
// test binary pays nothing for it.
package chrome

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
)

// locations are the places a Chrome or Chromium is looked for, in
// order, by operating system: chromedp's own lookup (its findExecPath,
// unexported), with Debian's /usr/bin/chromium first on Linux. A browser
// that a tool downloaded into a cache is never used.
func locations(goos string) []string {
	switch goos {
	case "darwin":
		home, _ := os.UserHomeDir()
		return []string{
			"/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
			"/Applications/Chromium.app/Contents/MacOS/Chromium",
			home + "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
			home + "/Applications/Chromium.app/Contents/MacOS/Chromium",
			"chromium", "google-chrome",
		}
	case "windows":
		return []string{
			"chrome", "chrome.exe",
			`C:\Program Files\Google\Chrome\Application\chrome.exe`,
			`C:\Program Files (x86)\Google\Chrome\Application\chrome.exe`,
			os.Getenv("LOCALAPPDATA") + `\Google\Chrome\Application\chrome.exe`,
			"msedge", "msedge.exe",
			`C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe`,
		}
	default:
		return []string{
			"/usr/bin/chromium", "chromium", "chromium-browser",
			"google-chrome", "google-chrome-stable", "/usr/bin/google-chrome",
			"/snap/bin/chromium", "headless_shell", "headless-shell", "chrome",
		}
	}
}

// install says what to install, by operating system, when no browser
// is found.
func install(goos string) string {
	switch goos {
	case "darwin":
		return "install Google Chrome (https://www.google.com/chrome/) or `brew install --cask chromium`"
	case "windows":
		return "install Google Chrome (https://www.google.com/chrome/)"
	default:
		return "on Debian apt-get install chromium (./test.sh does), on Ubuntu install Google Chrome's .deb (its chromium is a snap)"
	}
}

// Path returns the Chrome or Chromium the browser tests (and the load
// test's dashboard timing) run: CHROME_PATH when set, else the first of the
// usual places for this operating system that exists. Its error says what
// to install.
func Path() (string, error) {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("CHROME_PATH=%s: %v", p, err)
		}
		return p, nil
	}
	for _, p := range locations(runtime.GOOS) {
		if found, err := exec.LookPath(p); err == nil {
			return found, nil
		}
	}
	return "", fmt.Errorf("no Chrome or Chromium found (looked for %q); %s, or set CHROME_PATH",
		locations(runtime.GOOS), install(runtime.GOOS))
}
