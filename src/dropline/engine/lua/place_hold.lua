-- place_hold. KEYS[11] = the new hold's key; KEYS[12], when given (not on Redis
-- Cluster, where it lives in another slot), the hold id -> drop pointer to set.
-- ARGV: 1 hold_id, 2 drop_id, 3 buyer, 4 has_key ("1"|"0"), 5 key, 6 fingerprint,
-- 7 items JSON, 8 units JSON, 9 attribution JSON, 10 created_at, 11 expires_at,
-- 12 max_events, 13 n, then n x (sku, units) in sorted SKU order, then claim ("1" for
-- a waitlist claim, which may take units behind a latched waitlist gate, else "0"),
-- then the pointer's TTL in seconds (used when KEYS[12] is given), the buyer's tiers
-- (JSON list), the client's address ("" when unknown) and the token's iat ("" when
-- unknown), for the drop's access rules (_access.lua).
-- The waitlist gate of a SKU is the field sku..SEP.."w" of the paused hash ("armed" or
-- "latched"); an armed gate latches when this hold takes the SKU's last unit.
local hk, hold_id, drop_id, buyer = KEYS[11], ARGV[1], ARGV[2], ARGV[3]
local has_key, key, fp = ARGV[4] == "1", ARGV[5], ARGV[6]
if not loaded() then
  return { "err", "not_loaded" }
end
-- A resend of this very call (same hold id) answers with what the first one did.
if redis.call("EXISTS", hk) == 1 then
  return { "ok", hold_json(hk) }
end
if has_key then
  local prior = redis.call("HGET", K_IDEM, buyer .. SEP .. key)
  if prior then
    local pk = hold_key(prior)
    if redis.call("EXISTS", pk) == 1 then
      if redis.call("HGET", pk, "fp") ~= fp then
        return { "err", "idempotency_mismatch", key }
      end
      return { "ok", hold_json(pk) }
    end
  end
end
if redis.call("HGET", K_META, "accepting") ~= "1" then
  return { "err", "drop_closed", drop_id }
end
local n = tonumber(ARGV[13])
local skus, qty = {}, {}
for j = 1, n do
  skus[j] = ARGV[12 + 2 * j]
  qty[j] = tonumber(ARGV[13 + 2 * j])
end
local claim = ARGV[14 + 2 * n] == "1"
local policy = access_policy()
if policy then
  local refused = access_gate(policy, buyer, ARGV[16 + 2 * n], ARGV[17 + 2 * n],
    ARGV[18 + 2 * n], tonumber(ARGV[10]), skus, qty, claim)
  if refused then
    return refused
  end
end
for j = 1, n do
  if redis.call("HEXISTS", K_REM, skus[j]) == 0 then
    return { "err", "sku_not_found", skus[j] }
  end
  if redis.call("HGET", K_PAUSED, skus[j]) == "1" then
    return { "err", "sku_paused", skus[j] }
  end
end
local gates = {}
for j = 1, n do
  gates[j] = redis.call("HGET", K_PAUSED, skus[j] .. SEP .. "w")
end
for j = 1, n do
  local rem = tonumber(redis.call("HGET", K_REM, skus[j]))
  if rem <= 0 or (gates[j] == "latched" and not claim) then
    return { "err", "sold_out", skus[j] }
  end
  if rem < qty[j] then
    return { "err", "insufficient_stock", skus[j], rem }
  end
end
for j = 1, n do
  local lim = redis.call("HGET", K_LIM, skus[j])
  if lim then
    local already = tonumber(redis.call("HGET", K_USED, buyer .. SEP .. skus[j]) or "0")
    if already + qty[j] > tonumber(lim) then
      return { "err", "limit_exceeded", skus[j], lim, already }
    end
  end
end
for j = 1, n do
  local left = redis.call("HINCRBY", K_REM, skus[j], -qty[j])
  if left == 0 and gates[j] then
    redis.call("HSET", K_PAUSED, skus[j] .. SEP .. "w", "latched")
  end
  redis.call("HINCRBY", K_HELD, skus[j], qty[j])
  redis.call("HINCRBY", K_TAKEN, skus[j], qty[j])
  redis.call("HINCRBY", K_USED, buyer .. SEP .. skus[j], qty[j])
end
redis.call("HSET", hk, "id", hold_id, "drop", drop_id, "buyer", buyer, "items", ARGV[7],
  "units", ARGV[8], "status", "active", "created_at", ARGV[10], "expires_at", ARGV[11],
  "extended", "0", "fp", fp, "attr", ARGV[9])
if has_key then
  redis.call("HSET", hk, "idem", key)
  redis.call("HSET", K_IDEM, buyer .. SEP .. key, hold_id)
end
redis.call("ZADD", K_EXP, ARGV[11], hold_id)
redis.call("ZADD", K_HOLDS, "+inf", hold_id)
if KEYS[12] then
  redis.call("SET", KEYS[12], drop_id, "EX", ARGV[15 + 2 * n])
end
local json = hold_json(hk)
journal("hold.placed", ARGV[10], json, ARGV[12])
return { "ok", json }
