'use strict';
// _cgi.js - runs one of the service's CGI executables once per request: the Node.js
// function adapter of vercel-compat (Node's standard library only).
//
// The request becomes a CGI/1.1 environment (RFC 3875) and the body the executable's
// stdin; its "Status:" line, headers and body become the response, byte for byte. The body
// is bounded before anything is spawned (413); an executable that does not answer in
// time is killed (504); one that crashes, says nothing or answers garbage is a 502. Every
// error is the service's JSON error. A function that lacks a setting it cannot run without
// (KAFKA_URL; SASL credentials) answers 500 naming it, and starts nothing. The
// executable's stderr (its log lines) goes to the function log. Files whose names start
// with "_" are not functions on Vercel.
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const HERE = __dirname;
const DEFAULT_MAX_BODY = 2 * 1024 * 1024; // as nginx's client_max_body_size
const DEFAULT_MAX_OUTPUT = 32 * 1024 * 1024;
const MAX_STDERR_LINE = 8192;
const LOADER = 'ld-linux-x86-64.so.2';

// Environment variables a request must never inherit from the function's own environment.
const CGI_VARS = new Set([
  'AUTH_TYPE', 'CONTENT_LENGTH', 'CONTENT_TYPE', 'DOCUMENT_URI', 'GATEWAY_INTERFACE',
  'HTTPS', 'PATH_INFO', 'PATH_TRANSLATED', 'QUERY_STRING', 'REMOTE_ADDR', 'REMOTE_HOST',
  'REMOTE_IDENT', 'REMOTE_PORT', 'REMOTE_USER', 'REQUEST_METHOD', 'REQUEST_SCHEME',
  'REQUEST_URI', 'SCRIPT_FILENAME', 'SCRIPT_NAME', 'SERVER_ADDR', 'SERVER_NAME',
  'SERVER_PORT', 'SERVER_PROTOCOL', 'SERVER_SOFTWARE',
]);
// Request headers that are not passed as HTTP_*: the body's own (CONTENT_*), hop-by-hop
// ones, and Proxy (httpoxy: HTTP_PROXY would read as a proxy setting).
const SKIP_REQUEST_HEADERS = new Set([
  'content-type', 'content-length', 'connection', 'keep-alive', 'transfer-encoding',
  'te', 'upgrade', 'proxy', 'proxy-connection', 'http2-settings',
]);
// CGI response headers the adapter sets itself or that belong to one connection.
const SKIP_RESPONSE_HEADERS = new Set([
  'status', 'content-length', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade',
]);
const TOKEN = /^[!#$%&'*+.^`|~0-9A-Za-z-]+$/;
const SANE_ID = /^[A-Za-z0-9._-]{1,64}$/;

function intSetting(name, def) {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : def;
}

// The HTTP_* variables of a request: names upper-cased with "-" as "_", repeated headers
// merged in order with ", " ("; " for Cookie). Names that are not plain tokens, or hold an
// "_" (which would collide with a "-" after the mapping), are dropped, as nginx does.
function headerVars(rawHeaders) {
  const merged = new Map();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (!TOKEN.test(name) || name.includes('_') || SKIP_REQUEST_HEADERS.has(name)) continue;
    const value = String(rawHeaders[i + 1]).replace(/[\r\n\0]/g, ' ');
    const prev = merged.get(name);
    merged.set(name, prev === undefined ? value : prev + (name === 'cookie' ? '; ' : ', ') + value);
  }
  const vars = {};
  for (const [name, value] of merged) vars['HTTP_' + name.toUpperCase().replace(/-/g, '_')] = value;
  return vars;
}

// ?request_id= of the URL: the request id of a client that cannot set X-Request-Id
// (navigator.sendBeacon), as the nginx site takes it.
function requestIdArg(url) {
  const q = (url || '').indexOf('?');
  return q === -1 ? null : new URLSearchParams(url.slice(q + 1)).get('request_id');
}

function firstForwarded(value) {
  if (!value) return null;
  const first = String(value).split(',')[0].trim();
  return first || null;
}

