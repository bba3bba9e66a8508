-- Access rules, prepended after _lib.lua: a drop's access windows and rate limits,
-- the Lua translation of domain/live/access.py (decide) and domain/live/rate_limits.py
-- (take), which the engine tests hold both engines to.
--
-- Keys derived from the drop's prefix (same hash tag, same cluster slot):
--   tk  HASH  sku -> units taken (live holds + paid + late takes): windows count these
--   rl  HASH  action.."b"|"a"..SEP..buyer|address -> "tokens:at" (token buckets)
--   rc  HASH  problem code -> refusals (the monitor's counts)
-- The policy itself is meta's "access" field: {"w": [{"s", "t", "a"?}], "l": {...}}.

local K_TAKEN, K_RL, K_RC = BASE .. "tk", BASE .. "rl", BASE .. "rc"

local function access_policy()
  local raw = redis.call("HGET", K_META, "access")
  if not raw or raw == "" then
    return nil
  end
  return cjson.decode(raw)
end

local function refuse(code)
  redis.call("HINCRBY", K_RC, code, 1)
end

-- The error reply when the buyer token (issued at iat, "" unknown) is older than the
-- drop's max age (rate_limits.token_too_old), else nil.
local function token_refusal(policy, iat, now)
  local age = tonumber(policy.l.age) or 0
  if age > 0 and (iat == "" or now - tonumber(iat) > age) then
    refuse("token_too_old")
    return { "err", "token_too_old", age }
  end
  return nil
end

-- One attempt of action ("h" holds, "c" checkouts) against the buyer's and the
-- address's buckets: nil when a token was taken from each, else the whole seconds
-- (at least 1) until each empty bucket has a token again; nothing is taken then.
local function take_tokens(policy, action, buyer, client, now)
  local rb, ra = tonumber(policy.l[action .. "b"]) or 0, tonumber(policy.l[action .. "a"]) or 0
  local fields, rates = {}, {}
  if rb > 0 then
    fields[#fields + 1] = action .. "b" .. SEP .. buyer
    rates[#rates + 1] = rb
  end
  if ra > 0 and client ~= "" then
    fields[#fields + 1] = action .. "a" .. SEP .. client
    rates[#rates + 1] = ra
  end
  if #fields == 0 then
    return nil
  end
  local levels, wait = {}, 0
  for i = 1, #fields do
    local level = rates[i]
    local raw = redis.call("HGET", K_RL, fields[i])
    if raw then
      local sep = string.find(raw, ":", 1, true)
      local tokens, at = tonumber(string.sub(raw, 1, sep - 1)), tonumber(string.sub(raw, sep + 1))
      level = math.min(rates[i], tokens + math.max(0, now - at) * rates[i] / 60)
    end
    levels[i] = level
    local w = (1 - level) * 60 / rates[i]
    if w > wait then
      wait = w
    end
  end
  if wait > 0 then
    return math.max(1, math.ceil(wait))
  end
  for i = 1, #fields do
    redis.call("HSET", K_RL, fields[i], fmt(levels[i] - 1) .. ":" .. fmt(now))
  end
  return nil
end

local function admits(w, tiers)
  if #w.t == 0 then
    return true
  end
  for _, t in ipairs(w.t) do
    if t == "*" and next(tiers) ~= nil then
      return true
    end
    if tiers[t] then
      return true
    end
  end
  return false
end

-- The hold's access check: rate limits, then windows. nil to go on, else the error
-- reply. tiers_json is the buyer's tiers (a JSON list), iat the token's issue time
-- ("" unknown); skus/qty the request. A waitlist claim (claim true) skips the token
-- age and the rate limits; the windows hold it like any hold, with the tiers the buyer
-- joined the line with (access.decide).
local function access_gate(policy, buyer, tiers_json, client, iat, now, skus, qty, claim)
  if not claim then
    local old = token_refusal(policy, iat, now)
    if old then
      return old
    end
    local retry = take_tokens(policy, "h", buyer, client, now)
    if retry then
      refuse("rate_limited")
      return { "err", "rate_limited", retry }
    end
  end
  local windows = policy.w
  if #windows == 0 then
    return nil
  end
  local tiers = {}
  for _, t in ipairs(cjson.decode(tiers_json)) do
    tiers[t] = true
  end
  local first, next_at, everything, released = nil, nil, false, {}
  for _, w in ipairs(windows) do
    local s = tonumber(w.s)
    if admits(w, tiers) and (first == nil or s < first) then
      first = s
    end
    if s > now then
      if next_at == nil or s < next_at then
        next_at = s
      end
    elseif w.a == nil then
      everything = true
    else
      for sku, n in pairs(w.a) do
        released[sku] = (released[sku] or 0) + n
      end
    end
  end
  if first == nil or now < first then
    refuse("window_closed")
    return { "err", "window_closed", first and fmt(first) or "" }
  end
  if everything then
    return nil
  end
  for j = 1, #skus do
    local rem = tonumber(redis.call("HGET", K_REM, skus[j]) or "0")
    local taken = tonumber(redis.call("HGET", K_TAKEN, skus[j]) or "0")
    local left = math.max(0, (released[skus[j]] or 0) - taken)
    if left < qty[j] and left < rem then
      refuse("window_sold_out")
      return { "err", "window_sold_out", skus[j], left, next_at and fmt(next_at) or "" }
    end
  end
  return nil
end
