// siteanalytics browser snippet. Readable source; the collector serves the
// minified build (t.min.js, made by `npm run build` in this folder) at /t.js.
//
//   <script defer src="https://collector.example.com/t.js" data-site="site-abc-123"></script>
//
// Attributes: data-site (required), data-api (collector URL; default: this
// script's origin), data-hash (count #/routes as pages), data-respect-dnt
// (send nothing under Do-Not-Track or Global Privacy Control),
// data-allow-localhost (track on localhost and 127.0.0.1, for development),
// data-cookieless (store nothing in the browser; see below).
//
// No timestamp is sent: the collector stamps each event when it arrives,
// a tenth of a second after it happened (the events of that tenth go in one
// request, and everything queued goes when the page is hidden or left), so
// a wrong clock on the visitor's computer cannot misplace an event or
// lengthen a visit.
//
// Each event carries the page's referrer (document.referrer, cut at 2048
// bytes) and, appended to its path as a query, the utm_source, utm_medium,
// utm_campaign, utm_content and utm_term parameters of the URL the page was
// loaded with; no other query parameter is ever sent.
//
// Privacy: the visitor id is a random value kept in localStorage under
// "sa_vid"; no cookie, no fingerprint, and the IP address is never stored.
// With data-cookieless the snippet stores nothing at all in the browser (no
// localStorage, sessionStorage or cookie), sends no visitor id, and posts to
// /events?cookieless=1: the collector derives the visitor from a keyed hash
// of a random daily salt (deleted after 48 hours, so visits on different
// days cannot be linked), the site, the IP address and the User-Agent.
// Setting localStorage "sa_optout" to "1" turns tracking off for a browser
// in either mode (the snippet only reads it; an opted-out browser is given
// no sa_vid).
((w, d) => {
  try {
    var s = d.currentScript, data = s.dataset, nav = navigator, loc = location, on = addEventListener, vid;
    var site = data.site;
    var cookieless = "cookieless" in data;
    var api = (data.api || new URL(s.src).origin) + "/events" + (cookieless ? "?cookieless=1" : "");
    var hashMode = "hash" in data;
    var queue = [], timer, last;
    var off =
      !site ||
      ("respectDnt" in data && (nav.doNotTrack == 1 || nav.globalPrivacyControl)) ||
      (/^(localhost|127\.|\[::1\])/.test(loc.hostname) && !("allowLocalhost" in data) &&
        !console.warn("analytics: localhost: add data-allow-localhost"));
    var rid = () =>
      crypto.randomUUID ? crypto.randomUUID() : Date.now() + "-" + Math.random();
    // The campaign parameters of the landing URL, as they were written, kept
    // for every event of this page load: "?utm_source=hn&utm_campaign=x", or
    // "" (the first "?" or "&" matched becomes "?").
    var utm = (loc.search.match(/[?&]utm_(source|medium|campaign|content|term)=[^&]*/g) || [])
      .join("")
      .replace(/./, "?");
    // Storage can be missing or throw (privacy modes): then the visitor id
    // lives for the page only. No visitor id in cookieless mode, and none
    // stored for an opted-out browser.
    try {
      off = off || localStorage.sa_optout == 1;
      cookieless || off || (vid = localStorage.sa_vid || (localStorage.sa_vid = rid()));
    } catch (e) {
      if (!cookieless) vid = rid();
    }

    // flush sends everything queued in one request. sendBeacon survives the
    // page going away and, as text/plain, needs no CORS preflight. (Every
    // browser that parses this ES2019 build has it; fetch is for a beacon
    // the browser refuses.)
    var flush = () => {
      clearTimeout(timer);
      timer = 0;
      // Beacons are capped at 64 KB: send 100 events (about 25 KB) at a time.
      while (queue.length) {
        var body = JSON.stringify(queue.splice(0, 100));
        if (!nav.sendBeacon(api, body))
          fetch(api, { method: "POST", body: body, keepalive: true }).catch(() => {});
      }
    };

    // track queues an event. Props keys become database field names, so a
    // key the collector would refuse (empty, over 128 bytes of UTF-8, with
    // "." or a control character, or starting with "$") is dropped with a
    // console warning rather than losing the whole event. (A lone UTF-16
    // surrogate counts as the 3 bytes of U+FFFD, as the collector reads it.)
    // Values, the 32-key and 4 KiB limits are not checked here. The path of
    // a #/route drops the route's own query.
    var track = (type, props, p, k) => {
      try {
        if (off) return;
        p = props && {};
        for (k in props)
          /^(\$|$)|[.\0-\x1f\x7f-\x9f]/.test(k) || new Blob([k]).size > 128
            ? console.warn("analytics: dropped prop " + k)
            : (p[k] = props[k]);
        queue.push({
          id: rid(),
          site_id: site,
          event_type: type,
          path: ((hashMode && loc.hash.match(/^#(\/[^?]*)/)) || [, loc.pathname])[1] + utm,
          // Absent (so not sent) when empty; the collector takes at most
          // 2048 bytes (a serialized URL is ASCII: characters are bytes).
          referrer: d.referrer.slice(0, 2048) || void 0,
          user_id: vid,
          props: p
        });
        if (!timer) timer = setTimeout(flush, 100);
      } catch (e) {}
    };

    // page records a page_view unless the URL is the one just recorded, so
    // replaceState, duplicate pushState and popstate do not double count.
    var page = () => {
      var url = loc.pathname + (hashMode ? loc.hash : "");
      if (url != last) {
        last = url;
        track("page_view");
      }
    };

    // (pushState and replaceState return nothing.)
    ["pushState", "replaceState"].forEach((m) => {
      var orig = history[m];
      history[m] = function () {
        orig.apply(this, arguments);
        page();
      };
    });
    on("popstate", page);
    if (hashMode) on("hashchange", page);
    on("pagehide", flush);
    // visibilitychange bubbles from the document to the window.
    on("visibilitychange", () => d.hidden && flush());

    // The page view, then the calls the stub queued; then the stub goes.
    page();
    ((w.analytics || 0).q || []).forEach((a) => track(...a));
    w.analytics = { track: track, flush: flush };
  } catch (e) {}
})(window, document);
