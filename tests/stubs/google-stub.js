#!/usr/bin/env node
// google-stub.js - a local stand-in for Google's OAuth2 token endpoint, the two Sheets
// API v4 calls and the CSV export, for the integration tests (node standard library only).
//
//   node google-stub.js --sheets FILE --pubkey FILE --email ADDR [--port-file FILE]
//
// Listens on 127.0.0.1, port 0; prints "port N" (and writes N to --port-file).
// --sheets is JSON: {"<spreadsheet id>": [{"sheetId": 0, "title": "...", "rows": [[...]]}]}.
//
// POST /token          verifies the JWT (RS256 signature with --pubkey; iss = --email,
//                      scope = spreadsheets.readonly, aud = this URL, iat/exp sane) and
//                      answers {"access_token","expires_in","token_type"}.
// GET  /v4/spreadsheets/ID?fields=sheets.properties     (Bearer token checked)
// GET  /v4/spreadsheets/ID/values/RANGE                  (trailing empty cells omitted,
//                                                         as Google does)
// GET  /spreadsheets/d/ID/export?format=csv[&gid=N]      (no token)
// GET  /_stats         request counters as JSON; GET /_issued every token issued, one a
//                      line; POST /_control?revoke=1 invalidates every token issued;
//                      POST /_control?ttl=N sets expires_in of the tokens issued next.
//
// Spreadsheet ids choose a behaviour: forbidden* 403, slow* waits --slow-ms (default 5000)
// before answering, malformed* answers broken JSON (an HTML page for the export), huge*
// answers --huge-bytes (default 4 MiB) of valid rows, redirN-ID (export) redirects N times
// on this host and then serves ID, evilredir* redirects the export to another host;
// ids absent from --sheets are 404.
'use strict';
const http = require('http');
const crypto = require('crypto');
const fs = require('fs');

const args = {};
for (let i = 2; i < process.argv.length; i += 2)
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const sheets = JSON.parse(fs.readFileSync(args.sheets, 'utf8'));
const pubkey = crypto.createPublicKey(fs.readFileSync(args.pubkey, 'utf8'));
const email = args.email;
const slowMs = Number(args['slow-ms'] || 5000);
const hugeBytes = Number(args['huge-bytes'] || 4 * 1024 * 1024);
const SCOPE = 'https://www.googleapis.com/auth/spreadsheets.readonly';

const stats = { requests: 0, token: 0, token_refused: 0, meta: 0, values: 0, export: 0,
                unauthorized: 0, rows_asked: [] };
const tokens = new Map(); // token -> expiry (ms)
const issued = []; // every token ever issued, for the no-secret-in-logs checks
let ttl = Number(args.ttl || 3600);
let port = 0;

