-- take: units outside any hold (a late payment), all or none, ignoring pauses but not
-- the per-buyer limits (checked as place_hold checks them, in sorted SKU order) nor a
-- latched waitlist gate (its units wait for the line: a late payment finds none).
-- ARGV: buyer, n, then n x (sku, units) in sorted SKU order. {"ok", 1|0}, or
-- {"err", "limit_exceeded", sku, limit, already}.
if not loaded() then
  return { "err", "not_loaded" }
end
local buyer, n = ARGV[1], tonumber(ARGV[2])
for j = 1, n do
  local rem = tonumber(redis.call("HGET", K_REM, ARGV[1 + 2 * j]))
  if rem == nil or rem < tonumber(ARGV[2 + 2 * j]) then
    return { "ok", 0 }
  end
  if redis.call("HGET", K_PAUSED, ARGV[1 + 2 * j] .. SEP .. "w") == "latched" then
    return { "ok", 0 }
  end
end
for j = 1, n do
  local sku = ARGV[1 + 2 * j]
  local lim = redis.call("HGET", K_LIM, sku)
  if lim then
    local already = tonumber(redis.call("HGET", K_USED, buyer .. SEP .. sku) or "0")
    if already + tonumber(ARGV[2 + 2 * j]) > tonumber(lim) then
      return { "err", "limit_exceeded", sku, lim, already }
    end
  end
end
for j = 1, n do
  local sku, q = ARGV[1 + 2 * j], ARGV[2 + 2 * j]
  if redis.call("HINCRBY", K_REM, sku, -q) == 0
    and redis.call("HGET", K_PAUSED, sku .. SEP .. "w") == "armed" then
    redis.call("HSET", K_PAUSED, sku .. SEP .. "w", "latched")  -- as a hold's last unit
  end
  redis.call("HINCRBY", BASE .. "tk", sku, q)
  redis.call("HINCRBY", K_USED, buyer .. SEP .. sku, q)
end
return { "ok", 1 }
