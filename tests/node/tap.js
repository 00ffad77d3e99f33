'use strict';
// tap.js - what the browser drivers share: TAP lines and waiting for a property.
//   const tap = require('./tap')('tracker');   tap.ok(cond, label, detail), tap.failed
//   tap.waitFor(fn, ms): polls fn until it returns something truthy or ms pass.
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

module.exports = function tap(prefix, waitMs = 30000) {
  const t = { n: 0, failed: 0 };
  t.ok = (cond, label, detail) => {
    t.n++;
    if (cond) {
      console.log(`ok ${t.n} - ${prefix}: ${label}`);
      return true;
    }
    t.failed++;
    console.log(`not ok ${t.n} - ${prefix}: ${label}`);
    if (detail !== undefined) {
      const text = typeof detail === 'string' ? detail : JSON.stringify(detail, null, 1);
      console.log(text.slice(0, 2000).replace(/^/gm, '#   '));
    }
    return false;
  };
  t.waitFor = async (fn, ms = waitMs) => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v || Date.now() > end) return v;
      await pause(200);
    }
  };
  return t;
};
