// The dashboard: one page that asks the reporter's Stats API v2 and draws
// the answers. Everything that comes from events (paths, referrers, names,
// property values) is set with textContent, never as HTML. The view (site,
// period, filters, comparison, open tabs) lives in the URL.
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
const MORE = 100;
const REFRESH_MS = 10000;

// ---- API ---------------------------------------------------------------

class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// call asks a reporter endpoint with the session's token. Every call goes
// through here, so the test can count them and the login sees every 401.
async function call(path, params, body) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) u.searchParams.set(k, v);
  const headers = {};
  const t = sessionStorage.getItem(TOKEN_KEY);
  if (t) headers.Authorization = 'Bearer ' + t;
  const init = { headers, cache: 'no-store' };
  if (body) {
    init.method = 'POST';
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(u, init);
  } catch (e) {
    throw new APIError(0, 'the reporter does not answer (' + e.message + ')');
  }
  let answer = null;
  try { answer = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) throw new APIError(r.status, (answer && answer.error) || r.status + ' ' + r.statusText);
  return answer;
}
const api = (path, params) => call(path, params);
const v2 = (body) => call('/api/v2/query', null, body);

// ---- Dates: days are the site's, in its time zone ----------------------

const iso = (d) => d.toISOString().slice(0, 10);
const parseDay = (s) => new Date(s + 'T00:00:00Z');
function addDays(s, n) { const d = parseDay(s); d.setUTCDate(d.getUTCDate() + n); return iso(d); }
const firstOfMonth = (s) => s.slice(0, 8) + '01';
function addMonths(s, n) { const d = parseDay(firstOfMonth(s)); d.setUTCMonth(d.getUTCMonth() + n); return iso(d); }
const lastOfMonth = (s) => addDays(addMonths(s, 1), -1);
const span = (a, b) => Math.round((parseDay(b) - parseDay(a)) / 864e5) + 1;
const validDay = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s || '') && iso(parseDay(s)) === s;

// todayIn is the date it is now in zone (an IANA name).
function todayIn(zone) {
  try {
    const p = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(new Date());
    const get = (t) => p.find((x) => x.type === t).value;
    return get('year') + '-' + get('month') + '-' + get('day');
  } catch (e) {
    return iso(new Date());
  }
}

