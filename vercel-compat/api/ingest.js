'use strict';
// /api/ingest: the ingest executable, once per invocation (see _cgi.js). A large file or
// sheet takes longer than a /collect: up to 55 s unless CGI_TIMEOUT_MS says otherwise
// (keep it under the function's maxDuration in vercel.json).
module.exports = require('./_cgi').createHandler({
  executable: 'ingest', path: '/api/ingest', defaultTimeoutMs: 55000,
});
