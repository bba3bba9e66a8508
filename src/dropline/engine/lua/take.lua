-- take: units outside any hold, all or none, ignoring limits and pauses.
-- ARGV: buyer, n, then n x (sku, units). {"ok", 1|0}.
if not loaded() then
  return { "err", "not_loaded" }
end
local buyer, n = ARGV[1], tonumber(ARGV[2])
for j = 1, n do
  local rem = tonumber(redis.call("HGET", K_REM, ARGV[1 + 2 * j]))
  if rem == nil or rem < tonumber(ARGV[2 + 2 * j]) then
    return { "ok", 0 }
  end
end
for j = 1, n do
  local sku, q = ARGV[1 + 2 * j], ARGV[2 + 2 * j]
  redis.call("HINCRBY", K_REM, sku, -q)
  redis.call("HINCRBY", BASE .. "tk", sku, q)
  redis.call("HINCRBY", K_USED, buyer .. SEP .. sku, q)
end
return { "ok", 1 }
