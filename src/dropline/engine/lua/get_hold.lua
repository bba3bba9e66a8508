-- get_hold (read-only). KEYS[11] = the hold. {"ok", json} or {"none"}.
if redis.call("EXISTS", KEYS[11]) == 0 then
  return { "none" }
end
return { "ok", hold_json(KEYS[11]) }
