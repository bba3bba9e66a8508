-- expire_due for one drop. ARGV: now, limit, retention_s, ttl_ms, max_events, gc_limit.
-- Returns the JSON of every hold it expired. Each hold leaves the expiry index in the
-- same step it expires, so concurrent sweepers never expire it twice. Then forgets up
-- to gc_limit terminal holds whose retention has passed (and their idempotency keys).
if not loaded() then
  return {}
end
local now, limit = ARGV[1], tonumber(ARGV[2])
local cfg = { tonumber(ARGV[3]), ARGV[4], ARGV[5] }
local out = {}
local due = redis.call("ZRANGEBYSCORE", K_EXP, "-inf", now, "LIMIT", 0, limit)
for _, id in ipairs(due) do
  local hk = hold_key(id)
  local status = redis.call("HGET", hk, "status")
  if status == "active" or status == "paying" then
    out[#out + 1] = finish(hk, id, "expired", now, true, cfg)
  else
    redis.call("ZREM", K_EXP, id)
  end
end
local gone = redis.call("ZRANGEBYSCORE", K_HOLDS, "-inf", now, "LIMIT", 0, tonumber(ARGV[6]))
for _, id in ipairs(gone) do
  local hk = hold_key(id)
  local f = redis.call("HMGET", hk, "buyer", "idem")
  if f[1] and f[2] then
    local field = f[1] .. SEP .. f[2]
    if redis.call("HGET", K_IDEM, field) == id then
      redis.call("HDEL", K_IDEM, field)
    end
  end
  redis.call("DEL", hk)
  redis.call("ZREM", K_HOLDS, id)
end
return out
