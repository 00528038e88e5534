package enrich

import (
	"strings"
	"unicode/utf8"
)

// MaxSourceBytes bounds a utm_source kept as sent: it becomes a dimension
// value, and a value too long to show in a breakdown is noise.
const MaxSourceBytes = 128

// Source names where a visit came from, for the "source" and "referrer"
// breakdowns. refHost is the referrer's host (lower-case, without "www."
// and port), or "" when there is no outside referrer: referrer empty,
// unparsable, not http(s) or android-app, or on ownHost itself (compared
// the same way), because moving between a site's own pages is not a source.
//
// source is the readable name of a well-known referrer ("Google", "Hacker
// News"), else refHost. A non-empty utmSource wins, since the site owner
// chose it: it is mapped to the same readable names when it names a known
// source ("hn", "fb", "news.ycombinator.com") and kept as sent otherwise
// (trimmed, at most MaxSourceBytes). "" means a direct visit.
func Source(referrer, ownHost, utmSource string) (source, refHost string) {
	refHost = referrerHost(referrer, ownHost)
	if u := strings.TrimSpace(utmSource); u != "" {
		return utmName(u), refHost
	}
	if refHost == "" {
		return "", ""
	}
	if name := knownHost(refHost); name != "" {
		return name, refHost
	}
	return refHost, refHost
}

// referrerHost is the host of an outside referrer, or "".
func referrerHost(referrer, ownHost string) string {
	if referrer == "" {
		return ""
	}
	scheme, host, ok := urlHost(referrer)
	if !ok {
		return ""
	}
	switch {
	case strings.EqualFold(scheme, "https"), strings.EqualFold(scheme, "http"), strings.EqualFold(scheme, "android-app"):
	default:
		return ""
	}
	host = bareHost(host)
	if own, ok := cleanHost(ownHost); ok && bareHost(own) == host {
		return ""
	}
	return host
}

// utmName maps a utm_source naming a known source to its readable name.
func utmName(u string) string {
	if len(u) > MaxSourceBytes {
		u = u[:MaxSourceBytes]
		for !utf8.ValidString(u) { // do not cut a character in two
			u = u[:len(u)-1]
		}
	}
	var buf [MaxSourceBytes]byte
	key := buf[:0]
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		key = append(key, c)
	}
	if name, ok := utmAliases[string(key)]; ok { // no allocation: the compiler converts in place
		return name
	}
	if name := knownHost(bareHost(string(key))); name != "" {
		return name
	}
	return u
}

// knownHost returns the readable name of a well-known referrer host
// (already lower-case and without "www."), or "".
func knownHost(h string) string {
	if e, ok := hosts[h]; ok {
		return e.name
	}
	// Parent domains, for the entries that cover their subdomains
	// (en.m.wikipedia.org, uk.search.yahoo.com, old.reddit.com).
	for p := h; ; {
		i := strings.IndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[i+1:]
		if e, ok := hosts[p]; ok && e.subdomains {
			return e.name
		}
	}
	// Brands with a domain in many countries: google.co.uk, yandex.ru.
	brand, tld, ok := strings.Cut(h, ".")
	if !ok || !countryTLD(tld) {
		return ""
	}
	return brands[brand]
}

// countryTLD reports whether s is a top-level domain a brand's national
// site lives under: com, a two-letter country code, or a second-level
// domain such as co.uk or com.br.
func countryTLD(s string) bool {
	if s == "com" || len(s) == 2 {
		return true
	}
	sld, cc, ok := strings.Cut(s, ".")
	if !ok || len(cc) != 2 {
		return false
	}
	switch sld {
	case "co", "com", "ne", "or", "ac", "net", "org":
		return true
	}
	return false
}

type hostEntry struct {
	name       string
	subdomains bool
}

