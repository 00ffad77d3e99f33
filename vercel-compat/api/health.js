'use strict';
// /health: the health executable, once per invocation (see _cgi.js).
module.exports = require('./_cgi').createHandler({ executable: 'health', path: '/health' });
