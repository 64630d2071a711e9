-- Records failed authentications and imposes brute-force blocks. Mirrors
-- MemoryStore.Fail. Per source, KEYS are {fail, offences, block}; the last
-- KEY, when given, is the block horizon, kept alive as long as the longest
-- block so instances can tell cheaply that no block is in force
-- (blockhorizon.go). On Redis Cluster the horizon is in another slot and
-- left out: horizon.lua extends it after.
--
-- ARGV[1] number of sources, ARGV[2] window ms, ARGV[3] forget ms,
-- ARGV[4] ladder length L, ARGV[5..4+L] ladder ms, then one threshold per
-- source. Returns the block (ms) each source has just earned (0 for none),
-- then the horizon's remaining life (ms).
local n, window, forget, L = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local hk = KEYS[3 * n + 1] -- nil without the horizon
local out = {}
for i = 1, n do
  local fk, ok, bk = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local thr = tonumber(ARGV[4 + L + i])
  local d = 0
  if thr > 0 then
    local c = redis.call('INCR', fk)
    if c == 1 then redis.call('PEXPIRE', fk, window) end
    if c >= thr then
      redis.call('DEL', fk)
      local o = redis.call('INCR', ok)
      redis.call('PEXPIRE', ok, forget)
      if o > L then o = L end
      d = tonumber(ARGV[4 + o])
      if redis.call('PTTL', bk) < d then
        redis.call('SET', bk, '1', 'PX', d)
      end
      if hk and redis.call('PTTL', hk) < d then
        redis.call('SET', hk, '1', 'PX', d)
      end
    end
  end
  table.insert(out, d)
end
-- Last: the horizon's remaining life, so an instance that sees a failure
-- learns at once of blocks imposed elsewhere.
if hk then
  table.insert(out, math.max(redis.call('PTTL', hk), 0))
end
return out
