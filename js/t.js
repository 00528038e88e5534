// siteanalytics browser snippet. Readable source; the collector serves the
// minified build (t.min.js, made by `npm run build` in this folder) at /t.js.
//
//   <script defer src="https://collector.example.com/t.js" data-site="site-abc-123"></script>
//
// Attributes: data-site (required), data-api (collector URL; default: this
// script's origin), data-hash (count #/routes as pages), data-respect-dnt
// (send nothing under Do-Not-Track or Global Privacy Control),
// data-allow-localhost (track on localhost and 127.0.0.1, for development).
//
// Privacy: the visitor id is a random value kept in localStorage under
// "sa_vid"; no cookie, no fingerprint, and the IP address is never stored.
// Setting localStorage "sa_optout" to "1" turns tracking off for a browser.
(function (w, d) {
  try {
    var s = d.currentScript, nav = navigator, loc = w.location;
    // Storage can be missing or throw (privacy modes): then the visitor id
    // lives for the page only.
    var get = function (k) {
      try {
        return localStorage.getItem(k);
      } catch (e) {}
    };
    var site = s.getAttribute("data-site");
    var api = (s.getAttribute("data-api") || new URL(s.src).origin) + "/events";
    var hashMode = s.hasAttribute("data-hash");
    var queue = [], timer, last;
    var on = w.addEventListener.bind(w);
    var stub = w.analytics, early = (stub && stub.q) || [];
    var off =
      !site ||
      get("sa_optout") == "1" ||
      (s.hasAttribute("data-respect-dnt") && (nav.doNotTrack == "1" || nav.globalPrivacyControl)) ||
      (/^(localhost|127\.|\[::1\])/.test(loc.hostname) && !s.hasAttribute("data-allow-localhost"));
    var rid = function () {
      return w.crypto && crypto.randomUUID
        ? crypto.randomUUID()
        : Date.now().toString(36) + Math.random().toString(36).slice(2);
    };
    var vid = get("sa_vid");
    if (!vid) {
      vid = rid();
      try {
        localStorage.setItem("sa_vid", vid);
      } catch (e) {}
    }

    // flush sends everything queued in one request. sendBeacon survives the
    // page going away and, as text/plain, needs no CORS preflight.
    var flush = function () {
      clearTimeout(timer);
      timer = 0;
      // Beacons are capped at 64 KB: send 100 events (about 25 KB) at a time.
      while (queue.length) {
        var body = JSON.stringify(queue.splice(0, 100));
        if (!(nav.sendBeacon && nav.sendBeacon(api, body)))
          fetch(api, { method: "POST", body: body, keepalive: true }).catch(function () {});
      }
    };

    // track queues an event. Props keys become database field names, so a
    // key the collector would refuse (empty, over 128 bytes of UTF-8, with
    // "." or a control character, or starting with "$") is dropped with a
    // console warning rather than losing the whole event. (A key holding a
    // lone UTF-16 surrogate makes encodeURIComponent throw: that event is
    // dropped.) Values, the 32-key and 4 KiB limits are not checked here.
    var track = function (type, props, p, k) {
      try {
        if (off) return;
        p = props && {};
        for (k in props)
          /^(\$|$)|[.\0-\x1f\x7f-\x9f]/.test(k) || unescape(encodeURIComponent(k)).length > 128
            ? console.warn("analytics: dropped prop " + k)
            : (p[k] = props[k]);
        queue.push({
          id: rid(),
          site_id: site,
          event_type: type,
          path: hashMode && loc.hash.indexOf("#/") == 0 ? loc.hash.slice(1) : loc.pathname,
          user_id: vid,
          timestamp: new Date().toISOString(),
          props: p
        });
        if (!timer) timer = setTimeout(flush, 1000);
      } catch (e) {}
    };

    // page records a page_view unless the URL is the one just recorded, so
    // replaceState, duplicate pushState and popstate do not double count.
    var page = function () {
      var url = loc.pathname + (hashMode ? loc.hash : "");
      if (url != last) {
        last = url;
        track("page_view");
      }
    };

    ["pushState", "replaceState"].forEach(function (m) {
      var orig = history[m];
      history[m] = function () {
        var r = orig.apply(this, arguments);
        page();
        return r;
      };
    });
    on("popstate", page);
    if (hashMode) on("hashchange", page);
    on("pagehide", flush);
    d.addEventListener("visibilitychange", function () {
      if (d.visibilityState == "hidden") flush();
    });

    w.analytics = { track: track, flush: flush };
    page();
    early.forEach(function (a) {
      track(a[0], a[1]);
    });
  } catch (e) {}
})(window, document);
