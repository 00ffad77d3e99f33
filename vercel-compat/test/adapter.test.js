'use strict';
// The vercel-compat adapter behind a real local http server, against the bundled
// executables (make vercel-bundle) and a dev broker; records are checked with kcat.
// Synthetic executables (shell scripts) stand in for a crashing, hanging, silent or
// garbling handler. Run: node --test vercel-compat/test/
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');

const TOP = path.resolve(__dirname, '../..');
const API = path.join(TOP, 'vercel-compat/api');
const { createHandler } = require(path.join(API, '_cgi.js'));
const CONV = 'trk-jobcloud-conversion-destination-events-topic';
const TOKEN = 'vercel-test-token';

let tmp;
let broker;
let bootstrap;
let server;
let base;
const routes = new Map();
const logged = [];
const capture = (line) => logged.push(line);

// A synthetic CGI program: a shell script in the test's own directory.
function script(name, body) {
  const file = path.join(tmp, 'bin', name);
  fs.writeFileSync(file, '#!/bin/sh\n' + body + '\n', { mode: 0o755 });
  return file;
}
function scriptHandler(name, body, extra) {
  return createHandler(Object.assign({
    executable: script(name, body), path: '/' + name, loader: 'off', libDir: null, log: capture,
  }, extra || {}));
}

function request(method, urlPath, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(base + urlPath, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.setTimeout(30000, () => req.destroy(new Error('client time-out')));
    req.end(body);
  });
}

// Sends exactly these bytes (header casing and repetition as written); reads to the end.
function rawRequest(text, bodyBuf) {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const sock = net.connect(Number(u.port), u.hostname, () => {
      sock.write(Buffer.concat([Buffer.from(text.replace(/\n/g, '\r\n') + '\r\n', 'latin1'), bodyBuf || Buffer.alloc(0)]));
    });
    const chunks = [];
    sock.on('data', (c) => chunks.push(c));
    sock.on('end', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, end).toString('latin1').split('\r\n');
      resolve({ status: Number(head[0].split(' ')[1]), head, body: all.subarray(end + 4) });
    });
    sock.on('error', reject);
    sock.setTimeout(30000, () => sock.destroy(new Error('client time-out')));
  });
}

function json(res) {
  return JSON.parse(res.body.toString('utf8'));
}
function assertJsonError(res, status) {
  assert.equal(res.status, status, res.body.toString());
  assert.match(res.headers['content-type'], /^application\/json/);
  const b = json(res);
  assert.equal(b.status, 'error');
  assert.ok(typeof b.message === 'string' && b.message.length > 0);
  assert.ok(res.headers['x-request-id']);
}

// Every record of a topic, value parsed as JSON.
function topicDump(topic) {
  const out = execFileSync('kcat', ['-b', bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-J'],
    { timeout: 30000, encoding: 'utf8' });
  return out.split('\n').filter(Boolean).map((l) => {
    const r = JSON.parse(l);
    return { key: r.key, value: JSON.parse(r.payload) };
  });
}

function waitForBootstrap(child) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('dev broker did not start')), 15000);
    child.stdout.on('data', (c) => {
      buf += c;
      const m = /bootstrap=(\S+)/.exec(buf);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error('dev broker exited ' + code)); });
  });
}

