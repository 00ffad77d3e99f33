-- collect.lua - wrk script of make bench: POST /collect bodies with BENCH_EVENTS events
-- (default 1), and a summary line for bench/run to parse.
--   BENCH_EVENTS=100 wrk -t2 -c64 -d15s --latency -s bench/collect.lua http://host:port/collect
local n = tonumber(os.getenv("BENCH_EVENTS") or "1")
local events = {}
for i = 1, n do
   events[i] = string.format('{"event_type":"product_view","event_time":1750867000000,' ..
      '"user_id":"user_%d","product_id":"prod_%d","price":19.9}', i, i)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "make-bench/1"
if os.getenv("BENCH_WRITE_KEY") then
   wrk.headers["X-Write-Key"] = os.getenv("BENCH_WRITE_KEY")
end
wrk.body = '{"events":[' .. table.concat(events, ",") ..
   '],"ctx":{"browser":"Firefox","device":"Desktop","version":"126.0"}}'

-- No request()/response() callbacks: wrk then sends its static request without running
-- Lua per request. errors.status counts the responses with a status above 399.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "bench: requests=%d ok=%d non2xx=%d connect=%d read=%d write=%d timeout=%d " ..
      "duration_us=%d p50_us=%d p99_us=%d mean_us=%.0f max_us=%d body_bytes=%d\n",
      summary.requests, summary.requests - e.status, e.status, e.connect, e.read, e.write,
      e.timeout, summary.duration, latency:percentile(50), latency:percentile(99),
      latency.mean, latency.max, #wrk.body))
end
