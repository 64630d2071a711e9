-- Returns the longest remaining block (ms) among KEYS, 0 when none is set.
local longest = 0
for _, k in ipairs(KEYS) do
  local t = redis.call('PTTL', k)
  if t > longest then longest = t end
end
return longest
