-- Extends the block horizon (KEYS[1]) to live at least ARGV[1] ms, the
-- longest block just imposed, and returns its remaining life (ms). Redis
-- Cluster only: elsewhere penalty.lua does this in the same script.
local d = tonumber(ARGV[1])
if d > 0 and redis.call('PTTL', KEYS[1]) < d then
  redis.call('SET', KEYS[1], '1', 'PX', d)
end
return math.max(redis.call('PTTL', KEYS[1]), 0)
