-- Takes back what check.lua charged for a request that checks in another
-- slot refused (Redis Cluster only: a request's checks in several slots).
-- Each KEY is the one check.lua wrote (for a quota, the window it counted
-- in).
--
-- ARGV[1]  "" (use TIME) or a fixed now in µs (tests only)
-- ARGV[2]  number of checks
-- then per check: kind, cost, and
--   kind 1 (rate):        interval_us
--   kind 2 (quota):       "" (unused)
--   kind 3 (concurrency): token
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local n = tonumber(ARGV[2])
local a = 3
for i = 1, n do
  local key = KEYS[i]
  local kind, cost, extra = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), ARGV[a + 2]
  a = a + 3
  if kind == 1 then
    local tat = tonumber(redis.call('GET', key) or '0')
    local back = tat - cost * tonumber(extra)
    if back <= now then
      redis.call('DEL', key)
    else
      redis.call('SET', key, string.format('%.0f', back), 'PX', math.ceil((back - now) / 1000) + 1)
    end
  elseif kind == 2 then
    if redis.call('EXISTS', key) == 1 then
      redis.call('DECRBY', key, cost)
    end
  else
    redis.call('ZREM', key, extra)
  end
end
return 1
