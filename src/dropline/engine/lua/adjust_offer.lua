-- ARGV: sku, delta, limit ("" = no limit), buyer ("" = none). Remaining never goes
-- below zero; a new SKU is added unpaused. With a buyer, the delta units were theirs
-- (a cancelled order): their usage of the SKU shrinks by delta, never below zero.
if not loaded() then
  return { "err", "not_loaded" }
end
local sku, delta, lim, buyer = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local rem = tonumber(redis.call("HGET", K_REM, sku))
if rem == nil then
  redis.call("HSET", K_HELD, sku, 0)
  rem = 0
end
redis.call("HSET", K_REM, sku, math.max(0, rem + delta))
if lim == "" then
  redis.call("HDEL", K_LIM, sku)
else
  redis.call("HSET", K_LIM, sku, lim)
end
if buyer ~= "" and delta > 0 then
  if redis.call("HINCRBY", BASE .. "tk", sku, -delta) < 0 then
    redis.call("HSET", BASE .. "tk", sku, 0)
  end
  local field = buyer .. SEP .. sku
  if redis.call("HINCRBY", K_USED, field, -delta) <= 0 then
    redis.call("HDEL", K_USED, field)
  end
end
return { "ok" }
