-- end_holds: a drop ending, one batch at a time. ARGV: now, limit, retention_s, ttl_ms,
-- max_events. Stops new holds, then finishes up to `limit` live holds, each with its
-- event: expired if its time has passed, else released. Returns {looked at, finished};
-- the caller repeats while a whole batch was looked at, then forgets the drop.
if not loaded() then
  return { 0, 0 }
end
redis.call("HSET", K_META, "accepting", "0")
local now, limit = ARGV[1], tonumber(ARGV[2])
local cfg = { tonumber(ARGV[3]), ARGV[4], ARGV[5] }
local ids = redis.call("ZRANGE", K_EXP, 0, limit - 1)
local finished = 0
for _, id in ipairs(ids) do
  local hk = hold_key(id)
  local status = redis.call("HGET", hk, "status")
  if status == "active" or status == "paying" then
    local final = "released"
    if tonumber(now) >= tonumber(redis.call("HGET", hk, "expires_at")) then
      final = "expired"
    end
    finish(hk, id, final, now, true, cfg)
    finished = finished + 1
  else
    redis.call("ZREM", K_EXP, id)
  end
end
return { #ids, finished }
