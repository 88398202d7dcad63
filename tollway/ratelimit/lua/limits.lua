-- Tollway: test every check of one request and count them all, or none, atomically.
-- The twin of tollway/ratelimit/memory.py; the room and consumed functions are those of
-- tollway/ratelimit/counters.py, under the same names.
--
-- KEYS, per check in order: FIXED {count, count's leases}; SLIDING {count, previous count,
-- count's leases, previous count's leases}; GCRA {theoretical arrival time}.
-- ARGV[1] now_ms, [2] cost, [3] number of checks, [4] units wanted ahead, [5] share,
-- [6] min_room, [7] lease id ("" for a request without a reservation), [8] counted (every
-- unit the lease has handed out, cumulative), [9] reported (what the caller knows to be
-- counted, for a lease forgotten here), [10] keep (units the lease still holds),
-- [11] lease_until_ms, [12] final ("1" ends the lease), then six values per check:
--   kind ("f", "s", "g"), limit, interval_ms, burst, reset_ms, expire_at_ms (0: never).
--
-- Leases: a reservation's units are leased, not counted: every other request sees them as
-- used until the lease reports what it handed out (added to the counts, exactly once, since
-- `counted` is cumulative), gives them back, or ends by itself at lease_until_ms (a crashed
-- instance's). A lease is one hash field per counter: "units until_ms counted". An admitted
-- request may lease up to `reserve` more units: at most 1/share of the room every check has
-- left beyond it, and only where that room is at least min_room; never from a GCRA check.
-- Times are the caller's clock; expiries are relative to it (PEXPIRE).
-- Returns {allowed, reserved, value1, previous1, value2, previous2, ...}: each check's state
-- before the request, with units leased to others (and the lease's own kept units) as used.
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local reserve = tonumber(ARGV[4])
local share = tonumber(ARGV[5])
local min_room = tonumber(ARGV[6])
local own = ARGV[7]
local counted = tonumber(ARGV[8])
local known = tonumber(ARGV[9])
local keep = tonumber(ARGV[10])
local lease_until = tonumber(ARGV[11])
local final = ARGV[12] == "1"
local margin = 1000
local memory = 10000 -- how long an ended lease's counted units are remembered

local function fixed_room(limit, count, cost)
  return limit - count - cost
end

local function sliding_room(limit, window_ms, reset_ms, now_ms, count, previous_count, cost)
  local covered_ms = reset_ms - now_ms
  return math.floor(
    (limit * window_ms - previous_count * covered_ms - (count + cost) * window_ms) / window_ms)
end

local function gcra_room(burst, interval_ms, tat_ms, now_ms, cost)
  local late_ms = 0
  if tat_ms > now_ms then late_ms = tat_ms - now_ms end
  return math.floor((burst * interval_ms - late_ms - cost * interval_ms) / interval_ms)
end

local function gcra_consumed(tat_ms, now_ms, units, interval_ms)
  return math.max(tat_ms, now_ms) + units * interval_ms
end

local function count_more(key, units, expire_at)
  local value = redis.call("INCRBY", key, units)
  if expire_at > 0 and value == units then redis.call("PEXPIRE", key, expire_at - now) end
end

-- Units of `lease_key` leased to live leases other than `own`; forgets long-ended leases.
local function leased_to_others(lease_key)
  local entries = redis.call("HGETALL", lease_key)
  local total = 0
  for j = 1, #entries, 2 do
    local units, until_ms = string.match(entries[j + 1], "^(%d+) (%d+)")
    units, until_ms = tonumber(units), tonumber(until_ms)
    if entries[j] ~= own and until_ms > now then total = total + units end
    if until_ms + memory <= now then redis.call("HDEL", lease_key, entries[j]) end
  end
  return total
end

-- Adds to `key` what the lease has handed out since it last reported.
local function report(key, lease_key, expire_at)
  local entry = redis.call("HGET", lease_key, own)
  local reported = known
  if entry then reported = tonumber(string.match(entry, "(%d+)$")) end
  if counted > reported then count_more(key, counted - reported, expire_at) end
end

local value, previous, first_key = {}, {}, {}
local allowed = 1
local k = 1
for i = 1, n do
  local base = 12 + (i - 1) * 6
  local kind = ARGV[base + 1]
  local limit = tonumber(ARGV[base + 2])
  local interval = tonumber(ARGV[base + 3])
  local burst = tonumber(ARGV[base + 4])
  local reset = tonumber(ARGV[base + 5])
  local expire_at = tonumber(ARGV[base + 6])
  first_key[i] = k
  local room
  local a, b = 0, 0
  if kind == "g" then
    a = tonumber(redis.call("GET", KEYS[k]) or "0")
    k = k + 1
    room = gcra_room(burst, interval, a, now, cost)
    reserve = 0
  else
    local lease_key = KEYS[k + 1]
    if kind == "s" then lease_key = KEYS[k + 2] end
    if own ~= "" then report(KEYS[k], lease_key, expire_at) end
    a = tonumber(redis.call("GET", KEYS[k]) or "0") + leased_to_others(lease_key) + keep
    if kind == "s" then
      b = tonumber(redis.call("GET", KEYS[k + 1]) or "0") + leased_to_others(KEYS[k + 3])
      room = sliding_room(limit, interval, reset, now, a, b, cost)
      k = k + 4
    else
      room = fixed_room(limit, a, cost)
      k = k + 2
    end
  end
  if room < 0 then allowed = 0 end
  if reserve > 0 then
    local ahead = 0
    if room >= min_room then ahead = math.floor(room / share) end
    if ahead < reserve then reserve = ahead end
  end
  value[i], previous[i] = a, b
end
if allowed == 0 or own == "" then reserve = 0 end
for i = 1, n do
  local base = 12 + (i - 1) * 6
  local kind = ARGV[base + 1]
  local interval = tonumber(ARGV[base + 3])
  local expire_at = tonumber(ARGV[base + 6])
  local key = KEYS[first_key[i]]
  if kind == "g" then
    if allowed == 1 then
      local tat = gcra_consumed(value[i], now, cost, interval)
      redis.call("SET", key, string.format("%d", tat), "PX", tat - now + margin)
    end
  else
    if allowed == 1 and cost > 0 then count_more(key, cost, expire_at) end
    if own ~= "" then
      local lease_key = KEYS[first_key[i] + 1]
      if kind == "s" then lease_key = KEYS[first_key[i] + 2] end
      if final then
        redis.call("HDEL", lease_key, own)
      else
        local entry = string.format("%d %d %d", keep + reserve, lease_until, counted)
        redis.call("HSET", lease_key, own, entry)
        local ttl = lease_until + memory - now
        if redis.call("PTTL", lease_key) < ttl then redis.call("PEXPIRE", lease_key, ttl) end
      end
    end
  end
end
local out = {allowed, reserve}
for i = 1, n do
  out[#out + 1] = value[i]
  out[#out + 1] = previous[i]
end
return out
