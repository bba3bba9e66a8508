-- Shared prelude, prepended to every script by redis_scripts.py (Redis has no include).
--
-- KEYS, the same for every per-drop script (all share the hash tag {drop_id}):
--   1 meta    HASH  accepting, drop                 (missing => drop not loaded)
--   2 rem     HASH  sku -> units still holdable
--   3 held    HASH  sku -> units in active/paying holds
--   4 lim     HASH  sku -> per-buyer limit          (no field => no limit)
--   5 paused  HASH  sku -> "1" when paused
--   6 used    HASH  buyer.."\31"..sku -> units in live holds + converted + taken
--   7 idem    HASH  buyer.."\31"..key -> hold id
--   8 holds   ZSET  hold id -> forget-at (+inf while live; terminal: at + retention)
--   9 exp     ZSET  hold id -> expires_at (live holds only)
--  10 events  STREAM  field "e" = {"type","at","hold"} JSON
--  11 hold    HASH  one hold (scripts about one hold)
-- Other holds' keys are derived from the same prefix ("<prefix>:{drop}:h:<id>"), so
-- they live in the same cluster slot.
-- Replies: {"ok", ...} or {"err", code, args...}; redis_engine.py maps the codes.
--
-- meta's "node" field is the node that loaded the drop (CLUSTER MYID on Redis Cluster,
-- "" on one server). A drop loaded by another node is not loaded here: after a failover
-- the promoted replica may lack the last writes, so the drop is rebuilt from the ledger.

local K_META, K_REM, K_HELD, K_LIM, K_PAUSED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local K_USED, K_IDEM, K_HOLDS, K_EXP, K_EVENTS = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local BASE = string.sub(K_META, 1, -5) -- strip "meta"
local SEP = "\31"

local function hold_key(id)
  return BASE .. "h:" .. id
end

local function fmt(x)
  return string.format("%.17g", x)
end

local function loaded()
  local node = redis.call("HGET", K_META, "node")
  if node then
    return node == "" or node == redis.call("CLUSTER", "MYID")
  end
  return redis.call("EXISTS", K_META) == 1 -- not loaded, or loaded before the marker
end

-- The node id to record at load time: CLUSTER MYID, or "" outside a cluster.
local function this_node()
  local id = redis.pcall("CLUSTER", "MYID")
  if type(id) == "string" then
    return id
  end
  return ""
end

-- The hold's JSON snapshot, built by hand so times keep their full precision
-- (cjson would round them to 14 digits).
local function hold_json(hk)
  local h = redis.call("HMGET", hk, "id", "drop", "buyer", "items", "units", "status",
    "created_at", "expires_at", "extended", "idem", "fp", "attr")
  local idem = "null"
  if h[10] then
    idem = cjson.encode(h[10])
  end
  local extended = "false"
  if h[9] == "1" then
    extended = "true"
  end
  return '{"id":' .. cjson.encode(h[1]) .. ',"drop_id":' .. cjson.encode(h[2])
    .. ',"buyer_id":' .. cjson.encode(h[3]) .. ',"items":' .. h[4]
    .. ',"units":' .. h[5] .. ',"status":"' .. h[6] .. '","created_at":' .. h[7]
    .. ',"expires_at":' .. h[8] .. ',"extended":' .. extended
    .. ',"idempotency_key":' .. idem .. ',"fingerprint":' .. cjson.encode(h[11])
    .. ',"attribution":' .. h[12] .. '}'
end

-- Append an event in the same atomic step as the change; bounded at max_events,
-- the number of dropped (trimmed) events is counted next to the stream.
local function journal(etype, at, hjson, max_events)
  redis.call("XADD", K_EVENTS, "*", "e",
    '{"type":"' .. etype .. '","at":' .. at .. ',"hold":' .. hjson .. '}')
  local trimmed = redis.call("XTRIM", K_EVENTS, "MAXLEN", max_events)
  if trimmed > 0 then
    redis.call("INCRBY", BASE .. "events_dropped", trimmed)
  end
end

-- Move a live hold to a terminal status: counters, buyer usage, expiry index,
-- retention (forget-at score and a Redis TTL as a safety net), journal.
-- cfg = {retention_s, ttl_ms, max_events}
local function finish(hk, id, status, now, give_back, cfg)
  local units = cjson.decode(redis.call("HGET", hk, "units"))
  local buyer = redis.call("HGET", hk, "buyer")
  for sku, q in pairs(units) do
    redis.call("HINCRBY", K_HELD, sku, -q)
    if give_back then
      if redis.call("HEXISTS", K_REM, sku) == 1 then
        redis.call("HINCRBY", K_REM, sku, q)
      end
      redis.call("HINCRBY", BASE .. "tk", sku, -q) -- units taken, for access windows
      local field = buyer .. SEP .. sku
      if redis.call("HINCRBY", K_USED, field, -q) <= 0 then
        redis.call("HDEL", K_USED, field)
      end
    end
  end
  redis.call("HSET", hk, "status", status)
  redis.call("ZREM", K_EXP, id)
  redis.call("ZADD", K_HOLDS, fmt(tonumber(now) + cfg[1]), id)
  redis.call("PEXPIRE", hk, cfg[2])
  local json = hold_json(hk)
  journal("hold." .. status, now, json, cfg[3])
  return json
end

-- nil when the hold still owns its units; otherwise the error reply. A hold past its
-- expiry is expired on the spot (even if no sweeper ran yet).
local function check_live(hk, id, now, cfg)
  -- a hold of a drop not loaded here belongs to lost state (failover): not found
  if redis.call("EXISTS", hk) == 0 or not loaded() then
    return { "err", "hold_not_found", id }
  end
  local status = redis.call("HGET", hk, "status")
  if status == "expired" then
    return { "err", "hold_expired", id }
  end
  if status ~= "active" and status ~= "paying" then
    return { "err", "hold_not_active", id, status }
  end
  if tonumber(now) >= tonumber(redis.call("HGET", hk, "expires_at")) then
    finish(hk, id, "expired", now, true, cfg)
    return { "err", "hold_expired", id }
  end
  return nil
end

local function wipe_drop()
  local ids = redis.call("ZRANGE", K_HOLDS, 0, -1)
  for _, id in ipairs(ids) do
    redis.call("DEL", hold_key(id))
  end
  redis.call("DEL", K_META, K_REM, K_HELD, K_LIM, K_PAUSED, K_USED, K_IDEM, K_HOLDS, K_EXP)
  redis.call("DEL", BASE .. "tk", BASE .. "rl", BASE .. "rc") -- access (_access.lua)
end
