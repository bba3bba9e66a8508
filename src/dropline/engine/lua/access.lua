-- access: a drop's access rules outside a hold (_access.lua).
-- ARGV[1] = "set": ARGV[2] the policy JSON ("" for none); {"ok"}.
-- ARGV[1] = "rate": ARGV[2] action, 3 buyer, 4 client, 5 now, 6 the token's iat ("" when
-- unknown); {"ok"} or the refusal (token_too_old, rate_limited).
-- ARGV[1] = "stats": {"ok", code, n, ...} (empty for a drop not loaded here).
-- ARGV[1] = "note": ARGV[2] a problem code to count; {"ok"}.
local mode = ARGV[1]
if mode == "stats" then
  if not loaded() then
    return { "ok" }
  end
  local out = { "ok" }
  for _, v in ipairs(redis.call("HGETALL", K_RC)) do
    out[#out + 1] = v
  end
  return out
end
if not loaded() then
  return { "err", "not_loaded" }
end
if mode == "set" then
  if ARGV[2] == "" then
    redis.call("HDEL", K_META, "access")
  else
    redis.call("HSET", K_META, "access", ARGV[2])
  end
elseif mode == "rate" then
  local policy = access_policy()
  if policy then
    local old = token_refusal(policy, ARGV[6], tonumber(ARGV[5]))
    if old then
      return old
    end
    local retry = take_tokens(policy, ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]))
    if retry then
      refuse("rate_limited")
      return { "err", "rate_limited", retry }
    end
  end
elseif mode == "note" then
  refuse(ARGV[2])
end
return { "ok" }
