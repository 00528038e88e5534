// A Plausible-compatible tracker, served by the collector at /js/script.js
// (written for this project; it speaks Plausible's Events API, so a page
// tagged for Plausible works by changing the script's host):
//
//   <script defer data-domain="example.com" src="https://collector.example/js/script.js"></script>
//
// data-domain names the site (several separated by commas); data-api is
// the endpoint (default: /api/event on the script's own origin). Page views
// are sent on load and on every SPA navigation (pushState, popstate);
// window.plausible("Signup", {props: {plan: "pro"}, revenue: {currency:
// "EUR", amount: 9}, interactive: false, callback: fn}) sends a custom
// event; calls queued before the script ran (window.plausible.q, Plausible's
// snippet) are sent once it runs. As Plausible's script, it reads its
// extensions from its file name: script.local.js counts on localhost (or
// data-allow-localhost), script.manual.js sends no automatic page views,
// script.hash.js counts hash changes as navigations, and
// script.outbound-links.js and script.file-downloads.js send Plausible's
// "Outbound Link: Click" and "File Download" events with props {url}.
(function () {
  "use strict";
  var s = document.currentScript;
  if (!s) return;
  var attr = function (n) { return s.getAttribute(n); };
  var name = (s.src.split("?")[0].split("/").pop() || "").split(".");
  var ext = {};
  for (var i = 1; i < name.length - 1; i++) ext[name[i]] = true;
  var api = attr("data-api") || new URL(s.src).origin + "/api/event";
  var domain = attr("data-domain") || location.hostname.replace(/^www\./, "");
  var local = ext.local || attr("data-allow-localhost") !== null;
  var pageProps = {};
  for (var a = 0; a < s.attributes.length; a++) {
    var m = /^event-(.+)$/.exec(s.attributes[a].name);
    if (m) pageProps[m[1]] = s.attributes[a].value;
  }

  function ignored() {
    if (!local && (/^localhost$|^127(\.[0-9]+){0,2}\.[0-9]+$|^\[::1?\]$/.test(location.hostname) || location.protocol === "file:")) return "localhost";
    try {
      if (window.localStorage.plausible_ignore === "true") return "localStorage flag";
    } catch (e) { /* storage blocked */ }
    return "";
  }

  function send(eventName, options) {
    options = options || {};
    var why = ignored();
    if (why) {
      if (window.console) console.warn("Ignoring Event: " + why);
      if (options.callback) options.callback();
      return;
    }
    var payload = {n: eventName, u: options.u || location.href, d: domain, r: document.referrer || null};
    var props = options.props;
    if (eventName === "pageview" && Object.keys(pageProps).length) props = Object.assign({}, pageProps, props);
    if (props) payload.p = props;
    if (options.revenue) payload.$ = options.revenue;
    if (options.interactive === false) payload.i = false;
    if (ext.hash) payload.h = 1;
    var body = JSON.stringify(payload);
    var done = function (status) { if (options.callback) options.callback({status: status}); };
    if (window.fetch) {
      fetch(api, {method: "POST", headers: {"Content-Type": "text/plain"}, keepalive: true, body: body})
        .then(function (r) { done(r.status); }, function () { done(0); });
      return;
    }
    var x = new XMLHttpRequest();
    x.open("POST", api, true);
    x.setRequestHeader("Content-Type", "text/plain");
    x.onreadystatechange = function () { if (x.readyState === 4) done(x.status); };
    x.send(body);
  }

  var last;
  function page() {
    var here = ext.hash ? location.href : location.href.split("#")[0];
    if (here === last) return;
    last = here;
    send("pageview");
  }

  function link(e) {
    if (e.type === "auxclick" && e.button !== 1) return;
    var el = e.target && e.target.closest && e.target.closest("a[href]");
    if (!el) return;
    var url = el.href;
    var event;
    if (ext["outbound-links"] && el.host && el.host !== location.host) event = "Outbound Link: Click";
    if (ext["file-downloads"] && /\.(pdf|xlsx?|docx?|txt|rtf|csv|exe|key|pps|pptx?|7z|pkg|rar|gz|zip|avi|mov|mp4|mpe?g|wmv|midi?|mp3|wav|wma|dmg)$/i.test(el.pathname)) event = "File Download";
    if (!event) return;
    // Leaving the page in this tab cancels a request in flight: hold the
    // navigation until the event is sent (at most a second).
    var sameTab = el.target !== "_blank" && !e.ctrlKey && !e.metaKey && !e.shiftKey && e.type === "click";
    if (!sameTab) {
      send(event, {props: {url: url}});
      return;
    }
    e.preventDefault();
    var followed = false;
    var follow = function () { if (!followed) { followed = true; location.href = url; } };
    setTimeout(follow, 1000);
    send(event, {props: {url: url}, callback: follow});
  }

  var queued = (window.plausible && window.plausible.q) || [];
  window.plausible = function (eventName, options) { send(eventName, options); };
  for (var q = 0; q < queued.length; q++) send.apply(null, queued[q]);

  if (ext["outbound-links"] || ext["file-downloads"]) {
    document.addEventListener("click", link);
    document.addEventListener("auxclick", link);
  }
  if (ext.manual) return;
  var push = history.pushState;
  if (push) {
    history.pushState = function () {
      push.apply(this, arguments);
      page();
    };
    window.addEventListener("popstate", page);
  }
  if (ext.hash) window.addEventListener("hashchange", page);
  if (document.visibilityState === "prerender") {
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") page();
    });
  } else {
    page();
  }
})();