function clientAddress(req, trustProxy) {
  let ip = trustProxy &&
    (firstForwarded(req.headers['x-forwarded-for']) || firstForwarded(req.headers['x-real-ip']));
  if (!ip) ip = req.socket.remoteAddress || '';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

// The CGI environment of one request.
function cgiEnv(opts, req, body, requestId, exe) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!CGI_VARS.has(k) && !k.startsWith('HTTP_')) env[k] = v;
  }
  Object.assign(env, opts.env);
  // Only /tmp is writable on a serverless function: relative default paths would fail.
  if (!env.ERROR_LOG) env.ERROR_LOG = path.join(os.tmpdir(), 'events-errors.jsonl');
  if (!env.DEV_STORE) env.DEV_STORE = path.join(os.tmpdir(), 'dev-events.jsonl');
  if (!env.INGEST_DATA_DIR) env.INGEST_DATA_DIR = path.join(HERE, 'data');
  // No disk outlives a function instance: a batch spooled there would be answered 202 and
  // then lost, so /collect answers 503 instead, and the client sends it again.
  if (!env.SPOOL_DIR) env.SPOOL_DIR = 'off';
  // Nor do counters: each instance would keep its own in /tmp, and no /metrics sums them.
  if (!env.METRICS_DIR) env.METRICS_DIR = 'off';
  if (opts.libDir && !opts.useLoader) {
    env.LD_LIBRARY_PATH = opts.libDir + (env.LD_LIBRARY_PATH ? ':' + env.LD_LIBRARY_PATH : '');
  }
  const url = req.url || '/';
  const q = url.indexOf('?');
  const reqPath = q === -1 ? url : url.slice(0, q);
  const forwardedProto = firstForwarded(req.headers['x-forwarded-proto']);
  const https = req.socket.encrypted || (opts.trustProxy && forwardedProto === 'https');
  const local = req.socket.localPort;
  Object.assign(env, headerVars(req.rawHeaders), {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'vercel-compat',
    SERVER_PROTOCOL: 'HTTP/' + (req.httpVersion || '1.1'),
    SERVER_NAME: String(req.headers.host || 'localhost').replace(/:\d+$/, ''),
    SERVER_PORT: String(opts.trustProxy && req.headers['x-forwarded-port'] ? req.headers['x-forwarded-port']
      : local || ''),
    REQUEST_METHOD: req.method,
    REQUEST_URI: url,
    // The public path of the function (a rewrite may have changed req.url).
    DOCUMENT_URI: opts.path || reqPath,
    SCRIPT_NAME: opts.path || reqPath,
    PATH_INFO: '',
    QUERY_STRING: q === -1 ? '' : url.slice(q + 1),
    SCRIPT_FILENAME: exe,
    REMOTE_ADDR: clientAddress(req, opts.trustProxy),
    REMOTE_PORT: String(req.socket.remotePort || ''),
    REQUEST_SCHEME: https ? 'https' : 'http',
    HTTP_X_REQUEST_ID: requestId,
  });
  if (https) env.HTTPS = 'on';
  if (body.length > 0 || req.headers['content-length'] !== undefined) {
    env.CONTENT_LENGTH = String(body.length);
  }
  if (req.headers['content-type'] !== undefined) env.CONTENT_TYPE = req.headers['content-type'];
  return env;
}

