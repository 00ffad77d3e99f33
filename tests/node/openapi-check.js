'use strict';
// openapi-check.js - checks recorded answers of the service against docs/openapi.yaml:
//   node openapi-check.js OPENAPI_YAML EXCHANGES_JSONL
// Each line of EXCHANGES_JSONL is one request and its answer, {label, method, path,
// status, head (the raw response headers), body}. For each, the operation and the status
// must be documented, every required header present and valid, the media type one the
// document lists, and the body valid against its schema (JSON Schema 2020-12, Ajv).
// Prints one TAP line per exchange, then the documented statuses no exchange provoked.
const fs = require('node:fs');
const YAML = require('yaml');
const Ajv2020 = require('ajv/dist/2020');

const [docFile, exchangesFile] = process.argv.slice(2);
const doc = YAML.parse(fs.readFileSync(docFile, 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: false, validateSchema: false });
ajv.addSchema(doc, 'openapi');

const esc = (s) => String(s).replace(/~/g, '~0').replace(/\//g, '~1');
const unesc = (s) => s.replace(/~1/g, '/').replace(/~0/g, '~');
const get = (ptr) => ptr.split('/').slice(1).map(unesc).reduce((node, k) => (node == null ? undefined : node[k]), doc);
// The pointer and the object at ptr, following a $ref in the document.
function deref(ptr) {
  let node = get(ptr);
  while (node && typeof node.$ref === 'string') {
    ptr = node.$ref.slice(1);
    node = get(ptr);
  }
  return [ptr, node];
}
function validate(ptr, value) {
  const v = ajv.getSchema('openapi#' + ptr);
  if (!v) return [`no schema at ${ptr}`];
  return v(value) ? [] : v.errors.map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}
function parseHead(text) {
  const headers = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (m) headers[m[1].toLowerCase()] = m[2];
  }
  return headers;
}

// The operation an exchange is checked against: its own, or for a 405 (a method the path
// does not take) the path's operation that documents the 405.
function operation(ex) {
  const item = doc.paths[ex.path] || {};
  const method = ex.method.toLowerCase();
  if (item[method] || String(ex.status) !== '405') return method;
  return Object.keys(item).find((m) => item[m].responses && item[m].responses['405']) || method;
}

// The problems of one exchange against the document; [] when it conforms.
function check(ex) {
  const opPtr = `/paths/${esc(ex.path)}/${operation(ex)}`;
  if (!get(opPtr)) return [`${ex.method} ${ex.path} is not in the document`];
  const [respPtr, resp] = deref(`${opPtr}/responses/${ex.status}`);
  if (!resp) return [`status ${ex.status} of ${ex.method} ${ex.path} is not in the document`];
  const problems = [];
  const headers = parseHead(ex.head);
  for (const name of Object.keys(resp.headers || {})) {
    const [hPtr, h] = deref(`${respPtr}/headers/${esc(name)}`);
    const value = headers[name.toLowerCase()];
    if (value === undefined) {
      if (h.required) problems.push(`header ${name} is missing`);
      continue;
    }
    const [, schema] = deref(`${hPtr}/schema`);
    const typed = schema && (schema.type === 'integer' || typeof schema.const === 'number') && /^-?\d+$/.test(value) ? Number(value) : value;
    for (const p of validate(`${hPtr}/schema`, typed)) problems.push(`header ${name}: ${value}: ${p}`);
  }
  const media = (headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (!resp.content) {
    if (ex.body.length) problems.push(`a body where the document has none: ${ex.body.slice(0, 200)}`);
    return problems;
  }
  if (!resp.content[media]) return problems.concat(`media type "${media}" is not one of ${Object.keys(resp.content)}`);
  let body = ex.body;
  if (/json/.test(media)) {
    try {
      body = JSON.parse(ex.body);
    } catch (err) {
      return problems.concat(`the body is not JSON: ${ex.body.slice(0, 200)}`);
    }
  }
  return problems.concat(validate(`${respPtr}/content/${esc(media)}/schema`, body));
}

let n = 0;
let failed = 0;
const seen = new Set();
const exchanges = fs.readFileSync(exchangesFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
for (const ex of exchanges) {
  const problems = check(ex);
  seen.add(`${operation(ex).toUpperCase()} ${ex.path} ${ex.status}`);
  n++;
  if (problems.length === 0) {
    console.log(`ok ${n} - openapi: ${ex.method} ${ex.path} ${ex.status} (${ex.label}) is as documented`);
  } else {
    failed++;
    console.log(`not ok ${n} - openapi: ${ex.method} ${ex.path} ${ex.status} (${ex.label}) is as documented`);
    console.log(problems.concat(`body: ${ex.body.slice(0, 300)}`).join('\n').replace(/^/gm, '#   '));
  }
}
const missed = [];
for (const [path, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    for (const status of Object.keys(op.responses || {})) {
      if (!seen.has(`${method.toUpperCase()} ${path} ${status}`)) missed.push(`${method.toUpperCase()} ${path} ${status}`);
    }
  }
}
console.log(`# documented, not provoked by this test: ${missed.join(', ') || 'none'}`);
process.exit(failed ? 1 : 0);
