-- ensure_drop / reset_drop. ARGV: mode ("ensure"|"reset"), drop_id, accepting ("1"|"0"),
-- n_offers, then n_offers x (sku, remaining, limit or "", paused "1"|"0"),
-- n_taken, then n_taken x (buyer, sku, units), then the access policy JSON ("" for
-- none), the units sold per SKU (JSON object) and the waitlist gate per SKU (JSON
-- object, "armed" or "latched"). Returns 1 if it loaded, 0 if not.
local mode, drop_id = ARGV[1], ARGV[2]
if mode == "ensure" and loaded() then
  return 0
end
wipe_drop()
redis.call("HSET", K_META, "accepting", ARGV[3], "drop", drop_id, "node", this_node())
local n = tonumber(ARGV[4])
local i = 5
for _ = 1, n do
  local sku, rem, lim, paused = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  redis.call("HSET", K_REM, sku, rem)
  redis.call("HSET", K_HELD, sku, 0)
  if lim ~= "" then
    redis.call("HSET", K_LIM, sku, lim)
  end
  if paused == "1" then
    redis.call("HSET", K_PAUSED, sku, "1")
  end
  i = i + 4
end
local m = tonumber(ARGV[i])
i = i + 1
for _ = 1, m do
  redis.call("HINCRBY", K_USED, ARGV[i] .. SEP .. ARGV[i + 1], ARGV[i + 2])
  i = i + 3
end
if ARGV[i] and ARGV[i] ~= "" then
  redis.call("HSET", K_META, "access", ARGV[i])
end
if ARGV[i + 1] then
  for sku, q in pairs(cjson.decode(ARGV[i + 1])) do
    redis.call("HSET", BASE .. "tk", sku, q)
  end
end
if ARGV[i + 2] then
  for sku, gate in pairs(cjson.decode(ARGV[i + 2])) do
    redis.call("HSET", K_PAUSED, sku .. SEP .. "w", gate)
  end
end
return 1
