// The dashboard: one page that reads the reporter's Stats API and draws it.
// Everything that comes from events (paths, referrers, names) is set with
// textContent, never as HTML. The view (site, period, range) lives in the URL.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './app.css';

const $ = (id) => document.getElementById(id);
const lang = navigator.languages && navigator.languages.length ? navigator.languages[0] : navigator.language || 'en';
const nf = new Intl.NumberFormat(lang);
const nf2 = new Intl.NumberFormat(lang, { maximumFractionDigits: 2 });
const pct = new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 1 });
let regions = null;
try { regions = new Intl.DisplayNames([lang], { type: 'region' }); } catch (e) { /* old browser: codes only */ }

const TOKEN_KEY = 'analytics.token';
const LIMIT = 10;
const REFRESH_MS = 10000;

// ---- API ---------------------------------------------------------------

class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// api GETs a reporter endpoint with the session's token. Every call goes
// through here, so the test can count them and the login sees every 401.
async function api(path, params) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) u.searchParams.set(k, v);
  const headers = {};
  const t = sessionStorage.getItem(TOKEN_KEY);
  if (t) headers.Authorization = 'Bearer ' + t;
  let r;
  try {
    r = await fetch(u, { headers, cache: 'no-store' });
  } catch (e) {
    throw new APIError(0, 'the reporter does not answer (' + e.message + ')');
  }
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) throw new APIError(r.status, (body && body.error) || r.status + ' ' + r.statusText);
  return body;
}

// ---- Dates (UTC, as the rollups) --------------------------------------

const iso = (d) => d.toISOString().slice(0, 10);
const parseDay = (s) => new Date(s + 'T00:00:00Z');
function addDays(s, n) { const d = parseDay(s); d.setUTCDate(d.getUTCDate() + n); return iso(d); }
const firstOfMonth = (s) => s.slice(0, 8) + '01';
function addMonths(s, n) { const d = parseDay(firstOfMonth(s)); d.setUTCMonth(d.getUTCMonth() + n); return iso(d); }
const lastOfMonth = (s) => addDays(addMonths(s, 1), -1);
const span = (a, b) => Math.round((parseDay(b) - parseDay(a)) / 864e5) + 1;
const validDay = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s || '') && iso(parseDay(s)) === s;

