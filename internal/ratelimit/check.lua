-- Applies a batch of rate, quota and concurrency checks atomically with the
-- Redis server's clock: either every check passes and all are charged, or
-- nothing is charged. Mirrors gcra.go and memory.go; time is in µs.
--
-- ARGV[1]  "" (use TIME) or a fixed now in µs (tests only)
-- ARGV[2]  number of checks
-- then per check: kind, cost, and
--   kind 1 (rate):        interval_us, burst                      KEYS: 1
--   kind 2 (quota):       limit, then start_us,end_us x3 windows  KEYS: 3 (one per window)
--   kind 3 (concurrency): limit, lease_us, token                  KEYS: 1
-- Returns {all_allowed, then per check: allowed, remaining, reset_us,
-- retry_us, then per check the quota window counted in (1-3; 0 for other
-- kinds), which undo.lua needs}.
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local n = tonumber(ARGV[2])
local a, k = 3, 1
local out = {1}
local picks = {}
local writes = {}
local all = 1
for i = 1, n do
  local kind, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  picks[i] = 0
  if kind == 1 then
    local key = KEYS[k]
    local iv, burst = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    k, a = k + 1, a + 4
    local tat = tonumber(redis.call('GET', key) or '0')
    if tat < now then tat = now end
    local tau = burst * iv
    local nxt = tat + cost * iv
    if nxt - now <= tau then
      table.insert(out, 1); table.insert(out, math.floor((tau - (nxt - now)) / iv))
      table.insert(out, nxt - now); table.insert(out, 0)
      table.insert(writes, {1, key, nxt, math.ceil((nxt - now) / 1000)})
    else
      all = 0
      table.insert(out, 0); table.insert(out, math.floor((tau - (tat - now)) / iv))
      table.insert(out, tat - now); table.insert(out, nxt - now - tau)
    end
  elseif kind == 2 then
    local limit = tonumber(ARGV[a + 2])
    local pick = 2
    for j = 0, 2 do
      local s, e = tonumber(ARGV[a + 3 + 2 * j]), tonumber(ARGV[a + 4 + 2 * j])
      if s <= now and now < e then pick = j + 1 end
    end
    local key = KEYS[k + pick - 1]
    picks[i] = pick
    local wend = tonumber(ARGV[a + 2 + 2 * pick])
    k, a = k + 3, a + 9
    local count = tonumber(redis.call('GET', key) or '0')
    if count + cost <= limit then
      table.insert(out, 1); table.insert(out, limit - count - cost)
      table.insert(out, wend - now); table.insert(out, 0)
      table.insert(writes, {2, key, cost, math.floor(wend / 1000)})
    else
      all = 0
      local rem = limit - count
      if rem < 0 then rem = 0 end
      table.insert(out, 0); table.insert(out, rem)
      table.insert(out, wend - now); table.insert(out, wend - now)
    end
  else
    local key = KEYS[k]
    local limit, lease, token = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), ARGV[a + 4]
    k, a = k + 1, a + 5
    redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.0f', now))
    local cur = redis.call('ZCARD', key)
    if cur < limit then
      table.insert(out, 1); table.insert(out, limit - cur - 1)
      table.insert(out, 0); table.insert(out, 0)
      table.insert(writes, {3, key, now + lease, token, math.ceil(lease / 1000)})
    else
      all = 0
      table.insert(out, 0); table.insert(out, 0)
      table.insert(out, 0); table.insert(out, 1000000)
    end
  end
end
out[1] = all
if all == 1 then
  for _, w in ipairs(writes) do
    if w[1] == 1 then
      redis.call('SET', w[2], string.format('%.0f', w[3]), 'PX', w[4] + 1)
    elseif w[1] == 2 then
      redis.call('INCRBY', w[2], w[3])
      -- kept a minute past the window so a late node still finds it
      redis.call('PEXPIREAT', w[2], string.format('%.0f', w[4] + 60000))
    else
      redis.call('ZADD', w[2], string.format('%.0f', w[3]), w[4])
      redis.call('PEXPIRE', w[2], w[5] + 1000)
    end
  end
end
for i = 1, n do table.insert(out, picks[i]) end
return out
