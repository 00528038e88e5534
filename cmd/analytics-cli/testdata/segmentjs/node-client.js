// Sends page, track, identify and a resent messageId with Segment's own
// Node library, unchanged but for the host, to the collector given as the
// first argument; the write key (a site id) and the UTC day are the next.
// It prints one JSON line: the HTTP answers the library got (status and
// messages sent) and its errors.
// segment_test.go runs the bundle of this file (npm run build).
const { Analytics } = require('@segment/analytics-node')

async function main() {
  const [host, writeKey, day] = process.argv.slice(2)
  const at = (min) => new Date(Date.parse(day + 'T12:00:00Z') + min * 60000)
  const report = { responses: [], errors: [] }
  const client = () => {
    const a = new Analytics({ writeKey, host, flushAt: 20, flushInterval: 50, maxRetries: 2 })
    a.on('http_response', (r) => report.responses.push({ status: r.status, messages: JSON.parse(r.body).batch.length }))
    a.on('error', (e) => report.errors.push(String((e && e.reason) || e && e.code || e)))
    return a
  }
  const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'
  const a = client()
  a.page({ userId: 'n1', name: 'Start', timestamp: at(0), context: { userAgent: ua },
    properties: { url: 'https://docs.example/start?utm_source=node-guide', referrer: 'https://news.ycombinator.com/item?id=1' } })
  a.page({ anonymousId: 'anon-n', timestamp: at(1), context: { userAgent: ua }, properties: { path: '/pricing' } })
  a.page({ userId: 'n1', timestamp: at(2), properties: { path: '/pricing' } })
  const upgrade = { userId: 'n1', event: 'Plan Upgraded', messageId: 'node-upgrade-1', timestamp: at(3),
    properties: { plan: 'pro', seats: 5, billing: { cycle: 'yearly' } } }
  a.track(upgrade)
  a.identify({ userId: 'n2', timestamp: at(4), traits: { email: 'n2@example.com' } })
  a.group({ userId: 'n1', groupId: 'acme', timestamp: at(5) })
  a.alias({ userId: 'n1', previousId: 'anon-n', timestamp: at(6) })
  await a.closeAndFlush({ timeout: 10000 })
  // The same message again from a new process: counted once.
  const b = client()
  b.track(upgrade)
  await b.closeAndFlush({ timeout: 10000 })
  console.log(JSON.stringify(report))
}

main().catch((e) => { console.error(e); process.exit(1) })
