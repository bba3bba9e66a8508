-- counts (read-only, one consistent view). {"ok", rem-flat, held-flat, paused-flat}.
if not loaded() then
  return { "err", "not_loaded" }
end
return { "ok", redis.call("HGETALL", K_REM), redis.call("HGETALL", K_HELD),
  redis.call("HGETALL", K_PAUSED) }
