-- ARGV: sku, delta, limit ("" = no limit). Remaining never goes below zero; a new SKU
-- is added unpaused.
if not loaded() then
  return { "err", "not_loaded" }
end
local sku, delta, lim = ARGV[1], tonumber(ARGV[2]), ARGV[3]
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
return { "ok" }
