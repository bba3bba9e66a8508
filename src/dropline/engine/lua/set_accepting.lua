-- ARGV: accepting ("1"|"0").
if not loaded() then
  return { "err", "not_loaded" }
end
redis.call("HSET", K_META, "accepting", ARGV[1])
return { "ok" }
