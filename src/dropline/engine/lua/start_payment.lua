-- start_payment. KEYS[11] = the hold. ARGV: hold_id, now, cap_s, retention_s, ttl_ms,
-- max_events. active -> paying with the expiry extended once (paying_deadline in
-- domain/holds.py, recomputed here with the same float arithmetic).
local hk, id, now, cap = KEYS[11], ARGV[1], ARGV[2], tonumber(ARGV[3])
local cfg = { tonumber(ARGV[4]), ARGV[5], ARGV[6] }
local err = check_live(hk, id, now, cfg)
if err then
  return err
end
if redis.call("HGET", hk, "status") == "paying" then
  return { "ok", hold_json(hk) }
end
local expires = tonumber(redis.call("HGET", hk, "expires_at"))
if redis.call("HGET", hk, "extended") ~= "1" then
  local created = tonumber(redis.call("HGET", hk, "created_at"))
  local deadline = math.max(expires, math.min(tonumber(now) + cap, created + cap))
  if deadline ~= expires then
    redis.call("HSET", hk, "expires_at", fmt(deadline))
    redis.call("ZADD", K_EXP, fmt(deadline), id)
  end
end
redis.call("HSET", hk, "status", "paying", "extended", "1")
local json = hold_json(hk)
journal("hold.paying", now, json, cfg[3])
return { "ok", json }