const PERIODS = [
  ['today', 'Today'], ['yesterday', 'Yesterday'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days'],
  ['month', 'This month'], ['lastmonth', 'Last month'], ['12mo', 'Last 12 months'], ['custom', 'Custom range'],
];
const DEFAULT_PERIOD = '30d';

// rangeOf turns the dashboard's period into the API's parameters, the days
// it covers, the chart's interval, and the period compared with (the same
// number of days just before; for calendar months the month before).
function rangeOf(view, today) {
  let from, to, params, prev;
  switch (view.period) {
    case 'today': from = to = today; params = { period: 'day', date: today }; break;
    case 'yesterday': from = to = addDays(today, -1); params = { period: 'day', date: from }; break;
    // Plausible's last N days are the N days before today (the API's 7d
    // and 30d with date=today): the range shown is the range counted.
    case '7d': from = addDays(today, -7); to = addDays(today, -1); params = { period: '7d', date: today }; break;
    case 'month':
      from = firstOfMonth(today); to = lastOfMonth(today); params = { period: 'month', date: today };
      prev = [addMonths(from, -1), null];
      prev[1] = addDays(prev[0], span(from, today) - 1);
      if (prev[1] > lastOfMonth(prev[0])) prev[1] = lastOfMonth(prev[0]);
      break;
    case 'lastmonth':
      from = addMonths(today, -1); to = lastOfMonth(from); params = { period: 'month', date: from };
      prev = [addMonths(from, -1), lastOfMonth(addMonths(from, -1))];
      break;
    case '12mo':
      from = addMonths(today, -11); to = lastOfMonth(today); params = { period: '12mo', date: today };
      prev = [addMonths(from, -12), addDays(from, -1)];
      break;
    case 'custom':
      from = view.from; to = view.to; params = { period: 'custom', date: from + ',' + to }; break;
    default: // 30d
      from = addDays(today, -30); to = addDays(today, -1); params = { period: '30d', date: today };
  }
  if (!prev) prev = [addDays(from, -span(from, to)), addDays(from, -1)];
  let interval = 'date';
  if (from === to) interval = 'hour';
  else if (view.period === '12mo' || span(from, to) > 92) interval = 'month';
  return { from, to, params, interval, prev: { period: 'custom', date: prev[0] + ',' + prev[1] }, prevLabel: prev[0] + ' – ' + prev[1] };
}

// ---- The view in the URL ------------------------------------------------

function readView() {
  const m = location.pathname.match(/^\/sites\/([^/]+)\/?$/);
  const q = new URLSearchParams(location.search);
  const view = { site: m ? decodeURIComponent(m[1]) : '', period: q.get('period') || DEFAULT_PERIOD, from: q.get('from'), to: q.get('to') };
  if (!PERIODS.some(([p]) => p === view.period)) view.period = DEFAULT_PERIOD;
  if (view.period === 'custom' && !(validDay(view.from) && validDay(view.to) && view.from <= view.to)) view.period = DEFAULT_PERIOD;
  if (view.period !== 'custom') view.from = view.to = null;
  return view;
}

function urlOf(view) {
  const q = new URLSearchParams();
  if (view.period !== DEFAULT_PERIOD) q.set('period', view.period);
  if (view.period === 'custom') { q.set('from', view.from); q.set('to', view.to); }
  const s = q.toString();
  return (view.site ? '/sites/' + encodeURIComponent(view.site) : '/') + (s ? '?' + s : '');
}

function go(view) {
  history.pushState(null, '', urlOf(view));
  load();
}

// ---- Formatting -----------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function flag(code) {
  if (!/^[A-Z]{2}$/.test(code)) return '';
  return String.fromCodePoint(...[...code].map((c) => 0x1f1e6 + c.charCodeAt(0) - 65));
}

function countryName(code) {
  if (!/^[A-Z]{2}$/.test(code)) return code;
  try { return (regions && regions.of(code)) || code; } catch (e) { return code; }
}

// duration writes 5s, 4m 05s, 2h 03m: as analytics-cli stats does.
function duration(s) {
  s = Math.round(s);
  if (s < 60) return s + 's';
  const m = Math.floor(s / 60), two = (n) => String(n).padStart(2, '0');
  return m < 60 ? m + 'm ' + two(s % 60) + 's' : Math.floor(m / 60) + 'h ' + two(m % 60) + 'm';
}

// ---- Headline -------------------------------------------------------------

// The headline metrics, in one aggregate call per period; views per
// visitor is derived here.
const METRICS = ['visitors', 'visits', 'pageviews', 'events', 'bounce_rate', 'visit_duration', 'views_per_visit'];
const KPIS = [
  { key: 'visitors', label: 'Visitors', fmt: (v) => nf.format(v) },
  { key: 'visits', label: 'Visits', fmt: (v) => nf.format(v) },
  { key: 'pageviews', label: 'Page views', fmt: (v) => nf.format(v) },
  { key: 'views_per_visitor', label: 'Views per visitor', fmt: (v) => nf2.format(v) },
  { key: 'views_per_visit', label: 'Views per visit', fmt: (v) => nf2.format(v) },
  { key: 'bounce_rate', label: 'Bounce rate', fmt: (v) => pct.format(v / 100), lowerIsBetter: true },
  { key: 'visit_duration', label: 'Visit duration', fmt: duration },
  { key: 'events', label: 'Events', fmt: (v) => nf.format(v) },
];