const PERIODS = [
  ['today', 'Today'], ['yesterday', 'Yesterday'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days'],
  ['month', 'This month'], ['lastmonth', 'Last month'], ['12mo', 'Last 12 months'], ['custom', 'Custom range'],
];
const DEFAULT_PERIOD = '30d';
const COMPARES = [['', 'No comparison'], ['previous_period', 'Previous period'], ['year_over_year', 'Year over year']];

// rangeOf turns the dashboard's period into the first and last day (the
// site's), and the time dimension of its chart: hours for a day, days up to
// three months, months beyond.
function rangeOf(view, today) {
  let from, to;
  switch (view.period) {
    case 'today': from = to = today; break;
    case 'yesterday': from = to = addDays(today, -1); break;
    // Plausible's last N days are the N days before today.
    case '7d': from = addDays(today, -7); to = addDays(today, -1); break;
    case 'month': from = firstOfMonth(today); to = lastOfMonth(today); break;
    case 'lastmonth': from = addMonths(today, -1); to = lastOfMonth(from); break;
    case '12mo': from = addMonths(today, -11); to = lastOfMonth(today); break;
    case 'custom': from = view.from; to = view.to; break;
    default: from = addDays(today, -30); to = addDays(today, -1); // 30d
  }
  let interval = 'time:day';
  if (from === to) interval = 'time:hour';
  else if (view.period === '12mo' || span(from, to) > 92) interval = 'time:month';
  return { from, to, today, interval };
}

// ---- Properties and filters ---------------------------------------------

const PROPS = {
  'event:page': 'Page', 'visit:entry_page': 'Entry page', 'visit:exit_page': 'Exit page',
  'visit:source': 'Source', 'visit:referrer': 'Referrer', 'visit:utm_source': 'UTM source',
  'visit:utm_medium': 'UTM medium', 'visit:utm_campaign': 'UTM campaign', 'visit:utm_content': 'UTM content',
  'visit:utm_term': 'UTM term', 'visit:country': 'Country', 'visit:browser': 'Browser', 'visit:os': 'OS',
  'visit:device': 'Device', 'event:name': 'Event', 'event:goal': 'Goal',
};
const OPS = { is: 'is', is_not: 'is not', contains: 'contains' };
const PROP_PREFIX = 'event:props:';

function propName(dim) {
  if (dim.startsWith(PROP_PREFIX)) return 'Property ' + dim.slice(PROP_PREFIX.length);
  return PROPS[dim] || dim;
}

// A filter in the URL is f=<op>,<dimension>,<value>: the value is the rest
// (it may hold commas); a custom property's key is percent-encoded, so
// that it never holds one.
function encodeFilter(f) {
  const dim = f.dim.startsWith(PROP_PREFIX) ? PROP_PREFIX + encodeURIComponent(f.dim.slice(PROP_PREFIX.length)) : f.dim;
  return f.op + ',' + dim + ',' + f.value;
}

function decodeFilter(s) {
  const i = s.indexOf(',');
  if (i < 0) return null;
  const op = s.slice(0, i);
  const rest = s.slice(i + 1);
  const j = rest.indexOf(',');
  if (j < 0 || !OPS[op]) return null;
  let dim = rest.slice(0, j);
  if (dim.startsWith(PROP_PREFIX)) {
    try { dim = PROP_PREFIX + decodeURIComponent(dim.slice(PROP_PREFIX.length)); } catch (e) { return null; }
    if (dim === PROP_PREFIX) return null;
  } else if (!PROPS[dim]) return null;
  return { op, dim, value: rest.slice(j + 1) };
}

// v2Filters are the view's filters as the Stats API v2 takes them.
const v2Filter = (f) => [f.op, f.dim, [f.value]];
const v2Filters = (filters) => filters.map(v2Filter);

function chipText(f) {
  const v = f.dim === 'visit:country' && f.op !== 'contains' ? countryName(f.value) : f.value;
  return propName(f.dim) + ' ' + OPS[f.op] + ' ' + v;
}

// ---- The view in the URL ------------------------------------------------

function readView() {
  const m = location.pathname.match(/^\/sites\/([^/]+)\/?$/);
  const q = new URLSearchParams(location.search);
  const view = {
    site: m ? decodeURIComponent(m[1]) : '', period: q.get('period') || DEFAULT_PERIOD, from: q.get('from'), to: q.get('to'),
    filters: q.getAll('f').map(decodeFilter).filter(Boolean), compare: q.get('compare') || '',
    tabs: {}, prop: q.get('prop') || '', funnel: q.get('funnel') || '', imports: q.get('imports') === '1',
  };
  if (!PERIODS.some(([p]) => p === view.period)) view.period = DEFAULT_PERIOD;
  if (view.period === 'custom' && !(validDay(view.from) && validDay(view.to) && view.from <= view.to)) view.period = DEFAULT_PERIOD;
  if (view.period !== 'custom') view.from = view.to = null;
  if (!COMPARES.some(([c]) => c === view.compare)) view.compare = '';
  for (const c of CARDS) {
    const t = q.get('tab.' + c.id);
    if (t && c.tabs.some(([p]) => p === t)) view.tabs[c.id] = t;
  }
  return view;
}

function urlOf(view) {
  const q = new URLSearchParams();
  if (view.period !== DEFAULT_PERIOD) q.set('period', view.period);
  if (view.period === 'custom') { q.set('from', view.from); q.set('to', view.to); }
  for (const f of view.filters || []) q.append('f', encodeFilter(f));
  if (view.compare) q.set('compare', view.compare);
  for (const [id, t] of Object.entries(view.tabs || {})) q.set('tab.' + id, t);
  if (view.prop) q.set('prop', view.prop);
  if (view.funnel) q.set('funnel', view.funnel);
  if (view.imports) q.set('imports', '1');
  const s = q.toString();
  return (view.site ? '/sites/' + encodeURIComponent(view.site) : '/') + (s ? '?' + s : '');
}

function go(view) {
  history.pushState(null, '', urlOf(view));
  load();
}

// with returns the view with changes, for go.
const withView = (changes) => Object.assign({}, state.view, changes);

// addFilter filters the view by f, replacing a filter on the same
// property with the same operator (a click on "Bing" after "Google").
function addFilter(f) {
  const filters = state.view.filters.filter((g) => !(g.dim === f.dim && g.op === f.op));
  filters.push(f);
  go(withView({ filters }));
}

function removeFilter(i) {
  const filters = state.view.filters.slice();
  filters.splice(i, 1);
  go(withView({ filters }));
}

// ---- Formatting -----------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null) continue;
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
  if (s == null) return '–';
  s = Math.round(s);
  if (s < 60) return s + 's';
  const m = Math.floor(s / 60), two = (n) => String(n).padStart(2, '0');
  return m < 60 ? m + 'm ' + two(s % 60) + 's' : Math.floor(m / 60) + 'h ' + two(m % 60) + 'm';
}

const count = (v) => (v == null ? '–' : nf.format(v));
const rate = (v) => (v == null ? '–' : pct.format(v / 100));

// changeText writes an API "change": percent, or points for a rate.
function changeText(c, points) {
  if (c == null) return '';
  return (c > 0 ? '▲ ' : c < 0 ? '▼ ' : '— ') + nf.format(Math.abs(c)) + (points ? ' pts' : '%');
}

function label(prop, value) {
  // Pages come decoded from the API (as Plausible shows them); one it
  // keeps encoded stays so, since decoding it would name another page.
  if (prop === 'event:page' || prop === 'visit:entry_page' || prop === 'visit:exit_page') return value;
  if (prop === 'visit:country') {
    if (value === '') return '(unknown)';
    const f = flag(value);
    return (f ? f + ' ' : '') + countryName(value);
  }
  return value === '' ? '(none)' : value;
}

// ---- Queries -------------------------------------------------------------

