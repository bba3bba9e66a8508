-- release. KEYS[11] = the hold. ARGV: hold_id, now, retention_s, ttl_ms, max_events.
local hk, id, now = KEYS[11], ARGV[1], ARGV[2]
local cfg = { tonumber(ARGV[3]), ARGV[4], ARGV[5] }
local err = check_live(hk, id, now, cfg)
if err then
  return err
end
return { "ok", finish(hk, id, "released", now, true, cfg) }