function derive(agg) {
  const out = {};
  for (const [k, v] of Object.entries(agg)) out[k] = { value: v.value, approximate: !!v.approximate };
  if (out.visitors && out.pageviews) {
    out.views_per_visitor = {
      value: out.visitors.value ? out.pageviews.value / out.visitors.value : 0,
      approximate: out.visitors.approximate,
    };
  }
  return out;
}

function renderKPIs(cur, prev, prevLabel) {
  const box = $('kpis');
  box.replaceChildren();
  for (const k of KPIS) {
    const c = cur[k.key];
    if (!c) continue;
    const value = el('div', { class: 'value' });
    if (c.approximate) value.append(el('span', { class: 'approx', title: 'estimated: visitors over several days or months are merged from HyperLogLog sketches (about 0.8% error)', text: '≈' }));
    value.append(k.fmt(c.value));
    const change = el('div', { class: 'change' });
    const p = prev && prev[k.key];
    if (p) {
      if (p.value === 0) change.textContent = c.value === 0 ? '— no change' : '▲ new';
      else {
        const r = (c.value - p.value) / p.value;
        const better = k.lowerIsBetter ? r < 0 : r > 0;
        change.textContent = (r > 0 ? '▲ ' : r < 0 ? '▼ ' : '— ') + pct.format(Math.abs(r));
        if (r !== 0) change.classList.add(better ? 'up' : 'down');
      }
      change.title = 'compared with ' + prevLabel + ': ' + k.fmt(p.value);
    }
    box.append(el('div', { class: 'kpi', 'data-metric': k.key, 'data-value': String(c.value) },
      el('div', { class: 'label', text: k.label }), value, change));
  }
}

// ---- Chart ------------------------------------------------------------------

let chart = null;
let chartData = null;

function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

function toUnix(key) {
  const s = key.length === 10 ? key + 'T00:00:00Z' : key.replace(' ', 'T') + 'Z';
  return Date.parse(s) / 1000;
}

// Dates on the chart in the browser's language, in UTC like the rollups.
const dateFmt = {
  hour: new Intl.DateTimeFormat(lang, { timeZone: 'UTC', hour: '2-digit', minute: '2-digit' }),
  date: new Intl.DateTimeFormat(lang, { timeZone: 'UTC', day: 'numeric', month: 'short' }),
  month: new Intl.DateTimeFormat(lang, { timeZone: 'UTC', month: 'short', year: 'numeric' }),
};
const longFmt = {
  hour: new Intl.DateTimeFormat(lang, { timeZone: 'UTC', dateStyle: 'medium', timeStyle: 'short' }),
  date: new Intl.DateTimeFormat(lang, { timeZone: 'UTC', weekday: 'short', dateStyle: undefined, day: 'numeric', month: 'short', year: 'numeric' }),
  month: dateFmt.month,
};

function drawChart() {
  const box = $('plot');
  if (chart) { chart.destroy(); chart = null; }
  box.replaceChildren();
  if (!chartData) return;
  const { rows, interval } = chartData;
  const data = [rows.map((r) => toUnix(r.date)), rows.map((r) => r.visitors), rows.map((r) => r.pageviews)];
  box.dataset.points = JSON.stringify(data);
  const text = css('--text'), grid = css('--line');
  const width = Math.max(box.clientWidth, 200);
  // One tick per bucket, thinned so labels do not overlap.
  const every = Math.max(1, Math.ceil(data[0].length * (interval === 'month' ? 80 : 64) / width));
  const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const count = (u, v) => (v == null ? '–' : nf.format(v));
  chart = new uPlot({
    width, height: 260,
    scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.1))] } },
    series: [
      { label: interval === 'hour' ? 'Hour (UTC)' : interval === 'month' ? 'Month' : 'Day', value: (u, v) => (v == null ? '–' : longFmt[interval].format(v * 1000)) },
      { label: 'Visitors', stroke: css('--accent'), width: 2, fill: css('--bar') + '80', value: count },
      { label: 'Page views', stroke: css('--accent2'), width: 2, value: count },
    ],
    axes: [
      Object.assign({}, axis, {
        splits: (u) => u.data[0].filter((x, i) => i % every === 0),
        values: (u, splits) => splits.map((v) => dateFmt[interval].format(v * 1000)),
      }),
      Object.assign({}, axis, { values: (u, vals) => vals.map((v) => nf.format(v)) }),
    ],
  }, data, box);
}

