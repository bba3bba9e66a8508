-- Full checkout for `make bench`: hold -> checkout (sandbox card) -> order, chained.
--
-- Run with as many threads as connections (-tN -cN): each thread then owns one
-- connection, so its request()/response() calls strictly alternate and the thread can
-- carry the hold id from the hold's response into the checkout request.
--
-- wrk -tN -cN ... -s checkout.lua URL -- DATAFILE
-- DATAFILE returns {hold_path=..., body=..., tokens=..., key=..., card=...}.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  cfg = dofile(args[1])
  holds, orders, failed, fail_status = 0, 0, 0, 0
  hold_id = nil
  headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. cfg.key,
    ["X-Buyer-Token"] = cfg.tokens[(tid or 0) % #cfg.tokens + 1],
  }
end

function request()
  if hold_id then
    return wrk.format("POST", "/v1/checkouts", headers,
      '{"hold_id":"' .. hold_id .. '","payment_method":"' .. cfg.card .. '"}')
  end
  return wrk.format("POST", cfg.hold_path, headers, cfg.body)
end

function response(status, hdrs, body)
  if hold_id then
    hold_id = nil
    if status == 201 then orders = orders + 1 else failed = failed + 1; fail_status = status end
  elseif status == 201 then
    holds = holds + 1
    hold_id = string.match(body, '"id":"(hld_[^"]+)"')
  else
    failed = failed + 1
    fail_status = status
  end
end

function done(summary, latency, requests)
  local h, o, f, fs = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    h = h + t:get("holds")
    o = o + t:get("orders")
    f = f + t:get("failed")
    if t:get("fail_status") ~= 0 then fs = t:get("fail_status") end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"ok":%d,"holds":%d,"orders":%d,' ..
    '"other":%d,"other_status":%d,"conflict":0,"marked":0,"socket_errors":%d,' ..
    '"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"mean_us":%.1f,"max_us":%.1f}\n',
    summary.requests, summary.duration, o, h, o, f, fs,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