before(async () => {
  for (const exe of ['collect', 'health', 'home', 'ingest', 'processed_events']) {
    assert.ok(fs.existsSync(path.join(API, 'bin', exe)), `missing ${exe} in the bundle: run make vercel-bundle`);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vercel-compat-test-'));
  fs.mkdirSync(path.join(tmp, 'bin'));
  fs.mkdirSync(path.join(tmp, 'data'));
  broker = spawn(path.join(TOP, 'build/bin/devbroker'), ['-p', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  bootstrap = await waitForBootstrap(broker);
  Object.assign(process.env, {
    KAFKA_URL: bootstrap, INGEST_DATA_DIR: path.join(tmp, 'data'), INGEST_API_TOKEN: TOKEN,
    ERROR_LOG: path.join(tmp, 'errors.jsonl'), DEV_STORE: path.join(tmp, 'unused-dev.jsonl'),
  });
  delete process.env.FORCE_DEV_MODE;
  // The function files themselves, as Vercel would route to them (vercel.json rewrites).
  routes.set('/collect', require(path.join(API, 'collect.js')));
  routes.set('/health', require(path.join(API, 'health.js')));
  routes.set('/', require(path.join(API, 'index.js')));
  routes.set('/api/ingest', require(path.join(API, 'ingest.js')));
  routes.set('/api/processed-events', require(path.join(API, 'processed-events.js')));
  server = http.createServer((req, res) => {
    const h = routes.get(req.url.split('?')[0]);
    if (!h) { res.writeHead(404); res.end(); return; }
    h(req, res).catch((err) => { res.writeHead(500); res.end(String(err)); });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(async () => {
  if (server) await new Promise((resolve) => server.close(resolve));
  if (broker) {
    broker.kill('SIGTERM');
    await new Promise((resolve) => { if (broker.exitCode !== null) resolve(); else broker.on('exit', resolve); });
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const EVENTS = { events: [{ event_type: 'product_view', event_time: 1750867000000, user_id: 'user_vercel', product_id: 'p1' }], ctx: { browser: 'Firefox' } };

test('POST /collect: 200 after Kafka acknowledged, one raw record keyed by request id', async () => {
  const res = await request('POST', '/collect', {
    headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'vercel-collect-1', 'User-Agent': 'vercel-probe/1' },
    body: JSON.stringify(EVENTS),
  });
  assert.equal(res.status, 200, res.body.toString());
  assert.deepEqual(json(res), { status: 'success', received: 1, request_id: 'vercel-collect-1' });
  assert.equal(res.headers['x-request-id'], 'vercel-collect-1');
  assert.equal(res.headers['access-control-allow-origin'], '*');
  const recs = topicDump('collect-topic1').filter((r) => r.key === 'vercel-collect-1');
  assert.equal(recs.length, 1);
  assert.equal(recs[0].value.client_ip, '127.0.0.1');
  assert.equal(recs[0].value.user_agent, 'vercel-probe/1');
  assert.deepEqual(recs[0].value.payload, EVENTS);
});

test('POST /collect?request_id= (sendBeacon cannot set headers): the id keys the record', async () => {
  const res = await request('POST', '/collect?request_id=vercel-beacon-1', {
    headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body: JSON.stringify(EVENTS),
  });
  assert.equal(res.status, 200, res.body.toString());
  assert.equal(res.headers['x-request-id'], 'vercel-beacon-1');
  assert.equal(topicDump('collect-topic1').filter((r) => r.key === 'vercel-beacon-1').length, 1);
  const both = await request('POST', '/collect?request_id=from-the-url', {
    headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'from-the-header' }, body: JSON.stringify(EVENTS),
  });
  assert.equal(both.headers['x-request-id'], 'from-the-header', 'the header wins');
});

test('POST /collect: invalid batch is the handler\'s own 422, nothing produced', async () => {
  const before = topicDump('collect-topic1').length;
  const res = await request('POST', '/collect', {
    headers: { 'Content-Type': 'application/json' }, body: '{"events":[{"event_type":"a"}]}',
  });
  assertJsonError(res, 422);
  assert.equal(topicDump('collect-topic1').length, before);
});

test('OPTIONS /collect: CORS preflight 204 without a body', async () => {
  const res = await request('OPTIONS', '/collect', { headers: { Origin: 'https://shop.example' } });
  assert.equal(res.status, 204);
  assert.equal(res.headers['access-control-allow-methods'], 'POST, OPTIONS');
  assert.equal(res.body.length, 0);
});

test('GET /health: connected to the dev broker', async () => {
  const res = await request('GET', '/health');
  assert.equal(res.status, 200);
  assert.equal(json(res).kafka_status, 'connected');
});

test('GET /: HTML for a browser, the endpoint list as JSON', async () => {
  const html = await request('GET', '/', { headers: { Accept: 'text/html' } });
  assert.equal(html.status, 200);
  assert.match(html.headers['content-type'], /^text\/html/);
  assert.match(html.body.toString(), /POST \/collect/);
  const j = await request('GET', '/', { headers: { Accept: 'application/json' } });
  assert.deepEqual(json(j).endpoints.map((e) => e.path).sort(),
    ['/', '/api/ingest', '/api/processed-events', '/collect', '/health']);
});

test('POST /api/ingest: rows of a CSV land in their topic, bearer token enforced', async () => {
  fs.writeFileSync(path.join(tmp, 'data', 'v.csv'),
    'DATE,REF_NUMBER,IP,USER_AGENT,USER_FP,URL,SOURCE\r\n' +
    '2025-10-22,REF_V,172.56.209.1,Mozilla/5.0,fp-vercel,https://example.com/,COOKIE\r\n');
  const payload = JSON.stringify({ file_path: 'v.csv', query_param_a: '3', reason: 'vercel ingest' });
  const denied = await request('POST', '/api/ingest', { headers: { 'Content-Type': 'application/json' }, body: payload });
  assertJsonError(denied, 401);
  const res = await request('POST', '/api/ingest', {
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + TOKEN }, body: payload,
  });
  assert.equal(res.status, 200, res.body.toString());
  assert.equal(json(res).processed_count, 1);
  const recs = topicDump(CONV).filter((r) => r.value.reason === 'vercel ingest');
  assert.equal(recs.length, 1);
  assert.equal(recs[0].key, 'fp-vercel');
  assert.equal(recs[0].value.conversion_type, 'APPLY');
});

test('GET /api/processed-events: 404 outside dev mode, the stored events in dev mode', async () => {
  const res = await request('GET', '/api/processed-events', { headers: { Authorization: 'Bearer ' + TOKEN } });
  assertJsonError(res, 404);
  const dev = { FORCE_DEV_MODE: 'true', DEV_STORE: path.join(tmp, 'dev.jsonl') };
  routes.set('/dev/collect', createHandler({ executable: 'collect', path: '/collect', env: dev, log: capture }));
  routes.set('/dev/events', createHandler({ executable: 'processed_events', path: '/api/processed-events', env: dev, log: capture }));
  const c = await request('POST', '/dev/collect', {
    headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'vercel-dev-1' }, body: JSON.stringify(EVENTS),
  });
  assert.equal(c.status, 200);
  const list = await request('GET', '/dev/events?limit=10', { headers: { Authorization: 'Bearer ' + TOKEN } });
  assert.equal(list.status, 200, list.body.toString());
  assert.equal(json(list).count, 1);
  assert.equal(json(list).events[0].key, 'vercel-dev-1');
  assert.equal(json(list).events[0].topic, 'collect-topic1');
});

test('headers with odd casing and repeated values: merged per CGI rules', async () => {
  routes.set('/env', scriptHandler('env', "printf 'Status: 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\n'; env"));
  const res = await rawRequest([
    'GET /env?a=1&b=%20x HTTP/1.1', 'Host: example.test', 'X-MiXeD-CaSe: one', 'x-mixed-case: two',
    'X-MIXED-CASE: three', 'CoOkIe: a=1', 'cookie: b=2', 'X_Under: sneaky', 'Proxy: http://evil.example',
    'Content-TYPE: text/plain', 'Content-Length: 0', 'Connection: close', '',
  ].join('\n'));
  assert.equal(res.status, 200);
  const env = Object.fromEntries(res.body.toString().split('\n').filter((l) => l.includes('='))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  assert.equal(env.HTTP_X_MIXED_CASE, 'one, two, three');
  assert.equal(env.HTTP_COOKIE, 'a=1; b=2');
  assert.equal(env.HTTP_X_UNDER, undefined, 'a header name with "_" is dropped');
  assert.equal(env.HTTP_PROXY, undefined, 'Proxy is never passed (httpoxy)');
  assert.equal(env.HTTP_CONTENT_TYPE, undefined);
  assert.equal(env.CONTENT_TYPE, 'text/plain');
  assert.equal(env.CONTENT_LENGTH, '0');
  assert.equal(env.QUERY_STRING, 'a=1&b=%20x');
  assert.equal(env.REQUEST_METHOD, 'GET');
  assert.equal(env.DOCUMENT_URI, '/env');
  assert.equal(env.REMOTE_ADDR, '127.0.0.1');
  assert.equal(env.GATEWAY_INTERFACE, 'CGI/1.1');
  assert.match(env.HTTP_X_REQUEST_ID, /^[0-9a-f]{32}$/);
  assert.equal(env.SPOOL_DIR, 'off', 'no spool where no disk outlives the instance');
  assert.equal(env.METRICS_DIR, 'off', 'no counters where no disk outlives the instance');
});

test('Kafka down: /collect answers 503 with Retry-After, never a 202 for a spool in /tmp', async () => {
  routes.set('/collect-down', createHandler({
    executable: 'collect', path: '/collect', log: capture, env: { KAFKA_URL: '127.0.0.1:1', KAFKA_TIMEOUT_MS: '1000' },
  }));
  const res = await request('POST', '/collect-down', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(EVENTS) });
  assertJsonError(res, 503);
  assert.equal(res.headers['retry-after'], '5');
});

test('odd casing reaches the real /collect: user agent and request id land in Kafka', async () => {
  const body = Buffer.from(JSON.stringify(EVENTS));
  const res = await rawRequest([
    'POST /collect HTTP/1.1', 'Host: example.test', 'uSeR-aGeNt: OddCase/3', 'x-REQUEST-id: vercel-odd-1',
    'CONTENT-type: application/json', `content-LENGTH: ${body.length}`, 'Connection: close', '',
  ].join('\n'), body);
  assert.equal(res.status, 200, res.body.toString());
  const recs = topicDump('collect-topic1').filter((r) => r.key === 'vercel-odd-1');
  assert.equal(recs.length, 1);
  assert.equal(recs[0].value.user_agent, 'OddCase/3');
});

test('binary body: every byte reaches stdin and comes back unchanged', async () => {
  routes.set('/cat', scriptHandler('cat', "printf 'Status: 200 OK\\r\\nContent-Type: application/octet-stream\\r\\n\\r\\n'; exec cat"));
  const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    Buffer.from('\r\n\r\n\n\n\0'), Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 7919) % 256))]);
  const res = await request('POST', '/cat', { headers: { 'Content-Type': 'application/octet-stream' }, body: bytes });
  assert.equal(res.status, 200);
  assert.equal(Buffer.compare(res.body, bytes), 0);
});

test('binary body: a gzip batch to the real /collect is accepted', async () => {
  const res = await request('POST', '/collect', {
    headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'X-Request-Id': 'vercel-gz-1' },
    body: zlib.gzipSync(JSON.stringify(EVENTS)),
  });
  assert.equal(res.status, 200, res.body.toString());
  assert.equal(topicDump('collect-topic1').filter((r) => r.key === 'vercel-gz-1').length, 1);
});

