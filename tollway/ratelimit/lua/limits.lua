-- Tollway: test every check of one request and consume them all, or none, atomically.
-- KEYS: the keys of every check in order (a SLIDING check has two: current, previous).
-- ARGV[1] now_ms, ARGV[2] cost, ARGV[3] number of checks, ARGV[4] extra units wanted ahead,
-- ARGV[5] share, ARGV[6] min_room, then six values per check:
--   kind ("f" fixed counter, "s" sliding window, "g" GCRA), limit, interval_ms, burst,
--   reset_ms (when the window ends), expire_at_ms (when its counter may go; 0 = never).
-- An admitted request may also reserve up to `extra` units ahead for its caller to hand out
-- locally: at most 1/share of the room every check has left beyond this request, and only
-- where that room is at least min_room, so reservations never crowd a window near its limit.
-- Times are the caller's clock; expiries are set relative to it (PEXPIRE), so a Redis server
-- whose clock differs keeps counters exactly as long as the caller needs them.
-- Returns {allowed, reserved, a1, b1, a2, b2, ...}: allowed is 1 or 0, reserved the units
-- reserved ahead, (a, b) each check's state before the request: (count, 0),
-- (current, previous) or (tat, 0).
-- The formulas are those of tollway/ratelimit/memory.py:MemoryStorage.apply.
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local reserve = tonumber(ARGV[4])
local share = tonumber(ARGV[5])
local min_room = tonumber(ARGV[6])
local margin = 1000
local state_a, state_b, first_key = {}, {}, {}
local allowed = 1
local k = 1
for i = 1, n do
  local base = 6 + (i - 1) * 6
  local kind = ARGV[base + 1]
  local limit = tonumber(ARGV[base + 2])
  local interval = tonumber(ARGV[base + 3])
  local burst = tonumber(ARGV[base + 4])
  local reset = tonumber(ARGV[base + 5])
  first_key[i] = k
  local a = tonumber(redis.call("GET", KEYS[k]) or "0")
  local b = 0
  k = k + 1
  local room
  if kind == "s" then
    b = tonumber(redis.call("GET", KEYS[k]) or "0")
    k = k + 1
    room = math.floor((limit * interval - b * (reset - now) - (a + cost) * interval) / interval)
  elseif kind == "g" then
    room = math.floor((burst * interval - (math.max(a, now) - now) - cost * interval) / interval)
  else
    room = limit - a - cost
  end
  if room < 0 then allowed = 0 end
  if reserve > 0 then
    local ahead = 0
    if room >= min_room then ahead = math.floor(room / share) end
    if ahead < reserve then reserve = ahead end
  end
  state_a[i], state_b[i] = a, b
end
if allowed == 0 then reserve = 0 end
if allowed == 1 then
  local units = cost + reserve
  for i = 1, n do
    local base = 6 + (i - 1) * 6
    local kind = ARGV[base + 1]
    local interval = tonumber(ARGV[base + 3])
    local expire_at = tonumber(ARGV[base + 6])
    local key = KEYS[first_key[i]]
    if kind == "g" then
      local tat = math.max(state_a[i], now) + units * interval
      redis.call("SET", key, string.format("%d", tat), "PX", tat - now + margin)
    else
      local value = redis.call("INCRBY", key, units)
      if expire_at > 0 and value == units then redis.call("PEXPIRE", key, expire_at - now) end
    end
  end
end
local out = {allowed, reserve}
for i = 1, n do
  out[#out + 1] = state_a[i]
  out[#out + 1] = state_b[i]
end
return out
