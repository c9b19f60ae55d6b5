-- Pause a venue for everyone: keep the longer of the pause in force and this one.
-- KEYS: pause. ARGV: ms, reason. Returns the pause now in force (ms).
local left = redis.call('PTTL', KEYS[1])
local ms = tonumber(ARGV[1])
if left < ms then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ms)
  return ms
end
return left