// knownSources lists readable names and the hosts (and android-app package
// names) that mean them. A host written with a leading "." also covers its
// subdomains.
var knownSources = []struct {
	name  string
	hosts []string
}{
	// Search engines.
	{"Google", []string{"google.com", "com.google.android.googlequicksearchbox", "com.google.android.gm.lite"}},
	{"Google News", []string{"news.google.com", "com.google.android.apps.magazines"}},
	{"Google Scholar", []string{"scholar.google.com"}},
	{"Gemini", []string{"gemini.google.com", "bard.google.com"}},
	{"Bing", []string{".bing.com"}},
	{"DuckDuckGo", []string{"duckduckgo.com", "html.duckduckgo.com", "lite.duckduckgo.com", "com.duckduckgo.mobile.android"}},
	{"Yahoo!", []string{"yahoo.com", ".search.yahoo.com", "search.yahoo.co.jp"}},
	{"Yandex", []string{"ya.ru", ".yandex.ru", ".yandex.com", "yandex.com.tr", "ru.yandex.searchplugin"}},
	{"Baidu", []string{".baidu.com"}},
	{"Ecosia", []string{"ecosia.org"}},
	{"Brave", []string{"search.brave.com"}},
	{"Startpage", []string{"startpage.com", "eu.startpage.com", "us.startpage.com"}},
	{"Qwant", []string{"qwant.com", "lite.qwant.com"}},
	{"Kagi", []string{"kagi.com"}},
	{"Naver", []string{".naver.com"}},
	{"Seznam", []string{"seznam.cz", "search.seznam.cz"}},
	{"Sogou", []string{".sogou.com"}},

	// AI assistants.
	{"ChatGPT", []string{"chatgpt.com", "chat.openai.com", "com.openai.chatgpt"}},
	{"Perplexity", []string{"perplexity.ai", "ai.perplexity.ai"}},
	{"Claude", []string{"claude.ai"}},
	{"Copilot", []string{"copilot.microsoft.com"}},
	{"Phind", []string{"phind.com"}},

	// Communities and code.
	{"Hacker News", []string{"news.ycombinator.com", "hn.algolia.com"}},
	{"Reddit", []string{".reddit.com", "redd.it", "com.reddit.frontpage"}},
	{"Lobsters", []string{"lobste.rs"}},
	{"Product Hunt", []string{"producthunt.com"}},
	{"GitHub", []string{".github.com"}},
	{"GitLab", []string{"gitlab.com"}},
	{"Stack Overflow", []string{"stackoverflow.com"}},
	{"Stack Exchange", []string{".stackexchange.com"}},
	{"Medium", []string{".medium.com"}},
	{"Dev.to", []string{"dev.to"}},
	{"Substack", []string{".substack.com"}},
	{"Wikipedia", []string{".wikipedia.org"}},
	{"Quora", []string{".quora.com"}},
	{"Slashdot", []string{".slashdot.org"}},
	{"Feedly", []string{"feedly.com"}},

	// Social networks.
	{"Twitter", []string{"t.co", "twitter.com", "mobile.twitter.com", "x.com", "com.twitter.android"}},
	{"Facebook", []string{".facebook.com", "fb.com", "fb.me", "com.facebook.katana", "com.facebook.lite"}},
	{"Instagram", []string{".instagram.com", "com.instagram.android"}},
	{"LinkedIn", []string{".linkedin.com", "lnkd.in", "com.linkedin.android"}},
	{"YouTube", []string{".youtube.com", "youtu.be", "com.google.android.youtube"}},
	{"Pinterest", []string{".pinterest.com", "pin.it", "com.pinterest"}},
	{"TikTok", []string{".tiktok.com", "com.zhiliaoapp.musically"}},
	{"Threads", []string{"threads.net", "threads.com", "l.threads.net"}},
	{"Bluesky", []string{"bsky.app", "go.bsky.app"}},
	{"VK", []string{"vk.com", "m.vk.com"}},

	// Mail and messaging.
	{"Gmail", []string{"mail.google.com", "com.google.android.gm"}},
	{"Outlook", []string{"outlook.live.com", "outlook.office.com", "outlook.office365.com", "com.microsoft.office.outlook"}},
	{"Yahoo Mail", []string{".mail.yahoo.com", "com.yahoo.mobile.client.android.mail"}},
	{"Proton Mail", []string{"mail.proton.me"}},
	{"Telegram", []string{"t.me", "web.telegram.org", "org.telegram.messenger"}},
	{"WhatsApp", []string{"wa.me", "web.whatsapp.com", "com.whatsapp"}},
	{"Slack", []string{".slack.com", "com.slack"}},
	{"Discord", []string{"discord.com", "discordapp.com", "com.discord"}},
}

// brands are names whose national domains (<brand>.<country TLD>) all mean
// the same source.
var brands = map[string]string{
	"google": "Google", "bing": "Bing", "yahoo": "Yahoo!", "yandex": "Yandex",
	"baidu": "Baidu", "ecosia": "Ecosia", "qwant": "Qwant", "pinterest": "Pinterest",
	"startpage": "Startpage", "naver": "Naver",
}

// utmAliases are utm_source values, lower-case, that people use for known
// sources besides their host and name.
var utmAliases = map[string]string{
	"hn": "Hacker News", "ycombinator": "Hacker News", "hackernews": "Hacker News",
	"fb": "Facebook", "ig": "Instagram", "tw": "Twitter", "x": "Twitter", "li": "LinkedIn",
	"yt": "YouTube", "gh": "GitHub", "so": "Stack Overflow", "stackoverflow": "Stack Overflow",
	"ddg": "DuckDuckGo", "yahoo": "Yahoo!", "lobsters": "Lobsters", "producthunt": "Product Hunt",
	"devto": "Dev.to", "openai": "ChatGPT", "chatgpt.com": "ChatGPT",
}

var hosts = func() map[string]hostEntry {
	m := make(map[string]hostEntry)
	for _, s := range knownSources {
		for _, h := range s.hosts {
			if sub, ok := strings.CutPrefix(h, "."); ok {
				m[sub] = hostEntry{s.name, true}
			} else {
				m[h] = hostEntry{s.name, false}
			}
		}
		// A utm_source may also be the name itself, in any case.
		utmAliases[strings.ToLower(s.name)] = s.name
		utmAliases[strings.ToLower(strings.ReplaceAll(s.name, " ", ""))] = s.name
	}
	for b, name := range brands {
		utmAliases[b] = name
	}
	return m
}()

// ReferrerURL is referrer as visit:referrer keeps it: the URL without its
// query and fragment (which carry search terms and tokens), as sent
// otherwise. Call it for an outside referrer only (Source gave a host).
func ReferrerURL(referrer string) string {
	u := strings.TrimSpace(referrer)
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return u
}