// Splits CGI output into status, headers and body. Returns null when it is not a CGI answer.
function parseCgi(out) {
  let end = -1;
  let sep = 0;
  for (let i = 0; i < out.length; i++) {
    if (out[i] !== 0x0a) continue;
    if (out[i + 1] === 0x0a) { end = i; sep = 2; break; }
    if (out[i + 1] === 0x0d && out[i + 2] === 0x0a) { end = i; sep = 3; break; }
  }
  if (end === -1) return null;
  // latin1 keeps every byte of a header value as it was.
  const lines = out.subarray(0, end).toString('latin1').split('\n').map((l) => l.replace(/\r$/, ''));
  let status = null;
  const headers = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (!TOKEN.test(name) || /[\0\r\n]/.test(value)) return null;
    headers.push([name, value]);
    if (name.toLowerCase() === 'status') {
      const m = /^([1-5][0-9][0-9])(?:\s+(.*))?$/.exec(value);
      if (!m) return null;
      status = { code: Number(m[1]), reason: m[2] };
    }
  }
  if (headers.length === 0) return null;
  const body = out.subarray(end + sep);
  const cl = headers.find(([n]) => n.toLowerCase() === 'content-length');
  if (cl && (!/^\d+$/.test(cl[1]) || Number(cl[1]) !== body.length)) return null; // truncated
  if (!status) {
    const hasLocation = headers.some(([n]) => n.toLowerCase() === 'location');
    status = { code: hasLocation ? 302 : 200 };
  }
  return { status, headers, body };
}

function sendError(res, code, requestId, message, extraHeaders) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify({ status: 'error', message }) + '\n';
  res.writeHead(code, Object.assign({
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Request-Id': requestId,
  }, extraHeaders || {}));
  res.end(text);
}

// Reads the body, at most max bytes; resolves a Buffer, or null when it was too large.
function readBody(req, max) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let len = 0;
    let done = false;
    req.on('data', (chunk) => {
      if (done) return;
      len += chunk.length;
      if (len > max) {
        done = true;
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => { if (!done) { done = true; resolve(Buffer.concat(chunks, len)); } });
    req.on('error', (err) => { if (!done) { done = true; reject(err); } });
  });
}

