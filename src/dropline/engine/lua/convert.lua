-- convert. KEYS[11] = the hold. ARGV: hold_id, now, retention_s, ttl_ms, max_events.
-- {"ok", json} when converted (or already was); {"none"} when the hold no longer owns
-- its units (unknown, released, expired - possibly just now - or drop not loaded).
local hk, id, now = KEYS[11], ARGV[1], ARGV[2]
local cfg = { tonumber(ARGV[3]), ARGV[4], ARGV[5] }
if redis.call("EXISTS", hk) == 0 or not loaded() then
  return { "none" }
end
local status = redis.call("HGET", hk, "status")
if status == "converted" then
  return { "ok", hold_json(hk) }
end
if status ~= "active" and status ~= "paying" then
  return { "none" }
end
if tonumber(now) >= tonumber(redis.call("HGET", hk, "expires_at")) then
  finish(hk, id, "expired", now, true, cfg)
  return { "none" }
end
return { "ok", finish(hk, id, "converted", now, false, cfg) }