test('Status line, reason and repeated response headers are mapped back', async () => {
  routes.set('/status', scriptHandler('status', [
    "printf 'Status: 418 Short And Stout\\r\\nContent-Type: text/plain\\r\\nSet-Cookie: a=1\\r\\n'",
    "printf 'Set-Cookie: b=2\\nX-Custom: yes\\n\\nteapot'",
  ].join('\n')));
  const res = await request('GET', '/status');
  assert.equal(res.status, 418);
  assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(res.headers['x-custom'], 'yes');
  assert.equal(res.body.toString(), 'teapot');
});

test('a crashing executable is a 502 JSON error, and the crash is logged', async () => {
  routes.set('/crash', scriptHandler('crash', "printf 'Status: 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nhal'; kill -SEGV $$"));
  const res = await request('GET', '/crash');
  assertJsonError(res, 502);
  assert.ok(logged.some((l) => /crash died of SIGSEGV/.test(l)), logged.join('\n'));
});

test('a hanging executable is killed and answered 504', async () => {
  const pidFile = path.join(tmp, 'hang.pid');
  routes.set('/hang', scriptHandler('hang', `echo $$ > ${pidFile}; exec sleep 60`, { timeoutMs: 500 }));
  const res = await request('GET', '/hang');
  assertJsonError(res, 504);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the hanging process is gone');
});