// query is a v2 body for the view: its site, range, filters (and extra
// ones, the panel's own), and imported data when asked for.
function query(metrics, dimensions, extra) {
  const v = state.view, r = state.range;
  const body = { site_id: v.site, metrics, date_range: [r.from, r.to], date: r.today };
  if (dimensions && dimensions.length) body.dimensions = dimensions;
  const filters = v2Filters(v.filters).concat(extra || []);
  if (filters.length) body.filters = filters;
  const include = {};
  if (v.imports) include.imports = true;
  if (v.compare) include.comparisons = { mode: v.compare };
  if (Object.keys(include).length) body.include = include;
  return body;
}

// importsNote marks an answer that has imported data in it.
function importsNote(ans) {
  return ans && ans.meta && ans.meta.imports_included === true
    ? el('p', { class: 'note imports', text: 'Includes imported data' }) : null;
}

const filtered = () => state.view.filters.length > 0;
const emptyText = () => (filtered() ? 'Nothing matches these filters in this period.' : 'Nothing in this period.');

// ---- Headline -------------------------------------------------------------

const KPIS = [
  { key: 'visitors', label: 'Visitors', fmt: count },
  { key: 'visits', label: 'Visits', fmt: count },
  { key: 'pageviews', label: 'Page views', fmt: count },
  { key: 'views_per_visit', label: 'Views per visit', fmt: (v) => (v == null ? '–' : nf2.format(v)) },
  { key: 'bounce_rate', label: 'Bounce rate', fmt: rate, lowerIsBetter: true, points: true },
  { key: 'visit_duration', label: 'Visit duration', fmt: duration },
  { key: 'events', label: 'Events', fmt: count },
  { key: 'conversion_rate', label: 'Conversion rate', fmt: rate },
];

// headlineMetrics are the headline's metrics under the view's filters:
// views per visit is not answered under a page filter, the conversion rate
// only under a goal filter.
function headlineMetrics() {
  const dims = state.view.filters.map((f) => f.dim);
  return KPIS.map((k) => k.key).filter((m) => {
    if (m === 'views_per_visit') return !dims.includes('event:page');
    if (m === 'conversion_rate') return dims.includes('event:goal');
    return true;
  });
}

function renderKPIs(metrics, ans) {
  const box = $('kpis');
  box.replaceChildren();
  const row = ans.results[0] || { metrics: metrics.map(() => 0) };
  const cmp = row.comparison;
  metrics.forEach((m, i) => {
    const k = KPIS.find((x) => x.key === m);
    const v = row.metrics[i];
    const card = el('div', { class: 'kpi', 'data-metric': m, 'data-value': String(v) },
      el('div', { class: 'label', text: k.label }), el('div', { class: 'value', text: k.fmt(v) }));
    if (cmp) {
      const c = cmp.change[i];
      const change = el('div', { class: 'change', 'data-change': String(c), 'data-previous': String(cmp.metrics[i]) });
      change.append(el('span', { class: 'was', text: 'vs ' + k.fmt(cmp.metrics[i]) }));
      if (c != null && c !== 0) {
        const better = k.lowerIsBetter ? c < 0 : c > 0;
        change.append(' ', el('span', { class: better ? 'up' : 'down', text: changeText(c, k.points) }));
      } else if (c === 0) change.append(' ', el('span', { text: changeText(0, k.points) }));
      card.append(change);
    }
    box.append(card);
  });
  const n = importsNote(ans);
  if (n) box.append(n);
}

// ---- Chart ------------------------------------------------------------------

let chart = null;
let chartData = null;

function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

// The API's labels are the site's wall-clock times ("2026-11-27" or
// "2026-11-27 13:00:00"); the chart keeps them as if UTC and formats them
// in UTC, so they read as the site's times whatever the browser's zone.
function toUnix(key) {
  const s = key.length === 10 ? key + 'T00:00:00Z' : key.replace(' ', 'T') + 'Z';
  return Date.parse(s) / 1000;
}

