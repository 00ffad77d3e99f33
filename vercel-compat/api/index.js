'use strict';
// /: the home executable, once per invocation (see _cgi.js).
module.exports = require('./_cgi').createHandler({ executable: 'home', path: '/' });
