-- set_waitlist_gate. ARGV: sku, mode ("off"|"arm"|"latch").
-- The gate is the field sku..SEP.."w" of the paused hash: "armed" latches when the last
-- unit is taken (place_hold.lua); "latched" lets only claim holds take the SKU's units.
-- Returns {"ok", remaining, state} with state "" (none), "armed" or "latched".
if not loaded() then
  return { "err", "not_loaded" }
end
local sku, mode = ARGV[1], ARGV[2]
local rem = redis.call("HGET", K_REM, sku)
if not rem then
  return { "err", "offer_not_found", sku }
end
local field = sku .. SEP .. "w"
local state = redis.call("HGET", K_PAUSED, field) or ""
if mode == "off" then
  redis.call("HDEL", K_PAUSED, field)
  state = ""
elseif mode == "latch" or tonumber(rem) <= 0 then
  state = "latched"
  redis.call("HSET", K_PAUSED, field, state)
elseif state ~= "latched" then
  state = "armed"
  redis.call("HSET", K_PAUSED, field, state)
end
return { "ok", tonumber(rem), state }
