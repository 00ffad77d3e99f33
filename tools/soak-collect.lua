-- soak-collect.lua - wrk script of make soak (tools/soak): POST /collect, one event per
-- request, paced at SOAK_RATE requests/s over all of wrk's threads, and a tally of the
-- answers by status for the accounting.
--   SOAK_RATE=900 wrk -t2 -c32 -d1800s --timeout 30s -s tools/soak-collect.lua http://host:port/collect
-- Pacing: each thread keeps a schedule of send times (rate / threads per second); a
-- connection that is free waits until the next free slot. A thread that fell behind by
-- more than a second (an outage's slow answers) starts a new schedule instead of bursting.
local ffi = require("ffi")
ffi.cdef [[
struct soak_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clk_id, struct soak_timespec *tp);
]]
local ts = ffi.new("struct soak_timespec")
local function now_ms()
   ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
   return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local rate = tonumber(os.getenv("SOAK_RATE") or "100")
local threads = {}
local seq = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "make-soak/1"

function setup(thread)
   thread:set("id", #threads + 1)
   table.insert(threads, thread)
end

-- The thread count comes from the environment too: each thread's Lua state runs init()
-- without seeing the others.
local nthreads = tonumber(os.getenv("SOAK_THREADS") or "2")

function init(args)
   next_ms = nil
   codes = {}
end

function delay()
   local t = now_ms()
   local step = 1000 * nthreads / rate
   if next_ms == nil or next_ms < t - 1000 then
      next_ms = t
   end
   next_ms = next_ms + step
   local d = next_ms - step - t
   if d < 0 then
      return 0
   end
   return math.floor(d)
end

function request()
   seq = seq + 1
   local body = string.format('{"events":[{"event_type":"product_view","event_time":%d,' ..
      '"user_id":"soak_%d_%d","product_id":"prod_%d","price":19.9}],' ..
      '"ctx":{"browser":"Firefox","device":"Desktop","version":"126.0"}}',
      1750867000000 + seq, id or 0, seq, seq % 1000)
   return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
   codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      local c = thread:get("codes")
      for k, v in pairs(c) do
         total[k] = (total[k] or 0) + v
      end
   end
   local parts = {}
   for k, v in pairs(total) do
      table.insert(parts, string.format("s%d=%d", k, v))
   end
   table.sort(parts)
   local e = summary.errors
   io.write(string.format(
      "soak-wrk: requests=%d connect=%d read=%d write=%d timeout=%d duration_us=%d " ..
      "p50_us=%d p99_us=%d max_us=%d %s\n",
      summary.requests, e.connect, e.read, e.write, e.timeout, summary.duration,
      latency:percentile(50), latency:percentile(99), latency.max, table.concat(parts, " ")))
end
