// Drives @umami/node 0.4.0 (index.js beside this file, unchanged) against a
// collector: node run.cjs COLLECTOR WEBSITE. Prints the statuses and bodies
// of its answers as JSON, one per call.
const { Umami } = require("./index.js");
const [hostUrl, websiteId] = process.argv.slice(2);
(async () => {
  const umami = new Umami({ hostUrl, websiteId,
    userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36" });
  const out = [];
  const record = async (p) => { const r = await p; out.push({ status: r.status, body: await r.text() }); };
  await record(umami.track({ hostname: "shop.example", url: "/pricing?utm_source=node-guide", referrer: "https://news.example.com/item", title: "Pricing" }));
  await record(umami.track({ hostname: "shop.example", url: "/checkout", title: "Checkout" }));
  await record(umami.track("Plan Upgraded", { plan: "pro", seats: 3, nested: { dropped: true } }));
  await record(umami.identify({ email: "u@example.com" }));
  console.log(JSON.stringify(out));
})().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