const dateFmt = {
  'time:hour': new Intl.DateTimeFormat(lang, { timeZone: 'UTC', hour: '2-digit', minute: '2-digit' }),
  'time:day': new Intl.DateTimeFormat(lang, { timeZone: 'UTC', day: 'numeric', month: 'short' }),
  'time:month': new Intl.DateTimeFormat(lang, { timeZone: 'UTC', month: 'short', year: 'numeric' }),
};
const longFmt = {
  'time:hour': new Intl.DateTimeFormat(lang, { timeZone: 'UTC', dateStyle: 'medium', timeStyle: 'short' }),
  'time:day': new Intl.DateTimeFormat(lang, { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' }),
  'time:month': dateFmt['time:month'],
};
const dayFmt = new Intl.DateTimeFormat(lang, { timeZone: 'UTC', day: 'numeric', month: 'short', year: 'numeric' });
const dayText = (s) => dayFmt.format(parseDay(s));

// chartRows pairs every bucket label with its row (zeros where none).
function chartRows(ans) {
  const byLabel = new Map(ans.results.map((r) => [r.dimensions[0], r]));
  const labels = (ans.meta && ans.meta.time_labels) || ans.results.map((r) => r.dimensions[0]);
  return labels.map((l) => ({ label: l, row: byLabel.get(l) }));
}

function drawChart() {
  const box = $('plot');
  if (chart) { chart.destroy(); chart = null; }
  box.replaceChildren();
  if (!chartData) return;
  const { rows, interval, compare } = chartData;
  const data = [rows.map((r) => toUnix(r.label)), rows.map((r) => (r.row ? r.row.metrics[0] : 0)), rows.map((r) => (r.row ? r.row.metrics[1] : 0))];
  if (compare) data.push(rows.map((r) => (r.row && r.row.comparison ? r.row.comparison.metrics[0] : 0)));
  box.dataset.points = JSON.stringify(data);
  box.dataset.labels = JSON.stringify(rows.map((r) => r.label));
  const text = css('--text'), grid = css('--line');
  const width = Math.max(box.clientWidth, 200);
  // One tick per bucket, thinned so labels do not overlap.
  const every = Math.max(1, Math.ceil(data[0].length * (interval === 'time:month' ? 80 : 64) / width));
  const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const fmt = (u, v) => (v == null ? '–' : nf.format(v));
  const series = [
    { label: interval === 'time:hour' ? 'Hour' : interval === 'time:month' ? 'Month' : 'Day', value: (u, v) => (v == null ? '–' : longFmt[interval].format(v * 1000)) },
    { label: 'Visitors', stroke: css('--accent'), width: 2, fill: css('--bar') + '80', value: fmt },
    { label: 'Page views', stroke: css('--accent2'), width: 2, value: fmt },
  ];
  if (compare) series.push({ label: 'Visitors, ' + compareName(), stroke: css('--muted'), width: 1.5, dash: [6, 4], value: fmt });
  chart = new uPlot({
    width, height: 260,
    scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.1))] } },
    series,
    axes: [
      Object.assign({}, axis, {
        splits: (u) => u.data[0].filter((x, i) => i % every === 0),
        values: (u, splits) => splits.map((v) => dateFmt[interval].format(v * 1000)),
      }),
      Object.assign({}, axis, { values: (u, vals) => vals.map((v) => nf.format(v)) }),
    ],
  }, data, box);
}

const compareName = () => (state.view.compare === 'year_over_year' ? 'a year before' : 'previous period');

// ---- Tables -------------------------------------------------------------

// Each card is a v2 breakdown: its property (a tab's), its metrics, and
// filters of its own (the custom events leave page views out).
const CARDS = [
  { id: 'pages', title: 'Top pages', tabs: [['event:page', 'Page']], metrics: ['visitors', 'pageviews'] },
  { id: 'entry', title: 'Entry pages', tabs: [['visit:entry_page', 'Entry page']], metrics: ['visitors', 'visits'] },
  { id: 'exit', title: 'Exit pages', tabs: [['visit:exit_page', 'Exit page']], metrics: ['visits'] },
  { id: 'sources', title: 'Sources', tabs: [['visit:source', 'Source']] },
  { id: 'referrers', title: 'Referrers', tabs: [['visit:referrer', 'Referrer']] },
  { id: 'campaigns', title: 'UTM', tabs: [['visit:utm_campaign', 'Campaigns'], ['visit:utm_source', 'Sources'], ['visit:utm_medium', 'Mediums'], ['visit:utm_content', 'Content'], ['visit:utm_term', 'Terms']] },
  { id: 'countries', title: 'Countries', tabs: [['visit:country', 'Country']] },
  { id: 'browsers', title: 'Browsers', tabs: [['visit:browser', 'Browser']] },
  { id: 'os', title: 'Operating systems', tabs: [['visit:os', 'OS']] },
  { id: 'devices', title: 'Devices', tabs: [['visit:device', 'Device']] },
  { id: 'events', title: 'Custom events', tabs: [['event:name', 'Event']], metrics: ['visitors', 'events'], own: [['is_not', 'event:name', ['pageview']]] },
];
// The goals and properties panels are tables too, drawn when the site has
// goals (properties).
const GOALS = { id: 'goals', title: 'Goals', tabs: [['event:goal', 'Goal']], metrics: ['visitors', 'events', 'conversion_rate'] };
const PROPERTIES = { id: 'props', title: 'Properties', tabs: [], metrics: ['visitors', 'events'] };
const HEAD = { visitors: 'Visitors', pageviews: 'Views', events: 'Count', visits: 'Visits', conversion_rate: 'CR' };
const TITLE = { visitors: 'Unique visitors', pageviews: 'Page views', events: 'Events', visits: 'Visits', conversion_rate: 'Conversion rate' };

// Plausible leaves the rows of an empty UTM tag, entry page, exit page
// and country out of its dashboard's tables: so do these (the API
// answers them as "(not set)" or "").
const NOT_SET = ['visit:utm_source', 'visit:utm_medium', 'visit:utm_campaign', 'visit:utm_content', 'visit:utm_term'];

function cardProp(card) {
  if (card === PROPERTIES) {
    const k = state.view.prop || state.propKey;
    return k ? PROP_PREFIX + k : '';
  }
  const t = state.view.tabs[card.id];
  return t || card.tabs[0][0];
}

