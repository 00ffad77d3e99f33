'use strict';
// tracker-key.js - the browser tracker (tracker/tracker.js) with a write key, in headless
// Chromium, against the stack tests/integration/0701-tracker-write-key.sh started with a
// key file: a key of 2 events a second (burst 3), and a page with data-write-key. Every
// event arrives, once, with the key's source, although the collector answers 429 on the
// way (the tracker waits Retry-After and sends the same batch again); a page with an
// unknown key gets a 401, says so once, stops sending and keeps its queue. Prints TAP.
//
// Environment: BASE_URL (the stack), KAFKA_URL, WRITE_KEY, SOURCE.
const { chromium } = require('playwright-core');
const { rawMessages } = require('./raw');
const http = require('node:http');

const BASE = process.env.BASE_URL;
const tap = require('./tap')('tracker-key', 60000);
const { ok, waitFor } = tap;

// {mark: [source, ...]}: the copies in Kafka of each event marked with prefix.
function copies(prefix) {
  const found = {};
  for (const m of rawMessages()) {
    for (const event of m.value.payload.events || []) {
      if (typeof event.mark === 'string' && event.mark.startsWith(prefix)) (found[event.mark] = found[event.mark] || []).push(m.value.source);
    }
  }
  return found;
}

function pageServer() {
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><meta charset="utf-8"><title>a shop</title>
<script src="${BASE}/tracker.js" data-write-key="${u.searchParams.get('key')}" data-batch-size="3" data-batch-delay-ms="100"></script>
<script>window.seen = [];
['sent', 'retry', 'rejected', 'dropped', 'unauthorized'].forEach(function (t) {
  addEventListener('tracker:' + t, function (e) { seen.push(Object.assign({ type: t, at: Date.now() }, e.detail)); });
});</script><h1>a shop</h1>`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  const pages = await pageServer();
  const origin = `http://127.0.0.1:${pages.address().port}`;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });

  // 12 events in batches of 3 against 2 a second, burst 3: 429s, waits, and all arrive.
  let page = await (await browser.newContext()).newPage();
  await page.goto(`${origin}/shop?key=${encodeURIComponent(process.env.WRITE_KEY)}`);
  const run = `k${Date.now()}-`;
  const marks = Array.from({ length: 12 }, (_, i) => run + i);
  await page.evaluate((ms) => ms.forEach((m) => tracker.track('product_view', { mark: m })), marks);
  let found = {};
  const all = await waitFor(() => { found = copies(run); return marks.every((m) => found[m]); });
  ok(all, 'every one of 12 events arrived despite the budget', { found, seen: await page.evaluate(() => seen) });
  ok(marks.every((m) => found[m] && found[m].length === 1), 'each exactly once (a 429 produced nothing)', found);
  ok(marks.every((m) => found[m] && found[m].every((s) => s === process.env.SOURCE)), `each with source ${process.env.SOURCE}`, found);
  const seen = await page.evaluate(() => seen);
  const retries = seen.filter((e) => e.type === 'retry' && e.status === 429);
  ok(retries.length >= 1 && retries.every((e) => e.delay_ms >= 1000), 'a 429 made it wait Retry-After (>= 1 s)', seen);
  ok(retries.every((e) => {
    const next = seen.find((x) => x.request_id === e.request_id && x.at > e.at && (x.type === 'sent' || x.type === 'retry'));
    return next && next.at - e.at >= e.delay_ms - 50;
  }), 'the same batch was sent again only after that wait, and then answered', seen);
  ok(!seen.some((e) => e.type === 'rejected' || e.type === 'dropped'), 'nothing rejected or dropped', seen);
  ok((await page.evaluate(() => tracker.stats())).queued === 0, 'the queue is empty at the end');

  // An unknown key: one 401, said once; nothing more is sent; the queue stays.
  page = await (await browser.newContext()).newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${origin}/shop?key=wk_unknown_key_000000000`);
  const bad = `u${Date.now()}-`;
  await page.evaluate((b) => { for (let i = 0; i < 4; i++) tracker.track('product_view', { mark: b + i }); tracker.flush(); }, bad);
  const stopped = await waitFor(() => page.evaluate(() => tracker.stats().stopped));
  ok(stopped, 'an unknown key: the tracker stops sending');
  await page.evaluate(() => tracker.track('product_view', { late: 1 }));
  await new Promise((r) => setTimeout(r, 1500));
  const st = await page.evaluate(() => ({ stats: tracker.stats(), seen }));
  ok(st.stats.queued === 5, 'its queue is kept (4 + 1 tracked after)', st);
  ok(st.seen.filter((e) => e.type === 'unauthorized').length === 1 && errors.filter((t) => /^tracker: .*401/.test(t)).length === 1,
    'the 401 is said once', { seen: st.seen, errors });
  ok(Object.keys(copies(bad)).length === 0, 'nothing of it reached Kafka');
  await browser.close();
  pages.close();
}

setTimeout(() => { ok(false, 'finished within 4 minutes'); process.exit(1); }, 240000).unref();
main().then(() => process.exit(tap.failed ? 1 : 0), (err) => { ok(false, 'the driver ran', err.stack); process.exit(1); });
