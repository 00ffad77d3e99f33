'use strict';
// tracker-browser.js - the browser tracker (tracker/tracker.js) in headless Chromium,
// against the stack that tests/integration/0700-tracker-browser.sh started: nginx, the
// pools and a dev broker. Pages are served from another origin (a node http server on
// another port). A relay in front of nginx stands for a collector that is down (it drops
// every connection), up (it passes everything to nginx), or answering one 503. Records
// are read back from collect-topic1 with kcat. Prints TAP lines.
//
// Environment: BASE_URL (the stack), KAFKA_URL, TEST_DIR (screenshots), ARTIFACTS (where a
// failed run keeps them).
const { chromium } = require('playwright-core');
const { rawMessages } = require('./raw');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const BASE = process.env.BASE_URL;
const TEST_DIR = process.env.TEST_DIR;
const ARTIFACTS = process.env.ARTIFACTS;
const WAIT_MS = 30000; // longest wait for one property
const tap = require('./tap')('tracker', WAIT_MS);
const { ok, waitFor } = tap;

// The copies in Kafka of each event marked with `mark` (a property the tests set):
// {mark: [{key, index, event, ctx, payload}]}.
function copiesByMark(prefix) {
  const found = {};
  for (const m of rawMessages()) {
    (m.value.payload.events || []).forEach((event, index) => {
      if (typeof event.mark !== 'string' || !event.mark.startsWith(prefix)) return;
      (found[event.mark] = found[event.mark] || []).push({ key: m.key, index, event, ctx: m.value.payload.ctx, payload: m.value.payload });
    });
  }
  return found;
}

async function allArrived(marks) {
  let last = {};
  const done = await waitFor(() => {
    last = copiesByMark(marks[0].replace(/-\d+$/, '-'));
    return marks.every((m) => last[m]);
  });
  return { done, copies: last };
}

// Every copy of an event is the same request: same key (request id), same index, same bytes.
function sameRequest(copies) {
  return Object.values(copies).every((list) => list.every((c) => c.key === list[0].key && c.index === list[0].index &&
    JSON.stringify(c.payload) === JSON.stringify(list[0].payload)));
}

// The page of a shop on another origin, with the tracker of the stack.
function pageServer(version) {
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    const attrs = ['endpoint', 'batch-size', 'batch-delay-ms', 'max-events', 'retry-base-ms', 'retry-max-ms']
      .filter((a) => u.searchParams.has(a)).map((a) => ` data-${a}="${u.searchParams.get(a)}"`).join('');
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><meta charset="utf-8"><title>a shop</title>
<script src="${BASE}/tracker.js?v=${version}"${attrs}></script>
<script>window.seen = [];
['sent', 'retry', 'rejected', 'dropped'].forEach(function (t) {
  addEventListener('tracker:' + t, function (e) { seen.push(Object.assign({ type: t, at: Date.now() }, e.detail)); });
});</script><h1>a shop</h1>`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// A collector in front of nginx that can be down, up, or answer the next POST with a 503.
function relay() {
  const target = new URL(BASE);
  const r = { mode: 'down', log: [], server: null };
  r.server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    r.log.push({ at: Date.now(), mode: r.mode, method: req.method, path: u.pathname, arg: u.searchParams.get('request_id'),
      id: req.headers['x-request-id'], type: req.headers['content-type'] });
    if (r.mode === 'down') {
      req.socket.destroy();
      return;
    }
    if (r.mode === '503' && req.method === 'POST') {
      r.mode = 'up';
      res.writeHead(503, { 'Content-Type': 'application/json; charset=utf-8', 'Retry-After': '1',
        'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'X-Request-Id, Retry-After' });
      res.end('{"status":"error","message":"Kafka did not acknowledge the events; nothing was accepted, send them again"}');
      return;
    }
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => { res.writeHead(answer.statusCode, answer.headers); answer.pipe(res); });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  return new Promise((resolve) => r.server.listen(0, '127.0.0.1', () => {
    r.url = `http://127.0.0.1:${r.server.address().port}/collect`;
    resolve(r);
  }));
}

async function screenshot(page, name) {
  const file = path.join(TEST_DIR, name + '.png');
  try {
    await page.screenshot({ path: file, fullPage: true });
  } catch (err) {
    console.log(`# no screenshot of ${name}: ${err.message}`);
  }
  return file;
}