function cardFilters(card, prop) {
  const own = (card.own || []).slice();
  if (NOT_SET.includes(prop)) own.push(['is_not', prop, ['(not set)']]);
  const search = card.search && card.search.value.trim();
  if (search) own.push(['contains', prop, [search], { case_sensitive: false }]);
  return own;
}

function cardShell(card) {
  const sec = el('section', { class: 'card', id: 'card-' + card.id, 'aria-labelledby': 'h-' + card.id });
  const head = el('div', { class: 'card-head' }, el('h2', { id: 'h-' + card.id, text: card.title }));
  card.search = el('input', { type: 'search', class: 'search', placeholder: 'Search', 'aria-label': 'Search ' + card.title });
  let timer = 0;
  card.search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => fillCard(card, LIMIT, state.gen), 250); });
  head.append(card.search);
  sec.append(head);
  if (card.tabs.length > 1) {
    const tabs = el('div', { class: 'tabs', role: 'tablist', 'aria-label': card.title });
    card.tabs.forEach(([prop, name]) => {
      tabs.append(el('button', {
        type: 'button', role: 'tab', 'aria-selected': 'false', 'data-property': prop, text: name,
        onclick: () => {
          const tabsOf = Object.assign({}, state.view.tabs);
          if (prop === card.tabs[0][0]) delete tabsOf[card.id]; else tabsOf[card.id] = prop;
          // A tab is a view of the same data: the URL changes, the
          // other panels stay.
          state.view.tabs = tabsOf;
          history.pushState(null, '', urlOf(state.view));
          markTabs(card);
          fillCard(card, LIMIT, state.gen);
        },
      }));
    });
    sec.append(tabs);
  }
  if (card === PROPERTIES) {
    const sel = el('select', { id: 'prop-key', 'aria-label': 'Property key' });
    sel.addEventListener('change', () => go(withView({ prop: sel.value })));
    sec.append(el('label', { class: 'picker' }, 'Key ', sel));
  }
  sec.append(el('div', { class: 'body', role: card.tabs.length > 1 ? 'tabpanel' : null }));
  return sec;
}

function markTabs(card) {
  const p = cardProp(card);
  for (const b of document.querySelectorAll('#card-' + card.id + ' [role=tab]')) b.setAttribute('aria-selected', String(b.dataset.property === p));
}

async function fillCard(card, limit, gen) {
  const prop = cardProp(card);
  const metrics = card.metrics || ['visitors'];
  const body = $('card-' + card.id).querySelector('.body');
  if (!prop) {
    body.replaceChildren(el('p', { class: 'empty', text: 'No custom properties in this period.' }));
    delete body.dataset.property;
    return;
  }
  const q = query(metrics, [prop], cardFilters(card, prop));
  q.pagination = { limit };
  q.include = Object.assign({}, q.include, { total_rows: true });
  let ans;
  try {
    ans = await v2(q);
  } catch (e) {
    if (gen !== state.gen) return;
    if (e.status === 401) return needLogin();
    body.replaceChildren(el('p', { class: 'error', text: e.message }));
    return;
  }
  if (gen !== state.gen || prop !== cardProp(card)) return;
  const rows = ans.results;
  body.replaceChildren();
  body.dataset.property = prop;
  body.dataset.query = JSON.stringify(q);
  if (!rows.length) {
    body.append(el('p', { class: 'empty', text: card.search.value.trim() ? 'Nothing matches this search.' : emptyText() }));
    return;
  }
  const max = Math.max(...rows.map((r) => r.metrics[0]), 1);
  const table = el('table', { 'data-property': prop });
  const head = el('tr', null, el('th', { scope: 'col', text: propName(prop) }));
  metrics.forEach((m, i) => head.append(el('th', { scope: 'col', class: i === 0 && state.view.compare ? 'num cmp' : 'num', title: TITLE[m], text: HEAD[m] })));
  table.append(el('thead', null, head));
  const tb = el('tbody');
  for (const r of rows) {
    const value = r.dimensions[0];
    const fill = el('span', { class: 'fill' });
    fill.style.width = (100 * r.metrics[0] / max).toFixed(2) + '%';
    const name = label(prop, value);
    const f = { op: 'is', dim: prop, value };
    // An empty country or page is no value a filter can name: its row is
    // shown, not a link.
    const link = value !== '' || prop.startsWith(PROP_PREFIX);
    const button = link ? el('button', { type: 'button', class: 'rowlink', title: 'Filter: ' + chipText(f), text: name }) : el('span', { class: 'rowlink', text: name });
    const tr = el('tr', { 'data-key': value, class: link ? null : 'static' }, el('td', { class: 'name' }, fill, button));
    if (link) tr.addEventListener('click', () => addFilter(f));
    metrics.forEach((m, i) => {
      const v = r.metrics[i];
      const td = el('td', { class: 'num', 'data-metric': m, 'data-value': String(v) });
      if (i === 0 && r.comparison) {
        const c = r.comparison.change[0];
        td.dataset.change = String(c);
        td.classList.add('cmp');
        if (c != null) td.append(el('span', { class: 'rowchange ' + (c > 0 ? 'up' : c < 0 ? 'down' : ''), title: 'vs ' + count(r.comparison.metrics[0]) + ', ' + compareName(), text: changeText(c, false) }));
      }
      td.append(m === 'conversion_rate' ? rate(v) : count(v));
      tr.append(td);
    });
    tb.append(tr);
  }
  table.append(tb);
  body.append(table);
  const n = importsNote(ans);
  if (n) body.append(n);
  const total = ans.meta && ans.meta.total_rows;
  if (limit === LIMIT && total > LIMIT) {
    body.append(el('button', { type: 'button', class: 'more', text: 'Show more (' + nf.format(Math.min(total, MORE)) + ' of ' + nf.format(total) + ')', onclick: () => fillCard(card, MORE, state.gen) }));
  }
}

