-- Shared by the wrk scripts of benchmarks/server_load: counts answers by kind in every wrk
-- thread and prints one JSON line at the end ("LOAD {...}") that benchmarks/server_load/run reads.
-- A 429 is "clean" when it has an integer Retry-After >= 1 and the JSON error body
-- (code rate_limited or plan_limit_exceeded); anything else that is not 2xx is an error.
-- The bearer token comes from the environment (LOAD_TOKEN).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

ok, limited, bad_limited, other, first_other = 0, 0, 0, 0, ""

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  elseif status == 429 then
    limited = limited + 1
    local ra = headers["Retry-After"] or headers["retry-after"]
    local clean = ra ~= nil and string.match(ra, "^%d+$") ~= nil and tonumber(ra) >= 1 and
      (string.find(body, '"code":"rate_limited"', 1, true) or
       string.find(body, '"code":"plan_limit_exceeded"', 1, true))
    if not clean then bad_limited = bad_limited + 1 end
  else
    other = other + 1
    if first_other == "" then first_other = tostring(status) .. " " .. string.sub(body, 1, 160) end
  end
end

function auth_headers()
  local token = os.getenv("LOAD_TOKEN")
  if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
end

function done(summary, latency, requests)
  local t = {ok = 0, limited = 0, bad_limited = 0, other = 0, first_other = ""}
  for _, thread in ipairs(threads) do
    t.ok = t.ok + thread:get("ok")
    t.limited = t.limited + thread:get("limited")
    t.bad_limited = t.bad_limited + thread:get("bad_limited")
    t.other = t.other + thread:get("other")
    local f = thread:get("first_other")
    if t.first_other == "" and f ~= "" then t.first_other = f end
  end
  local e = summary.errors
  io.write(string.format(
    'LOAD {"requests": %d, "seconds": %.3f, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"ok": %d, "limited": %d, "bad_limited": %d, "other": %d, "socket_errors": %d, ' ..
    '"first_other": "%s"}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    latency.max, t.ok, t.limited, t.bad_limited, t.other,
    e.connect + e.read + e.write + e.timeout,
    string.gsub(string.gsub(t.first_other, '\\', '\\\\'), '"', '\\"')))
end