async function main() {
  const home = await (await fetch(BASE + '/')).text();
  const version = (/\/tracker\.js\?v=([0-9a-f]+)/.exec(home) || [])[1];
  ok(version, 'GET / loads the tracker by its versioned URL', home.slice(0, 500));
  const pages = await pageServer(version);
  const origin = `http://127.0.0.1:${pages.address().port}`;
  const rel = await relay();
  const pageUrl = (params) => origin + '/shop?' + new URLSearchParams(params);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const shots = [];
  // Each scenario has a context of its own: a browser profile with its own localStorage.
  const scenario = async (name, fn) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const before = tap.failed;
    try {
      await fn(page, context);
    } catch (err) {
      ok(false, `${name}: ran to its end`, err.stack);
    }
    if (tap.failed > before) shots.push(await screenshot(page, name));
    await context.close();
  };
  const seen = (page) => page.evaluate(() => window.seen);
  const stats = (page) => page.evaluate(() => window.tracker.stats());
  const track = (page, list) => page.evaluate((l) => l.forEach((e) => window.tracker.track(e[0], e[1])), list);

  await scenario('cross-origin', async (page) => {
    const marks = [0, 1, 2, 3, 4].map((i) => 's1-' + i);
    await page.goto(pageUrl({ endpoint: BASE + '/collect', 'batch-size': 2, 'batch-delay-ms': 300 }));
    ok(await page.evaluate(() => typeof window.tracker.track === 'function'), 'a page on another origin loads it from the collector');
    await track(page, marks.map((m) => ['product_view', { product_id: 'p1', mark: m }]));
    const { done, copies } = await allArrived(marks);
    ok(done, 'every tracked event is in collect-topic1', copies);
    const st = await stats(page);
    const sent = (await seen(page)).filter((e) => e.type === 'sent').map((e) => e.request_id).sort();
    const keys = [...new Set(Object.values(copies).map((l) => l[0].key))].sort();
    ok(Object.values(copies).every((l) => l.length === 1), 'each exactly once', copies);
    ok(keys.length === 3 && JSON.stringify(keys) === JSON.stringify(sent) && keys.every((k) => /^trk-[0-9a-f]{32}$/.test(k)),
      'in batches of 2 by count or delay, keyed by the batch ids the page was told were accepted', { keys, sent });
    const evs = Object.values(copies).map((l) => l[0].event);
    ok(evs.every((e) => e.event_type === 'product_view' && e.product_id === 'p1' && e.user_id === st.user_id &&
      Number.isInteger(e.event_time) && Math.abs(e.event_time - Date.now()) < 120000),
    'events carry event_type, the page\'s properties, event_time in epoch ms and the stable user_id', { evs, st });
    const ctx = Object.values(copies)[0][0].ctx;
    ok(ctx && ctx.browser && ctx.browser !== 'unknown' && ctx.device === 'Desktop' && /^\d+/.test(ctx.version),
      'ctx says browser, device and version (from User-Agent Client Hints)', ctx);
    ok(st.queued === 0, 'nothing is left queued', st);
  });

  await scenario('outage', async (page) => {
    rel.mode = 'down';
    const params = { endpoint: rel.url, 'batch-size': 3, 'batch-delay-ms': 200, 'retry-base-ms': 200, 'retry-max-ms': 1000 };
    const marks = [0, 1, 2, 3, 4, 5].map((i) => 's2-' + i);
    await page.goto(pageUrl(params));
    const userId = (await stats(page)).user_id;
    await track(page, marks.slice(0, 4).map((m) => ['add_to_cart', { mark: m }]));
    ok(await waitFor(async () => (await seen(page)).some((e) => e.type === 'retry' && e.status === 0)),
      'collector down: the send fails and a retry is scheduled', await seen(page));
    await page.reload();
    await track(page, marks.slice(4).map((m) => ['add_to_cart', { mark: m }]));
    const st = await stats(page);
    ok(st.queued === 6 && st.user_id === userId, 'after a reload the queue is resumed with the new events, same user_id', st);
    ok(await waitFor(async () => (await seen(page)).some((e) => e.type === 'retry')), 'and retried after the reload too');
    rel.mode = 'up';
    const { done, copies } = await allArrived(marks);
    ok(done, 'collector back: every event tracked before and after the reload arrives', copies);
    ok(sameRequest(copies), 'an event sent more than once was the same request each time (same id, index and bytes)', copies);
    ok(await waitFor(async () => (await stats(page)).queued === 0), 'and the queue empties', await stats(page));
  });

  await scenario('beacon', async (page) => {
    rel.mode = 'up';
    rel.log.length = 0;
    const params = { endpoint: rel.url, 'batch-size': 50, 'batch-delay-ms': 600000 };
    const marks = [0, 1, 2].map((i) => 's3-' + i);
    await page.goto(pageUrl(params));
    await track(page, marks.map((m) => ['product_view', { mark: m }]));
    ok(!rel.log.some((r) => r.method === 'POST'), 'a batch that is neither full nor old stays in the page');
    await page.goto('about:blank');
    const { done, copies } = await allArrived(marks);
    ok(done, 'pagehide sends the pending events', copies);
    const beacon = rel.log.find((r) => r.method === 'POST');
    const key = done && copies['s3-0'][0].key;
    ok(beacon && /^text\/plain/.test(beacon.type) && !beacon.id && beacon.arg === key,
      'by sendBeacon: text/plain, the batch id in ?request_id=, which keys the raw message', { beacon, key });
    await page.goto(pageUrl(params));
    const again = await waitFor(() => { const c = copiesByMark('s3-'); return c['s3-0'] && c['s3-0'].length === 2 && c; });
    const resent = rel.log.filter((r) => r.method === 'POST' && r.id === key);
    ok(again && sameRequest(again) && resent.length === 1, 'the next page sends the beaconed batch once more by fetch, as the same request', { again, resent });
    ok(await waitFor(async () => (await stats(page)).queued === 0), 'and then the queue is empty', await stats(page));
  });

  await scenario('retry-after', async (page) => {
    rel.mode = '503';
    rel.log.length = 0;
    await page.goto(pageUrl({ endpoint: rel.url, 'batch-size': 1, 'retry-base-ms': 100, 'retry-max-ms': 200 }));
    await track(page, [['product_view', { mark: 's4-0' }]]);
    const { done, copies } = await allArrived(['s4-0']);
    ok(done, 'a batch answered 503 arrives after its retry', copies);
    const posts = rel.log.filter((r) => r.method === 'POST');
    ok(posts.length === 2 && posts[0].mode === '503' && posts[1].id === posts[0].id && posts[1].at - posts[0].at >= 1000,
      'retried with the same X-Request-Id, not before Retry-After (1 s; its own backoff would be 0.2 s)', posts);
  });

  await scenario('rejected', async (page) => {
    const consoleErrors = [];
    const posts = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('request', (r) => { if (r.method() === 'POST') posts.push(r.headers()['x-request-id']); });
    await page.goto(pageUrl({ endpoint: BASE + '/collect', 'batch-size': 1, 'retry-base-ms': 100, 'retry-max-ms': 200 }));
    await track(page, [['x'.repeat(200), { mark: 's5-bad' }], ['product_view', { mark: 's5-good' }]]);
    const { done, copies } = await allArrived(['s5-good']);
    ok(done, 'an event after a refused batch arrives: the refused one blocks nothing', copies);
    const rejected = (await seen(page)).filter((e) => e.type === 'rejected');
    ok(rejected.length === 1 && rejected[0].status === 422, 'the 422 is reported to the page', rejected);
    const bad = rejected.length && rejected[0].request_id;
    ok(posts.filter((id) => id === bad).length === 1, 'and never sent again', posts);
    ok(consoleErrors.filter((t) => /refused 1 event\(s\) with 422/.test(t)).length === 1, 'it is logged to the console once', consoleErrors);
    ok(!copiesByMark('s5-bad')['s5-bad'], 'nothing of it is in Kafka');
    ok((await stats(page)).queued === 0, 'nothing is left queued', await stats(page));
  });

  await scenario('bounded', async (page) => {
    rel.mode = 'down';
    const marks = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => 's6-' + i);
    await page.goto(pageUrl({ endpoint: rel.url, 'batch-size': 100, 'batch-delay-ms': 600000, 'max-events': 5 }));
    await track(page, marks.map((m) => ['product_view', { mark: m }]));
    const st = await stats(page);
    const dropped = (await seen(page)).filter((e) => e.type === 'dropped').reduce((s, e) => s + e.count, 0);
    ok(st.queued === 5 && st.dropped === 3 && dropped === 3, 'past max-events the oldest are dropped, and counted', { st, dropped });
    rel.mode = 'up';
    await page.evaluate(() => window.tracker.flush());
    const { done, copies } = await allArrived(marks.slice(3));
    ok(done && marks.slice(0, 3).every((m) => !copies[m]), 'the newest five arrive, the three oldest never', copies);
  });

  await scenario('home-demo', async (page) => {
    await page.goto(BASE + '/');
    await page.click('#demo');
    const status = page.locator('#demo-status');
    let text = '';
    await waitFor(async () => /Accepted/.test(text = await status.textContent()));
    shots.push(await screenshot(page, 'home-demo'));
    const m = /^Accepted: 1 event\(s\), request id (trk-[0-9a-f]{32})$/.exec(text);
    ok(m, 'the home page demo: a click shows the event accepted, with its request id', text);
    const rec = m && await waitFor(() => rawMessages().find((r) => r.key === m[1]));
    ok(rec && rec.value.payload.events[0].event_type === 'demo_click', 'and that event is in collect-topic1', rec);
  });

  await browser.close();
  pages.close();
  rel.server.close();
  const demoShot = shots.find((f) => f.endsWith('home-demo.png'));
  if (tap.failed && ARTIFACTS) {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    for (const f of shots) {
      if (!fs.existsSync(f)) continue;
      fs.copyFileSync(f, path.join(ARTIFACTS, path.basename(f)));
      console.log(`# screenshot kept: ${path.join(ARTIFACTS, path.basename(f))}`);
    }
  } else if (demoShot) {
    console.log(`# home page demo screenshot: ${demoShot} (kept only when a test fails)`);
  }
}

setTimeout(() => { ok(false, 'finished within 5 minutes'); process.exit(1); }, 300000).unref();
main().then(() => process.exit(tap.failed ? 1 : 0), (err) => { ok(false, 'the driver ran', err.stack); process.exit(1); });
