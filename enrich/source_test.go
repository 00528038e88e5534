package enrich

import (
	"context"
	"net/http/httptest"

	"github.com/siteanalytics/analytics"
	"strings"
	"testing"
)

func TestSource(t *testing.T) {
	tests := []struct {
		name, referrer, own, utm string
		source, host             string
	}{
		{"direct", "", "example.com", "", "", ""},
		{"google.com", "https://www.google.com/", "example.com", "", "Google", "google.com"},
		{"google.co.uk search", "https://www.google.co.uk/search?q=x", "example.com", "", "Google", "google.co.uk"},
		{"google.de", "https://www.google.de/", "example.com", "", "Google", "google.de"},
		{"google.com.br", "https://google.com.br/", "example.com", "", "Google", "google.com.br"},
		{"google app", "android-app://com.google.android.googlequicksearchbox/", "example.com", "", "Google", "com.google.android.googlequicksearchbox"},
		{"google docs is not google search", "https://docs.google.com/document/d/1", "example.com", "", "docs.google.com", "docs.google.com"},
		{"gmail web", "https://mail.google.com/mail/u/0/", "example.com", "", "Gmail", "mail.google.com"},
		{"gmail app", "android-app://com.google.android.gm/", "example.com", "", "Gmail", "com.google.android.gm"},
		{"google news", "https://news.google.com/articles/x", "example.com", "", "Google News", "news.google.com"},
		{"bing", "https://www.bing.com/search?q=golang+analytics", "example.com", "", "Bing", "bing.com"},
		{"bing cn", "https://cn.bing.com/search?q=x", "example.com", "", "Bing", "cn.bing.com"},
		{"duckduckgo", "https://duckduckgo.com/", "example.com", "", "DuckDuckGo", "duckduckgo.com"},
		{"yahoo search uk", "https://uk.search.yahoo.com/search?p=x", "example.com", "", "Yahoo!", "uk.search.yahoo.com"},
		{"yahoo mail", "https://mail.yahoo.com/d/folders/1", "example.com", "", "Yahoo Mail", "mail.yahoo.com"},
		{"yandex ru", "https://yandex.ru/", "example.com", "", "Yandex", "yandex.ru"},
		{"yandex com.tr", "https://yandex.com.tr/search/?text=x", "example.com", "", "Yandex", "yandex.com.tr"},
		{"baidu", "https://www.baidu.com/link?url=x", "example.com", "", "Baidu", "baidu.com"},
		{"ecosia", "https://www.ecosia.org/search?q=x", "example.com", "", "Ecosia", "ecosia.org"},
		{"brave", "https://search.brave.com/search?q=x", "example.com", "", "Brave", "search.brave.com"},
		{"startpage", "https://www.startpage.com/", "example.com", "", "Startpage", "startpage.com"},
		{"qwant", "https://www.qwant.com/?q=x", "example.com", "", "Qwant", "qwant.com"},
		{"hacker news", "https://news.ycombinator.com/item?id=1", "example.com", "", "Hacker News", "news.ycombinator.com"},
		{"reddit", "https://www.reddit.com/r/golang/", "example.com", "", "Reddit", "reddit.com"},
		{"old reddit", "https://old.reddit.com/r/golang/comments/abc/title/", "example.com", "", "Reddit", "old.reddit.com"},
		{"out reddit", "https://out.reddit.com/t3_abc?url=x", "example.com", "", "Reddit", "out.reddit.com"},
		{"github", "https://github.com/foo/bar", "example.com", "", "GitHub", "github.com"},
		{"gitlab", "https://gitlab.com/foo/bar/-/issues/1", "example.com", "", "GitLab", "gitlab.com"},
		{"stack overflow", "https://stackoverflow.com/questions/1/x", "example.com", "", "Stack Overflow", "stackoverflow.com"},
		{"t.co", "https://t.co/abc", "example.com", "", "Twitter", "t.co"},
		{"x.com", "https://x.com/someone/status/1", "example.com", "", "Twitter", "x.com"},
		{"twitter app", "android-app://com.twitter.android/", "example.com", "", "Twitter", "com.twitter.android"},
		{"facebook", "https://www.facebook.com/", "example.com", "", "Facebook", "facebook.com"},
		{"m.facebook", "https://m.facebook.com/", "example.com", "", "Facebook", "m.facebook.com"},
		{"l.facebook", "https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com%2F&h=AT0", "example.com", "", "Facebook", "l.facebook.com"},
		{"lm.facebook", "https://lm.facebook.com/l.php?u=x", "example.com", "", "Facebook", "lm.facebook.com"},
		{"instagram", "https://l.instagram.com/?u=x", "example.com", "", "Instagram", "l.instagram.com"},
		{"linkedin", "https://www.linkedin.com/feed/", "example.com", "", "LinkedIn", "linkedin.com"},
		{"lnkd.in", "https://lnkd.in/abc", "example.com", "", "LinkedIn", "lnkd.in"},
		{"youtube", "https://www.youtube.com/watch?v=x", "example.com", "", "YouTube", "youtube.com"},
		{"pinterest", "https://www.pinterest.co.uk/pin/1/", "example.com", "", "Pinterest", "pinterest.co.uk"},
		{"tiktok", "https://www.tiktok.com/@x", "example.com", "", "TikTok", "tiktok.com"},
		{"lobsters", "https://lobste.rs/s/abc/title", "example.com", "", "Lobsters", "lobste.rs"},
		{"product hunt", "https://www.producthunt.com/posts/x", "example.com", "", "Product Hunt", "producthunt.com"},
		{"medium subdomain", "https://someone.medium.com/post-1", "example.com", "", "Medium", "someone.medium.com"},
		{"dev.to", "https://dev.to/someone/post", "example.com", "", "Dev.to", "dev.to"},
		{"substack", "https://news.substack.com/p/x", "example.com", "", "Substack", "news.substack.com"},
		{"wikipedia mobile", "https://en.m.wikipedia.org/wiki/Go", "example.com", "", "Wikipedia", "en.m.wikipedia.org"},
		{"outlook", "https://outlook.live.com/mail/0/", "example.com", "", "Outlook", "outlook.live.com"},
		{"telegram", "https://t.me/channel/1", "example.com", "", "Telegram", "t.me"},
		{"whatsapp", "https://web.whatsapp.com/", "example.com", "", "WhatsApp", "web.whatsapp.com"},
		{"slack", "https://app.slack.com/client/T1/C1", "example.com", "", "Slack", "app.slack.com"},
		{"discord", "https://discord.com/channels/1/2", "example.com", "", "Discord", "discord.com"},
		{"chatgpt", "https://chatgpt.com/", "example.com", "", "ChatGPT", "chatgpt.com"},
		{"chat.openai", "https://chat.openai.com/c/1", "example.com", "", "ChatGPT", "chat.openai.com"},
		{"perplexity", "https://www.perplexity.ai/search/x", "example.com", "", "Perplexity", "perplexity.ai"},
		{"claude", "https://claude.ai/chat/1", "example.com", "", "Claude", "claude.ai"},
		{"unknown blog", "https://blog.example.org/post", "example.com", "", "blog.example.org", "blog.example.org"},
		{"unknown blog upper case", "HTTPS://Blog.Example.ORG/Post", "example.com", "", "blog.example.org", "blog.example.org"},
		{"port and userinfo", "http://user:pw@www.other.net:8080/x", "example.com", "", "other.net", "other.net"},
		{"trailing dot", "https://www.google.com./", "example.com", "", "Google", "google.com"},
		{"ipv6 literal", "http://[2001:db8::1]:8080/", "example.com", "", "2001:db8::1", "2001:db8::1"},
		{"own host", "https://example.com/other-page", "example.com", "", "", ""},
		{"own host with www", "https://www.example.com/other-page", "example.com", "", "", ""},
		{"own host given with www and port", "https://example.com/x", "www.Example.com:443", "", "", ""},
		{"own host with port", "http://localhost:3000/a", "localhost:3000", "", "", ""},
		{"subdomain is not own", "https://docs.example.com/", "example.com", "", "docs.example.com", "docs.example.com"},
		{"no own host", "https://example.com/", "", "", "example.com", "example.com"},
		{"not http", "ftp://files.example.org/", "example.com", "", "", ""},
		{"javascript", "javascript:alert(1)", "example.com", "", "", ""},
		{"no scheme", "www.google.com/", "example.com", "", "", ""},
		{"garbage", "%%%not a url", "example.com", "", "", ""},
		{"bad host bytes", "https://exa mple.com/", "example.com", "", "", ""},
		{"bad port", "https://example.org:80x/", "example.com", "", "", ""},
		{"empty host", "https:///path", "example.com", "", "", ""},

		{"utm wins over referrer", "https://www.google.com/", "example.com", "newsletter", "newsletter", "google.com"},
		{"utm google", "", "example.com", "google", "Google", ""},
		{"utm hn", "", "example.com", "hn", "Hacker News", ""},
		{"utm host of hn", "", "example.com", "news.ycombinator.com", "Hacker News", ""},
		{"utm twitter", "", "example.com", "Twitter", "Twitter", ""},
		{"utm fb", "", "example.com", "FB", "Facebook", ""},
		{"utm facebook", "", "example.com", "facebook", "Facebook", ""},
		{"utm reddit", "", "example.com", "reddit", "Reddit", ""},
		{"utm github", "", "example.com", "github", "GitHub", ""},
		{"utm linkedin", "", "example.com", "LinkedIn", "LinkedIn", ""},
		{"utm product hunt name", "", "example.com", "Product Hunt", "Product Hunt", ""},
		{"utm www host", "", "example.com", "www.reddit.com", "Reddit", ""},
		{"utm unknown kept as sent", "", "example.com", "  Spring Sale  ", "Spring Sale", ""},
		{"utm blank ignored", "https://t.co/x", "example.com", "   ", "Twitter", "t.co"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			source, host := Source(tt.referrer, tt.own, tt.utm)
			if source != tt.source || host != tt.host {
				t.Errorf("Source(%q, %q, %q) = %q, %q; want %q, %q", tt.referrer, tt.own, tt.utm, source, host, tt.source, tt.host)
			}
		})
	}
}

