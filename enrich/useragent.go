package enrich

import (
	"strings"
	"sync"

	useragent "github.com/medama-io/go-useragent"
	"github.com/medama-io/go-useragent/agents"
)

// Agent is what a User-Agent says about the browser, in the words the
// breakdowns show: Plausible's (see Names).
type Agent struct {
	Browser string // "Chrome", "Firefox", "Safari", "Edge", "Samsung Browser"...
	OS      string // "Windows", "Mac", "iOS", "Android", "Linux", "Chrome OS"...
	Device  string // "Desktop", "Mobile", "Tablet", or "" when unknown
	// Bot is true for crawlers and for headless or automated browsers:
	// neither is a visitor.
	Bot bool
	// Headless is true when Bot is true only because the browser is
	// headless or automated (not a crawler): such a browser on a local
	// development page is someone's end-to-end test, which still counts.
	Headless bool
}

// uaParser builds medama's trie on first use: it takes milliseconds and
// memory that a program not enriching events should not pay.
var uaParser = sync.OnceValue(useragent.NewParser)

// ParseUA reads a User-Agent header. An empty or unknown one gives the zero
// Agent: not a bot, since HTTP libraries (curl, Go-http-client,
// python-requests, okhttp...) are how SDKs and tests send events. It is safe
// for concurrent use.
func ParseUA(ua string) Agent {
	if ua == "" {
		return Agent{}
	}
	crawler, headless := scanWords(ua)
	if crawler {
		return Agent{Bot: true}
	}
	p := uaParser().Parse(ua)
	a := Agent{
		Browser: browserName(p.Browser()),
		OS:      osName(p.OS()),
	}
	switch p.Device() {
	case agents.DeviceDesktop, agents.DeviceTV:
		a.Device = "Desktop"
	case agents.DeviceMobile:
		a.Device = "Mobile"
		// Chrome and Samsung Internet on Android tablets say "Android"
		// without "Mobile"; phones always say "Mobile".
		if a.OS == "Android" && !strings.Contains(ua, "Mobile") {
			a.Device = "Tablet"
		}
	case agents.DeviceTablet:
		a.Device = "Tablet"
	case agents.DeviceBot:
		// medama counts HTTP libraries and in-app browsers (Instagram,
		// WhatsApp) as bots; isCrawler decides. The device follows the OS.
		a.Device = deviceOfOS(a.OS, ua)
	default:
		a.Device = deviceOfOS(a.OS, ua)
	}
	if headless {
		a.Bot, a.Headless = true, true
	}
	return a
}

func deviceOfOS(os, ua string) string {
	switch os {
	case "Windows", "Mac", "Linux", "Chrome OS", "FreeBSD", "OpenBSD":
		return "Desktop"
	case "iOS":
		if strings.Contains(ua, "iPad") {
			return "Tablet"
		}
		return "Mobile"
	case "Android":
		if strings.Contains(ua, "Mobile") {
			return "Mobile"
		}
		return "Tablet"
	}
	return ""
}

func browserName(b agents.Browser) string {
	switch b {
	case agents.BrowserIE:
		return "Internet Explorer"
	}
	return string(b)
}

func osName(o agents.OS) string {
	switch o {
	case agents.OSMacOS:
		return "Mac"
	case agents.OSChromeOS:
		return "Chrome OS"
	}
	return string(o)
}

// formerNames are the browser, OS and device names events were given
// before 2026-12-07, and the names they have now (Plausible's, so that a
// filter or a breakdown reads as it does there). Names that stayed
// ("Edge", "Linux") are not here: a value someone imported as it is stays
// as it is.
var formerNames = map[string]string{
	// browsers
	"Samsung Internet": "Samsung Browser",
	// operating systems
	"macOS": "Mac", "ChromeOS": "Chrome OS",
	// devices
	"desktop": "Desktop", "mobile": "Mobile", "tablet": "Tablet",
}

// CurrentName returns the name a browser, OS or device value has today:
// v itself, or its new name when events stored before 2026-12-07 carry it
// under a former one ("macOS" is "Mac", "desktop" is "Desktop").
func CurrentName(v string) string {
	if n, ok := formerNames[v]; ok {
		return n
	}
	return v
}

// crawlerWords mark crawlers, link previewers and monitors, matched
// case-insensitively. Most crawlers name themselves "...bot" (Googlebot,
// bingbot, GPTBot, ClaudeBot, AhrefsBot, YandexBot...), so "bot" covers
// them; the rest are listed.
var crawlerWords = []string{
	"bot", "crawl", "spider", "slurp", "facebookexternalhit", "facebookcatalog",
	"google-inspectiontool", "mediapartners-google", "google-read-aloud", "feedfetcher",
	"google-pagerenderer", "googleother", "chatgpt-user", "perplexity-user", "claude-user",
	"anthropic-ai", "cohere-ai", "ia_archiver", "scrapy", "httrack", "qwantify",
	"pingdom", "gtmetrix", "statuscake", "site24x7", "embedly", "quora link preview",
	"skypeuripreview", "vkshare", "w3c_validator", "linkcheck", "validator.nu",
	"whatsapp/", "nutch", "archive.org", "ahrefs", "semrush", "petalsearch",
}

// headlessWords mark headless and automated browsers.
var headlessWords = []string{
	"headless", "phantomjs", "puppeteer", "playwright", "lighthouse", "selenium",
	"webdriver", "prerender",
}

// uaWord is a word of crawlerWords or headlessWords.
type uaWord struct {
	w        string
	headless bool
}

// wordsByFirst indexes the words by their first byte, so that one pass over
// the User-Agent finds them all: 40 separate searches took a microsecond
// per header.
var wordsByFirst = func() (t [256][]uaWord) {
	for _, w := range crawlerWords {
		t[w[0]] = append(t[w[0]], uaWord{w, false})
	}
	for _, w := range headlessWords {
		t[w[0]] = append(t[w[0]], uaWord{w, true})
	}
	return t
}()

// scanWords reports whether ua holds a crawler's word and whether it holds
// a headless browser's, case-insensitively. The "bot" in a CUBOT phone's
// model name does not count.
func scanWords(ua string) (crawler, headless bool) {
	var buf [512]byte
	l := lowerInto(buf[:0], ua)
	for i := 0; i+1 < len(l); i++ { // every word has two bytes or more
		for _, w := range wordsByFirst[l[i]] {
			if w.w[1] != l[i+1] || len(l)-i < len(w.w) || string(l[i:i+len(w.w)]) != w.w {
				continue
			}
			switch {
			case w.headless:
				headless = true
			case w.w == "bot" && i >= 2 && string(l[i-2:i]) == "cu":
			default:
				return true, headless
			}
		}
	}
	return false, headless
}

// lowerInto appends the first cap(buf) bytes of s, lower-cased, to buf,
// which lives on the caller's stack. Crawlers name themselves early; a
// longer header is not a real browser's.
func lowerInto(buf []byte, s string) []byte {
	if len(s) > cap(buf) {
		s = s[:cap(buf)]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}