// ---- Funnels ----------------------------------------------------------------

async function fillFunnel(gen) {
  const body = $('card-funnels').querySelector('.body');
  const v = state.view, r = state.range;
  const name = v.funnel || state.details.funnels[0].name;
  $('funnel-name').value = name;
  const params = { site_id: v.site, funnel: name, period: 'custom', date: r.from + ',' + r.to };
  if (v.filters.length) params.filters = JSON.stringify(v2Filters(v.filters));
  let ans;
  try {
    ans = await api('/api/v1/stats/funnel', params);
  } catch (e) {
    if (gen !== state.gen) return;
    if (e.status === 401) return needLogin();
    body.replaceChildren(el('p', { class: 'error', text: e.message }));
    return;
  }
  if (gen !== state.gen) return;
  body.replaceChildren();
  body.dataset.funnel = name;
  const first = ans.steps.length ? ans.steps[0].visitors : 0;
  if (!first) body.append(el('p', { class: 'empty', text: filtered() ? 'No visitor reached the first step under these filters in this period.' : 'No visitor reached the first step in this period.' }));
  const list = el('ol', { class: 'funnel' });
  for (const s of ans.steps) {
    const bar = el('span', { class: 'fill' });
    bar.style.width = (first ? 100 * s.visitors / first : 0).toFixed(2) + '%';
    list.append(el('li', { 'data-goal': s.goal, 'data-visitors': String(s.visitors), 'data-dropoff': String(s.dropoff), 'data-conversion': String(s.conversion_rate) },
      el('div', { class: 'step' }, bar, el('span', { class: 'text', text: s.goal })),
      el('div', { class: 'nums' },
        el('span', { text: count(s.visitors) + ' visitors' }),
        el('span', { text: pct.format(s.conversion_rate / 100) + ' converted' }),
        s.dropoff ? el('span', { class: 'down', text: '−' + count(s.dropoff) + ' dropped' }) : null)));
  }
  body.append(list);
}

// ---- Realtime ---------------------------------------------------------------

let realtimeTimer = 0;

async function refreshRealtime() {
  const site = state.view.site, gen = state.gen;
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
    // An answer of a view the page has left (a login since) says nothing
    // of the current one.
    if (gen !== state.gen || site !== state.view.site) return;
    if (e.status === 401) return needLogin();
    $('realtime').textContent = 'Realtime: ' + e.message;
    $('realtime').hidden = false;
  }
}

// ---- Filter bar and menu -------------------------------------------------------

function renderChips() {
  const box = $('chips');
  box.replaceChildren();
  state.view.filters.forEach((f, i) => {
    const text = chipText(f);
    box.append(el('li', { class: 'chip', 'data-filter': encodeFilter(f) },
      el('span', { class: 'chip-text', text }),
      el('button', { type: 'button', class: 'chip-x', 'aria-label': 'Remove filter: ' + text, title: 'Remove filter', text: '×', onclick: () => removeFilter(i) })));
  });
  $('filters').hidden = !state.view.filters.length;
  $('clear-filters').hidden = state.view.filters.length < 2;
}