test('silent, garbled and truncated answers are 502 JSON errors', async () => {
  routes.set('/silent', scriptHandler('silent', 'exit 0'));
  assertJsonError(await request('GET', '/silent'), 502);
  routes.set('/garbled', scriptHandler('garbled', "printf 'this is not a header\\n\\nbody'"));
  assertJsonError(await request('GET', '/garbled'), 502);
  routes.set('/short', scriptHandler('short', "printf 'Status: 200 OK\\r\\nContent-Length: 100\\r\\n\\r\\nonly this'"));
  assertJsonError(await request('GET', '/short'), 502);
  routes.set('/missing', createHandler({ executable: path.join(tmp, 'bin', 'no-such-program'), loader: 'off', libDir: null, log: capture }));
  assertJsonError(await request('GET', '/missing'), 502);
});

test('a real executable that cannot start (bad setting) is a 502; its log line is kept', async () => {
  routes.set('/badconf', createHandler({ executable: 'collect', path: '/collect', env: { KAFKA_TIMEOUT_MS: 'soon' }, log: capture }));
  const res = await request('POST', '/badconf', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(EVENTS) });
  assertJsonError(res, 502);
  assert.ok(logged.some((l) => /configuration/.test(l) && /KAFKA_TIMEOUT_MS/.test(l)), logged.join('\n'));
});

