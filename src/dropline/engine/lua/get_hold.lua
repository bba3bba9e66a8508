-- get_hold (read-only). KEYS[11] = the hold. {"ok", json} or {"none"} (also for a hold
-- of a drop another node loaded: lost in a failover).
if redis.call("EXISTS", KEYS[11]) == 0 or not loaded() then
  return { "none" }
end
return { "ok", hold_json(KEYS[11]) }