// ---- Tables -------------------------------------------------------------

const CARDS = [
  { id: 'pages', title: 'Top pages', tabs: [['event:page', 'Page']], metrics: ['visitors', 'pageviews'] },
  { id: 'entry', title: 'Entry pages', tabs: [['visit:entry_page', 'Entry page']], metrics: ['visitors', 'visits'] },
  { id: 'exit', title: 'Exit pages', tabs: [['visit:exit_page', 'Exit page']], metrics: ['visits'] },
  { id: 'sources', title: 'Sources', tabs: [['visit:source', 'Source']] },
  { id: 'referrers', title: 'Referrers', tabs: [['visit:referrer', 'Referrer']] },
  { id: 'campaigns', title: 'UTM', tabs: [['visit:utm_campaign', 'Campaigns'], ['visit:utm_source', 'Sources'], ['visit:utm_medium', 'Mediums']] },
  { id: 'countries', title: 'Countries', tabs: [['visit:country', 'Country']] },
  { id: 'browsers', title: 'Browsers', tabs: [['visit:browser', 'Browser']] },
  { id: 'os', title: 'Operating systems', tabs: [['visit:os', 'OS']] },
  { id: 'devices', title: 'Devices', tabs: [['visit:device', 'Device']] },
  { id: 'events', title: 'Custom events', tabs: [['event:name', 'Event']], metrics: ['visitors', 'events'], skip: 'pageview' },
];
const HEAD = { visitors: 'Visitors', pageviews: 'Views', events: 'Count', visits: 'Visits' };

function cardShell(card) {
  const sec = el('section', { class: 'card', id: 'card-' + card.id, 'aria-labelledby': 'h-' + card.id });
  sec.append(el('h2', { id: 'h-' + card.id, text: card.title }));
  if (card.tabs.length > 1) {
    const tabs = el('div', { class: 'tabs', role: 'tablist', 'aria-label': card.title });
    card.tabs.forEach(([prop, name], i) => {
      tabs.append(el('button', {
        type: 'button', role: 'tab', 'aria-selected': String(i === 0), 'data-property': prop, text: name,
        onclick: (e) => {
          for (const b of tabs.children) b.setAttribute('aria-selected', String(b === e.currentTarget));
          card.tab = i;
          fillCard(card, LIMIT);
        },
      }));
    });
    sec.append(tabs);
  }
  sec.append(el('div', { class: 'body', role: card.tabs.length > 1 ? 'tabpanel' : null }));
  return sec;
}

function label(prop, value) {
  if (prop === 'event:page' || prop === 'visit:entry_page' || prop === 'visit:exit_page') {
    try { return decodeURI(value); } catch (e) { return value; }
  }
  if (prop === 'visit:country') {
    const f = flag(value);
    return (f ? f + ' ' : '') + countryName(value);
  }
  return value === '' ? '(none)' : value;
}