function send(res, status, body, type) {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': type || 'application/json; charset=UTF-8',
                          'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

function b64urlJson(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

// Returns an error text, or null when the assertion is good.
function checkJwt(jwt) {
  const parts = (jwt || '').split('.');
  if (parts.length !== 3) return 'not a JWT';
  if (!/^[A-Za-z0-9_-]+$/.test(parts.join(''))) return 'not base64url without padding';
  let header, claims;
  try {
    header = b64urlJson(parts[0]);
    claims = b64urlJson(parts[1]);
  } catch (e) {
    return 'undecodable JWT';
  }
  if (header.alg !== 'RS256' || header.typ !== 'JWT') return 'header is not RS256/JWT';
  const ok = crypto.verify('RSA-SHA256', Buffer.from(parts[0] + '.' + parts[1]), pubkey,
                           Buffer.from(parts[2], 'base64url'));
  if (!ok) return 'Invalid JWT Signature.';
  const now = Math.floor(Date.now() / 1000);
  if (claims.iss !== email) return 'Invalid issuer';
  if (claims.scope !== SCOPE) return 'Invalid scope';
  if (claims.aud !== `http://127.0.0.1:${port}/token`) return 'Invalid audience';
  if (!Number.isInteger(claims.iat) || Math.abs(claims.iat - now) > 300) return 'Invalid iat';
  if (!Number.isInteger(claims.exp) || claims.exp <= claims.iat || claims.exp - claims.iat > 3600)
    return 'Invalid exp';
  return null;
}

function bearerOk(req) {
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization || '');
  const exp = m && tokens.get(m[1]);
  return exp && exp > Date.now();
}

function csvField(s) {
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

// Rows as Google's values API gives them: trailing empty cells and rows left out.
function trimmed(rows) {
  const out = rows.map((r) => {
    const c = r.slice();
    while (c.length && c[c.length - 1] === '') c.pop();
    return c;
  });
  while (out.length && out[out.length - 1].length === 0) out.pop();
  return out;
}

let hugeCache = null;
function hugeRows() {
  if (hugeCache) return hugeCache;
  const rows = [['DATE', 'REF_NUMBER', 'IP', 'USER_AGENT', 'USER_FP', 'URL', 'SOURCE']];
  let size = 0, i = 0;
  while (size < hugeBytes) {
    const r = ['2025-10-22', `REF_${i}`, '10.0.0.1', 'Mozilla/5.0', `fp-${i++}`,
               'https://example.com', 'LINK_TRACKING'];
    size += r.join(',').length + 2;
    rows.push(r);
  }
  hugeCache = [{ sheetId: 0, title: 'Huge', rows }];
  return hugeCache;
}

function findSheets(id) {
  if (id.startsWith('huge')) return hugeRows();
  return sheets[id] || null;
}

function later(fn) {
  setTimeout(fn, slowMs);
}

function handle(req, res, body) {
  const url = new URL(req.url, `http://127.0.0.1:${port}`);
  let m;
  if (url.pathname === '/_stats') return send(res, 200, stats);
  if (url.pathname === '/_issued') return send(res, 200, issued.join('\n'), 'text/plain');
  if (url.pathname === '/_control' && req.method === 'POST') {
    if (url.searchParams.get('revoke')) tokens.clear();
    if (url.searchParams.get('ttl')) ttl = Number(url.searchParams.get('ttl'));
    return send(res, 200, { ok: true });
  }
  stats.requests++;

  if (url.pathname === '/token' && req.method === 'POST') {
    stats.token++;
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      stats.token_refused++;
      return send(res, 400, { error: 'unsupported_grant_type' });
    }
    const why = checkJwt(form.get('assertion'));
    if (why) {
      stats.token_refused++;
      return send(res, 400, { error: 'invalid_grant', error_description: why });
    }
    const tok = 'ya29.stub-' + crypto.randomBytes(24).toString('hex');
    tokens.set(tok, Date.now() + ttl * 1000);
    issued.push(tok);
    return send(res, 200, { access_token: tok, expires_in: ttl, token_type: 'Bearer' });
  }

  if ((m = /^\/v4\/spreadsheets\/([^/]+)(\/values\/(.+))?$/.exec(url.pathname)) &&
      req.method === 'GET') {
    const id = decodeURIComponent(m[1]);
    const isValues = !!m[2];
    stats[isValues ? 'values' : 'meta']++;
    if (!bearerOk(req)) {
      stats.unauthorized++;
      return send(res, 401, { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } });
    }
    if (id.startsWith('forbidden'))
      return send(res, 403, { error: { code: 403, message: 'The caller does not have permission', status: 'PERMISSION_DENIED' } });
    if (id.startsWith('slow')) return later(() => send(res, 200, { sheets: [] }));
    if (id.startsWith('malformed')) return send(res, 200, '{"sheets": [{"properties": {"sheetId": 0, "tit');
    const list = findSheets(id);
    if (!list)
      return send(res, 404, { error: { code: 404, message: 'Requested entity was not found.', status: 'NOT_FOUND' } });
    if (!isValues) {
      if (url.searchParams.get('fields') !== 'sheets.properties')
        return send(res, 400, { error: { code: 400, message: 'fields expected' } });
      return send(res, 200, { sheets: list.map((s, i) => ({ properties: { sheetId: s.sheetId, title: s.title, index: i, sheetType: 'GRID',
        gridProperties: { rowCount: s.rows.length + 2, columnCount: s.rows.reduce((w, r) => Math.max(w, r.length), 0) } } })) });
    }
    let range = decodeURIComponent(m[3]), rows = null;
    const rm = /^(.*)!(\d+):(\d+)$/.exec(range);
    if (rm) { range = rm[1]; rows = [Number(rm[2]), Number(rm[3])]; }
    if (/^'.*'$/.test(range)) range = range.slice(1, -1).replace(/''/g, "'");
    const sheet = list.find((s) => s.title === range);
    if (!sheet)
      return send(res, 400, { error: { code: 400, message: `Unable to parse range: ${range}`, status: 'INVALID_ARGUMENT' } });
    const gridRows = sheet.rows.length + 2;
    if (rows && (rows[0] < 1 || rows[1] < rows[0] || rows[1] > gridRows))
      return send(res, 400, { error: { code: 400, message: `Range (${m[3]}) exceeds grid limits. Max rows: ${gridRows}`, status: 'INVALID_ARGUMENT' } });
    stats.rows_asked.push(rows ? rows.join(':') : 'all');
    const values = trimmed(rows ? sheet.rows.slice(rows[0] - 1, rows[1]) : sheet.rows);
    const out = { range: `'${sheet.title}'!${rows ? rows.join(':') : 'A1:Z' + values.length}`, majorDimension: 'ROWS' };
    if (values.length) out.values = values;
    return send(res, 200, out);
  }

  if ((m = /^\/spreadsheets\/d\/([^/]+)\/export$/.exec(url.pathname)) && req.method === 'GET') {
    let id = decodeURIComponent(m[1]);
    stats.export++;
    if (url.searchParams.get('format') !== 'csv') return send(res, 400, 'format?', 'text/plain');
    let r;
    if ((r = /^redir(\d+)-(.+)$/.exec(id))) {
      const n = Number(r[1]);
      const next = n > 1 ? `redir${n - 1}-${r[2]}` : r[2];
      res.writeHead(307, { Location: `/spreadsheets/d/${next}/export?${url.searchParams}` });
      return res.end();
    }
    if (id.startsWith('evilredir')) {
      res.writeHead(302, { Location: `http://evil.example.org:${port}/steal` });
      return res.end();
    }
    if (id.startsWith('forbidden')) return send(res, 403, '<html>denied</html>', 'text/html');
    if (id.startsWith('slow')) return later(() => send(res, 200, 'DATE\r\n', 'text/csv'));
    if (id.startsWith('malformed'))
      return send(res, 200, '<!DOCTYPE html><html><body>Sign in</body></html>', 'text/html; charset=utf-8');
    const list = findSheets(id);
    if (!list) return send(res, 404, '<html>not found</html>', 'text/html');
    const gid = url.searchParams.get('gid');
    const sheet = gid === null ? list[0] : list.find((s) => String(s.sheetId) === gid);
    if (!sheet) return send(res, 404, '<html>not found</html>', 'text/html');
    const width = sheet.rows.reduce((w, r) => Math.max(w, r.length), 0);
    const csv = sheet.rows.map((row) => {
      const c = row.slice();
      while (c.length < width) c.push('');
      return c.map(csvField).join(',');
    }).join('\r\n');
    return send(res, 200, csv, 'text/csv');
  }
  return send(res, 404, { error: 'no such stub route' });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
});
server.listen(0, '127.0.0.1', () => {
  port = server.address().port;
  if (args['port-file']) fs.writeFileSync(args['port-file'], String(port));
  console.log(`port ${port}`);
});
// Pending slow answers must not keep the stub alive.
process.on('SIGTERM', () => process.exit(0));