func TestSourceUTMTruncated(t *testing.T) {
	long := strings.Repeat("a", MaxSourceBytes-1) + "é" // é straddles the limit
	source, _ := Source("", "", long)
	if source != strings.Repeat("a", MaxSourceBytes-1) {
		t.Errorf("got %d bytes %q", len(source), source)
	}
}

func TestSourceAllocs(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		Source("https://news.ycombinator.com/item?id=1", "example.com", "")
		Source("https://blog.example.org/post", "www.example.com", "")
		Source("", "example.com", "Twitter")
	})
	if n != 0 {
		t.Errorf("%v allocations per run, want 0", n)
	}
}

// visit:referrer answers the referrer's URL without its query and
// fragment (search terms, tokens), and nothing for the site's own pages.
func TestReferrerURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://www.google.com/search?q=analytics#top": "https://www.google.com/search",
		"https://facebook.com":                          "https://facebook.com",
		" https://news.ycombinator.com/item?id=1 ":      "https://news.ycombinator.com/item",
	} {
		if got := ReferrerURL(in); got != want {
			t.Errorf("ReferrerURL(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tt := range []struct{ ref, own, url string }{
		{"https://news.example.com/a?x=1", "example.com", "https://news.example.com/a"},
		{"https://example.com/pricing?x=1", "example.com", ""}, // moving between own pages
		{"", "example.com", ""},
	} {
		ev := analytics.Event{Client: analytics.ClientHints{Referrer: tt.ref, URL: "https://" + tt.own + "/"}}
		req := httptest.NewRequest("POST", "/event", nil)
		if _, err := New(Config{}).Request(req).Event(context.Background(), &ev, false); err != nil {
			t.Fatal(err)
		}
		if ev.ReferrerURL != tt.url {
			t.Errorf("referrer %q on %s: ReferrerURL %q, want %q", tt.ref, tt.own, ev.ReferrerURL, tt.url)
		}
	}
}