async function fillCard(card, limit) {
  const [prop, colName] = card.tabs[card.tab || 0];
  const metrics = card.metrics || ['visitors'];
  const body = $('card-' + card.id).querySelector('.body');
  const gen = state.gen;
  let ans;
  try {
    ans = await api('/api/v1/stats/breakdown', Object.assign({ site_id: state.view.site, property: prop, metrics: metrics.join(','), limit: String(limit) }, state.range.params));
  } catch (e) {
    if (gen !== state.gen) return;
    if (e.status === 401) return needLogin();
    body.replaceChildren(el('p', { class: 'error', text: e.message }));
    return;
  }
  if (gen !== state.gen) return;
  const key = prop.replace(/^(event|visit):/, '');
  const rows = ans.results.filter((r) => r[key] !== card.skip);
  body.replaceChildren();
  body.dataset.property = prop;
  if (!rows.length) {
    body.append(el('p', { class: 'empty', text: 'Nothing in this period.' }));
    return;
  }
  const max = Math.max(...rows.map((r) => r[metrics[0]]), 1);
  const table = el('table', { 'data-property': prop });
  const head = el('tr', null, el('th', { scope: 'col', text: colName }));
  for (const m of metrics) head.append(el('th', { scope: 'col', class: 'num', text: HEAD[m] }));
  table.append(el('thead', null, head));
  const tb = el('tbody');
  for (const r of rows) {
    const fill = el('span', { class: 'fill' });
    fill.style.width = (100 * r[metrics[0]] / max).toFixed(2) + '%';
    const name = label(prop, r[key]);
    const tr = el('tr', { 'data-key': r[key] }, el('td', { class: 'name', title: name }, fill, el('span', { class: 'text', text: name })));
    for (const m of metrics) tr.append(el('td', { class: 'num', 'data-metric': m, 'data-value': String(r[m]), text: nf.format(r[m]) }));
    tb.append(tr);
  }
  table.append(tb);
  body.append(table);
  const notes = [];
  if (ans.approximate) notes.push('≈ estimated: visitors over several days are merged');
  if (ans.truncated) notes.push('more values than listed were seen');
  if (notes.length) body.append(el('p', { class: 'note', text: notes.join(' · ') }));
  if (limit === LIMIT && ans.results.length === LIMIT) {
    body.append(el('button', { type: 'button', class: 'more', text: 'Show more', onclick: () => fillCard(card, 100) }));
  }
}

// ---- Realtime ---------------------------------------------------------------

let realtimeTimer = 0;

async function refreshRealtime() {
  const site = state.view.site;
  try {
    const rt = await api('/api/v1/stats/realtime', { site_id: site });
    if (site !== state.view.site) return;
    const line = $('realtime');
    line.replaceChildren(el('span', { class: 'dot', 'aria-hidden': 'true' }),
      nf.format(rt.visitors) + (rt.visitors === 1 ? ' visitor' : ' visitors') +
      ' and ' + nf.format(rt.pageviews) + (rt.pageviews === 1 ? ' page view' : ' page views') +
      ' in the last ' + rt.minutes + ' minutes');
    line.dataset.visitors = String(rt.visitors);
    line.dataset.pageviews = String(rt.pageviews);
    line.hidden = false;
  } catch (e) {
    if (e.status === 401) return needLogin();
    $('realtime').textContent = 'Realtime: ' + e.message;
    $('realtime').hidden = false;
  }
}

// ---- Page states -------------------------------------------------------------

const state = { view: null, range: null, gen: 0, sites: null, guessed: false };

function show(which) {
  for (const id of ['login', 'dashboard', 'onboarding', 'chooser']) $(id).hidden = id !== which;
}

function banner(msg) {
  const b = $('banner');
  b.textContent = msg || '';
  b.hidden = !msg;
}

function needLogin(message) {
  clearInterval(realtimeTimer);
  state.gen++;
  const had = sessionStorage.getItem(TOKEN_KEY);
  // Several calls of one view may answer 401 (a public site's page asks
  // its stats directly): the first says why, the later ones keep it.
  if (message !== undefined || had || $('login').hidden) {
    $('login-error').textContent = message || (had ? 'That token was not accepted. Check REPORTER_TOKEN and try again.' : '');
  }
  sessionStorage.removeItem(TOKEN_KEY);
  $('logout').hidden = true;
  banner('');
  show('login');
  $('token').focus();
}

