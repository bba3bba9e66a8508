-- POST load for `make bench`: cycles through pre-built bodies and pre-minted buyer
-- tokens, counts responses by class, and prints one JSON line from done().
--
-- wrk ... -s post.lua URL -- DATAFILE
-- DATAFILE is a Lua chunk returning {paths=..., bodies=..., tokens=..., key=..., mark=...}:
-- request n uses paths[n % #paths], bodies[n % #bodies] and tokens[n % #tokens]; a 2xx
-- whose body contains `mark` is counted in `marked` (e.g. bundle wins), a 409 whose body
-- contains `conflict_mark` in `conflict_marked` (e.g. the refusal's code, `sold_out`).

local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  cfg = dofile(args[1])
  ok, conflict, other, marked, other_status, conflict_marked = 0, 0, 0, 0, 0, 0
  counter = 1 + (tid or 0) * 7919
  headers = { ["Content-Type"] = "application/json" }
  if cfg.key then headers["Authorization"] = "Bearer " .. cfg.key end
end

function request()
  counter = counter + 1
  if cfg.tokens then headers["X-Buyer-Token"] = cfg.tokens[counter % #cfg.tokens + 1] end
  return wrk.format("POST", cfg.paths[counter % #cfg.paths + 1], headers,
                    cfg.bodies[counter % #cfg.bodies + 1])
end

function response(status, hdrs, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
    if cfg.mark and body and string.find(body, cfg.mark, 1, true) then marked = marked + 1 end
  elseif status == 409 then
    conflict = conflict + 1
    if cfg.conflict_mark and body and string.find(body, cfg.conflict_mark, 1, true) then
      conflict_marked = conflict_marked + 1
    end
  else
    other = other + 1
    other_status = status
  end
end

function done(summary, latency, requests)
  local t_ok, t_conflict, t_other, t_marked, t_cmarked, last = 0, 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    t_ok = t_ok + t:get("ok")
    t_conflict = t_conflict + t:get("conflict")
    t_other = t_other + t:get("other")
    t_marked = t_marked + t:get("marked")
    t_cmarked = t_cmarked + t:get("conflict_marked")
    if t:get("other_status") ~= 0 then last = t:get("other_status") end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"ok":%d,"conflict":%d,"other":%d,' ..
    '"other_status":%d,"marked":%d,"conflict_marked":%d,"socket_errors":%d,"p50_us":%.1f,"p90_us":%.1f,' ..
    '"p99_us":%.1f,"mean_us":%.1f,"max_us":%.1f}\n',
    summary.requests, summary.duration, t_ok, t_conflict, t_other, last, t_marked, t_cmarked,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
