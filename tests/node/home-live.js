'use strict';
// home-live.js - the home page's live numbers (GET /, fed by GET /?stats) in headless
// Chromium, against the stack that tests/integration/0843-metrics-home-page.sh started:
// events sent from the page show up as received and acknowledged, with a rate, a
// sparkline and Kafka's p99; an invalid batch as refused; with the broker down
// (its control pipe) batches as spooled and the spool fills, then drains once it is back;
// the consumer's lag is shown. Every number the page shows is the one /?stats says.
// Prints TAP lines.
//
// Environment: BASE_URL (the stack), CONTROL (the dev broker's control pipe), TEST_DIR
// (screenshots), ARTIFACTS (where a failed run keeps them).
const { chromium } = require('playwright-core');
const fs = require('node:fs');
const path = require('node:path');

const BASE = process.env.BASE_URL;
const WAIT_MS = 30000; // longest wait for one property: the page refreshes every 3 s
const tap = require('./tap')('home page', WAIT_MS);
const { ok, waitFor } = tap;

// What the page shows: each tile's big and small text, and its sparkline's points.
function tiles(page) {
  return page.evaluate(() => {
    const out = {};
    document.querySelectorAll('.tile').forEach((t) => {
      const line = t.querySelector('polyline');
      out[t.id.slice(2)] = {
        big: t.querySelector('b').textContent,
        small: t.querySelector('small').textContent,
        points: line ? line.getAttribute('points').split(' ').length : 0,
      };
    });
    return out;
  });
}
const num = (s) => Number(String(s).replace(/[^0-9]/g, ''));

async function stats() {
  return (await fetch(BASE + '/?stats', { cache: 'no-store' })).json();
}

// POST /collect from the page itself; resolves to the status.
function post(page, events) {
  const body = JSON.stringify({ events: Array.from({ length: events }, (_, i) => ({ event_type: 'view', event_time: 1750867000000, user_id: 'u' + i })) });
  return page.evaluate((b) => fetch('/collect', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: b }).then((r) => r.status), body);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = await (await browser.newContext()).newPage();
  const shot = path.join(process.env.TEST_DIR, 'home-live.png');
  try {
    await page.goto(BASE + '/');
    let t = await waitFor(async () => { const v = await tiles(page); return /^[0-9,]+$/.test(v.received.big) && v; });
    ok(t, 'the tiles fill in from GET /?stats', t);
    const s0 = await stats();

    const codes = [];
    for (let i = 0; i < 7; i++) codes.push(await post(page, 3));
    ok(codes.every((c) => c === 200), '7 batches of 3 events sent from the page: 200', codes);
    const want = s0.events.received + 21;
    t = await waitFor(async () => { const v = await tiles(page); return num(v.received.big) === want && num(v.acked.big) === s0.events.acked + 21 && v; });
    ok(t, `received and acknowledged each grow by 21 (to ${want})`, await tiles(page));
    ok(t && /^\d+(\.\d)? ms$/.test(t.latency.big) && /^p50 [0-9.]+ ms/.test(t.latency.small),
      `Kafka's p99 and p50 over the last refresh (${t && t.latency.big}, ${t && t.latency.small})`, t && t.latency);
    t = await waitFor(async () => { const v = await tiles(page); return /events\/s$/.test(v.received.small) && v.received.points >= 2 && v; });
    ok(t, `a rate (${t && t.received.small}) and a sparkline (${t && t.received.points} points)`, await tiles(page));

    const refused = num(t.refused.big);
    const bad = await page.evaluate(() => fetch('/collect', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"events":[{"event_type":"a"}]}' }).then((r) => r.status));
    t = await waitFor(async () => { const v = await tiles(page); return num(v.refused.big) === refused + 1 && v; });
    ok(bad === 422 && t && /invalid [1-9]/.test(t.refused.small), `an invalid batch (${bad}) shows as refused: ${t && t.refused.small}`, await tiles(page));

    fs.writeFileSync(process.env.CONTROL, 'down 1\n');
    // The dev broker reads its pipe on its own time: post once it is down, not before.
    const isDown = await waitFor(async () => (await fetch(`${BASE}/health`).then((r) => r.json())).kafka_status === 'disconnected');
    ok(isDown, 'the broker is down (/health says disconnected)');
    const spooledBefore = num(t.spooled.big);
    const down = [await post(page, 2), await post(page, 2)];
    ok(down.every((c) => c === 202), 'the broker down: 2 batches answered 202', down);
    t = await waitFor(async () => { const v = await tiles(page); return num(v.spooled.big) === spooledBefore + 4 && num(v.spool.big) > 0 && v; });
    ok(t, `spooled grows by 4 and the spool holds records (${t && t.spool.big})`, await tiles(page));
    await page.screenshot({ path: shot, fullPage: true });
    fs.writeFileSync(process.env.CONTROL, 'up 1\n');
    t = await waitFor(async () => { const v = await tiles(page); return v.spool.big === '0 records' && /[1-9][0-9]* forwarded/.test(v.spool.small) && v; }, 60000);
    ok(t, `the broker back: the spool drains (${t && t.spool.small})`, await tiles(page));
    t = await waitFor(async () => { const v = await tiles(page); return /^[0-9,]+$/.test(v.lag.big) && v; });
    ok(t, `the consumer's lag is shown (${t && t.lag.big})`, await tiles(page));

    const s = await stats();
    t = await waitFor(async () => {
      const v = await tiles(page);
      const e = (await stats()).events;
      return num(v.received.big) === e.received && num(v.acked.big) === e.acked && num(v.spooled.big) === e.spooled &&
        num(v.refused.big) === e.rejected.invalid + e.rejected.unavailable + e.rejected.too_large && v;
    });
    ok(t, 'every number on the page is the one /?stats says', { page: await tiles(page), stats: s.events });
  } finally {
    if (!fs.existsSync(shot)) await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    await browser.close();
  }
  if (tap.failed && process.env.ARTIFACTS) {
    fs.mkdirSync(process.env.ARTIFACTS, { recursive: true });
    fs.copyFileSync(shot, path.join(process.env.ARTIFACTS, 'home-live.png'));
    console.log(`# screenshot kept: ${path.join(process.env.ARTIFACTS, 'home-live.png')}`);
  }
}

setTimeout(() => { ok(false, 'finished within 4 minutes'); process.exit(1); }, 240000).unref();
main().then(() => process.exit(tap.failed ? 1 : 0), (err) => { ok(false, 'the driver ran', err.stack); process.exit(1); });