function onboarding(site, known) {
  const collector = document.querySelector('meta[name="collector"]').content || location.protocol + '//' + location.hostname + ':3000';
  const id = site || 'your-site';
  $('onboarding-title').textContent = site ? (known ? 'No data for ' + site + ' in this period' : 'No events from ' + site + ' yet') : 'No events yet';
  $('onboarding-why').textContent = site && !known
    ? 'This reporter has never received an event for the site "' + site + '". Check the site id, or send its first event:'
    : 'Add the snippet to your pages, or send an event with curl; it shows up here within a second or two:';
  $('snippet').textContent = '<script defer src="' + collector + '/t.js" data-site="' + id + '"></script>';
  $('curl').textContent = 'curl -X POST ' + collector + "/event -H 'Content-Type: application/json' \\\n  -d '" +
    JSON.stringify({ site_id: id, event_type: 'page_view', path: '/', user_id: 'user-001' }) + "'";
  show('onboarding');
}

function fillSitePicker() {
  const sel = $('site');
  sel.replaceChildren();
  if (!state.view.site) sel.append(el('option', { value: '', text: 'Choose a site' }));
  const sites = state.sites.slice();
  if (state.view.site && !sites.includes(state.view.site)) sites.unshift(state.view.site);
  for (const s of sites) sel.append(el('option', { value: s, text: s }));
  sel.value = state.view.site;
}

function fillPeriodPicker() {
  const sel = $('period');
  if (!sel.options.length) for (const [v, t] of PERIODS) sel.append(el('option', { value: v, text: t }));
  sel.value = state.view.period;
  const custom = state.view.period === 'custom';
  $('custom').hidden = !custom;
  if (custom) { $('from').value = state.view.from; $('to').value = state.view.to; }
}

async function load() {
  clearInterval(realtimeTimer);
  const gen = ++state.gen;
  document.documentElement.dataset.state = 'loading';
  state.view = readView();
  banner('');
  try {
    if (!state.sites || state.guessed) {
      state.guessed = false;
      state.sites = (await api('/api/v1/sites')).results.map((s) => s.site_id);
    }
  } catch (e) {
    if (e.status === 401 && state.view.site) {
      // A public site's dashboard is anyone's: its stats answer without a
      // token (and 401, which asks for one, when it is not public).
      state.sites = [state.view.site];
      state.guessed = true;
    } else {
      if (e.status === 401) return needLogin();
      banner(e.message);
      return;
    }
  }
  if (gen !== state.gen) return;
  $('logout').hidden = !sessionStorage.getItem(TOKEN_KEY);
  fillSitePicker();
  fillPeriodPicker();
  const site = state.view.site;
  document.title = (site ? site + ' · ' : '') + 'Analytics';
  if (!site) {
    if (!state.sites.length) return onboarding('', false);
    const list = $('site-list');
    list.replaceChildren(...state.sites.map((s) => el('li', null, el('a', { href: urlOf({ site: s, period: state.view.period, from: state.view.from, to: state.view.to }), text: s }))));
    show('chooser');
    return done(gen);
  }
  if (!state.sites.includes(site)) return onboarding(site, false);
  const today = iso(new Date());
  const range = state.range = rangeOf(state.view, today);
  $('range').textContent = range.from === range.to ? range.from + ' (UTC)' : range.from + ' – ' + range.to + ' (UTC)';
  show('dashboard');

  // Headline, comparison and chart first; the tables fill in as they come.
  const base = { site_id: site };
  const aggregate = (params, metrics) => api('/api/v1/stats/aggregate', Object.assign({}, base, params, { metrics: metrics.join(',') }));
  const aggs = Promise.all([aggregate(range.params, METRICS), aggregate(range.prev, METRICS)]);
  const series = api('/api/v1/stats/timeseries', Object.assign({}, base, range.params, { metrics: 'visitors,pageviews', interval: range.interval }));
  const tables = CARDS.map((c) => fillCard(c, LIMIT));
  refreshRealtime();
  realtimeTimer = setInterval(refreshRealtime, REFRESH_MS);
  try {
    const [[cur, prev], ts] = await Promise.all([aggs, series]);
    if (gen !== state.gen) return;
    if (!cur.results.visitors.value && !cur.results.events.value) await noData(site, today, gen);
    else $('nodata').hidden = true;
    renderKPIs(derive(cur.results), derive(prev.results), range.prevLabel);
    chartData = { rows: ts.results, interval: range.interval };
    drawChart();
  } catch (e) {
    if (gen !== state.gen) return;
    if (e.status === 401) return needLogin();
    banner(e.message);
  }
  await Promise.all(tables);
  done(gen);
}

