package imported

import (
	"strings"
)

// The peers name browsers, systems and devices their own way (Plausible
// "Mac", Umami "mac os" and "edge-chromium", GoatCounter "macOS 10.15");
// an import maps them to the names the collector gives (those of
// enrich.ParseUA), so that a breakdown shows one row per browser whichever
// tool counted it. A name none of the tables knows is kept as it is
// (without a version).

// BrowserName maps another tool's browser name to ours.
func BrowserName(s string) string {
	s = stripVersion(s)
	if v, ok := browsers[strings.ToLower(s)]; ok {
		return v
	}
	return s
}

// OSName maps another tool's operating system name to ours.
func OSName(s string) string {
	s = stripVersion(s)
	l := strings.ToLower(s)
	if v, ok := systems[l]; ok {
		return v
	}
	if strings.HasPrefix(l, "windows") {
		return "Windows"
	}
	return s
}

// DeviceName maps another tool's device (or screen size class) to ours:
// Desktop, Mobile or Tablet. Plausible's and Umami's "laptop" is a
// desktop here, as the collector sees no screen.
func DeviceName(s string) string {
	switch l := strings.ToLower(strings.TrimSpace(s)); l {
	case "laptop", "desktop":
		return "Desktop"
	case "mobile":
		return "Mobile"
	case "tablet":
		return "Tablet"
	default:
		return strings.TrimSpace(s)
	}
}

// stripVersion drops trailing words that start with a digit ("Chrome 86",
// "Windows 10", "macOS 10.15").
func stripVersion(s string) string {
	f := strings.Fields(s)
	for len(f) > 1 {
		last := f[len(f)-1]
		if last[0] < '0' || last[0] > '9' {
			break
		}
		f = f[:len(f)-1]
	}
	return strings.Join(f, " ")
}

var browsers = map[string]string{
	"chrome": "Chrome", "crios": "Chrome", "chrome webview": "Chrome", "chromium-webview": "Chrome",
	"firefox": "Firefox", "fxios": "Firefox",
	"safari": "Safari", "ios": "Safari", "ios-webview": "Safari", "mobile safari": "Safari",
	"edge": "Edge", "edge-chromium": "Edge", "edge-ios": "Edge", "microsoft edge": "Edge", "edgios": "Edge",
	"opera": "Opera", "opera-mini": "Opera Mini", "opera mini": "Opera Mini",
	"samsung": "Samsung Browser", "samsung browser": "Samsung Browser", "samsung internet": "Samsung Browser",
	"ie": "Internet Explorer", "internet explorer": "Internet Explorer",
	"yandexbrowser": "Yandex Browser", "yandex browser": "Yandex Browser",
	"vivaldi": "Vivaldi", "silk": "Amazon Silk", "android": "Android Browser", "android browser": "Android Browser",
}

var systems = map[string]string{
	"mac": "Mac", "mac os": "Mac", "macos": "Mac", "mac os x": "Mac", "os x": "Mac",
	"ios": "iOS", "ipados": "iOS",
	"android": "Android", "android os": "Android",
	"linux": "Linux", "gnu/linux": "Linux", "ubuntu": "Linux",
	"chrome os": "Chrome OS", "chromeos": "Chrome OS", "chromium os": "Chrome OS",
	"freebsd": "FreeBSD", "openbsd": "OpenBSD",
}