function fillFilterProps() {
  const sel = $('filter-prop');
  const keep = sel.value;
  sel.replaceChildren();
  for (const [p, n] of Object.entries(PROPS)) {
    if (p === 'event:goal' && !(state.details && state.details.goals.length)) continue;
    sel.append(el('option', { value: p, text: n }));
  }
  for (const k of (state.details && state.details.custom_properties) || []) sel.append(el('option', { value: PROP_PREFIX + k, text: 'Property ' + k }));
  if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

let suggestTimer = 0;
// suggest offers the values of the chosen property in the view's period
// and filters (but those on the property itself), most visitors first.
async function suggest() {
  const dim = $('filter-prop').value, typed = $('filter-value').value.trim();
  const list = $('filter-values');
  const extra = typed ? [['contains', dim, [typed], { case_sensitive: false }]] : [];
  const q = query(['visitors'], [dim], extra);
  q.filters = v2Filters(state.view.filters.filter((f) => f.dim !== dim)).concat(extra);
  if (!q.filters.length) delete q.filters;
  if (q.include) { delete q.include.comparisons; if (!Object.keys(q.include).length) delete q.include; }
  q.pagination = { limit: 20 };
  if (dim === 'event:name') q.filters = (q.filters || []).concat([['is_not', 'event:name', ['pageview']]]);
  try {
    const ans = await v2(q);
    if (dim !== $('filter-prop').value) return;
    list.replaceChildren(...ans.results.map((r) => el('option', { value: r.dimensions[0] })));
  } catch (e) {
    list.replaceChildren();
  }
}

function openFilterMenu() {
  fillFilterProps();
  $('filter-menu').hidden = false;
  $('filter-open').setAttribute('aria-expanded', 'true');
  $('filter-value').value = '';
  $('filter-error').textContent = '';
  $('filter-prop').focus();
  suggest();
}

function closeFilterMenu() {
  $('filter-menu').hidden = true;
  $('filter-open').setAttribute('aria-expanded', 'false');
  $('filter-open').focus();
}

// ---- Page states -------------------------------------------------------------

const state = { view: null, range: null, gen: 0, sites: null, zones: {}, guessed: false, details: null, probed: {}, propKey: '' };

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

function fillSelect(sel, options, value) {
  if (!sel.options.length) for (const [v, t] of options) sel.append(el('option', { value: v, text: t }));
  sel.value = value;
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

function fillPickers() {
  fillSelect($('period'), PERIODS, state.view.period);
  fillSelect($('compare'), COMPARES, state.view.compare);
  const custom = state.view.period === 'custom';
  $('custom').hidden = !custom;
  if (custom) { $('from').value = state.view.from; $('to').value = state.view.to; }
  $('imports').checked = state.view.imports;
}

// probeImports shows the "Include imported data" toggle when the API
// knows of imported data (its answers then say whether they include it).
async function probeImports(site, gen) {
  if (!(site in state.probed)) {
    try {
      const ans = await v2({ site_id: site, metrics: ['visitors'], date_range: [state.range.from, state.range.to], include: { imports: true } });
      state.probed[site] = !!ans.meta && ans.meta.imports_included !== undefined;
    } catch (e) {
      state.probed[site] = false;
    }
  }
  if (gen === state.gen) $('imports-toggle').hidden = !state.probed[site];
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
      const list = (await api('/api/v1/sites')).results;
      state.sites = list.map((s) => s.site_id);
      for (const s of list) state.zones[s.site_id] = s.timezone || 'UTC';
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
  fillPickers();
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

  // The site's own day: its zone from the site list (or, for a public
  // site read without a token, from its details).
  let zone = state.zones[site];
  let details = null;
  if (!zone) {
    try {
      details = await api('/api/v1/sites/' + encodeURIComponent(site));
    } catch (e) {
      if (gen !== state.gen) return;
      if (e.status === 401) return needLogin();
      banner(e.message);
      return;
    }
    zone = state.zones[site] = details.timezone;
  }
  const range = state.range = rangeOf(state.view, todayIn(zone));
  if (gen !== state.gen) return;
  $('zone').textContent = 'Times in ' + zone;
  $('range').textContent = range.from === range.to ? dayText(range.from) : dayText(range.from) + ' – ' + dayText(range.to);
  $('range').dataset.from = range.from;
  $('range').dataset.to = range.to;
  renderChips();
  show('dashboard');

  // The site's goals, funnels and property keys of the period decide the
  // extra panels; everything else starts at once.
  const detailsP = api('/api/v1/sites/' + encodeURIComponent(site), { period: 'custom', date: range.from + ',' + range.to });
  const metrics = headlineMetrics();
  const headline = v2(query(metrics));
  const seriesQ = query(['visitors', 'pageviews'], [range.interval]);
  seriesQ.include = Object.assign({}, seriesQ.include, { time_labels: true });
  const series = v2(seriesQ);
  for (const c of CARDS) markTabs(c);
  const tables = CARDS.map((c) => fillCard(c, LIMIT, gen));
  const probe = probeImports(site, gen);
  refreshRealtime();
  realtimeTimer = setInterval(refreshRealtime, REFRESH_MS);
  const extra = detailsP.then((d) => {
    if (gen !== state.gen) return null;
    state.details = d;
    fillFilterProps();
    return extraPanels(d, gen);
  }, (e) => {
    if (gen !== state.gen) return;
    if (e.status === 401) return needLogin();
    banner(e.message);
  });
  try {
    const [cur, ts] = await Promise.all([headline, series]);
    if (gen !== state.gen) return;
    const row = cur.results[0];
    const empty = !row || (!row.metrics[0] && !row.metrics[metrics.indexOf('events')]);
    if (empty) await noData(site, range.today, gen);
    else $('nodata').hidden = true;
    renderKPIs(metrics, cur);
    chartData = { rows: chartRows(ts), interval: range.interval, compare: !!state.view.compare };
    drawChart();
    $('chart-note').replaceChildren();
    const n = importsNote(ts);
    if (n) $('chart-note').append(n);
  } catch (e) {
    if (gen !== state.gen) return;
    if (e.status === 401) return needLogin();
    banner(e.message);
  }
  await Promise.all(tables.concat([extra, probe]));
  done(gen);
}

// extraPanels draws the goals, properties and funnel panels the site has.
async function extraPanels(d, gen) {
  const work = [];
  $('card-goals').hidden = !d.goals.length;
  if (d.goals.length) work.push(fillCard(GOALS, LIMIT, gen));
  const keys = d.custom_properties;
  $('card-props').hidden = !keys.length && !state.view.prop;
  if (keys.length || state.view.prop) {
    const sel = $('prop-key');
    const all = keys.includes(state.view.prop) || !state.view.prop ? keys : [state.view.prop].concat(keys);
    sel.replaceChildren(...all.map((k) => el('option', { value: k, text: k })));
    // The first key unless the URL names one (the URL keeps a choice only).
    state.propKey = all[0];
    sel.value = state.view.prop || state.propKey;
    work.push(fillCard(PROPERTIES, LIMIT, gen));
  }
  $('card-funnels').hidden = !d.funnels.length;
  if (d.funnels.length) {
    const sel = $('funnel-name');
    sel.replaceChildren(...d.funnels.map((f) => el('option', { value: f.name, text: f.name })));
    if (!d.funnels.some((f) => f.name === state.view.funnel)) state.view.funnel = '';
    work.push(fillFunnel(gen));
  }
  await Promise.all(work);
}

// noData shows the note of an empty period: not an error. Without
// filters it links to the last month with events (of the last five
// years), if any.
async function noData(site, today, gen) {
  const note = $('nodata');
  note.replaceChildren(filtered() ? 'Nothing matches these filters in this period.' : 'No events in this period.');
  note.hidden = false;
  if (filtered()) return;
  let last = null;
  try {
    const from = addMonths(today, -59);
    const ans = await v2({ site_id: site, metrics: ['visitors', 'events'], date_range: [from, today], date: today, dimensions: ['time:month'] });
    for (const r of ans.results) if (r.metrics[0] || r.metrics[1]) last = r.dimensions[0];
  } catch (e) {
    return; // the note stands without the offer
  }
  if (gen !== state.gen || !last) return;
  last = last.slice(0, 10);
  const to = lastOfMonth(last) < today ? lastOfMonth(last) : today;
  const view = { site, period: 'custom', from: last, to, filters: [] };
  if (state.range && state.range.from === view.from && state.range.to === view.to) return;
  const month = dateFmt['time:month'].format(toUnix(last) * 1000);
  const link = el('a', { id: 'nodata-last', href: urlOf(view), text: 'Show ' + month });
  link.addEventListener('click', (e) => { e.preventDefault(); go(view); });
  note.append(' The last events are from ' + month + '. ', link);
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
  const goals = cardShell(GOALS), props = cardShell(PROPERTIES);
  goals.hidden = props.hidden = true;
  const funnel = el('section', { class: 'card wide', id: 'card-funnels', 'aria-labelledby': 'h-funnels', hidden: '' },
    el('div', { class: 'card-head' }, el('h2', { id: 'h-funnels', text: 'Funnel' })),
    el('label', { class: 'picker' }, 'Funnel ', el('select', { id: 'funnel-name', 'aria-label': 'Funnel' })),
    el('div', { class: 'body' }));
  grid.append(goals, props, funnel);
  $('funnel-name').addEventListener('change', (e) => go(withView({ funnel: e.target.value })));
  $('site').addEventListener('change', (e) => go({ site: e.target.value, period: state.view.period, from: state.view.from, to: state.view.to, filters: [], compare: state.view.compare, tabs: {}, imports: state.view.imports }));
  $('period').addEventListener('change', (e) => {
    const p = e.target.value;
    if (p === 'custom') {
      const r = state.range || rangeOf(state.view, iso(new Date()));
      $('from').value = r.from; $('to').value = r.to > r.today ? r.today : r.to;
      $('custom').hidden = false;
      $('from').focus();
      return;
    }
    go(withView({ period: p, from: null, to: null }));
  });
  $('compare').addEventListener('change', (e) => go(withView({ compare: e.target.value })));
  $('imports').addEventListener('change', (e) => go(withView({ imports: e.target.checked })));
  $('custom').addEventListener('submit', (e) => {
    e.preventDefault();
    const from = $('from').value, to = $('to').value;
    if (!validDay(from) || !validDay(to) || from > to) {
      banner('Choose a first and a last day, the first not after the last.');
      return;
    }
    go(withView({ period: 'custom', from, to }));
  });
  $('filter-open').addEventListener('click', () => ($('filter-menu').hidden ? openFilterMenu() : closeFilterMenu()));
  $('filter-cancel').addEventListener('click', closeFilterMenu);
  $('filter-menu').addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); closeFilterMenu(); } });
  $('filter-prop').addEventListener('change', () => { $('filter-value').value = ''; suggest(); });
  $('filter-value').addEventListener('input', () => { clearTimeout(suggestTimer); suggestTimer = setTimeout(suggest, 200); });
  $('filter-menu').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $('filter-value').value;
    if (!value.trim()) { $('filter-error').textContent = 'Enter a value to filter by.'; $('filter-value').focus(); return; }
    $('filter-menu').hidden = true;
    $('filter-open').setAttribute('aria-expanded', 'false');
    addFilter({ op: $('filter-op').value, dim: $('filter-prop').value, value });
  });
  $('clear-filters').addEventListener('click', () => go(withView({ filters: [] })));
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
