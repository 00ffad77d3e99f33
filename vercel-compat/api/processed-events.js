'use strict';
// /api/processed-events: the processed_events executable, once per invocation (see _cgi.js).
module.exports = require('./_cgi').createHandler({ executable: 'processed_events', path: '/api/processed-events' });
