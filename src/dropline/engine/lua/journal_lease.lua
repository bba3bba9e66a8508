-- journal_lease: who drains the journal. KEYS[1] = the lease key (not a drop key: the
-- prelude's drop names are unused here). ARGV: owner, ttl_ms.
-- Granted (and extended) when free or already the owner's; 1 granted, 0 held by another.
local cur = redis.call("GET", KEYS[1])
if cur and cur ~= ARGV[1] then
  return 0
end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return 1