test('oversized bodies are refused with 413 before anything is spawned', async () => {
  const marker = path.join(tmp, 'spawned');
  routes.set('/small', scriptHandler('small', `touch ${marker}; printf 'Status: 200 OK\\r\\n\\r\\n'`, { maxBodyBytes: 1024 }));
  const big = Buffer.alloc(3 * 1024 * 1024, 0x61);
  assertJsonError(await request('POST', '/collect', { headers: { 'Content-Type': 'application/json' }, body: big }), 413);
  assertJsonError(await request('POST', '/small', { body: Buffer.alloc(2048, 0x62) }), 413);
  // Chunked, no Content-Length: refused while reading.
  const chunked = await new Promise((resolve, reject) => {
    const req = http.request(base + '/small', { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    for (let i = 0; i < 4; i++) req.write(Buffer.alloc(600, 0x63));
    req.end();
  });
  assertJsonError(chunked, 413);
  assert.equal(fs.existsSync(marker), false, 'the executable never ran');
  const ok = await request('POST', '/small', { body: Buffer.alloc(100, 0x64) });
  assert.equal(ok.status, 200);
  assert.equal(fs.existsSync(marker), true);
});

test('vercel.json keeps no secret: no "@name" Secrets reference, no secret setting', () => {
  const env = JSON.parse(fs.readFileSync(path.join(TOP, 'vercel-compat/vercel.json'), 'utf8')).env;
  for (const [k, v] of Object.entries(env)) assert.ok(!String(v).startsWith('@'), `${k} refers to a Vercel Secret: ${v}`);
  for (const k of ['KAFKA_URL', 'RDKAFKA_SASL_USERNAME', 'RDKAFKA_SASL_PASSWORD', 'GOOGLE_SERVICE_ACCOUNT_KEY', 'INGEST_API_TOKEN']) {
    assert.equal(env[k], undefined, `${k} belongs in vercel env add, not in vercel.json`);
  }
});

test('a function without KAFKA_URL says so: 500 naming it, its executable never started', async () => {
  const marker = path.join(tmp, 'collect-started');
  const body = `touch ${marker}; printf 'Status: 200 OK\\r\\nContent-Type: application/json\\r\\n\\r\\n{}'`;
  routes.set('/nokafka', scriptHandler('collect', body, { env: { KAFKA_URL: '' } }));
  const res = await request('POST', '/nokafka', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(EVENTS) });
  assertJsonError(res, 500);
  assert.match(json(res).message, /not configured: KAFKA_URL is not set: add it \(vercel env add KAFKA_URL\)/);
  assert.ok(logged.some((l) => /ERROR .*not configured: KAFKA_URL is not set/.test(l)), logged.join('\n'));
  assert.equal(fs.existsSync(marker), false);
  routes.set('/devkafka', scriptHandler('collect', body, { env: { KAFKA_URL: '', FORCE_DEV_MODE: 'true' } }));
  assert.equal((await request('POST', '/devkafka', { body: '{}' })).status, 200, 'FORCE_DEV_MODE=true asks for dev mode');
  assert.equal(fs.existsSync(marker), true);
  const health = createHandler({ executable: 'health', path: '/health', env: { KAFKA_URL: '' }, log: capture });
  routes.set('/health-nokafka', health);
  assertJsonError(await request('GET', '/health-nokafka'), 500);
  routes.set('/home-nokafka', createHandler({ executable: 'home', path: '/', env: { KAFKA_URL: '' }, log: capture }));
  assert.equal((await request('GET', '/home-nokafka')).status, 200, 'the page needs no Kafka');
});

test('SASL with a password mechanism and no password: 500 naming what is missing', async () => {
  routes.set('/nosasl', createHandler({
    executable: 'collect', path: '/collect', log: capture,
    env: { RDKAFKA_SECURITY_PROTOCOL: 'SASL_SSL', RDKAFKA_SASL_MECHANISMS: 'SCRAM-SHA-512', RDKAFKA_SASL_USERNAME: 'events' },
  }));
  const res = await request('POST', '/nosasl', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(EVENTS) });
  assertJsonError(res, 500);
  assert.match(json(res).message, /RDKAFKA_SASL_PASSWORD is not set, which RDKAFKA_SECURITY_PROTOCOL=SASL_SSL with RDKAFKA_SASL_MECHANISMS=SCRAM-SHA-512 needs/);
  assert.doesNotMatch(json(res).message, /USERNAME/);
});

test('stderr of the executable goes to the function log, line by line', async () => {
  routes.set('/noisy', scriptHandler('noisy', "echo 'first line' >&2; printf 'second' >&2; printf 'Status: 204 No Content\\r\\n\\r\\n'"));
  const res = await request('GET', '/noisy');
  assert.equal(res.status, 204);
  assert.ok(logged.includes('first line') && logged.includes('second'), logged.join('\n'));
});

test('the bundle also runs with LD_LIBRARY_PATH instead of the bundled loader', async () => {
  routes.set('/health-ld', createHandler({ executable: 'health', path: '/health', loader: 'off', log: capture }));
  const res = await request('GET', '/health-ld');
  assert.equal(res.status, 200);
  assert.equal(json(res).kafka_status, 'connected');
});
