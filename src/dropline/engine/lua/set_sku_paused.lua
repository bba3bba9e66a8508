-- ARGV: sku, paused ("1"|"0").
if not loaded() then
  return { "err", "not_loaded" }
end
local sku = ARGV[1]
if redis.call("HEXISTS", K_REM, sku) == 0 then
  return { "err", "offer_not_found", sku }
end
if ARGV[2] == "1" then
  redis.call("HSET", K_PAUSED, sku, "1")
else
  redis.call("HDEL", K_PAUSED, sku)
end
return { "ok" }
