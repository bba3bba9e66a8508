-- Full checkout on the peer (Medusa v2's store API) for `make bench --peer medusa`:
-- the same closed loop as checkout.lua, with Medusa's steps chained per connection:
--
--   1. POST /store/carts                        region, email, address and the line item
--   2. POST /store/carts/{id}/shipping-methods  the seeded flat-rate option
--   3. POST /store/payment-collections          for the cart
--   4. POST /store/payment-collections/{id}/payment-sessions   pp_system_default
--   5. POST /store/carts/{id}/complete          -> {"type":"order", ...}
--
-- The cart is created with its item (one request fewer than create + add line item): the
-- peer gets its shortest documented path. A failed step ends that buyer's attempt; the
-- next request starts a new cart. Run with as many threads as connections (-tN -cN), so
-- each thread owns one connection and carries its cart's ids from response to request.
--
-- wrk -tN -cN ... -s medusa_checkout.lua URL -- DATAFILE
-- DATAFILE returns {key=..., region=..., variant=..., option=..., provider=...}.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  cfg = dofile(args[1])
  -- "ok" is orders, as in checkout.lua; "holds" is carts created (the peer's reservation
  -- is taken at completion, not at cart creation: the count is for the log only).
  holds, orders, failed, fail_status, n = 0, 0, 0, 0, 0
  step, cart, collection = 1, nil, nil
  headers = {
    ["Content-Type"] = "application/json",
    ["x-publishable-api-key"] = cfg.key,
  }
end

function request()
  if step == 1 then
    n = n + 1
    return wrk.format("POST", "/store/carts", headers, string.format(
      '{"region_id":"%s","email":"buyer-%d-%d@example.com","shipping_address":' ..
      '{"first_name":"Bench","last_name":"Buyer","address_1":"1 Main St","city":"Austin",' ..
      '"country_code":"us","postal_code":"78701"},"items":[{"variant_id":"%s","quantity":1}]}',
      cfg.region, tid or 0, n, cfg.variant))
  elseif step == 2 then
    return wrk.format("POST", "/store/carts/" .. cart .. "/shipping-methods", headers,
      '{"option_id":"' .. cfg.option .. '"}')
  elseif step == 3 then
    return wrk.format("POST", "/store/payment-collections", headers,
      '{"cart_id":"' .. cart .. '"}')
  elseif step == 4 then
    return wrk.format("POST", "/store/payment-collections/" .. collection .. "/payment-sessions",
      headers, '{"provider_id":"' .. cfg.provider .. '"}')
  end
  return wrk.format("POST", "/store/carts/" .. cart .. "/complete", headers, "{}")
end

local function fail(status)
  failed = failed + 1
  fail_status = status
  step = 1
end

function response(status, hdrs, body)
  if status < 200 or status >= 300 then return fail(status) end
  if step == 1 then
    cart = string.match(body, '"cart":{"id":"(cart_[^"]+)"')
    if not cart then return fail(status) end
    holds = holds + 1
    step = 2
  elseif step == 2 then
    step = 3
  elseif step == 3 then
    collection = string.match(body, '"id":"(pay_col_[^"]+)"')
    if not collection then return fail(status) end
    step = 4
  elseif step == 4 then
    step = 5
  else
    -- a completion that could not place the order answers 200 {"type":"cart","error":...}
    if string.find(body, '"type":"order"', 1, true) then orders = orders + 1 else fail(409) end
    step = 1
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
