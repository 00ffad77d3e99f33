/* tracker.js - the browser tracker of the event-ingestion service: batches events, sends
 * them to /collect and keeps in localStorage whatever the collector has not accepted yet,
 * so that a network error, an outage or a page reload loses nothing (README.md, "Browser
 * tracker"). No dependencies, no build step.
 *
 *   <script src="https://collector.example/tracker.js"
 *           data-endpoint="https://collector.example/collect"
 *           data-write-key="pk_live_0123456789abcdef"></script>   (when the collector has keys)
 *   <script>tracker.track("product_view", {product_id: "p1"})</script>
 */
(function () {
  'use strict';
  if (window.tracker && window.tracker.track) return; /* loaded twice */

  var script = document.currentScript;
  var opt = (script && script.dataset) || {};
  var num = function (name, def) { var v = Number(opt[name]); return v > 0 ? v : def; };
  var ENDPOINT = new URL(opt.endpoint || (script && script.src ? new URL('/collect', script.src) : '/collect'),
    location.href).href;
  var BATCH_SIZE = Math.min(num('batchSize', 20), 1000); /* events; /collect takes 1000 */
  var BATCH_DELAY = num('batchDelayMs', 1000);
  var MAX_EVENTS = num('maxEvents', 1000);  /* kept in localStorage; the oldest go first */
  var RETRY_BASE = num('retryBaseMs', 1000);
  var RETRY_MAX = num('retryMaxMs', 60000);
  var WRITE_KEY = opt.writeKey || ''; /* public: it names and limits this site, nothing more */
  var MAX_BATCH_BYTES = 60000; /* a keepalive fetch or a beacon carries at most 64 KiB */
  var MAX_EVENT_BYTES = 32768;
  var STALE_MS = 5 * 60000;    /* a queue whose page stopped beating this long is orphaned */
  var PREFIX = 'tracker.queue ' + ENDPOINT + ' ';
  var DROPPED = 'tracker.dropped ' + ENDPOINT;

  var rand = function () {
    var b = new Uint8Array(16), s = '';
    crypto.getRandomValues(b);
    for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
    return s;
  };
  var bytes = function (s) { return new TextEncoder().encode(s).length; };
  var store = {
    get: function (k) { try { return localStorage.getItem(k); } catch (e) { return null; } },
    set: function (k, v) { localStorage.setItem(k, v); }, /* throws when full or disabled */
    del: function (k) { try { localStorage.removeItem(k); } catch (e) { /* nothing kept */ } },
    keys: function () {
      var out = [];
      try { for (var i = 0; i < localStorage.length; i++) out.push(localStorage.key(i)); } catch (e) { /* none */ }
      return out;
    },
  };
  var parse = function (s) { try { return JSON.parse(s) || {}; } catch (e) { return {}; } };
  var emit = function (name, detail) { window.dispatchEvent(new CustomEvent('tracker:' + name, { detail: detail })); };

  var userId = store.get('tracker.user_id');
  if (!userId) {
    userId = 'u-' + rand();
    try { store.set('tracker.user_id', userId); } catch (e) { /* this page only */ }
  }

  /* Browser, device and version: User-Agent Client Hints where the browser has them. */
  var ctx = (function () {
    var ua = navigator.userAgent, hints = navigator.userAgentData, m, i;
    var c = { browser: 'unknown', device: /iPad|Tablet/.test(ua) ? 'Tablet' : /Mobi|Android|iPhone/.test(ua) ? 'Mobile' : 'Desktop', version: '' };
    if (hints && hints.brands && hints.brands.length) {
      var pick = null;
      for (i = 0; i < hints.brands.length; i++) {
        var b = hints.brands[i];
        if (/Not.?A.?Brand/i.test(b.brand)) continue;
        if (!pick || pick.brand === 'Chromium') pick = b;
      }
      if (pick) { c.browser = pick.brand; c.version = pick.version; }
      c.device = hints.mobile ? 'Mobile' : c.device === 'Tablet' ? 'Tablet' : 'Desktop';
      return c;
    }
    var known = [['Edge', /Edg(?:e|A|iOS)?\/([\d.]+)/], ['Opera', /OPR\/([\d.]+)/], ['Firefox', /(?:Firefox|FxiOS)\/([\d.]+)/],
      ['Chrome', /(?:Chrome|CriOS)\/([\d.]+)/], ['Safari', /Version\/([\d.]+).*Safari/]];
    for (i = 0; i < known.length; i++) {
      if ((m = known[i][1].exec(ua))) { c.browser = known[i][0]; c.version = m[1]; break; }
    }
    return c;
  })();

  /* This page's queue, in its own localStorage key (other tabs keep theirs). A batch is
   * {id, t, events, bytes} while it fills, and {id, n, body} once sealed: from its first
   * send on, its id and bytes never change, so a retry is the same request. */
  var key = PREFIX + rand();
  var q = { at: 0, closed: false, batches: [] };
  var inflight = null, timer = 0, attempt = 0, retryAt = 0, warnedDrop = false, beaconed = {};
  var refusedKey = false; /* a 401: nothing is sent again from this page, the queue stays */

  var count = function () {
    var n = 0;
    for (var i = 0; i < q.batches.length; i++) n += q.batches[i].n || q.batches[i].events.length;
    return n;
  };
  var dropped = function (n) {
    var total = (Number(store.get(DROPPED)) || 0) + n;
    try { store.set(DROPPED, String(total)); } catch (e) { /* counted in the event only */ }
    if (!warnedDrop) console.warn('tracker: the queue is full (' + MAX_EVENTS + ' events): the oldest are dropped');
    warnedDrop = true;
    emit('dropped', { count: n, total: total });
  };
  /* Past MAX_EVENTS the oldest go: single events of a batch still filling, sealed batches
   * whole (a sealed batch may already be in Kafka under its id). */
  var bound = function () {
    var over = count() - MAX_EVENTS;
    while (over > 0 && q.batches.length) {
      var b = q.batches[0], n = 0;
      if (b.body) { q.batches.shift(); n = b.n; } else { b.events.shift(); n = 1; }
      if (!b.body && !b.events.length) q.batches.shift();
      over -= n;
      dropped(n);
    }
  };
  var save = function () {
    q.at = Date.now();
    for (;;) {
      try {
        if (q.batches.length || !q.closed) store.set(key, JSON.stringify(q));
        else store.del(key);
        return;
      } catch (e) {
        if (!q.batches.length || !(e && /quota/i.test(e.name + e.message))) return; /* kept in memory only */
        var b = q.batches.shift();
        dropped(b.n || b.events.length);
      }
    }
  };
  /* Takes over the queues of pages that were closed (a reload, a closed tab) or stopped
   * beating: they come first, being older. */
  var adopt = function () {
    var now = Date.now(), found = [], ks = store.keys();
    for (var i = 0; i < ks.length; i++) {
      if (!ks[i] || ks[i].indexOf(PREFIX) !== 0 || ks[i] === key) continue;
      var rec = parse(store.get(ks[i]));
      if (!rec.closed && rec.at > now - STALE_MS) continue;
      if (rec.batches && rec.batches.length) found.push(rec);
      store.del(ks[i]);
    }
    found.sort(function (a, b) { return a.at - b.at; });
    for (i = found.length - 1; i >= 0; i--) q.batches = found[i].batches.concat(q.batches);
    if (found.length) { bound(); save(); }
    return found.length;
  };

  var seal = function (b) {
    if (b.body) return;
    b.n = b.events.length;
    b.body = JSON.stringify({ events: b.events, ctx: ctx });
    delete b.events;
    delete b.bytes;
  };
  var remove = function (b) {
    q.batches = q.batches.filter(function (x) { return x.id !== b.id; });
  };
  /* Exponential with jitter, and never sooner than the server's Retry-After. */
  var backoff = function (retryAfter) {
    var cap = Math.min(RETRY_MAX, RETRY_BASE * Math.pow(2, Math.min(attempt - 1, 30)));
    var ms = cap / 2 + Math.random() * cap / 2;
    var ra = retryAfter && (/^\d+$/.test(retryAfter) ? retryAfter * 1000 : Date.parse(retryAfter) - Date.now());
    return Math.min(Math.max(ms, ra || 0), 3600000);
  };

  var finish = function (b, status, text, retryAfter) {
    var r = parse(text);
    inflight = null;
    if (status >= 200 && status < 300) {
      remove(b);
      attempt = 0;
      emit('sent', { request_id: b.id, status: status, received: r.received, spooled: !!r.spooled });
    } else if (status === 401) {
      /* The key is missing or unknown: every request would get the same answer. The queue
       * stays for a page that has the right key (the next load, or another tab). */
      if (!refusedKey) {
        console.error('tracker: ' + ENDPOINT + ' refused the write key (401): ' + (r.message || text) +
          '; nothing more is sent from this page, ' + count() + ' event(s) stay queued');
        emit('unauthorized', { request_id: b.id, status: status, message: r.message, queued: count() });
      }
      refusedKey = true;
    } else if (status === 429 && retryAfter && /^\d+$/.test(retryAfter)) {
      /* Over the budget: the same batch fits after exactly this wait; no backoff. */
      var wait = retryAfter * 1000;
      retryAt = Date.now() + wait;
      emit('retry', { request_id: b.id, status: status, attempt: attempt, delay_ms: wait });
    } else if (!status || status === 408 || status === 429 || status >= 500) {
      attempt++;
      var ms = backoff(retryAfter);
      retryAt = Date.now() + ms;
      emit('retry', { request_id: b.id, status: status, attempt: attempt, delay_ms: Math.round(ms) });
    } else {
      /* Refused for what it is (422 invalid, 413 too large, ...): sending it again would
       * get the same answer, so it is said once and dropped. */
      remove(b);
      console.error('tracker: ' + ENDPOINT + ' refused ' + b.n + ' event(s) with ' + status + ': ' +
        (r.message || text) + ' (request ' + b.id + ', not sent again)');
      emit('rejected', { request_id: b.id, status: status, message: r.message, errors: r.errors });
    }
    save();
    pump();
  };

  var headers = function (b) {
    var h = { 'Content-Type': 'application/json', 'X-Request-Id': b.id };
    if (WRITE_KEY) h['X-Write-Key'] = WRITE_KEY;
    return h;
  };

  var send = function (b) {
    seal(b);
    inflight = b;
    save();
    fetch(ENDPOINT, {
      method: 'POST', keepalive: true, credentials: 'omit',
      headers: headers(b), body: b.body,
    }).then(function (res) {
      return res.text().then(function (t) { finish(b, res.status, t, res.headers.get('Retry-After')); },
        function () { finish(b, res.status, '', res.headers.get('Retry-After')); });
    }, function (err) { finish(b, 0, String(err), null); });
  };

  /* One batch at a time, oldest first; the newest waits until it is full or old enough. */
  var pump = function (now) {
    clearTimeout(timer);
    timer = 0;
    var b = q.batches[0], t = Date.now();
    if (inflight || !b || refusedKey) return;
    if (t < retryAt) { timer = setTimeout(pump, retryAt - t); return; }
    if (!now && !b.body && q.batches.length === 1 && b.events.length < BATCH_SIZE && t - b.t < BATCH_DELAY) {
      timer = setTimeout(pump, b.t + BATCH_DELAY - t);
      return;
    }
    send(b);
  };

  /* The page is going away (or may never come back): everything not yet in flight goes
   * by sendBeacon, which cannot set headers, so the batch id rides in ?request_id=. The
   * batches stay queued until a fetch is answered, so a beaconed batch may arrive twice,
   * under the same id (and so with the same event_ids). */
  var beacon = function (closing) {
    var budget = 65536;
    for (var i = 0; navigator.sendBeacon && !refusedKey && i < q.batches.length; i++) {
      var b = q.batches[i];
      if (b === inflight || beaconed[b.id]) continue; /* once per page is enough */
      seal(b);
      var size = bytes(b.body);
      if (size > budget) break;
      /* sendBeacon cannot set headers: the key rides in the URL too */
      var url = ENDPOINT + (ENDPOINT.indexOf('?') < 0 ? '?' : '&') + 'request_id=' + b.id +
        (WRITE_KEY ? '&write_key=' + encodeURIComponent(WRITE_KEY) : '');
      if (!navigator.sendBeacon(url, b.body)) break;
      beaconed[b.id] = true;
      budget -= size;
    }
    if (closing) q.closed = true; /* until the page is shown again (pageshow) */
    save();
  };

  var track = function (eventType, props) {
    var ev = {}, k, text;
    for (k in props || {}) if (Object.prototype.hasOwnProperty.call(props, k)) ev[k] = props[k];
    ev.event_type = String(eventType);
    ev.event_time = Date.now();
    if (!ev.user_id) ev.user_id = userId;
    try { text = JSON.stringify(ev); } catch (e) { text = null; }
    var size = text === null ? Infinity : bytes(text) + 1;
    if (size > MAX_EVENT_BYTES) {
      console.error('tracker: event ' + ev.event_type + ' not tracked: it must be JSON of at most ' + MAX_EVENT_BYTES + ' bytes');
      return false;
    }
    var last = q.batches[q.batches.length - 1];
    if (!last || last.body || last.events.length >= BATCH_SIZE || last.bytes + size > MAX_BATCH_BYTES) {
      last = { id: 'trk-' + rand(), t: Date.now(), events: [], bytes: 200 };
      q.batches.push(last);
    }
    last.events.push(ev);
    last.bytes += size;
    bound();
    save();
    pump();
    return true;
  };

  window.tracker = {
    track: track,
    /* Sends what is queued now instead of waiting for the batch delay. */
    flush: function () { pump(true); },
    stats: function () {
      return { queued: count(), dropped: Number(store.get(DROPPED)) || 0, user_id: userId, endpoint: ENDPOINT,
        stopped: refusedKey };
    },
  };

  adopt();
  save();
  pump();
  window.addEventListener('pagehide', function () { beacon(true); });
  window.addEventListener('pageshow', function (e) {
    if (!e.persisted) return;
    /* Back from the back/forward cache: another page may have adopted the queue. */
    var rec = store.get(key);
    q = rec ? parse(rec) : { batches: [] };
    q.batches = q.batches || [];
    q.closed = false;
    inflight = null;
    save();
    pump();
  });
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'hidden') beacon(false);
    else pump();
  });
  window.addEventListener('online', function () { retryAt = 0; pump(); });
  window.addEventListener('storage', function (e) {
    if (e.key && e.key.indexOf(PREFIX) === 0 && e.key !== key && e.newValue && parse(e.newValue).closed && adopt()) pump();
  });
  /* The heartbeat that tells other pages this queue is alive; and a look for the queues of
   * pages that stopped without a pagehide (a crash) while this one stays open. */
  setInterval(function () { save(); if (adopt()) pump(); }, 60000);
})();
