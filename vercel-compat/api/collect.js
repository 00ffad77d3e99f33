'use strict';
// /collect: the collect executable, once per invocation (see _cgi.js).
module.exports = require('./_cgi').createHandler({ executable: 'collect', path: '/collect' });