// A line-buffered logger for the executable's stderr.
function stderrLogger(log, prefix) {
  let pending = '';
  return {
    write(chunk) {
      pending += chunk.toString('utf8');
      let nl;
      while ((nl = pending.indexOf('\n')) !== -1) {
        log(prefix + pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      if (pending.length > MAX_STDERR_LINE) {
        log(prefix + pending.slice(0, MAX_STDERR_LINE) + ' [cut]');
        pending = '';
      }
    },
    end() {
      if (pending) log(prefix + pending);
      pending = '';
    },
  };
}

// The executables that talk to Kafka (processed_events serves dev mode only, home none).
const KAFKA_EXECUTABLES = new Set(['collect', 'ingest', 'health']);
const SASL_WITH_PASSWORD = /^(PLAIN|SCRAM-SHA-256|SCRAM-SHA-512)$/i;

// The settings of env, with those of its EVENTS_CONFIG file (KEY=value lines) under them.
function settings(env) {
  const all = {};
  if (env.EVENTS_CONFIG) {
    let text = '';
    try { text = fs.readFileSync(env.EVENTS_CONFIG, 'utf8'); } catch (err) { /* the program says why */ }
    for (const line of text.split('\n')) {
      const m = /^\s*(?:export\s+)?([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (m) all[m[1]] = m[2].replace(/^(["'])(.*)\1$/, '$2');
    }
  }
  return Object.assign(all, env);
}

// What the function cannot run without, in words for its operator ([] when nothing is
// missing). Without KAFKA_URL the handlers would run in dev mode and keep the events in
// the function's /tmp, where they vanish with the instance: on a function that is only
// wanted on purpose, with FORCE_DEV_MODE=true.
function missingSettings(name, env) {
  const set = (k) => typeof env[k] === 'string' && env[k] !== '';
  const missing = [];
  if (KAFKA_EXECUTABLES.has(name) && !set('KAFKA_URL') && !/^(true|1)$/i.test(env.FORCE_DEV_MODE || '')) {
    missing.push('KAFKA_URL is not set: add it (vercel env add KAFKA_URL), or set FORCE_DEV_MODE=true ' +
      'to keep events in the function\'s /tmp for a trial');
  }
  if (set('KAFKA_URL') && /^SASL_/i.test(env.RDKAFKA_SECURITY_PROTOCOL || '') &&
      SASL_WITH_PASSWORD.test(env.RDKAFKA_SASL_MECHANISMS || '')) {
    const lacking = ['RDKAFKA_SASL_USERNAME', 'RDKAFKA_SASL_PASSWORD'].filter((k) => !set(k));
    if (lacking.length) {
      missing.push(`${lacking.join(' and ')} ${lacking.length > 1 ? 'are' : 'is'} not set, which ` +
        `RDKAFKA_SECURITY_PROTOCOL=${env.RDKAFKA_SECURITY_PROTOCOL} with RDKAFKA_SASL_MECHANISMS=` +
        `${env.RDKAFKA_SASL_MECHANISMS} needs (vercel env add ${lacking[0]})`);
    }
  }
  return missing;
}

/**
 * createHandler(options) returns a function handler (req, res) for Vercel's Node.js runtime
 * or for http.createServer. Options:
 *   executable   name in binDir (or an absolute path) of the CGI program
 *   path         public path of the endpoint, given to the program as DOCUMENT_URI
 *   binDir       default: <this folder>/bin          libDir: default <this folder>/lib
 *   loader       'auto' (default: run through libDir's bundled dynamic loader when it is
 *                there, so the bundle's own C library is used) or 'off' (LD_LIBRARY_PATH)
 *   timeoutMs    default CGI_TIMEOUT_MS, else defaultTimeoutMs, else KAFKA_TIMEOUT_MS + 5000
 *   maxBodyBytes default CGI_MAX_BODY_BYTES, else 2 MiB
 *   trustProxy   take the client address from X-Forwarded-For (default: on Vercel only)
 *   env          extra environment of the program
 *   log          function(line) for log lines, default console.error
 */
function createHandler(options) {
  const opts = Object.assign({
    binDir: path.join(HERE, 'bin'),
    libDir: path.join(HERE, 'lib'),
    loader: 'auto',
    trustProxy: process.env.VERCEL === '1',
    env: {},
    log: (line) => console.error(line),
  }, options);
  const exe = path.isAbsolute(opts.executable) ? opts.executable
    : path.join(opts.binDir, opts.executable);
  const name = path.basename(exe);
  const loaderPath = opts.libDir ? path.join(opts.libDir, LOADER) : null;
  opts.useLoader = opts.loader === 'auto' && loaderPath !== null && fs.existsSync(loaderPath);

  return async function handler(req, res) {
    const started = process.hrtime.bigint();
    const incoming = req.headers['x-request-id'] || requestIdArg(req.url);
    const requestId = typeof incoming === 'string' && SANE_ID.test(incoming) ? incoming
      : crypto.randomBytes(16).toString('hex');
    const log = (level, msg) => opts.log(`${new Date().toISOString()} ${level} [${requestId}] ` +
      `${opts.path || name}: adapter: ${msg}`);
    const maxBody = opts.maxBodyBytes || intSetting('CGI_MAX_BODY_BYTES', DEFAULT_MAX_BODY);
    const timeoutMs = opts.timeoutMs || intSetting('CGI_TIMEOUT_MS',
      opts.defaultTimeoutMs || intSetting('KAFKA_TIMEOUT_MS', 5000) + 5000);

    // Bounded before anything is spawned: by the announced length, then while reading.
    const announced = req.headers['content-length'];
    if (announced !== undefined && Number(announced) > maxBody) {
      log('INFO', `413 body of ${announced} bytes refused before reading (max ${maxBody})`);
      sendError(res, 413, requestId, `the body is larger than ${maxBody} bytes`, { Connection: 'close' });
      return;
    }
    let body;
    try {
      body = await readBody(req, maxBody);
    } catch (err) {
      log('WARN', `reading the request body failed: ${err.message}`);
      sendError(res, 400, requestId, 'the request body could not be read');
      return;
    }
    if (body === null) {
      log('INFO', `413 body over ${maxBody} bytes refused`);
      sendError(res, 413, requestId, `the body is larger than ${maxBody} bytes`, { Connection: 'close' });
      return;
    }

    const env = cgiEnv(opts, req, body, requestId, exe);
    const missing = missingSettings(name, settings(env));
    if (missing.length) {
      for (const m of missing) log('ERROR', `not configured: ${m}`);
      sendError(res, 500, requestId, `the function is not configured: ${missing.join('; ')}`);
      return;
    }
    const args = opts.useLoader ? ['--library-path', opts.libDir, exe] : [];
    const cmd = opts.useLoader ? loaderPath : exe;
    const result = await new Promise((resolve) => {
      let child;
      try {
        child = spawn(cmd, args, { env, cwd: os.tmpdir(), stdio: ['pipe', 'pipe', 'pipe'] });
      } catch (err) {
        resolve({ spawnError: err });
        return;
      }
      const out = [];
      let outLen = 0;
      let tooMuch = false;
      let timedOut = false;
      const errLog = stderrLogger(opts.log, '');
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('error', (err) => { clearTimeout(timer); resolve({ spawnError: err }); });
      child.stdout.on('data', (chunk) => {
        outLen += chunk.length;
        if (outLen > DEFAULT_MAX_OUTPUT) {
          if (!tooMuch) child.kill('SIGKILL');
          tooMuch = true;
          return;
        }
        out.push(chunk);
      });
      child.stderr.on('data', (chunk) => errLog.write(chunk));
      // A program may answer without reading its whole body (it then drains or exits).
      child.stdin.on('error', () => {});
      child.stdin.end(body);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        errLog.end();
        resolve({ code, signal, timedOut, tooMuch, out: Buffer.concat(out) });
      });
    });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;

    if (result.spawnError) {
      log('ERROR', `cannot start ${name}: ${result.spawnError.message}`);
      sendError(res, 502, requestId, 'the handler could not be started');
      return;
    }
    if (result.timedOut) {
      log('ERROR', `${name} gave no answer within ${timeoutMs} ms: killed`);
      sendError(res, 504, requestId, `the handler did not answer within ${timeoutMs} ms; try again`);
      return;
    }
    if (result.signal || result.tooMuch) {
      log('ERROR', `${name} ${result.tooMuch ? 'wrote more than ' + DEFAULT_MAX_OUTPUT + ' bytes'
        : 'died of ' + result.signal} after ${ms.toFixed(1)} ms`);
      sendError(res, 502, requestId, 'the handler failed; nothing is known to have been accepted, try again');
      return;
    }
    if (result.out.length === 0) {
      log('ERROR', `${name} exited with status ${result.code} without an answer`);
      sendError(res, 502, requestId, result.code === 1
        ? 'the handler could not start (configuration); see the function log'
        : 'the handler gave no answer');
      return;
    }
    const parsed = parseCgi(result.out);
    if (!parsed) {
      log('ERROR', `${name} (exit ${result.code}) wrote something that is not a CGI answer ` +
        `(${result.out.length} bytes)`);
      sendError(res, 502, requestId, 'the handler gave a malformed answer');
      return;
    }
    if (result.code !== 0) log('WARN', `${name} answered but exited with status ${result.code}`);

    const headers = {};
    for (const [hname, value] of parsed.headers) {
      const lower = hname.toLowerCase();
      if (SKIP_RESPONSE_HEADERS.has(lower)) continue;
      if (headers[lower] === undefined) headers[lower] = [hname, value];
      else if (Array.isArray(headers[lower][1])) headers[lower][1].push(value);
      else headers[lower][1] = [headers[lower][1], value];
    }
    if (!headers['x-request-id']) headers['x-request-id'] = ['X-Request-Id', requestId];
    res.statusCode = parsed.status.code;
    if (parsed.status.reason) res.statusMessage = parsed.status.reason;
    for (const [hname, value] of Object.values(headers)) res.setHeader(hname, value);
    if (parsed.status.code !== 204 && parsed.status.code !== 304) {
      res.setHeader('Content-Length', parsed.body.length);
    }
    res.end(req.method === 'HEAD' ? undefined : parsed.body);
  };
}

module.exports = { createHandler, parseCgi, headerVars };