// noData shows the note of an empty period: not an error, and a link to
// the last month with events (of the last five years), if any.
async function noData(site, today, gen) {
  const note = $('nodata');
  note.replaceChildren('No events in this period.');
  note.hidden = false;
  let last = null;
  try {
    const from = addMonths(today, -59);
    const ans = await api('/api/v1/stats/timeseries', { site_id: site, period: 'custom', date: from + ',' + today, interval: 'month', metrics: 'visitors,events' });
    for (const r of ans.results) if (r.visitors || r.events) last = r.date;
  } catch (e) {
    return; // the note stands without the offer
  }
  if (gen !== state.gen || !last) return;
  const to = lastOfMonth(last) < today ? lastOfMonth(last) : today;
  const view = { site, period: 'custom', from: last, to };
  if (state.range && state.range.from === view.from && state.range.to === view.to) return;
  const link = el('a', { id: 'nodata-last', href: urlOf(view), text: 'Show ' + dateFmt.month.format(toUnix(last) * 1000) });
  link.addEventListener('click', (e) => { e.preventDefault(); go(view); });
  note.append(' The last events are from ' + dateFmt.month.format(toUnix(last) * 1000) + '. ', link);
}

// done marks the view as drawn, for the browser tests and the load figure.
function done(gen) {
  if (gen !== state.gen) return;
  document.documentElement.dataset.state = 'ready';
  document.documentElement.dataset.gen = String(gen);
  if (!performance.getEntriesByName('dashboard-drawn').length) performance.mark('dashboard-drawn');
}

// ---- Wiring ---------------------------------------------------------------

function init() {
  const main = $('dashboard');
  const grid = main.querySelector('.grid');
  for (const c of CARDS) grid.append(cardShell(c));
  $('site').addEventListener('change', (e) => go(Object.assign({}, state.view, { site: e.target.value })));
  $('period').addEventListener('change', (e) => {
    const p = e.target.value;
    if (p === 'custom') {
      const r = state.range || rangeOf(state.view, iso(new Date()));
      $('from').value = r.from; $('to').value = r.to > iso(new Date()) ? iso(new Date()) : r.to;
      $('custom').hidden = false;
      $('from').focus();
      return;
    }
    go(Object.assign({}, state.view, { period: p, from: null, to: null }));
  });
  $('custom').addEventListener('submit', (e) => {
    e.preventDefault();
    const from = $('from').value, to = $('to').value;
    if (!validDay(from) || !validDay(to) || from > to) {
      banner('Choose a first and a last day, the first not after the last.');
      return;
    }
    go(Object.assign({}, state.view, { period: 'custom', from, to }));
  });
  $('login').addEventListener('submit', async (e) => {
    e.preventDefault();
    const t = $('token').value.trim();
    if (!t) { $('login-error').textContent = 'Enter the token (REPORTER_TOKEN).'; return; }
    sessionStorage.setItem(TOKEN_KEY, t);
    $('token').value = '';
    $('login-error').textContent = '';
    state.sites = null;
    load();
  });
  $('logout').addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); needLogin(''); });
  window.addEventListener('popstate', load);
  let resize = 0;
  window.addEventListener('resize', () => { clearTimeout(resize); resize = setTimeout(() => chart && chart.setSize({ width: $('plot').clientWidth, height: 260 }), 100); });
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', drawChart);
  document.addEventListener('visibilitychange', () => { if (!document.hidden && state.view && state.view.site && !$('dashboard').hidden) refreshRealtime(); });
  load();
}

init();
